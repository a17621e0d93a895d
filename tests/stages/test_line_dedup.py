"""``DedupLines`` on Beam: global CCNet line dedup over real extracted pages of two WARC files."""

from __future__ import annotations

from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters.document import Document
from filters.line_dedup import line_key
from filters.sources.cc.extract import HtmlExtractor
from filters.sources.cc.warc import read_warc
from mixtures.config import LineDedupConfig
from stages.line_dedup import DedupLines


def _pipeline() -> TestPipeline:
    return TestPipeline(options=PipelineOptions(["--runner=FnApiRunner"]))


@pytest.fixture(scope="module")
def pages(corpus) -> list[Document]:
    """The 216 cc-pages as extracted text, from two different WARC files."""
    extractor = HtmlExtractor()
    docs = []
    for path in sorted((corpus / "cc-pages").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            docs += [extractor(d) for d in read_warc(str(path), fh)]
    return docs


def _reference(docs: list[Document], min_chars: int) -> tuple[dict[str, str], dict[str, str]]:
    """cc_net semantics written the obvious way: count every line key, drop keys seen twice."""
    counts = Counter(k for d in docs for k in map(line_key, d.text.split("\n")) if k is not None)
    kept, dropped = {}, {}
    for doc in docs:
        lines = [line for line in doc.text.split("\n") if (k := line_key(line)) is not None and counts[k] == 1]
        text = "\n".join(lines)
        if not lines:
            dropped[doc.id] = "empty_after_dedup"
        elif len(text) < min_chars:
            dropped[doc.id] = "too_short"
        else:
            kept[doc.id] = text
    return kept, dropped


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_matches_the_reference_on_all_pages_of_two_files(pages):
    cfg = LineDedupConfig(min_doc_chars=300)
    expected_kept, expected_dropped = _reference(pages, 300)
    assert len(expected_kept) > 150 and "too_short" in expected_dropped.values()
    p = _pipeline()
    out = p | beam.Create(pages) | DedupLines(cfg)
    assert_that(out["docs"] | "Kept" >> beam.Map(lambda d: (d.id, d.text)), equal_to(sorted(expected_kept.items())))
    assert_that(out["dropped"] | "Dropped" >> beam.Map(lambda d: (d.id, d.annotations["dropped"]["reason"])),
                equal_to(sorted(expected_dropped.items())), label="Check dropped")
    assert_that(out["quarantine"], equal_to([]), label="Check quarantine")
    result = p.run()
    result.wait_until_finish()
    removed = result.metrics().query(MetricsFilter().with_name("lines_removed"))["counters"]
    assert sum(c.committed for c in removed) > 1000


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_line_shared_by_the_two_files_is_removed_from_both(pages):
    by_file: dict[str, set[int]] = {}
    for doc in pages:
        by_file.setdefault(doc.meta["file"], set()).update(k for k in map(line_key, doc.text.split("\n")) if k)
    first, second = sorted(by_file)
    shared = by_file[first] & by_file[second]
    assert shared
    # One document from each file that holds the same line ("Impressum", "Datenschutz", ...).
    key = sorted(shared)[0]
    holders = {}
    for doc in pages:
        if key in map(line_key, doc.text.split("\n")):
            holders.setdefault(doc.meta["file"], doc)
    a, b = holders[first], holders[second]
    line = next(line for line in a.text.split("\n") if line_key(line) == key)

    def has_line(doc: Document) -> bool:
        return key in map(line_key, doc.text.split("\n"))

    with _pipeline() as p:
        out = p | beam.Create([a, b]) | DedupLines(LineDedupConfig(min_doc_chars=0))
        flags = out["docs"] | beam.Map(lambda d: (d.id, has_line(d), d.annotations["line_dedup"]["original_nlines"]))
        assert_that(flags, equal_to([
            (a.id, False, len(a.text.split("\n"))),
            (b.id, False, len(b.text.split("\n"))),
        ]))
    assert line.strip()


def _doc(doc_id: str, text: str) -> Document:
    return Document(doc_id, text, "cc", {"file": "f.warc.gz", "record": doc_id})


UNIQUE_A = "The harbour master logged four ships before noon on the second day."
UNIQUE_B = "Rain fell over the valley while the mill kept turning through the night."
BOILER = "Subscribe to our newsletter"


def test_line_repeated_inside_one_document_is_removed():
    doc = _doc("a", "\n".join([UNIQUE_A, BOILER, UNIQUE_B, BOILER.upper()]))
    with _pipeline() as p:
        out = p | beam.Create([doc]) | DedupLines(LineDedupConfig(min_doc_chars=0))
        assert_that(out["docs"] | beam.Map(lambda d: (d.text, d.annotations["line_dedup"]["line_ids"])),
                    equal_to([(f"{UNIQUE_A}\n{UNIQUE_B}", [0, 2])]))


def test_unique_lines_are_kept_and_min_chars_applies_after_dedup():
    long_unique = " ".join([UNIQUE_A] * 5)  # one line of 339 chars
    docs = [
        _doc("keep", f"{long_unique}\n{BOILER}"),
        _doc("short", f"{UNIQUE_B}\n{BOILER}"),  # 72 chars left < 300
        _doc("empty", BOILER),  # nothing left
    ]
    with _pipeline() as p:
        out = p | beam.Create(docs) | DedupLines(LineDedupConfig(min_doc_chars=300))
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, d.text, d.annotations["line_dedup"]["length"])),
                    equal_to([("keep", long_unique, len(long_unique))]))
        dropped = out["dropped"] | "Reasons" >> beam.Map(
            lambda d: (d.id, d.annotations["dropped"], d.text, d.annotations["line_dedup"]["nlines"]))
        assert_that(dropped, equal_to([
            ("short", {"stage": "line_dedup", "reason": "too_short"}, f"{UNIQUE_B}\n{BOILER}", 1),
            ("empty", {"stage": "line_dedup", "reason": "empty_after_dedup"}, BOILER, 0),
        ]), label="Check dropped")


def test_document_without_any_line_survives_the_join_as_a_drop():
    with _pipeline() as p:
        out = p | beam.Create([_doc("blank", "")]) | DedupLines(LineDedupConfig())
        assert_that(out["docs"], equal_to([]))
        assert_that(out["dropped"] | beam.Map(lambda d: d.annotations["dropped"]["reason"]),
                    equal_to(["empty_after_dedup"]), label="Check dropped")


def test_unhashable_text_is_quarantined_and_a_bug_fails_the_run():
    # A lone surrogate cannot be encoded to hash the line: bad data, quarantined (LINE_DATA_ERRORS).
    docs = [Document("a", "a line of its own", "cc", {"file": "f.warc.gz", "record": 1}),
            Document("b", "one line\nand a lone \ud800 here", "cc", {"file": "f.warc.gz", "record": 2})]
    p = _pipeline()
    out = p | beam.Create(docs) | DedupLines(LineDedupConfig(min_doc_chars=0))
    assert_that(out["docs"] | "Kept" >> beam.Map(lambda d: d.id), equal_to(["a"]))
    assert_that(out["quarantine"] | "Where" >> beam.Map(lambda q: (q["record"], q["stage"], q["error"].split(":")[0])),
                equal_to([("2", "line_dedup", "UnicodeEncodeError")]), label="Check quarantine")
    p.run().wait_until_finish()
    # A text that is not a string never comes from a reader: the run stops and names it.
    p = _pipeline()
    _ = p | "Bug" >> beam.Create([Document("c", None, "cc")]) | "Dedup bug" >> DedupLines()
    with pytest.raises(Exception, match=r"step line_dedup failed on document c .*AttributeError"):
        p.run().wait_until_finish()
