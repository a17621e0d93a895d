"""fastText LID (lid.176) on real extracted pages, cc_net semantics."""

from __future__ import annotations

import json
import pickle

import pytest

from filters.document import Document
from filters.lang_id import EMPTY_TEXT, LANG, LanguageFilter, LanguageIdentifier, bundled_model_path
from filters.sources.cc.extract import HtmlExtractor
from filters.sources.cc.warc import read_warc
from mixtures.config import LangIdConfig


@pytest.fixture(scope="module")
def english_filter() -> LanguageFilter:
    lid = LanguageFilter(LangIdConfig(languages=("en",), threshold=0.5))
    lid.load()
    return lid


@pytest.fixture(scope="module")
def extracted(corpus) -> list[tuple[dict, Document]]:
    """(manifest entry, extracted document) for the 216 cc-pages."""
    manifest = {}
    for line in (corpus / "cc-pages" / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        manifest[entry["record_id"]] = entry
    extractor = HtmlExtractor()
    pairs = []
    for path in sorted((corpus / "cc-pages").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for doc in read_warc(str(path), fh):
                pairs.append((manifest[doc.meta["warc_record_id"]], extractor(doc)))
    return pairs


def _by_path(extracted, suffix):
    [doc] = [doc for entry, doc in extracted if entry["path"].endswith(suffix)]
    return doc


def test_german_page_is_de_and_dropped_for_lang(extracted, english_filter):
    verdict = english_filter(_by_path(extracted, "cosmopolitan.de.sommertrend.html"))
    assert (verdict.keep, verdict.reason) == (False, LANG)
    assert verdict.scores["lang"] == "de" and verdict.scores["lang_score"] >= 0.95


def test_english_page_is_en_and_kept(extracted, english_filter):
    verdict = english_filter(_by_path(extracted, "tests/data/html/cnn_001.html"))
    assert verdict.keep and verdict.reason is None
    assert verdict.scores["lang"] == "en" and verdict.scores["lang_score"] >= 0.9


def test_german_filter_keeps_german(extracted):
    german = LanguageFilter(LangIdConfig(languages=("de",)))
    german.load()
    verdict = german(_by_path(extracted, "cosmopolitan.de.sommertrend.html"))
    assert verdict.keep and verdict.scores["lang"] == "de"


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_confident_manifest_labels_are_reproduced(extracted, english_filter):
    """Pages the reference LID (resiliparse text + lid.176) scored >= 0.9 get the same label."""
    confident = [(entry, doc) for entry, doc in extracted if entry["lang_score"] >= 0.9]
    assert len(confident) > 180
    for entry, doc in confident:
        verdict = english_filter(doc)
        assert verdict.scores["lang"] == entry["lang"], entry["path"]
        assert verdict.keep is (entry["lang"] == "en")
        assert verdict.reason == (None if entry["lang"] == "en" else LANG)


def test_scores_are_rounded_to_two_decimals(extracted, english_filter):
    for _, doc in extracted[:40]:
        score = english_filter(doc).scores["lang_score"]
        assert score == round(score, 2) and 0.0 <= score <= 1.0


def test_low_score_is_dropped_even_in_a_kept_language(extracted):
    strict = LanguageFilter(LangIdConfig(languages=("en",), threshold=1.0))
    strict.load()
    verdict = strict(_by_path(extracted, "chineselyrics4u.com.zhineng.html"))
    assert (verdict.keep, verdict.reason) == (False, LANG)
    assert verdict.scores["lang_score"] < 1.0


def test_newlines_are_removed_without_a_space_like_cc_net():
    import fasttext

    model = fasttext.load_model(bundled_model_path())
    identifier = LanguageIdentifier(bundled_model_path())
    text = "Der Hund\nläuft schnell\nüber die Straße"
    labels, scores = model.predict("Der Hundläuft schnellüber die Straße", k=1)
    assert identifier.predict(text) == (labels[0].removeprefix("__label__"), round(float(scores[0]), 2))


def test_empty_text_is_dropped(english_filter):
    assert english_filter(Document("cc/x", " \n ", "cc")).reason == EMPTY_TEXT


def test_pickles_without_the_model_and_reloads(english_filter):
    clone = pickle.loads(pickle.dumps(english_filter))
    assert clone._identifier is None and clone.cfg == english_filter.cfg
    clone.load()
    assert clone(Document("cc/x", "This is plainly an English sentence about the weather.", "cc")).keep


def test_explicit_model_path():
    lid = LanguageFilter(LangIdConfig(languages=("fr",), model=bundled_model_path()))
    lid.load()
    verdict = lid(Document("cc/x", "Le chat dort sur le canapé pendant que la pluie tombe.", "cc"))
    assert verdict.keep and verdict.scores["lang"] == "fr"


def test_text_fasttext_cannot_take_raises_a_declared_data_error(english_filter):
    # pybind11 would say TypeError, which is a bug type; a lone surrogate is bad text.
    with pytest.raises(UnicodeEncodeError):
        english_filter(Document("cc/x", "An English sentence with a lone \ud800 surrogate.", "cc"))
    assert issubclass(UnicodeEncodeError, LanguageFilter.data_errors)
