"""``pasture models lm`` end to end: four files, merged manifest, settings from flags or config, clear errors."""

from __future__ import annotations

import json

import pytest
import yaml

from filters.perplexity import PerplexityFilter
from mixtures.config import LMTrainingConfig, PerplexityConfig
from mixtures.provenance import sha256_file
from pipeline.cli import build_parser, main
from pipeline.commands.models import lm_settings
from pipeline.training.lm import LMTrainingError, LMTrainingSettings, find_kenlm_binary

EN = "enwiki-pages-articles-sample.xml.bz2"
UK = "ukwiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"
JA = "jawiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"


@pytest.fixture(scope="module")
def cli_models(corpus, tmp_path_factory):
    try:
        find_kenlm_binary("lmplz")
    except LMTrainingError as exc:
        pytest.skip(str(exc))
    out = tmp_path_factory.mktemp("models")
    wiki = corpus / "wikipedia"
    # uk from a slice of ukwiki (the ja dump beside it is skipped: another language), with the
    # folder, vocabulary and percentiles from a pipeline config and --max-docs overriding its 20.
    config = out.parent / "uk.yaml"
    config.write_text(yaml.safe_dump({
        "perplexity": {"model_dir": str(out), "percentile_head": 50, "percentile_tail": 80},
        "models": {"lm": {"vocab_size": 2000, "max_docs": 20}},
    }))
    rc_uk = main(["models", "lm", "--wikipedia", str(wiki / JA), str(wiki / UK), "--lang", "uk",
                  "--config", str(config), "--max-docs", "30"])
    rc_en = main(["models", "lm", "--wikipedia", str(wiki / EN), "--lang", "en", "--output", str(out)])
    return out, rc_uk, rc_en


def test_models_lm_writes_the_four_files_and_merges_the_manifest(cli_models, corpus, capsys):
    out, rc_uk, rc_en = cli_models
    assert (rc_uk, rc_en) == (0, 0)
    assert sorted(p.name for p in out.iterdir()) == [
        "en.arpa.bin", "en.cutoffs.json", "en.sp.model", "manifest.json",
        "uk.arpa.bin", "uk.cutoffs.json", "uk.sp.model",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "pasture-perplexity-models"
    uk = manifest["languages"]["uk"]
    assert uk["lang"] == "uk"
    assert uk["counts"]["documents"] == 30
    assert uk["sentencepiece"]["vocab_size"] == 2000
    assert [i["sha256"] for i in uk["inputs"]] == [sha256_file(corpus / "wikipedia" / n) for n in (JA, UK)]
    assert uk["files"] == {name: sha256_file(out / name) for name in ("uk.sp.model", "uk.arpa.bin", "uk.cutoffs.json")}
    assert uk["settings"] == {"max_docs": 30, "heldout_percent": 10}
    assert set(uk["versions"]) >= {"sentencepiece", "ufal-kenlm"}
    # The cutoffs name the percentiles the config's filter buckets at; en has cc_net's defaults.
    assert set(json.loads((out / "uk.cutoffs.json").read_text())["cutoffs"]) == {"p50", "p80"}
    assert set(json.loads((out / "en.cutoffs.json").read_text())["cutoffs"]) == {"p30", "p60"}
    assert manifest["languages"]["en"]["counts"]["documents"] == 2


def test_models_written_by_the_cli_load_in_the_filter(cli_models):
    out, _, _ = cli_models
    f = PerplexityFilter(PerplexityConfig(model_dir=str(out)))
    f.load()
    assert f.languages == ["en", "uk"]


def test_a_language_without_articles_in_the_dumps_fails_clearly(cli_models, corpus, tmp_path, capsys):
    rc = main(["models", "lm", "--wikipedia", str(corpus / "wikipedia" / EN), "--lang", "fr",
               "--output", str(tmp_path)])
    assert rc == 1
    assert "no fr articles" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_missing_dump_is_a_usage_error(tmp_path, capsys):
    rc = main(["models", "lm", "--wikipedia", str(tmp_path / "nope.xml.bz2"), "--lang", "en",
               "--output", str(tmp_path / "out")])
    assert rc == 2 and "dump not found" in capsys.readouterr().err


def test_lm_settings_default_to_the_config_tree_and_flags_override(tmp_path):
    parser = build_parser()
    base = ["models", "lm", "--wikipedia", "d.xml", "--lang", "en"]
    # No config: the defaults of mixtures.config (cc_net's 65536 pieces, order 5, cutoffs p30/p60).
    settings, output = lm_settings(parser.parse_args([*base, "--output", "o"]))
    assert settings == LMTrainingSettings("en") and output == "o"
    assert (settings.vocab_size, settings.order, settings.max_docs, settings.percentile_head) == (65536, 5, None, 30)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "perplexity": {"model_dir": str(tmp_path / "lm"), "percentile_head": 40, "percentile_tail": 70},
        "models": {"lm": {"vocab_size": 3000, "order": 4, "memory": "1G", "heldout_percent": 20, "threads": 2,
                          "character_coverage": 0.999}},
    }))
    settings, output = lm_settings(parser.parse_args([*base, "--config", str(config)]))
    assert output == str(tmp_path / "lm")
    assert settings == LMTrainingSettings("en", vocab_size=3000, character_coverage=0.999, order=4, memory="1G",
                                          heldout_percent=20, percentile_head=40, percentile_tail=70, threads=2)
    settings, output = lm_settings(parser.parse_args([*base, "--config", str(config), "--output", "o",
                                                      "--vocab-size", "2000", "--order", "3", "--memory", "4G",
                                                      "--heldout-percent", "5", "--threads", "1",
                                                      "--max-docs", "7"]))
    assert output == "o"
    assert (settings.vocab_size, settings.order, settings.memory, settings.heldout_percent, settings.threads,
            settings.max_docs, settings.character_coverage) == (2000, 3, "4G", 5, 1, 7, 0.999)
    assert LMTrainingConfig().vocab_size == 65536  # the one home of the default


def test_bad_settings_and_a_missing_output_are_usage_errors(corpus, tmp_path, capsys):
    dump = str(corpus / "wikipedia" / EN)
    assert main(["models", "lm", "--wikipedia", dump, "--lang", "en", "--output", str(tmp_path),
                 "--vocab-size", "2"]) == 2
    assert "models.lm.vocab_size must be >= 4" in capsys.readouterr().err
    assert main(["models", "lm", "--wikipedia", dump, "--lang", "en"]) == 2
    assert "give --output or --config FILE (its perplexity.model_dir)" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"models": {"lm": {"vocab": 3000}}}))
    assert main(["models", "lm", "--wikipedia", dump, "--lang", "en", "--config", str(config)]) == 2
    assert "models.lm: unknown key(s) ['vocab']" in capsys.readouterr().err
