"""The C4 path end to end on the real web sample, page by page against a TFDS reference (tests/reference)."""

from __future__ import annotations

import gzip
import json

import pytest

from filters.sources.c4.badwords import load_badwords
from filters.sources.c4.rules import C4_BADWORDS, C4_TOO_FEW_SENTENCES
from filters.sources.c4.sentences import split_sentences
from filters.sources.c4.tfds_dedup import C4_DUPLICATE_URL
from mixtures.config import config_from_dict
from pipeline import cli, runner
from tests.reference.tfds_c4 import build_c4


def _inputs(corpus):
    return sorted(str(p) for p in (corpus / "cc-pages").glob("*.warc.gz")) + \
        sorted(str(p) for p in (corpus / "cc").glob("*.gz"))


def _pages_reaching_c4(cfg, paths):
    """The pages the C4 steps are given: the recipe's reader and per-page steps before ``c4_length``."""
    from filters.base import Step, Verdict
    from filters.document import Document
    from mixtures.config import SourceSpec
    from pipeline.recipes import recipe_steps

    recipe = recipe_steps(cfg, SourceSpec(name="c4", kind="c4"), tuple(paths))
    steps = []
    for step in recipe[1:]:
        if not isinstance(step, Step) or step.name == "c4_length":
            break
        steps.append(step)
    pages = []
    for path in paths:
        with open(path, "rb") as fh:
            for item in recipe[0].reader(path, fh):
                if not isinstance(item, Document):
                    continue
                for step in steps:
                    out = step(item)
                    if isinstance(out, Verdict):
                        if not out.keep:
                            break
                    else:
                        item = out
                else:
                    pages.append({"id": item.id, "url": item.meta["url"], "text": item.text})
    return pages


def _run(tmp_path, paths, c4=None):
    cfg = config_from_dict({"output": str(tmp_path / "out"), "shards": {"num_shards": 2}, "minhash": {"enabled": False},
                            "c4": c4 or {}, "sources": {"c4": {"kind": "c4", "inputs": paths}}})
    [result] = runner.run_sources(cfg, ["c4"])
    docs = []
    for shard in sorted((tmp_path / "out/c4/docs").iterdir()):
        docs += [json.loads(line) for line in gzip.decompress(shard.read_bytes()).decode().splitlines()]
    return cfg, result.stats, docs


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_every_shared_web_page_gets_the_tfds_reference_outcome(tmp_path, corpus):
    """Per page, kept (with the same text) or dropped exactly as TFDS's c4.py + c4_utils.py would."""
    paths = _inputs(corpus)
    cfg, stats, docs = _run(tmp_path, paths)
    pages = _pages_reaching_c4(cfg, paths)
    assert len(pages) > 250
    expected = build_c4(pages, load_badwords("en"), split_sentences)
    assert {d["id"]: d["text"] for d in docs} == expected
    assert 20 < len(expected) < len(pages)

    assert stats["reconciled"] is True
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["dropped"].values()) + stats["quarantined"]
    # Every TFDS step dropped pages of this sample.
    for reason in (C4_DUPLICATE_URL, C4_TOO_FEW_SENTENCES, "lang", C4_BADWORDS):
        assert stats["dropped"].get(reason, 0) > 0, (reason, stats["dropped"])
    for doc in docs:
        annotations = doc["annotations"]
        assert annotations["c4_clean"]["page_rule"] is None
        assert annotations["c4_langdetect"]["lang"] == "en" and annotations["c4_langdetect"]["lang_score"] >= 0.99
        assert set(annotations["c4_line_dedup"]) == {"global_duplicates", "local_duplicates"}
        assert all(line.endswith((".", "?", "!", '"')) for line in doc["text"].split("\n"))


@pytest.mark.shared_corpus("cc/ukwa-gov.uk-BL-20140325121225068-00000.warc.gz")
def test_named_variants_fasttext_and_span_dedup_still_run(tmp_path, corpus):
    paths = [str(corpus / "cc" / "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz")]
    _, stats, docs = _run(tmp_path, paths, {"language_detector": "fasttext", "dedup": "spans", "url_dedup": False})
    assert stats["reconciled"] is True and docs
    assert all(d["annotations"]["lang_id"]["lang"] == "en" and "c4_dedup" in d["annotations"] for d in docs)
    assert "c4_duplicate_url" not in stats["dropped"]


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
        assert stats["dropped"][C4_DUPLICATE_URL] > 0  # the same gov.uk pages crawled twice
        outputs.append(stats["outputs"])
    assert outputs[0] == outputs[1]
    assert C4_DUPLICATE_URL in capsys.readouterr().out
