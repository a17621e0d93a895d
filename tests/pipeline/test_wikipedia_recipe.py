"""The Wikipedia recipe end to end on the four real dumps: reader → wikitext → non-empty."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest

from filters.document import stable_id
from mixtures.config import config_from_dict
from pipeline import runner

LTG = "ltgwiki-latest-pages-articles.xml.bz2"


def _read_docs(folder: Path) -> list[dict]:
    docs = []
    for shard in sorted(folder.iterdir()):
        docs += [json.loads(line) for line in gzip.decompress(shard.read_bytes()).decode().splitlines()]
    return docs


@pytest.fixture(scope="module")
def default_run(corpus, tmp_path_factory):
    """All four dumps plus one truncated copy of the English sample, LLaMA's 20 languages."""
    tmp = tmp_path_factory.mktemp("wiki")
    inputs = tmp / "inputs"
    inputs.mkdir()
    for dump in sorted((corpus / "wikipedia").glob("*.xml.bz2")):
        (inputs / dump.name).symlink_to(dump)
    raw = bz2.decompress((corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2").read_bytes())
    cut = raw.index(b"<title>Accessibility</title>") + 200  # mid-page: one article, then broken XML
    (inputs / "enwiki-truncated.xml").write_bytes(raw[:cut])
    cfg = config_from_dict({"output": str(tmp / "out"), "shards": {"num_shards": 2},
                            "sources": {"wikipedia": {"kind": "wikipedia", "inputs": [str(inputs)]}}})
    [result] = runner.run_sources(cfg, ["wikipedia"])
    return result, tmp / "out" / "wikipedia"


def test_counts_reconcile_with_concrete_outcomes(default_run):
    result, _ = default_run
    stats = result.stats
    # en 2 + uk 512 kept; ja 189 + ltg 903 are outside LLaMA's 20 languages; the truncated
    # copy yields its first article (its own id: another dump file) and one quarantine record.
    assert stats["documents_in"] == 2 + 512 + 189 + 903 + 1 + 1
    assert stats["documents_out"] == 2 + 512 + 1
    assert stats["dropped"] == {"wiki_lang": 189 + 903}
    assert stats["quarantined"] == 1
    assert stats["reconciled"] is True


def test_output_documents_are_plain_text_with_meta(default_run):
    _, out = default_run
    docs = _read_docs(out / "docs")
    assert len(docs) == 515
    assert {d["meta"]["lang"] for d in docs} == {"en", "uk"}
    for doc in docs:
        assert doc["text"] and doc["source"] == "wikipedia"
        for marker in ("[[", "{{", "<ref", "}}"):
            assert marker not in doc["text"], (doc["meta"]["title"], marker)
        assert doc["id"] == stable_id("wikipedia", doc["meta"]["dump"], doc["meta"]["lang"], doc["meta"]["page_id"])
        assert not any(key.startswith("_") for key in doc["meta"])
        assert doc["annotations"]["wikipedia"]["chars"] == len(doc["text"].strip())
    titles = {d["meta"]["title"] for d in docs if d["meta"]["lang"] == "en"}
    assert titles == {"Computer accessibility", "Accessibility"}


def test_dropped_and_quarantine_name_reason_file_and_page(default_run):
    _, out = default_run
    dropped = _read_docs(out / "dropped")
    assert {d["annotations"]["dropped"]["reason"] for d in dropped} == {"wiki_lang"}
    assert {d["meta"]["lang"] for d in dropped} == {"ja", "ltg"}
    [record] = [json.loads(line) for shard in sorted((out / "quarantine").iterdir())
                for line in gzip.decompress(shard.read_bytes()).decode().splitlines()]
    assert record["file"].endswith("enwiki-truncated.xml")
    # The page the cut fell in, not the one before it.
    assert record["record"] == "page 302109 'Accessibility' (line 267)"
    assert "malformed XML" in record["error"]


def test_configured_language_keeps_ltg_and_drops_empty_pages(corpus, tmp_path):
    cfg = config_from_dict({"output": str(tmp_path), "shards": {"num_shards": 1},
                            "wikipedia": {"languages": ["ltg"]},
                            "sources": {"wiki": {"kind": "wikipedia", "inputs": [str(corpus / "wikipedia" / LTG)]}}})
    [result] = runner.run_sources(cfg, ["wiki"])
    assert result.stats["documents_in"] == 903
    assert result.stats["documents_out"] == 895
    assert result.stats["dropped"] == {"empty": 8}
    empty = _read_docs(tmp_path / "wiki" / "dropped")
    assert "Suoku puslopa" in {d["meta"]["title"] for d in empty}
    assert {d["annotations"]["dropped"]["stage"] for d in empty} == {"wikipedia"}
