"""The whole CCNet path through the CLI, as a user runs it (issue: skeleton + CCNet path).

`pasture models lm` trains the English LM from the real enwiki sample and calibrates its
cutoffs on Common Crawl documents (`--cc-sample`), then `pasture rebuild cc` runs read →
extract → line dedup → LID → perplexity over the real Common Crawl samples. Non-English
pages drop with `lang`; every kept page carries `lang`, `lang_score`, `perplexity` and
`bucket`; counts reconcile.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main


def _docs(folder: Path) -> list[dict]:
    docs = []
    for shard in sorted(folder.glob("part-*.jsonl.gz")):
        docs += [json.loads(line) for line in gzip.decompress(shard.read_bytes()).decode("utf-8").split("\n") if line]
    return docs


@pytest.fixture(scope="module")
def ccnet_run(corpus, kenlm_tools, tmp_path_factory):
    root = tmp_path_factory.mktemp("ccnet")
    models = root / "lm"
    assert main(["models", "lm", "--wikipedia", str(corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2"),
                 "--lang", "en", "--output", str(models)]) == 0
    # cc_net's cutoffs are percentiles of Common Crawl documents: calibrate on a CC sample.
    sample = [str(corpus / "cc" / name) for name in ("dolma-sample-0000.warc.gz",
                                                    "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz")]
    assert main(["models", "lm", "--cc-sample", *sample, "--lang", "en", "--output", str(models)]) == 0
    config = root / "config.yaml"
    # The llama1 preset also turns the reference classifier on; its model is not part of this test.
    config.write_text(yaml.safe_dump({"mixture": "llama1", "perplexity": {"model_dir": str(models)},
                                      "quality": {"enabled": False}}))
    out = root / "out"
    assert main(["rebuild", "cc", "--input", str(corpus / "cc-pages"), str(corpus / "cc"),
                 "--output", str(out), "--config", str(config)]) == 0
    return out / "cc"


def test_english_pages_keep_every_ccnet_annotation(ccnet_run):
    kept = _docs(ccnet_run / "docs")
    assert kept
    for doc in kept:
        ann = doc["annotations"]
        assert ann["lang_id"]["lang"] == "en" and ann["lang_id"]["lang_score"] >= 0.5
        assert ann["perplexity"]["bucket"] in ("head", "middle")
        assert ann["perplexity"]["perplexity"] > 0
        assert doc["meta"]["url"] and doc["meta"]["digest"]


def test_non_english_dropped_with_lang_and_tail_with_perplexity(ccnet_run):
    dropped = _docs(ccnet_run / "dropped")
    by_reason: dict[str, list[dict]] = {}
    for doc in dropped:
        by_reason.setdefault(doc["annotations"]["dropped"]["reason"], []).append(doc)
    assert {d["annotations"]["lang_id"]["lang"] for d in by_reason["lang"]} >= {"de", "fr", "zh"}
    assert all(d["annotations"]["lang_id"]["lang"] != "en" or d["annotations"]["lang_id"]["lang_score"] < 0.5
               for d in by_reason["lang"])
    assert by_reason["perplexity"], "the tail bucket should drop some English pages"
    assert all(d["annotations"]["perplexity"]["bucket"] == "tail" for d in by_reason["perplexity"])


def test_stats_reconcile_and_list_every_reason(ccnet_run):
    stats = json.loads((ccnet_run / "stats.json").read_text())
    assert stats["reconciled"] is True
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["dropped"].values()) + stats["quarantined"]
    assert {"lang", "perplexity", "revisit"} <= set(stats["dropped"])
    assert stats["config"]["perplexity"]["percentile_head"] == 30
    assert stats["config"]["perplexity"]["unit"] == "document"
    assert stats["config"]["minhash"]["enabled"] is False  # the llama1 preset: no near-dedup on CC
    assert all(len(sha) == 64 for sha in stats["outputs"].values())


def test_missing_perplexity_models_fail_before_any_work(corpus, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"perplexity": {"model_dir": str(tmp_path / "no-models")}}))
    out = tmp_path / "out"
    code = main(["rebuild", "cc", "--input", str(corpus / "cc" / "whirlwind.warc.wet.gz"),
                 "--output", str(out), "--config", str(config)])
    assert code == 2
    assert "perplexity models not found" in capsys.readouterr().err
    assert not (out / "cc" / "docs").exists()


def test_a_kept_language_without_a_model_fails_before_any_work(corpus, tmp_path, capsys):
    models = tmp_path / "lm"
    models.mkdir()
    for name in ("en.sp.model", "en.arpa.bin", "en.cutoffs.json"):
        (models / name).write_bytes(b"")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"perplexity": {"model_dir": str(models)},
                                      "lang_id": {"languages": ["en", "de"]}}))
    out = tmp_path / "out"
    code = main(["rebuild", "cc", "--input", str(corpus / "cc" / "whirlwind.warc.wet.gz"),
                 "--output", str(out), "--config", str(config)])
    assert code == 2
    err = capsys.readouterr().err
    assert "kept language" in err and "de.sp.model" in err and "en.sp.model" not in err
    assert not (out / "cc" / "docs").exists()


def test_llama1_preset_turns_near_dedup_off_for_cc_and_c4():
    from mixtures.config import SourceSpec, config_from_dict
    from pipeline.recipes import recipe_steps
    from stages.dedup import NearDedup

    for data, near_dedup in (({"mixture": "llama1"}, False), ({}, True),
                             ({"mixture": "llama1", "minhash": {"enabled": True}}, True)):
        cfg = config_from_dict({**data, "perplexity": {"enabled": False}})
        for kind in ("cc", "c4"):
            steps = recipe_steps(cfg, SourceSpec(name=kind, kind=kind))
            assert any(isinstance(s, NearDedup) for s in steps) is near_dedup, (data, kind)
