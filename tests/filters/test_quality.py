"""Wikipedia-reference classifier: training-set rules, metrics maths and the filter.

The model is trained on real data: positives are paragraphs of the English Wikipedia sample
(enwiki, 2 articles: "Computer accessibility", "Accessibility"; English only so the model
cannot separate the classes by language alone), negatives are the pages of corpus/cc-pages
and corpus/cc (extracted text, 11 languages, mostly de/en).
"""

from __future__ import annotations

import itertools

import pytest

from filters.base import Step
from filters.document import Document
from filters.exact_dedup import normalize_url
from filters.quality import (
    CC_LABEL,
    QUALITY,
    WIKI_LABEL,
    QualityFilter,
    classifier_text,
    wiki_probability,
)
from filters.sources.c4.config import C4Config
from filters.sources.c4.rules import CLEANER_NAME, C4Cleaner
from mixtures.config import QualityConfig
from pipeline.training.quality import (
    CC_PAGES,
    WIKIPEDIA_TEXT,
    Example,
    LowestRanks,
    TrainingOptions,
    build_training_set,
    dedup_examples,
    is_heldout,
    iter_wikipedia_articles,
    precision_recall,
    reference_urls,
    roc_auc,
    train_quality_model,
    wikipedia_chunks,
)

# fastText's defaults (lr 0.1, 5 epochs) underfit 130 examples; RedPajama trained on ~600K.
OPTIONS = TrainingOptions(epoch=30, lr=0.5, heldout_fraction=0.2, seed=1)


# --- text normalisation -------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Hello,  World!\nSecond line.", "hello , world ! second line ."),
    ("Founded in 1997 (EU).", "founded in 0000 ( eu ) ."),
    ("__label__wiki sneaks in", "label wiki sneaks in"),
    ("  \n ", ""),
])
def test_classifier_text(text, expected):
    assert classifier_text(text) == expected
    assert "\n" not in classifier_text(text)


@pytest.mark.parametrize("labels, probs, expected", [
    ((WIKI_LABEL,), [0.8], 0.8),
    ((CC_LABEL,), [0.8], pytest.approx(0.2)),
    ((WIKI_LABEL,), [1.00001], 1.0),  # fastText clips at 1 + 1e-5
])
def test_wiki_probability_is_redpajamas(labels, probs, expected):
    assert wiki_probability(labels, probs) == expected


# --- reference URLs -------------------------------------------------------------------------


def test_reference_urls_of_real_articles(corpus):
    articles = {doc.meta["title"]: doc.text for doc in
                iter_wikipedia_articles([str(corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2")])}
    urls = reference_urls(articles["Computer accessibility"])
    # "<ref>CEN: [http://www.cen.eu/... Personal identification, ...]</ref>": the URL, not the label.
    assert urls[0].startswith("http://www.cen.eu/cen/Sectors/") and urls[0].endswith("%20operations")
    assert "http://www.tiresias.org/research/reports/en1332_4_revision.htm" in urls
    assert len(urls) == len(set(urls)) == 53
    accessibility = reference_urls(articles["Accessibility"])
    assert "http://ec.europa.eu/news/justice/101115_en.htm" in accessibility
    assert all(url.startswith(("http://", "https://")) for url in urls + accessibility)


def test_reference_urls_forms():
    wikitext = (
        "Text.<ref name=a>{{cite web |url=https://example.org/report.pdf |title=Report}}</ref> "
        "See <ref>[http://www.example.com/a?b=1 A page], retrieved 2020.</ref> "
        "{{Cite news|title=X|url=http://news.example.net/x/}}\n"
        "== External links ==\n* [https://example.edu/ Home]\n"
    )
    assert reference_urls(wikitext) == [
        "https://example.org/report.pdf", "http://www.example.com/a?b=1",
        "http://news.example.net/x/", "https://example.edu/",
    ]


@pytest.mark.parametrize("url, expected", [
    ("http://www.Data.gov.uk/about/", "data.gov.uk/about"),
    ("https://data.gov.uk/about", "data.gov.uk/about"),
    ("https://example.org/a?utm_source=feed#top", "example.org/a"),
    ("<https://example.org/a?id=3>", "example.org/a?id=3"),
    ("https://example.org/A", "example.org/A"),  # paths stay case-sensitive
])
def test_cited_and_crawled_urls_meet_on_c4s_url_key(url, expected):
    # Training looks cited URLs up among crawled pages with C4's URL-dedup key.
    assert normalize_url(url) == expected


# --- training-set rules ---------------------------------------------------------------------


def test_dedup_fires_unlike_redpajamas():
    # RedPajama's create_corpus.py stored unique["digest"] = 1, so every repeat survived.
    a = Example(WIKI_LABEL, WIKIPEDIA_TEXT, "same text", "a")
    b = Example(CC_LABEL, CC_PAGES, "same text", "b")
    c = Example(CC_LABEL, CC_PAGES, "other text", "c")
    kept, removed = dedup_examples([a, b, c, a])
    assert kept == [a, c] and removed == 2


def test_lowest_ranks_does_not_depend_on_order():
    keys = [f"page-{i}" for i in range(50)]
    picks = set()
    for order in (keys, list(reversed(keys)), keys[25:] + keys[:25]):
        sample = LowestRanks(7, seed=3)
        for key in order:
            sample.offer(key, key)
        picks.add(tuple(sample.items()))
    assert len(picks) == 1 and len(next(iter(picks))) == 7
    other_seed = LowestRanks(7, seed=4)
    for key in keys:
        other_seed.offer(key, key)
    assert tuple(other_seed.items()) not in picks


def test_heldout_split_is_a_hash_of_the_text():
    examples = [Example(CC_LABEL, CC_PAGES, f"text number {i}", str(i)) for i in range(2000)]
    first = [is_heldout(e, 0.2) for e in examples]
    assert first == [is_heldout(e, 0.2) for e in examples]
    assert 0.17 < sum(first) / len(first) < 0.23


def test_wikipedia_chunks_merge_short_paragraphs():
    text = "Short one.\n\nAnother short.\n\n" + "Long paragraph " * 30 + "\n\nTail."
    chunks = wikipedia_chunks(text, 100)
    assert chunks == ["Short one.\nAnother short.\n" + ("Long paragraph " * 30).strip()]


def test_roc_auc_matches_pairwise_count():
    labels = [1, 0, 1, 1, 0, 0, 1, 0]
    scores = [0.9, 0.8, 0.8, 0.3, 0.2, 0.5, 0.7, 0.1]
    pairs = [(p, n) for p, n in itertools.product(
        [s for s, y in zip(scores, labels, strict=True) if y],
        [s for s, y in zip(scores, labels, strict=True) if not y])]
    pairwise = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert roc_auc(labels, scores) == pytest.approx(pairwise)
    assert roc_auc([1, 1], [0.1, 0.2]) is None
    assert precision_recall(labels, scores, 0.5) == (3 / 5, 3 / 4)


# --- the trained model and the filter ------------------------------------------------------


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    web = sorted(str(p) for p in (corpus / "cc-pages").glob("*.warc.gz")) + \
        sorted(str(p) for p in (corpus / "cc").glob("*.gz"))
    dumps = [str(corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2")]
    training = build_training_set(web, dumps, dumps, OPTIONS)
    model = str(tmp_path_factory.mktemp("quality") / "quality.bin")
    metrics = train_quality_model(training, model, OPTIONS, {"web": web, "wikipedia": dumps})
    return training, model, metrics


def test_heldout_roc_auc_above_0_9(trained):
    training, _, metrics = trained
    assert metrics["counts"]["positives"] == {"reference_pages": 0, "wikipedia_text": len(training.positives)}
    assert metrics["counts"]["negatives"] == len(training.negatives) == len(training.positives)
    held = metrics["heldout"]
    assert held["positives"] > 5 and held["negatives"] > 5
    assert held["roc_auc"] > 0.9


def test_wikipedia_paragraphs_score_above_cc_boilerplate(trained, corpus):
    training, model, _ = trained
    quality = QualityFilter(QualityConfig(enabled=True, model=model))
    quality.load()
    heldout_wiki = [e for e in training.positives if is_heldout(e, OPTIONS.heldout_fraction)]
    # Boilerplate: the lines C4 removes as JavaScript / cookie / policy notices and the
    # navigation of real pages (data.gov.uk, 2014).
    from filters.sources.cc.extract import HtmlExtractor
    from filters.sources.cc.warc import read_warc

    boilerplate = []
    path = corpus / "cc" / "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz"
    with open(path, "rb") as fh:
        for item in read_warc(str(path), fh):
            if isinstance(item, Document) and item.meta["url"] in (
                    "http://data.gov.uk/data/map-based-search", "http://data.gov.uk/data/search",
                    "http://data.gov.uk/library"):  # (the home and contact pages now extract to nothing)
                doc = HtmlExtractor()(item)
                info = C4Cleaner(C4Config())(doc).annotations[CLEANER_NAME]
                assert info["lines_kept"] == 0  # C4 keeps nothing of these pages
                boilerplate.append(doc.text)
    wiki_scores = [quality.wiki_prob(e.text) for e in heldout_wiki]
    boilerplate_scores = [quality.wiki_prob(text) for text in boilerplate]
    assert len(boilerplate_scores) == 3
    # One held-out paragraph ("Employment ... skills training, occupational therapy, finding
    # employment") reads like a job site and scores low; the rest clear every boilerplate page.
    above = sum(1 for score in wiki_scores if score > max(boilerplate_scores))
    assert above >= 0.9 * len(wiki_scores)
    assert sorted(wiki_scores)[len(wiki_scores) // 2] > 0.9 > 0.5 > max(boilerplate_scores)


def test_filter_scores_and_drop_reason(trained):
    training, model, metrics = trained
    quality = QualityFilter(QualityConfig(enabled=True, model=model, threshold=0.25))
    quality.load()
    doc = Document("d1", "Menu\nHome\nLogin\nCookie settings\nAccept all cookies", "cc")
    verdict = quality(doc)
    assert set(verdict.scores) == {"wiki_prob", "model"}
    assert verdict.scores["model"] == metrics["model_sha256"][:12]
    strict = QualityFilter(QualityConfig(enabled=True, model=model, threshold=1.0))
    strict.load()
    dropped = strict(doc)
    assert not dropped.keep and dropped.reason == QUALITY
    assert dropped.scores["wiki_prob"] == verdict.scores["wiki_prob"] < 1.0
    assert doc.annotations == {}  # filters never mutate the document


def test_filter_is_a_step_that_quarantines_text_fasttext_cannot_take(trained):
    _, model, _ = trained
    quality = QualityFilter(QualityConfig(enabled=True, model=model))
    assert isinstance(quality, Step) and quality.versioned_name == "quality_v1" and quality.cost_stage == "quality"
    assert quality.reasons == (QUALITY,)
    quality.load()
    # A lone surrogate (from a JSON "\ud800" escape) raises the declared data error, not the
    # TypeError fastText would: the record is quarantined, the run goes on.
    with pytest.raises(quality.data_errors):
        quality(Document("cc/1", "Accessibility \ud800 text", "cc", {}))


def test_filter_pickles_without_the_model(trained):
    import pickle

    _, model, _ = trained
    quality = QualityFilter(QualityConfig(enabled=True, model=model))
    quality.load()
    clone = pickle.loads(pickle.dumps(quality))  # a loaded filter ships its config only
    assert clone._model is None
    clone.load()
    text = "Accessibility is the design of products, devices, services, or environments for people."
    assert clone.wiki_prob(text) == quality.wiki_prob(text)


def test_initial_vectors_cover_every_word(tmp_path):
    # fastText with thread=1 initialises only 10% of the input matrix; the vectors file
    # must name every input word plus the end-of-line token so no row starts as garbage.
    from pipeline.training.quality import write_initial_vectors

    train = tmp_path / "train.txt"
    train.write_text(f"{WIKI_LABEL} a b c\n{CC_LABEL} c d\n", encoding="utf-8")
    vec = tmp_path / "train.vec"
    assert write_initial_vectors(str(train), str(vec), dim=4, seed=1) == 5
    lines = vec.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "5 4"
    assert [line.split()[0] for line in lines[1:]] == ["</s>", "a", "b", "c", "d"]
    assert all(abs(float(v)) <= 0.25 for line in lines[1:] for v in line.split()[1:])
    again = tmp_path / "again.vec"
    write_initial_vectors(str(train), str(again), dim=4, seed=1)
    assert again.read_text(encoding="utf-8") == vec.read_text(encoding="utf-8")


def test_trained_model_has_no_uninitialised_rows(trained):
    import fasttext
    import numpy as np

    _, model, _ = trained
    matrix = fasttext.load_model(model).get_input_matrix()
    assert np.isfinite(matrix).all()
    assert np.abs(matrix).max() < 10.0  # uninitialised rows held values up to 1e35
