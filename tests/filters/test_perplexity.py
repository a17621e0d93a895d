"""CCNet perplexity: LM training on real Wikipedia, cc_net's formula, buckets and the filter."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from filters.base import Step
from filters.document import Document
from filters.normalize import normalize
from filters.perplexity import (
    BUCKET_ALL,
    REASON_PERPLEXITY,
    ModelDirError,
    PerplexityFilter,
    bucket_for,
    document_perplexity,
    lm_lines,
    load_models,
    score_text,
)
from mixtures.config import PerplexityConfig
from mixtures.provenance import sha256_file
from pipeline.training.lm import (
    LMTrainingError,
    LMTrainingSettings,
    find_kenlm_binary,
    percentile_table,
    train_language,
    update_manifest,
)
from pipeline.training.wikipedia_text import iter_articles

EN = "enwiki-pages-articles-sample.xml.bz2"
UK = "ukwiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"
UK_TRAIN_DOCS = 40

# Real-looking web boilerplate (shop/navigation chrome) and keyboard-mash gibberish.
EN_BOILERPLATE = ("Home | About us | Contact | Login | Register\nCart (0) $0.00 Checkout\n"
                  "Copyright 2023 All rights reserved. Privacy Policy Terms of Use Cookie settings")
EN_GIBBERISH = "qwv zzkx plmf xxq jjwq ptkq vbzz wqxj kkpf zzqv"
UK_BOILERPLATE = ("Головна | Новини | Контакти | Увійти | Реєстрація\nКошик 0 грн Оформити замовлення\n"
                  "Всі права захищені © 2023 Політика конфіденційності")
UK_GIBBERISH = "кпщ зхв йцукенгшщ фівапролдж ячсмить бюєї ґї щшзх жєхї"


@pytest.fixture(scope="session")
def kenlm_tools():
    try:
        return find_kenlm_binary("lmplz"), find_kenlm_binary("build_binary")
    except LMTrainingError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def model_dir(corpus, kenlm_tools, tmp_path_factory) -> Path:
    """en from the enwiki sample, uk from the first 40 ukwiki pages; trained once (~5 s)."""
    out = tmp_path_factory.mktemp("lm")
    lmplz, build_binary = kenlm_tools
    wiki = corpus / "wikipedia"
    en = train_language(iter_articles([str(wiki / EN)], ["en"]), [str(wiki / EN)], out,
                        LMTrainingSettings("en", vocab_size=65536), lmplz, build_binary)
    uk = train_language(iter_articles([str(wiki / UK)], ["uk"], max_docs=UK_TRAIN_DOCS), [str(wiki / UK)], out,
                        LMTrainingSettings("uk", vocab_size=3000, max_docs=UK_TRAIN_DOCS), lmplz, build_binary)
    update_manifest(out, en)
    update_manifest(out, uk)
    return out


@pytest.fixture(scope="session")
def models(model_dir):
    return load_models(model_dir)


@pytest.fixture(scope="session")
def unseen_uk_pages(corpus) -> list[Document]:
    """ukwiki pages after the training slice: Wikipedia text the model has not seen."""
    docs = list(iter_articles([str(corpus / "wikipedia" / UK)], ["uk"], max_docs=UK_TRAIN_DOCS + 20))
    return docs[UK_TRAIN_DOCS:]


def test_training_writes_models_cutoffs_and_manifest(model_dir):
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "en.arpa.bin", "en.cutoffs.json", "en.sp.model", "manifest.json",
        "uk.arpa.bin", "uk.cutoffs.json", "uk.sp.model",
    ]
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert sorted(manifest["languages"]) == ["en", "uk"]
    en = manifest["languages"]["en"]
    # 65536 is far too many pieces for two articles: the largest size SentencePiece accepts is used.
    assert en["sentencepiece"]["vocab_size_requested"] == 65536
    assert 500 < en["sentencepiece"]["vocab_size"] < 65536
    assert en["sentencepiece"]["model_type"] == "unigram" and en["sentencepiece"]["character_coverage"] == 0.9995
    assert en["kenlm"]["order"] == 5 and en["kenlm"]["discount_fallback"] is True
    assert en["counts"]["documents"] == 2
    assert en["files"]["en.arpa.bin"] == sha256_file(model_dir / "en.arpa.bin")
    assert en["inputs"][0]["sha256"] == "c6d24282b7bd5176408f7ae41c997f942a67c9ce4bf3495766ff884935af6886"
    uk = manifest["languages"]["uk"]
    assert uk["sentencepiece"]["vocab_size"] == 3000 and uk["counts"]["documents"] == UK_TRAIN_DOCS


def test_cutoffs_are_percentiles_of_heldout_paragraph_perplexity(model_dir):
    uk = json.loads((model_dir / "uk.cutoffs.json").read_text())
    table = uk["percentiles"]
    assert len(table) == 100 and table == sorted(table)
    assert uk["cutoffs"] == {"p30": table[30], "p60": table[60]}
    assert uk["set"] == "heldout" and uk["paragraphs"] > 0
    # Two English articles are too few for the 10% hash split: one article is held out anyway.
    en = json.loads((model_dir / "en.cutoffs.json").read_text())
    manifest = json.loads((model_dir / "manifest.json").read_text())["languages"]["en"]
    assert en["set"] == "heldout" and en["paragraphs"] == manifest["counts"]["heldout_paragraphs"] > 0
    assert manifest["counts"]["train_documents"] == 1
    assert 20 < en["cutoffs"]["p30"] < en["cutoffs"]["p60"]  # held-out perplexity, not memorised text


def test_a_single_page_falls_back_to_in_sample_cutoffs(corpus, kenlm_tools, tmp_path):
    wiki = corpus / "wikipedia"
    result = train_language(iter_articles([str(wiki / EN)], ["en"], max_docs=1), [str(wiki / EN)], tmp_path,
                            LMTrainingSettings("en", vocab_size=1000), *kenlm_tools)
    assert result.cutoffs["set"] == "training" and result.counts["heldout_paragraphs"] == 0


def test_line_unit_is_doclm_over_each_normalised_line(models):
    """pp = 10 ** (-Σ log10 P(line) / Σ (len(tokens) + 1)) over normalised, tokenized lines, rounded to 0.1."""
    model = models["en"]
    text = "Accessibility is often abbreviated as a11y.\n\nThe number 11 refers to   the omitted letters."
    log_score, length = 0.0, 0
    for raw in text.split("\n"):
        line = normalize(raw)
        if not line:
            continue
        tokenized = " ".join(model.sp.EncodeAsPieces(line))
        log_score += model.lm.score(tokenized, bos=True, eos=True)
        length += len(tokenized.split()) + 1
    assert document_perplexity(text, model.sp, model.lm, "line") == round(10 ** (-log_score / length), 1)
    assert lm_lines(text) == ["accessibility is often abbreviated as a00y.",
                              "the number 00 refers to   the omitted letters."]
    assert document_perplexity("\n \n", model.sp, model.lm, "line") is None
    assert document_perplexity("\n \n", model.sp, model.lm) is None


def _cc_net_mine_perplexity(model_dir: Path, texts: list[str], lang: str) -> list[float | None]:
    """cc_net 1.0.0's own ``mine`` steps: MultiSentencePiece(normalize=True) → DocLM(normalize=False)."""
    from cc_net import perplexity as ccp

    sp = ccp.MultiSentencePiece({lang: model_dir / f"{lang}.sp.model"}, field="raw_content",
                                output_field="tokenized", normalize=True)
    lm = ccp.DocLM({lang: model_dir / f"{lang}.arpa.bin"}, field="tokenized", output_field="perplexity",
                   normalize=False)
    sp._prepare()
    lm._prepare()
    return [lm.do(sp.do({"raw_content": text, "language": lang})).get("perplexity") for text in texts]


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_document_perplexity_equals_cc_nets_doclm_on_real_pages(models, model_dir, corpus):
    from filters.sources.cc.extract import HtmlExtractor
    from filters.sources.cc.warc import read_warc
    from tests.reference.ccnet import load_cc_net

    load_cc_net()
    extractor = HtmlExtractor()
    texts = ["Accessibility is often abbreviated as a11y.\n\nThe number 11 refers to   the omitted letters.", "",
             "\n \n", EN_BOILERPLATE, EN_GIBBERISH]
    for path in sorted((corpus / "cc-pages").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            texts += [extractor(d).text for d in read_warc(str(path), fh) if getattr(d, "text", None)]
    assert len(texts) > 200
    model = models["en"]
    expected = _cc_net_mine_perplexity(model_dir, texts, "en")
    ours = [document_perplexity(text, model.sp, model.lm) for text in texts]
    assert sum(e is not None for e in expected) > 200
    assert [e is None for e in expected] == [o is None for o in ours]
    assert max(abs(e - o) for e, o in zip(expected, ours, strict=True) if e is not None) <= 1e-6
    # The whole page is one line: not the mean over its lines.
    assert ours[0] != document_perplexity(texts[0], model.sp, model.lm, "line")


def test_wikipedia_text_scores_lower_than_boilerplate_and_gibberish(models, unseen_uk_pages):
    wiki_en = ("Accessibility is often abbreviated as the numeronym a11y, where the number 11 refers to the "
               "number of letters omitted.")
    en = {name: score_text(text, "en", models)[0] for name, text in
          (("wiki", wiki_en), ("boilerplate", EN_BOILERPLATE), ("gibberish", EN_GIBBERISH))}
    assert en["wiki"] < en["boilerplate"] and en["wiki"] < en["gibberish"]
    # Unseen Ukrainian Wikipedia pages versus Ukrainian web chrome and keyboard mash.
    wiki_uk = sorted(score_text(d.text, "uk", models)[0] for d in unseen_uk_pages)
    median = wiki_uk[len(wiki_uk) // 2]
    boiler = score_text(UK_BOILERPLATE, "uk", models)[0]
    gibberish = score_text(UK_GIBBERISH, "uk", models)[0]
    assert median < boiler and median < gibberish
    assert score_text(UK_GIBBERISH, "uk", models)[1] == "tail"


@pytest.mark.parametrize("pp, expected", [
    (None, "all"), (-1.0, "all"), (0.5, "head"), (29.9, "head"), (30.0, "middle"), (59.9, "middle"),
    (60.0, "tail"), (1e9, "tail"),
])
def test_bucket_boundaries_follow_perplexity_bucket(pp, expected):
    percentiles = [float(i) for i in range(100)]  # p[k] == k
    assert bucket_for(pp, percentiles, 30, 60) == expected


def test_bucket_against_stored_cutoffs(model_dir, models):
    cut = json.loads((model_dir / "uk.cutoffs.json").read_text())["cutoffs"]
    p30, p60 = cut["p30"], cut["p60"]
    table = models["uk"].percentiles
    assert bucket_for(p30 - 0.1, table, 30, 60) == "head"
    assert bucket_for(p30, table, 30, 60) == "middle"
    assert bucket_for(p60, table, 30, 60) == "tail"
    assert score_text("anything", "fr", models) == (None, BUCKET_ALL)


def _doc(text: str, lang: str | None) -> Document:
    annotations = {"lang_id": {"lang": lang, "lang_score": 0.99}} if lang else {}
    return Document("cc/1", text, "cc", {}, annotations)


def test_filter_scores_buckets_and_drops_tail(model_dir, unseen_uk_pages):
    f = PerplexityFilter(PerplexityConfig(model_dir=str(model_dir), keep_buckets=("head", "middle")))
    f.load()
    assert f.languages == ["en", "uk"]
    verdict = f(_doc(UK_GIBBERISH, "uk"))
    assert verdict.keep is False and verdict.reason == REASON_PERPLEXITY
    assert verdict.scores["bucket"] == "tail" and verdict.scores["perplexity"] > 0
    assert verdict.scores["model"].startswith("uk:")
    buckets = {f(_doc(d.text, "uk")).scores["bucket"] for d in unseen_uk_pages}
    assert buckets & {"head", "middle"}
    # No model for the language, or no language at all: bucket "all", always kept.
    for doc in (_doc(EN_GIBBERISH, "fr"), _doc(EN_GIBBERISH, None)):
        v = f(doc)
        assert v.keep is True and v.reason is None and v.scores == {"perplexity": None, "bucket": "all"}
    keep_tail = PerplexityFilter(PerplexityConfig(model_dir=str(model_dir), keep_buckets=("tail",)))
    keep_tail.load()
    assert keep_tail(_doc(UK_GIBBERISH, "uk")).keep is True


def test_filter_pickles_config_only_and_requires_load(model_dir):
    f = PerplexityFilter(PerplexityConfig(model_dir=str(model_dir)))
    f.load()
    clone = pickle.loads(pickle.dumps(f))
    with pytest.raises(RuntimeError, match="load"):
        clone(_doc("text", "en"))
    clone.load()
    assert clone(_doc(EN_BOILERPLATE, "en")).scores == f(_doc(EN_BOILERPLATE, "en")).scores


def test_filter_is_a_step_that_quarantines_text_sentencepiece_cannot_take(model_dir):
    f = PerplexityFilter(PerplexityConfig(model_dir=str(model_dir)))
    assert isinstance(f, Step) and f.versioned_name == "perplexity_v2" and f.cost_stage == "perplexity"
    assert f.reasons == (REASON_PERPLEXITY,)
    f.load()
    # A lone surrogate (from a JSON "\ud800" escape) raises the declared data error, not the
    # RuntimeError SentencePiece would: the record is quarantined, the run goes on.
    with pytest.raises(f.data_errors):
        f(_doc("Accessibility \ud800 text", "en"))
    assert f(_doc("Accessibility \ud800 text", "fr")).scores["bucket"] == "all"  # no model, nothing scored


def test_missing_or_incomplete_model_dir_fails_at_load(tmp_path, model_dir):
    with pytest.raises(ModelDirError, match="pasture models lm"):
        PerplexityFilter(PerplexityConfig(model_dir=str(tmp_path / "nope"))).load()
    (tmp_path / "de.sp.model").write_bytes((model_dir / "en.sp.model").read_bytes())
    with pytest.raises(ModelDirError, match="de.arpa.bin"):
        PerplexityFilter(PerplexityConfig(model_dir=str(tmp_path))).load()


def test_training_is_deterministic(corpus, kenlm_tools, model_dir, tmp_path):
    wiki = corpus / "wikipedia"
    again = train_language(iter_articles([str(wiki / EN)], ["en"]), [str(wiki / EN)], tmp_path,
                           LMTrainingSettings("en", vocab_size=65536), *kenlm_tools)
    for name in ("en.sp.model", "en.arpa.bin", "en.cutoffs.json"):
        assert again.files[name] == sha256_file(model_dir / name), name


def test_missing_kenlm_tool_tells_the_user_to_run_install(tmp_path):
    with pytest.raises(LMTrainingError, match=r"install\.sh"):
        find_kenlm_binary("lmplz-that-does-not-exist", tmp_path)


def test_no_documents_is_a_clear_error(kenlm_tools, tmp_path):
    with pytest.raises(LMTrainingError, match="no xx articles"):
        train_language(iter([]), [], tmp_path, LMTrainingSettings("xx"), *kenlm_tools)


def test_percentile_table_is_numpy_linear_rounded():
    assert percentile_table([10.0, 20.0])[:3] == [10.0, 10.1, 10.2]
    with pytest.raises(LMTrainingError):
        percentile_table([])
