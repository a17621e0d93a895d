"""The C4 path end to end on the real web sample: stats list every reason and reconcile."""

from __future__ import annotations

import collections
import gzip
import json

import pytest

from filters.base import Dropped, QuarantineRecord
from filters.lang_id import LanguageFilter
from filters.sources.c4.lines import C4_CURLY_BRACKET, C4_TOO_LONG
from filters.sources.c4.rules import (
    C4_BADWORDS,
    C4_EMPTY_AFTER_CLEAN,
    C4_TOO_FEW_SENTENCES,
    C4Cleaner,
    C4PageFilter,
)
from filters.sources.c4.spans import C4_TOO_FEW_SENTENCES_AFTER_DEDUP
from filters.sources.cc.extract import ExtractedTextFilter, HtmlExtractor
from filters.sources.cc.warc import read_warc
from mixtures.config import LangIdConfig, config_from_dict
from pipeline import cli, runner

C4_REASONS = (C4_TOO_LONG, C4_CURLY_BRACKET, C4_EMPTY_AFTER_CLEAN, C4_TOO_FEW_SENTENCES, C4_BADWORDS)


def _inputs(corpus):
    return sorted(str(p) for p in (corpus / "cc-pages").glob("*.warc.gz")) + \
        sorted(str(p) for p in (corpus / "cc").glob("*.gz"))


def _expected_counts(paths, c4_cfg):
    """What the pure components decide on the same pages, without Beam."""
    counts: collections.Counter[str] = collections.Counter()
    extractor, extracted = HtmlExtractor(), ExtractedTextFilter()
    cleaner, page_filter, lid = C4Cleaner(c4_cfg), C4PageFilter(c4_cfg), LanguageFilter(LangIdConfig())
    page_filter.load()
    lid.load()
    for path in paths:
        with open(path, "rb") as fh:
            for item in read_warc(path, fh, source="c4"):
                counts["in"] += 1
                if isinstance(item, Dropped):
                    counts[item.reason] += 1
                    continue
                if isinstance(item, QuarantineRecord):
                    counts["quarantined"] += 1
                    continue
                doc = extractor(item)
                verdict = extracted(doc)
                if not verdict.keep:
                    counts[verdict.reason] += 1
                    continue
                verdict = page_filter(cleaner(doc))
                if not verdict.keep:
                    counts[verdict.reason] += 1
                    continue
                verdict = lid(cleaner(doc))
                counts[verdict.reason or "to_dedup"] += 1
    return counts


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_c4_stats_list_every_reason_and_reconcile(tmp_path, corpus):
    paths = _inputs(corpus)
    # 1e5 instead of TFDS's 1.9e5 so that the length rule fires on this small sample too.
    cfg = config_from_dict({"output": str(tmp_path / "out"), "shards": {"num_shards": 2},
                            "c4": {"max_page_chars": 100_000},
                            "sources": {"c4": {"kind": "c4", "inputs": paths}}})
    [result] = runner.run_sources(cfg, ["c4"])
    stats = result.stats
    assert stats["reconciled"] is True
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["dropped"].values()) + stats["quarantined"]

    expected = _expected_counts(paths, cfg.settings("c4"))
    assert stats["documents_in"] == expected["in"]
    for reason in (*C4_REASONS, "revisit", "non_html", "http_status", "lang"):
        assert stats["dropped"].get(reason) == expected[reason], reason
    # The UK gov pages crawled twice 11 minutes apart: the second copies lose every span.
    assert stats["dropped"][C4_TOO_FEW_SENTENCES_AFTER_DEDUP] >= 3
    assert expected["to_dedup"] == stats["documents_out"] + stats["dropped"][C4_TOO_FEW_SENTENCES_AFTER_DEDUP]
    assert set(stats["dropped"]) == {*C4_REASONS, C4_TOO_FEW_SENTENCES_AFTER_DEDUP,
                                     "revisit", "non_html", "http_status", "lang"}

    docs = []
    for shard in sorted((tmp_path / "out/c4/docs").iterdir()):
        docs += [json.loads(line) for line in gzip.decompress(shard.read_bytes()).decode().splitlines()]
    assert len(docs) == stats["documents_out"]
    for doc in docs:
        annotations = doc["annotations"]
        assert annotations["c4_clean"]["page_rule"] is None
        assert annotations["c4"]["sentences"] >= 3
        assert annotations["lang_id"]["lang"] == "en"
        assert set(annotations["c4_dedup"]) == {"sentences_in", "sentences_removed", "spans_removed"}
        assert all(line.endswith((".", "?", "!", '"')) for line in doc["text"].split("\n"))


def test_rebuild_c4_command_is_deterministic(tmp_path, corpus, capsys):
    inputs = [str(corpus / "cc" / "whirlwind.warc.wet.gz"),
              str(corpus / "cc" / "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz"),
              str(corpus / "cc" / "ukwa-gov.uk-BL-20140325122341434-00000-revisits.warc.gz")]
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert cli.main(["rebuild", "c4", "--input", *inputs, "--output", str(out)]) == 0
        stats = json.loads((out / "c4" / "stats.json").read_text())
        assert stats["kind"] == "c4" and stats["reconciled"] is True
        assert stats["documents_out"] > 0
        assert stats["dropped"][C4_TOO_FEW_SENTENCES_AFTER_DEDUP] > 0
        outputs.append(stats["outputs"])
    assert outputs[0] == outputs[1]
    assert "c4_too_few_sentences_after_dedup" in capsys.readouterr().out
