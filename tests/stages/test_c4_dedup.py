"""DedupC4Spans on real pages: a re-crawled page keeps exactly one copy of every span."""

from __future__ import annotations

import hashlib

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from filters.document import Document
from filters.sources.c4.config import C4Config
from filters.sources.c4.rules import C4Cleaner
from filters.sources.c4.sentences import split_sentences
from filters.sources.c4.spans import C4_TOO_FEW_SENTENCES_AFTER_DEDUP, remove_duplicate_spans, span_hashes
from filters.sources.cc.extract import HtmlExtractor
from filters.sources.cc.warc import read_warc
from stages.c4_dedup import STAGE, DedupC4Spans
from stages.steps import DROPPED, QUARANTINE

FIRST = "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz"
RECRAWL = "ukwa-gov.uk-BL-20140325122341434-00000-revisits.warc.gz"
CFG = C4Config()


@pytest.fixture(scope="module")
def cleaned(corpus):
    """C4-cleaned real pages keyed by (url, file)."""
    wanted = {("http://data.gov.uk/about", FIRST), ("http://data.gov.uk/about", RECRAWL),
              ("http://data.gov.uk/privacy", FIRST), ("https://www.deutschland.de/en", "cc-pages-00000.warc.gz")}
    extractor, cleaner = HtmlExtractor(), C4Cleaner(CFG)
    out = {}
    files = {("cc", f) for _, f in wanted if f.startswith("ukwa")} | {("cc-pages", "cc-pages-00000.warc.gz")}
    for folder, name in sorted(files):
        path = corpus / folder / name
        with open(path, "rb") as fh:
            for item in read_warc(str(path), fh):
                if isinstance(item, Document) and (item.meta["url"], name) in wanted:
                    out[(item.meta["url"], name)] = cleaner(extractor(item))
    assert set(out) == wanted
    return out


def _run(docs):
    p = beam.Pipeline(runner="FnApiRunner")
    out = p | beam.Create(docs) | DedupC4Spans(CFG)
    return p, out


def test_recrawled_page_keeps_one_copy(cleaned):
    first, again = cleaned[("http://data.gov.uk/about", FIRST)], cleaned[("http://data.gov.uk/about", RECRAWL)]
    assert first.text == again.text and first.id != again.id
    # TFDS: Top.PerKey(1, key=hash) keeps the largest hash; ours hashes the stable id.
    keeper, loser = sorted([first, again], key=lambda d: hashlib.md5(d.id.encode()).hexdigest(), reverse=True)
    privacy = cleaned[("http://data.gov.uk/privacy", FIRST)]
    germany = cleaned[("https://www.deutschland.de/en", "cc-pages-00000.warc.gz")]

    # deutschland.de repeats spans inside its own page (shares none with gov.uk): those repeats go.
    repeats = remove_duplicate_spans(germany.text, frozenset(span_hashes(germany.text)), 3).sentences_removed
    assert repeats > 0
    p, out = _run([first, again, privacy, germany])
    assert_that(out["docs"] | "Kept" >> beam.Map(lambda d: (d.id, d.annotations[STAGE]["sentences_removed"])),
                equal_to([(keeper.id, 0), (privacy.id, 0), (germany.id, repeats)]), label="kept")
    assert_that(out[DROPPED] | "Dropped" >> beam.Map(lambda d: (d.id, d.annotations["dropped"], d.text == loser.text)),
                equal_to([(loser.id, {"stage": STAGE, "reason": C4_TOO_FEW_SENTENCES_AFTER_DEDUP}, True)]),
                label="dropped")
    assert_that(out[QUARANTINE], equal_to([]), label="quarantine")
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed
                for c in result.metrics().query(MetricsFilter().with_namespace(STAGE))["counters"]}
    assert counters["kept"] == 3
    assert counters[f"dropped.{C4_TOO_FEW_SENTENCES_AFTER_DEDUP}"] == 1
    assert counters["sentences_removed"] == repeats + len(_sentences(loser.text))


def _sentences(text):
    return [s for line in text.split("\n") for s in split_sentences(line)]


def test_kept_text_is_the_same_whatever_the_input_order(cleaned):
    docs = list(cleaned.values())
    first = cleaned[("http://data.gov.uk/about", FIRST)]
    again = cleaned[("http://data.gov.uk/about", RECRAWL)]
    keeper = max([first, again], key=lambda d: hashlib.md5(d.id.encode()).hexdigest())
    germany = cleaned[("https://www.deutschland.de/en", "cc-pages-00000.warc.gz")]
    privacy = cleaned[("http://data.gov.uk/privacy", FIRST)]
    own = remove_duplicate_spans(germany.text, frozenset(span_hashes(germany.text))).text
    expected = [(keeper.id, keeper.text), (privacy.id, privacy.text), (germany.id, own)]
    for name, order in (("forward", docs), ("reversed", list(reversed(docs)))):
        p, out = _run(order)
        assert_that(out["docs"] | f"Texts {name}" >> beam.Map(lambda d: (d.id, d.text)), equal_to(expected))
        p.run().wait_until_finish()


def test_unhashable_page_is_quarantined(cleaned):
    good = cleaned[("http://data.gov.uk/privacy", FIRST)]
    # A lone surrogate cannot be encoded to hash its spans: bad data, declared in SPAN_DATA_ERRORS.
    broken = Document("c4/broken", "One is here. Two \ud800 is here. Three is here.", "c4",
                      {"file": FIRST, "record": "123"})
    p, out = _run([good, broken])
    assert_that(out["docs"] | "Ids" >> beam.Map(lambda d: d.id), equal_to([good.id]), label="kept")
    assert_that(out[QUARANTINE] | "Where" >> beam.Map(lambda q: (q["file"], q["record"], q["stage"],
                                                                  q["error"].split(":")[0])),
                equal_to([(FIRST, "123", STAGE, "UnicodeEncodeError")]), label="quarantine")
    p.run().wait_until_finish()


def test_a_bug_fails_the_run_naming_the_page():
    # No reader yields a document without text: an AttributeError here is our bug, not bad data.
    p, _ = _run([Document("c4/bug", None, "c4", {"file": FIRST, "record": "7"})])
    with pytest.raises(Exception, match=r"step c4_dedup failed on document c4/bug .*AttributeError"):
        p.run().wait_until_finish()


# --- TFDS's URL dedup and line dedup (the default), against the TFDS reference in tests/reference ---------------


def test_url_and_line_dedup_equal_the_tfds_reference_on_real_pages(cleaned):
    from stages.c4_dedup import DedupC4Lines, DedupC4Urls
    from tests.reference.tfds_c4 import dedupe_urls, normalize_url, remove_duplicate_text

    docs = list(cleaned.values())
    by_url = {}
    for doc in docs:
        by_url.setdefault(normalize_url(doc.meta["url"]), []).append({"id": doc.id, "text": doc.text})
    winners = {url: dedupe_urls(group) for url, group in by_url.items()}
    expected = remove_duplicate_text({url: page["text"] for url, page in winners.items()}, split_sentences)
    expected_kept = sorted((winners[url]["id"], text, url) for url, text in expected.items())
    assert len(winners) == 3 and expected_kept  # the recrawl of data.gov.uk/about loses its URL
    with beam.Pipeline(runner="FnApiRunner") as p:
        urls = p | beam.Create(docs) | DedupC4Urls()
        lines = urls["docs"] | DedupC4Lines(CFG)
        assert_that(lines["docs"] | "Kept" >> beam.Map(lambda d: (d.id, d.text, d.annotations["c4_url"])),
                    equal_to(expected_kept))
        assert_that(urls["dropped"] | "Lost URL" >> beam.Map(lambda d: d.annotations["dropped"]["reason"]),
                    equal_to(["c4_duplicate_url"]), label="Check URL drops")


def test_a_line_goes_to_the_page_with_the_smallest_url_md5_and_repeats_keep_one_copy():
    from filters.sources.c4.tfds_dedup import md5_hex
    from stages.c4_dedup import DedupC4Lines, DedupC4Urls

    shared = "This line is shared by both of the pages here."
    body = "A sentence of its own that makes the page long enough. Another one here. And a third one."
    a = Document("a", f"{shared}\n{body} Alpha.\n{shared}", "c4", {"url": "https://www.example.org/a/"})
    b = Document("b", f"{shared}\n{body} Beta.", "c4", {"url": "http://example.org/b?utm_source=x"})
    owner = min(["example.org/a", "example.org/b"], key=md5_hex)
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create([a, b]) | DedupC4Urls() | "Lines" >> _Docs() | DedupC4Lines(CFG)
        expected = {
            "a": f"{shared}\n{body} Alpha." if owner == "example.org/a" else f"{body} Alpha.",
            "b": f"{shared}\n{body} Beta." if owner == "example.org/b" else f"{body} Beta.",
        }
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, d.text)), equal_to(sorted(expected.items())))


class _Docs(beam.PTransform):
    def expand(self, outputs):
        return outputs["docs"]
