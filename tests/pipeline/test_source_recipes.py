"""``run_sources`` for GitHub, arXiv, StackExchange and Books on the real corpus: docs + stats."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from filters.document import stable_id
from mixtures.config import config_from_dict
from pipeline import runner


def _run(tmp_path: Path, kind: str, inputs: list[str], max_step_share: float = 0.01) -> dict:
    cfg = config_from_dict({"output": str(tmp_path / "out"), "shards": {"num_shards": 2},
                            "quarantine": {"max_step_share": max_step_share},
                            "sources": {kind: {"kind": kind, "inputs": inputs}}})
    [result] = runner.run_sources(cfg, [kind])
    stats = result.stats
    assert stats["reconciled"] is True
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["dropped"].values()) + stats["quarantined"]
    return stats


def _records(tmp_path: Path, kind: str, sub: str) -> list[dict]:
    folder = tmp_path / "out" / kind / sub
    if not folder.is_dir():
        return []
    return [json.loads(line) for shard in sorted(folder.iterdir()) if ".tmp-" not in shard.name
            for line in gzip.decompress(shard.read_bytes()).decode().split("\n") if line]


def _repositories(root: Path) -> None:
    """Two checked-out repositories beside a license map (a folder input, not JSONL)."""
    code = "def mean(values):\n    return sum(values) / len(values)\n"
    (root / "acme" / "stats" / "lib").mkdir(parents=True)
    (root / "acme" / "stats" / "lib" / "mean.py").write_text(code)
    (root / "acme" / "stats" / "vendor").mkdir()
    (root / "acme" / "stats" / "vendor" / "mean.py").write_text(code)  # same file, other path
    (root / "acme" / "stats" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / "gnu" / "tool").mkdir(parents=True)
    (root / "gnu" / "tool" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "licenses.json").write_text(json.dumps({"acme/stats": "MIT", "gnu/tool": "gpl-2.0"}))


def test_github_rebuild(tmp_path, corpus):
    repos = tmp_path / "repos"
    _repositories(repos)
    stats = _run(tmp_path, "github", [str(corpus / "github" / "github_sample.jsonl.gz"), str(repos)])
    assert stats["documents_in"] == 723 + 4 and stats["quarantined"] == 0
    dropped = stats["dropped"]
    assert dropped["license"] == 28 + 1 and dropped["duplicate_file"] == 20 + 1 and dropped["empty"] == 20
    assert dropped["binary"] == 1
    assert dropped["minified"] == 8 and dropped["source_map"] == 2 and dropped["lock_file"] == 4
    docs = _records(tmp_path, "github", "docs")
    assert len(docs) == stats["documents_out"]
    assert not any(d["meta"]["repo_name"] in ("chfoo/warcat", "gnu/tool") for d in docs)
    [mean] = [d for d in docs if d["meta"]["repo_name"] == "acme/stats"]
    assert mean["meta"]["license"] == "MIT" and mean["meta"]["language"] == "Python"
    assert len({d["text"] for d in docs}) == len(docs)  # no exact duplicates left
    by_id = {d["id"]: d for d in docs}
    duplicates = [d for d in _records(tmp_path, "github", "dropped")
                  if d["annotations"]["dropped"]["reason"] == "duplicate_file"]
    assert len(duplicates) == 21
    for dup in duplicates:
        keeper = by_id[dup["annotations"]["file_dedup"]["kept_id"]]
        assert keeper["id"] < dup["id"] and keeper["text"] == dup["text"]
    # The sample repeats files under other paths (vendored copies, per-theme files).
    assert any(by_id[d["annotations"]["file_dedup"]["kept_id"]]["meta"]["path"] != d["meta"]["path"]
               for d in duplicates)


def _bad_tarball(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/evil.tex")
        data = b"\\section{Evil}"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("main.tex")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)


def test_arxiv_rebuild_is_deterministic_and_survives_hostile_archives(tmp_path, corpus):
    bad = tmp_path / "in"
    bad.mkdir()
    _bad_tarball(bad / "9999.99999.tar.gz")
    (bad / "9999.88888.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    inputs = [str(corpus / "arxiv"), str(bad / "*.tar.gz")]
    # One of five papers is a broken download on purpose: above the default 1% share.
    stats = _run(tmp_path, "arxiv", inputs, max_step_share=1.0)
    assert (stats["documents_in"], stats["documents_out"], stats["quarantined"]) == (5, 3, 1)
    assert stats["dropped"] == {"no_tex": 1}
    docs = _records(tmp_path, "arxiv", "docs")
    assert {d["meta"]["arxiv_id"] for d in docs} == {"1703.09710", "1907.10121", "2206.14220"}
    assert all(d["text"].startswith("\\section") and "\\bibliography{" not in d["text"] for d in docs)
    [no_tex] = _records(tmp_path, "arxiv", "dropped")
    assert {s["reason"] for s in no_tex["annotations"]["arxiv_read"]["skipped"]} == {"unsafe_path", "link"}
    first = {p.name: p.read_bytes() for p in (tmp_path / "out" / "arxiv" / "docs").iterdir()}
    again = tmp_path / "again"
    again.mkdir()
    _run(again, "arxiv", inputs, max_step_share=1.0)
    assert {p.name: p.read_bytes() for p in (again / "out" / "arxiv" / "docs").iterdir()} == first


def test_stackexchange_rebuild_reconciles_orphans_and_bad_rows(tmp_path, corpus):
    site = tmp_path / "in" / "tiny.stackexchange.com"
    site.mkdir(parents=True)
    (site / "Posts.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
        '  <row Id="1" PostTypeId="1" Score="2" Title="Q one" Body="&lt;p&gt;Why?&lt;/p&gt;" />\n'
        '  <row Id="2" PostTypeId="2" ParentId="1" Score="9" Body="nine" />\n'
        '  <row Id="3" PostTypeId="2" ParentId="1" Score="10" Body="ten" />\n'
        '  <row Id="4" PostTypeId="2" ParentId="77" Score="1" Body="orphan" />\n'
        '  <row Id="5" PostTypeId="1" Score="1" Body="no title" />\n'
        '</posts>\n', encoding="utf-8")
    (site / "Users.xml").write_text("<users />\n")  # not a Posts file: ignored
    stats = _run(tmp_path, "stackexchange", [str(corpus / "stackexchange"), str(tmp_path / "in")])
    # 279 real questions + 48 tag wikis, plus tiny: 1 question, 1 orphan answer, 1 bad row.
    assert stats["documents_in"] == 279 + 48 + 3
    assert stats["documents_out"] == 280 and stats["quarantined"] == 1
    assert stats["dropped"] == {"orphan_answer": 1, "tag_wiki": 48}
    docs = {d["meta"]["url"]: d for d in _records(tmp_path, "stackexchange", "docs")}
    tiny = docs["https://tiny.stackexchange.com/questions/1"]
    assert tiny["text"] == "Q: Q one\nWhy?\nA: ten\nA: nine"
    assert tiny["id"] == stable_id("stackexchange", "tiny.stackexchange.com", 1)
    assert docs["https://coffee.stackexchange.com/questions/14"]["meta"]["answer_scores"] == [10, 7]


def test_stackexchange_question_with_unparseable_html_is_quarantined(tmp_path):
    site = tmp_path / "in" / "tiny.stackexchange.com"
    site.mkdir(parents=True)
    (site / "Posts.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
        '  <row Id="1" PostTypeId="1" Score="2" Title="Fine" Body="&lt;p&gt;Why?&lt;/p&gt;" />\n'
        '  <row Id="2" PostTypeId="1" Score="1" Title="Broken" Body="&lt;![foo[ x" />\n'
        '</posts>\n', encoding="utf-8")
    # One question of two is bad on purpose: above the default 1% share.
    stats = _run(tmp_path, "stackexchange", [str(tmp_path / "in")], max_step_share=1.0)
    assert (stats["documents_in"], stats["documents_out"], stats["quarantined"]) == (2, 1, 1)
    [record] = _records(tmp_path, "stackexchange", "quarantine")
    assert record["stage"] == "stackexchange_assemble" and record["record"].endswith("row Id=2")
    assert record["error"].startswith("BadRecord: unparseable post HTML")


def test_books_rebuild_keeps_one_frankenstein(tmp_path, corpus):
    stats = _run(tmp_path, "books", [str(corpus / "books")])
    assert (stats["documents_in"], stats["documents_out"], stats["quarantined"]) == (4, 3, 0)
    assert stats["dropped"] == {"near_duplicate_book": 1}
    docs = _records(tmp_path, "books", "docs")
    frankensteins = [d for d in docs if "frankenstein" in d["meta"]["file"]]
    [dropped] = _records(tmp_path, "books", "dropped")
    assert len(frankensteins) == 1 and "frankenstein" in dropped["meta"]["file"]
    info = dropped["annotations"]["book_dedup"]
    assert info["kept_id"] == frankensteins[0]["id"] < dropped["id"] and info["overlap"] > 0.9
    assert all("PROJECT GUTENBERG" not in d["text"].upper() for d in docs)
