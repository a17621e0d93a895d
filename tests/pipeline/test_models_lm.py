"""``pasture models lm`` end to end: four files, merged manifest, settings from flags or config, clear errors."""

from __future__ import annotations

import json

import pytest
import yaml

from filters.perplexity import PerplexityFilter
from mixtures.config import LMTrainingConfig, PerplexityConfig, PipelineConfig
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
    assert rc == 2 and "input not found" in capsys.readouterr().err


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


# --- cutoffs calibrated on Common Crawl documents, cc_net's released layout, missing models -------------------


FOLDS = 5


@pytest.fixture(scope="module")
def cc_english(corpus):
    """English documents of every ../shared web page (cc, cc-pages) after the cc recipe's CCNet steps
    (read → extract → line dedup → LID), in FOLDS folds by a hash of the document id."""
    from pipeline.training.lm import split_key
    from pipeline.training.lm_cutoffs import ccnet_documents

    paths = sorted(str(p) for p in [*(corpus / "cc-pages").glob("*.warc.gz"), *(corpus / "cc").glob("*.warc*.gz")])
    folds: list[list] = [[] for _ in range(FOLDS)]
    for doc in ccnet_documents(paths, PipelineConfig(), "en"):
        folds[split_key(doc.id) % FOLDS].append(doc)
    return folds


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_cutoffs_from_a_cc_sample_put_30_30_40_of_heldout_cc_documents_in_head_middle_tail(
        cli_models, cc_english, tmp_path):
    """Cross-validated: each fold is bucketed with cutoffs calibrated on the other folds only, so every
    document is held out once and the shares are measured on all of them."""
    import shutil
    from collections import Counter

    from pipeline.training.lm_cutoffs import calibrate

    out, _, _ = cli_models
    buckets: Counter[str] = Counter()
    for k, heldout in enumerate(cc_english):
        folder = tmp_path / f"fold{k}"
        folder.mkdir()
        for name in ("en.sp.model", "en.arpa.bin"):
            shutil.copyfile(out / name, folder / name)
        calibration = [d for j, fold in enumerate(cc_english) if j != k for d in fold]
        record = calibrate(folder, "en", calibration)
        assert (record["unit"], record["set"], record["documents"]) == ("document", "cc-sample", len(calibration))
        f = PerplexityFilter(PerplexityConfig(model_dir=str(folder)))
        f.load()
        buckets.update(f(d.annotated(lang_id={"lang": "en", "lang_score": 1.0})).scores["bucket"] for d in heldout)
    total = sum(buckets.values())
    assert total > 100 and set(buckets) == {"head", "middle", "tail"}
    shares = {b: 100 * buckets[b] / total for b in ("head", "middle", "tail")}
    assert abs(shares["head"] - 30) <= 5 and abs(shares["middle"] - 30) <= 5 and abs(shares["tail"] - 40) <= 5, shares


@pytest.mark.shared_corpus("cc/dolma-sample-0000.warc.gz")
def test_models_lm_cc_sample_calibrates_the_models_in_the_folder(cli_models, corpus, tmp_path, capsys):
    import shutil

    out, _, _ = cli_models
    for name in ("en.sp.model", "en.arpa.bin", "en.cutoffs.json"):
        shutil.copyfile(out / name, tmp_path / name)
    sample = [str(corpus / "cc" / n) for n in ("dolma-sample-0000.warc.gz", "whirlwind.warc.wet.gz")]
    assert main(["models", "lm", "--cc-sample", *sample, "--lang", "en", "--output", str(tmp_path)]) == 0
    cutoffs = json.loads((tmp_path / "en.cutoffs.json").read_text())
    assert (cutoffs["unit"], cutoffs["set"]) == ("document", "cc-sample") and cutoffs["documents"] > 10
    assert cutoffs["percentiles"] == sorted(cutoffs["percentiles"]) and len(cutoffs["percentiles"]) == 100
    assert "Common Crawl documents" in capsys.readouterr().out
    assert main(["models", "lm", "--lang", "en", "--output", str(tmp_path)]) == 2
    assert "--cc-sample" in capsys.readouterr().err


def test_import_ccnet_converts_the_released_layout(cli_models, tmp_path, capsys):
    """A tiny model of ours laid out as cc_net releases its models: the import buckets as cc_net's
    own PerplexityBucket reading the same cutoff.csv."""
    import shutil

    from filters.perplexity import bucket_for
    from pipeline.training.lm_cutoffs import write_cutoff_csv
    from tests.reference.ccnet import load_cc_net

    out, _, _ = cli_models
    released = tmp_path / "released"
    released.mkdir()
    for name in ("en.sp.model", "en.arpa.bin"):
        shutil.copyfile(out / name, released / name)
    en = [float(10 * p) for p in range(100)]
    write_cutoff_csv(released / "cutoff.csv", {"en": en, "de": [float(p) for p in range(100)]})
    target = tmp_path / "lm"
    assert main(["models", "import-ccnet", "--from", str(released), "--output", str(target)]) == 0
    assert "en: cc_net models and cutoffs p30=300.0 p60=600.0" in capsys.readouterr().out
    assert sorted(p.name for p in target.iterdir()) == ["en.arpa.bin", "en.cutoffs.json", "en.sp.model"]
    cutoffs = json.loads((target / "en.cutoffs.json").read_text())
    assert cutoffs["percentiles"] == en and cutoffs["set"] == "cc_net cutoff.csv" and cutoffs["unit"] == "document"
    f = PerplexityFilter(PerplexityConfig(model_dir=str(target)))
    f.load()
    assert f.languages == ["en"]
    load_cc_net()
    from cc_net.perplexity import PerplexityBucket

    reference = PerplexityBucket(released / "cutoff.csv")
    reference._prepare()
    for pp in (0.0, 299.9, 300.0, 599.9, 600.0, 1e6):
        assert bucket_for(pp, cutoffs["percentiles"], 30, 60) == reference.get_bucket(
            {"perplexity": pp, "language": "en"})
    assert main(["models", "import-ccnet", "--from", str(released), "--lang", "fr", "--output", str(target)]) == 1
    assert "fr.sp.model not found" in capsys.readouterr().err


def test_a_kept_language_without_a_model_fails_before_any_work(cli_models, tmp_path):
    from mixtures.config import ConfigError, LangIdConfig
    from pipeline.recipes import cc

    out, _, _ = cli_models
    cc.check(PipelineConfig(perplexity=PerplexityConfig(model_dir=str(out)), lang_id=LangIdConfig(languages=("en",))))
    with pytest.raises(ConfigError, match=r"kept language.*de\.sp\.model.*de\.arpa\.bin.*de\.cutoffs\.json"):
        cc.check(PipelineConfig(perplexity=PerplexityConfig(model_dir=str(out)),
                                lang_id=LangIdConfig(languages=("en", "de"))))
