"""Whole runs over inputs repackaged as their publishers ship them (built here from the real
corpus): a bulk arXiv tar with a hostile paper, the released C4's ``json.gz``, a BigQuery
export of GitHub given twice, and a Gutenberg mirror, a PG-19 folder and a Books3 tarball."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from filters.document import stable_id
from filters.sources.cc.extract import html_to_text
from filters.sources.cc.warc import read_warc
from mixtures.config import ConfigError
from tests.filters.test_arxiv_bulk import BULK, build_bulk, fan_out_tarball
from tests.filters.test_books_published import make_books3, make_mirror, make_pg19
from tests.pipeline.test_source_recipes import _records
from tests.pipeline.test_source_recipes import _run as run_source


def _run(tmp_path: Path, kind: str, inputs: list[str]) -> dict:
    # Hostile members are part of these inputs: their quarantine share may exceed the default 1%.
    return run_source(tmp_path, kind, inputs, max_step_share=1.0)


def test_bulk_arxiv_tar_one_document_per_paper_and_the_fan_out_quarantined(corpus, tmp_path):
    folder = tmp_path / "arxiv"
    folder.mkdir()
    build_bulk(corpus, folder / BULK, hostile=fan_out_tarball())
    stats = _run(tmp_path, "arxiv", [str(folder)])
    assert (stats["documents_in"], stats["documents_out"], stats["quarantined"]) == (6, 4, 1)
    assert stats["dropped"] == {"pdf_only": 1}
    docs = _records(tmp_path, "arxiv", "docs")
    assert sorted(d["meta"]["arxiv_id"] for d in docs) == ["1703.09710", "1703.09711", "1907.10121", "hep-th/9901001"]
    assert {d["id"] for d in docs} == {stable_id("arxiv", BULK, f"1703/{m}.gz") for m in (
        "1703.09710", "1703.09711", "1907.10121", "hep-th9901001")}
    [record] = _records(tmp_path, "arxiv", "quarantine")
    assert record["record"] == "1703/1703.09713.gz" and "max_inputs=2000" in record["error"]


def _c4_lines(corpus: Path) -> list[dict]:
    """Real pages (the crawl sample's HTML, extracted) as released C4 lines."""
    path = corpus / "cc-pages" / "cc-pages-00000.warc.gz"
    with open(path, "rb") as fh:
        pages = list(read_warc(str(path), fh))[:40]
    lines = []
    for page in pages:
        text = html_to_text(page.text)[0].strip()
        if text:
            lines.append({"text": text, "timestamp": page.meta["date"], "url": page.meta["url"]})
    return lines


def test_released_c4_json_gz_is_read_as_finished_documents(corpus, tmp_path):
    folder = tmp_path / "c4" / "en"
    folder.mkdir(parents=True)
    lines = _c4_lines(corpus)
    train, validation = lines[:-5], lines[-5:]
    for name, rows in (("c4-train.00000-of-01024.json.gz", train),
                       ("c4-validation.00000-of-00008.json.gz", validation)):
        (folder / name).write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode(), mtime=0))
    stats = _run(tmp_path, "c4", [str(folder)])
    assert (stats["documents_in"], stats["documents_out"], stats["quarantined"]) == (len(lines), len(lines), 0)
    assert stats["dropped"] == {}
    docs = {d["id"]: d for d in _records(tmp_path, "c4", "docs")}
    assert not any(d["annotations"] for d in docs.values())  # no WET cleaning step ran
    first = docs[stable_id("c4", "c4-train.00000-of-01024.json.gz", 1)]
    assert first["text"] == train[0]["text"] and first["meta"]["url"] == train[0]["url"]
    assert first["meta"]["timestamp"] == train[0]["timestamp"]
    assert sorted(d["text"] for d in docs.values()) == sorted(r["text"] for r in lines)
    # Released files and WET files cannot share one c4 source: their chains differ.
    with pytest.raises(ConfigError, match="two c4 sources"):
        _run(tmp_path / "mixed", "c4", [str(folder), str(corpus / "cc" / "whirlwind.warc.wet.gz")])


def _bigquery_export(corpus: Path, folder: Path) -> int:
    """The sample's records as BigQuery's EXPORT DATA writes the README's query: gzip'd JSON
    lines in ``000000000000.json.gz``..., INT64 ``size`` as a string, ``binary`` a bool."""
    records = [json.loads(line) for line in gzip.decompress((corpus / "github" / "github_sample.jsonl.gz")
                                                             .read_bytes()).decode().splitlines()][:300]
    folder.mkdir(parents=True)
    rows = [{"repo_name": r["repo_name"], "ref": "refs/heads/master", "path": r["path"], "license": r["license"],
             "id": f"{i:040x}", "size": str(len(r["content"].encode())), "binary": False, "content": r["content"]}
            for i, r in enumerate(records)]
    half = len(rows) // 2
    for index, part in enumerate((rows[:half], rows[half:])):
        data = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in part)
        (folder / f"{index:012d}.json.gz").write_bytes(gzip.compress(data.encode(), mtime=0))
    return len(rows)


def test_bigquery_export_given_twice_has_unique_ids(corpus, tmp_path):
    once = _bigquery_export(corpus, tmp_path / "in" / "export")
    single = _run(tmp_path / "single", "github", [str(tmp_path / "in" / "export")])
    assert single["documents_in"] == once and single["quarantined"] == 0
    shutil.copytree(tmp_path / "in" / "export", tmp_path / "in" / "export-again")
    twice = _run(tmp_path, "github", [str(tmp_path / "in")])
    assert twice["documents_in"] == 2 * once and twice["documents_out"] == single["documents_out"]
    # Every file of the second copy goes: as a duplicate, or by the filter that dropped it once.
    assert twice["dropped"]["duplicate_file"] == 2 * single["dropped"]["duplicate_file"] + single["documents_out"]
    assert all(twice["dropped"][r] == 2 * n for r, n in single["dropped"].items() if r != "duplicate_file")
    everything = [r for sub in ("docs", "dropped") for r in _records(tmp_path, "github", sub)]
    assert len({r["id"] for r in everything}) == len(everything)
    docs = _records(tmp_path, "github", "docs")
    assert all(isinstance(d["meta"]["size"], int) and d["meta"]["ref"] == "refs/heads/master" for d in docs)


def test_gutenberg_mirror_pg19_and_books3_together(corpus, tmp_path):
    mirror = tmp_path / "in" / "gutenberg"
    make_mirror(corpus, mirror)
    pg19 = make_pg19(corpus, tmp_path / "in" / "deepmind-gutenberg")
    make_books3(corpus, tmp_path / "in" / "books3.tar.gz")
    stats = _run(tmp_path, "books", [str(mirror), str(pg19), str(tmp_path / "in" / "books3.tar.gz")])
    # Read: mirror 3 books (one rendition each), PG-19 3 books, Books3 2 books + 1 cover.
    assert (stats["documents_in"], stats["quarantined"]) == (9, 0)
    assert stats["dropped"]["not_text"] == 1
    skipped = {Path(s["path"]).relative_to(tmp_path / "in").as_posix() for s in stats["skipped_inputs"]}
    assert skipped == {"gutenberg/1/16/16.txt", "gutenberg/8/84/84-8.txt", "gutenberg/cache/epub/84/pg84.txt",
                       "deepmind-gutenberg/metadata.csv"}
    docs = _records(tmp_path, "books", "docs")
    # One copy of each of the three books survives the containment dedup across collections.
    assert len(docs) == 3 and stats["dropped"]["near_duplicate_book"] == 5
    assert not any(d["meta"]["file"].endswith("metadata.csv") for d in docs)
