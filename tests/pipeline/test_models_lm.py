"""``pasture models lm`` end to end: four files, merged manifest, clear errors."""

from __future__ import annotations

import json

import pytest

from pipeline.training.lm import LMTrainingError, find_kenlm_binary, sha256_file
from filters.perplexity import PerplexityFilter
from mixtures.config import PerplexityConfig
from pipeline.cli import build_parser, main

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
    # uk from a slice of ukwiki (the ja dump beside it is skipped: another language).
    rc_uk = main(["models", "lm", "--wikipedia", str(wiki / JA), str(wiki / UK), "--lang", "uk",
                  "--output", str(out), "--vocab-size", "2000", "--max-docs", "30"])
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


def test_models_group_lists_lm():
    parser = build_parser()
    args = parser.parse_args(["models", "lm", "--wikipedia", "d.xml", "--lang", "en", "--output", "o"])
    assert args.vocab_size == 65536 and args.order == 5 and args.max_docs is None
