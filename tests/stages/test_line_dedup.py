"""``DedupLines`` on Beam: CCNet line dedup over real extracted pages, equal to cc_net 1.0.0's own code."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters.document import Document
from filters.line_dedup import file_groups, line_key
from filters.sources.cc.extract import HtmlExtractor
from filters.sources.cc.warc import read_warc
from mixtures.config import LineDedupConfig
from stages.line_dedup import DedupLines
from tests.reference.ccnet import load_cc_net
from tests.reference.ccnet_dedup import cc_net_mine_dedup


@pytest.fixture(scope="module")
def cc_net():
    return load_cc_net()


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


def _reference(docs: list[Document], min_chars: int, tmp: Path) -> tuple[dict[str, str], dict[str, str]]:
    """What cc_net's ``mine`` keeps (its own dedup code, ``tests/reference``), by document id."""
    mined = cc_net_mine_dedup([d.text for d in docs], tmp, min_len=min_chars)
    kept, dropped = {}, {}
    for doc, result in zip(docs, mined, strict=True):
        if result is not None:
            kept[doc.id] = result["raw_content"]
        else:
            dropped[doc.id] = "too_short" if len(doc.text) < min_chars else "empty_after_dedup"
    return kept, dropped


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_matches_cc_net_on_all_pages_of_two_files(pages, cc_net, tmp_path):
    cfg = LineDedupConfig(min_doc_chars=300)
    expected_kept, expected_dropped = _reference(pages, 300, tmp_path)
    assert len(expected_kept) > 150 and "too_short" in expected_dropped.values()
    p = _pipeline()
    out = p | beam.Create(pages) | DedupLines(cfg)
    assert_that(out["docs"] | "Kept" >> beam.Map(lambda d: (d.id, d.text)), equal_to(sorted(expected_kept.items())))
    assert_that((out["dropped"] | "Flatten dropped" >> beam.Flatten()
                 | "Dropped" >> beam.Map(lambda d: (d.id, d.annotations["dropped"]["reason"]))),
                equal_to(sorted(expected_dropped.items())), label="Check dropped")
    assert_that(out["quarantine"], equal_to([]), label="Check quarantine")
    result = p.run()
    result.wait_until_finish()
    removed = result.metrics().query(MetricsFilter().with_name("lines_removed"))["counters"]
    # 529 since the extractor drops page chrome itself (menus, footers): fewer repeats left.
    assert sum(c.committed for c in removed) > 300


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_line_shared_by_the_two_files_is_removed_from_both(pages):
    by_file: dict[str, set[int]] = {}
    for doc in pages:
        by_file.setdefault(doc.meta["file"], set()).update(k for k in map(line_key, doc.text.split("\n"))
                                                           if k != line_key(""))
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


def _doc(doc_id: str, text: str, file: str = "f.warc.gz") -> Document:
    return Document(doc_id, text, "cc", {"file": file, "record": doc_id})


UNIQUE_A = "The harbour master logged four ships before noon on the second day."
UNIQUE_B = "Rain fell over the valley while the mill kept turning through the night."
BOILER = "Subscribe to our newsletter"


def _texts_and_ids(out: dict) -> beam.PCollection:
    return out["docs"] | beam.Map(lambda d: (d.id, d.text, d.annotations["line_dedup"]["line_ids"]))


@pytest.mark.parametrize("repeats, expected", [
    ("keep_first", (f"{UNIQUE_A}\n{BOILER}\n{UNIQUE_B}", [0, 1, 2])),  # cc_net
    ("drop_all", (f"{UNIQUE_A}\n{UNIQUE_B}", [0, 2])),
])
def test_line_repeated_inside_one_document(repeats, expected):
    doc = _doc("a", "\n".join([UNIQUE_A, BOILER, UNIQUE_B, BOILER.upper()]))
    with _pipeline() as p:
        out = p | beam.Create([doc]) | DedupLines(LineDedupConfig(min_doc_chars=0, repeats_in_doc=repeats))
        assert_that(_texts_and_ids(out), equal_to([("a", *expected)]))


def test_min_chars_applies_to_the_raw_page_before_dedup():
    long_unique = " ".join([UNIQUE_A] * 5)  # one line of 339 chars
    docs = [
        _doc("keep", f"{long_unique}\n{BOILER}"),
        _doc("short", f"{UNIQUE_B}\n{BOILER}"),  # < 300 chars: never mined, its lines count for nothing
        _doc("also-short", BOILER),
    ]
    with _pipeline() as p:
        out = p | beam.Create(docs) | DedupLines(LineDedupConfig(min_doc_chars=300))
        assert_that(_texts_and_ids(out), equal_to([("keep", f"{long_unique}\n{BOILER}", [0, 1])]))
        dropped = out["dropped"] | "Flatten dropped" >> beam.Flatten() | "Reasons" >> beam.Map(
            lambda d: (d.id, d.annotations["dropped"]["reason"], d.text))
        assert_that(dropped, equal_to([
            ("short", "too_short", f"{UNIQUE_B}\n{BOILER}"), ("also-short", "too_short", BOILER),
        ]), label="Check dropped")


def test_min_chars_after_dedup_is_a_named_option():
    long_unique = " ".join([UNIQUE_A] * 5)
    docs = [
        _doc("keep", f"{long_unique}\n{BOILER}"),
        _doc("short", f"{UNIQUE_B}\n{BOILER}"),  # 72 chars left < 300
        _doc("empty", BOILER),  # nothing left
    ]
    with _pipeline() as p:
        out = p | beam.Create(docs) | DedupLines(LineDedupConfig(min_doc_chars=300, min_chars_at="after"))
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, d.text, d.annotations["line_dedup"]["length"])),
                    equal_to([("keep", long_unique, len(long_unique))]))
        dropped = out["dropped"] | "Flatten dropped" >> beam.Flatten() | "Reasons" >> beam.Map(
            lambda d: (d.id, d.annotations["dropped"], d.text, d.annotations["line_dedup"]["nlines"]))
        assert_that(dropped, equal_to([
            ("short", {"stage": "line_dedup", "reason": "too_short"}, f"{UNIQUE_B}\n{BOILER}", 1),
            ("empty", {"stage": "line_dedup", "reason": "empty_after_dedup"}, BOILER, 0),
        ]), label="Check dropped")


@pytest.mark.parametrize("scope, kept_boiler", [("snapshot", True), ("global", False)])
def test_a_page_recrawled_in_another_snapshot_keeps_its_lines_per_snapshot(scope, kept_boiler):
    """cc_net dedups within one snapshot: the same page in two snapshots is not a duplicate."""
    paths = ["/cc/crawl-data/CC-MAIN-2019-30/segments/1/wet/a.warc.wet.gz",
             "/cc/crawl-data/CC-MAIN-2023-06/segments/2/wet/b.warc.wet.gz"]
    text = f"{UNIQUE_A}\n{BOILER}"
    docs = [_doc("old", text, "a.warc.wet.gz"), _doc("new", f"{UNIQUE_B}\n{BOILER}", "b.warc.wet.gz")]
    cfg = LineDedupConfig(min_doc_chars=0, scope=scope)
    with _pipeline() as p:
        out = p | beam.Create(docs) | DedupLines(cfg, groups=file_groups(paths, cfg.scope))
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, BOILER in d.text)),
                    equal_to([("old", kept_boiler), ("new", kept_boiler)]))


def test_document_without_any_line_survives_the_join_as_a_drop():
    with _pipeline() as p:
        out = p | beam.Create([_doc("blank", "")]) | DedupLines(LineDedupConfig(min_doc_chars=0))
        assert_that(out["docs"], equal_to([]))
        assert_that(out["dropped"] | "Flatten dropped" >> beam.Flatten()
                    | beam.Map(lambda d: d.annotations["dropped"]["reason"]),
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
    with pytest.raises(Exception, match=r"step line_dedup failed on document c .*TypeError"):
        p.run().wait_until_finish()
