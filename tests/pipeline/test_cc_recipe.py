"""The ``cc`` recipe end to end through ``run_sources`` on real WARC files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from mixtures.config import config_from_dict
from pipeline import runner


def _read_shards(folder: Path) -> list[dict]:
    if not folder.is_dir():
        return []
    return [json.loads(line) for shard in sorted(folder.iterdir()) if shard.name.endswith(".jsonl.gz")
            for line in gzip.decompress(shard.read_bytes()).decode("utf-8").splitlines()]


def _run(tmp_path: Path, inputs: list[str], **overrides) -> tuple[dict, Path]:
    cfg = config_from_dict({
        "output": str(tmp_path / "out"),
        "shards": {"num_shards": 2},
        "perplexity": {"enabled": False},
        "sources": {"cc": {"kind": "cc", "inputs": inputs}},
        **overrides,
    })
    [result] = runner.run_sources(cfg, ["cc"])
    return result.stats, tmp_path / "out" / "cc"


@pytest.fixture(scope="module")
def cc_pages_run(corpus, tmp_path_factory):
    # Every dropped page is written (not the default sample), so each can be checked below.
    return _run(tmp_path_factory.mktemp("ccpages"), [str(corpus / "cc-pages" / "*.warc.gz")],
                shards={"num_shards": 2, "max_dropped_per_reason": None})


def test_cc_pages_keeps_english_with_annotations(cc_pages_run):
    stats, out = cc_pages_run
    docs = _read_shards(out / "docs")
    assert stats["documents_out"] == len(docs) > 20
    for doc in docs:
        assert doc["annotations"]["lang_id"]["lang"] == "en"
        assert doc["annotations"]["lang_id"]["lang_score"] >= 0.5
        dedup = doc["annotations"]["line_dedup"]
        assert len(doc["text"]) == dedup["length"] >= 300
        assert dedup["nlines"] == len(dedup["line_ids"]) == len(doc["text"].split("\n"))
        assert doc["meta"]["url"].startswith("http") and doc["meta"]["format"] == "html"
    assert len({d["id"] for d in docs}) == len(docs)


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_cc_pages_drops_non_english_for_lang_and_reconciles(cc_pages_run):
    stats, out = cc_pages_run
    assert stats["documents_in"] == 216 and stats["quarantined"] == 0 and stats["reconciled"] is True
    assert stats["documents_out"] + sum(stats["dropped"].values()) == 216
    assert set(stats["dropped"]) <= {"lang", "too_short", "empty_after_dedup"}
    assert stats["dropped"]["lang"] > 100  # 54% of the pages are German, 7% French, ...
    dropped = _read_shards(out / "dropped")
    assert len(dropped) == sum(stats["dropped"].values())
    for doc in dropped:
        reason = doc["annotations"]["dropped"]
        if reason["reason"] == "lang":
            assert reason["stage"] == "lang_id"
            scores = doc["annotations"]["lang_id"]
            assert scores["lang"] != "en" or scores["lang_score"] < 0.5
        else:
            assert reason["stage"] == "line_dedup"
    german = [d for d in dropped if d["annotations"].get("lang_id", {}).get("lang") == "de"]
    assert len(german) > 80


def test_cc_files_without_line_dedup_count_every_record(corpus, tmp_path):
    stats, out = _run(tmp_path, [str(corpus / "cc")], line_dedup={"enabled": False},
                      lang_id={"languages": ["en", "de", "an", "es"]})
    # 78 documents (77 HTML responses + 1 WET record) plus the records read and dropped:
    # 55 revisits, 33 non-HTML payloads, 6 non-200 responses.
    assert stats["documents_in"] == 78 + 55 + 33 + 6
    assert stats["dropped"]["revisit"] == 55
    assert stats["dropped"]["non_html"] == 33
    assert stats["dropped"]["http_status"] == 6
    assert "too_short" not in stats["dropped"] and stats["quarantined"] == 0
    docs = _read_shards(out / "docs")
    assert {d["annotations"]["lang_id"]["lang"] for d in docs} <= {"en", "de", "an", "es"}
    wet = [d for d in docs if d["meta"].get("kind") == "wet"]
    # cc_net's WET split: the title line goes to meta, the text starts after it.
    assert len(wet) <= 1 and all(d["meta"]["title"].startswith("Escopete - Biquipedia")
                                 and d["text"].startswith("Ir al contenido") for d in wet)
    assert not any("line_dedup" in d["annotations"] for d in docs)


def test_same_input_gives_byte_identical_outputs(corpus, tmp_path):
    inputs = [str(corpus / "cc" / "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz"),
              str(corpus / "cc" / "ukwa-gov.uk-BL-20140325122341434-00000-revisits.warc.gz")]
    first, _ = _run(tmp_path / "a", inputs)
    second, _ = _run(tmp_path / "b", inputs)
    assert first["outputs"] == second["outputs"] and first["outputs"]
    # The re-crawl repeats the first capture's pages, so CCNet dedup empties them in both files.
    assert first["dropped"]["empty_after_dedup"] > 0
