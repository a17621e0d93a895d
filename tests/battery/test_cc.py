"""Bad-input battery, CommonCrawl: damaged copies of a real crawl, one pipeline run over all.

The base file is the first 13 records of the real wget crawl ``dolma-sample-0000.warc.gz``
(warcinfo + 6 request/response pairs: 6 HTML pages). Each damaged copy sits in one input
folder next to an untouched copy; records are followed by their ``WARC-Record-ID``.
Line dedup and MinHash near-dedup are off: the copies repeat the same pages on purpose, and
dedup would (rightly) drop them, hiding whether a damaged file's pages were read intact.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from filters.base import Dropped
from filters.document import Document
from filters.sources.cc.warc import read_warc
from tests.battery.harness import BatchRun, assert_sound, run_batch, the_quarantine
from tests.battery.warcs import Member, join, members, offsets, plain_headers, real_png, with_content_type

CRAWL = "dolma-sample-0000.warc.gz"
IMAGES = "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz"  # holds real PNG responses


@dataclass
class Case:
    data: bytes
    damaged: set[str] = field(default_factory=set)  # WARC-Record-IDs that must not come out read
    offset: int | None = None  # where the damaged record starts, as the quarantine names it
    record_id: str = ""


@dataclass
class CcBatch:
    run: BatchRun
    base_ids: set[str]
    cases: dict[str, Case]


def _matplotlib_pdf() -> bytes | None:
    """A real PDF: the logo matplotlib ships (a project dependency); None if it is absent."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "images" / "matplotlib.pdf"
    return path.read_bytes() if path.is_file() else None


def _replace(parts: list[Member], index: int, member: Member) -> list[Member]:
    return parts[:index] + [member] + parts[index + 1:]


def _document_ids(data: bytes) -> set[str]:
    """WARC-Record-IDs of what the pure reader makes of ``data``: documents and drops."""
    items = read_warc("base.warc.gz", io.BytesIO(data))
    return {(i.doc if isinstance(i, Dropped) else i).meta["warc_record_id"]
            for i in items if isinstance(i, (Document, Dropped))}


def _build_cases(corpus: Path) -> tuple[list[Member], dict[str, Case]]:
    base = members((corpus / "cc" / CRAWL).read_bytes())[:13]
    responses = [i for i, m in enumerate(base) if m.warc_type == "response"]
    assert len(responses) == 6
    at = offsets(base)
    joined = join(base)
    # A UTF-8 page with paragraphs, stored without transfer/content encoding (so the payload
    # is the HTML itself), for the byte-level damage that must not cost the page.
    text_page = next(i for i in responses
                     if b"charset=utf-8" in base[i].http_parts()[0].lower()
                     and b"-encoding:" not in base[i].http_parts()[0].lower()
                     and base[i].http_parts()[1].count(b"<p>") >= 3)
    headers, payload = base[text_page].http_parts()
    headers = plain_headers(headers)
    cases: dict[str, Case] = {"pristine.warc.gz": Case(joined)}

    # 1. Cut mid-member: the records before the cut stay, the cut one is quarantined.
    cut = responses[3]
    cases["truncated.warc.gz"] = Case(
        joined[: at[cut] + len(base[cut].packed) // 2],
        damaged={m.record_id for m in base[cut:]}, offset=at[cut], record_id=base[cut].record_id)

    # 2. The gzip header of one member in the middle garbled: that record only.
    bad = responses[2]
    garbled = Member(base[bad].raw, b"\x00" * 10 + base[bad].packed[10:])
    cases["garbled-member.warc.gz"] = Case(join(_replace(base, bad, garbled)), damaged={base[bad].record_id},
                                           offset=at[bad], record_id=base[bad].record_id)

    # 3. Invalid UTF-8 inside the text of a page declared UTF-8: decoded with U+FFFD, kept.
    broken = payload.replace(b"<p>", b"<p>\xff\xfe\xc3\x28 \xed\xa0\x80 ", 3)
    cases["invalid-utf8.warc.gz"] = Case(join(_replace(base, text_page, base[text_page].with_http(headers, broken))),
                                         record_id=base[text_page].record_id)

    # 4. NUL bytes inside the text of the page: read, and no NUL reaches the output.
    nuls = payload.replace(b"<p>", b"<p>\x00\x00 ", 3)
    cases["nul-bytes.warc.gz"] = Case(join(_replace(base, text_page, base[text_page].with_http(headers, nuls))),
                                      record_id=base[text_page].record_id)

    # 6. Empty files: no bytes at all, and one empty gzip member.
    cases["empty.warc.gz"] = Case(b"")
    cases["empty-member.warc.gz"] = Case(gzip.compress(b"", mtime=0))

    # 7. Binary payloads under text/html and application/pdf: dropped non_html, not parsed.
    first = responses[0]
    first_headers = plain_headers(base[first].http_parts()[0])
    png = real_png(corpus / "cc" / IMAGES)
    cases["png-as-html.warc.gz"] = Case(join(_replace(base, first, base[first].with_http(
        with_content_type(first_headers, b"text/html; charset=utf-8"), png))), record_id=base[first].record_id)
    pdf = _matplotlib_pdf()
    if pdf is not None:
        cases["pdf-as-html.warc.gz"] = Case(join(_replace(base, first, base[first].with_http(
            with_content_type(first_headers, b"text/html"), pdf))), record_id=base[first].record_id)
        cases["pdf-as-pdf.warc.gz"] = Case(join(_replace(base, first, base[first].with_http(
            with_content_type(first_headers, b"application/pdf"), pdf))), record_id=base[first].record_id)

    # 20. Compression and name disagree: read by content, not by name.
    cases["gzip-named-plain.warc"] = Case(joined)
    cases["plain-named-gzip.warc.gz"] = Case(gzip.decompress(joined))

    # 21. A response whose HTTP headers are garbage: quarantined, neighbours kept.
    junk = responses[4]
    _, junk_payload = base[junk].http_parts()
    garbage = b"GARBAGE \x00\x01\x02 not http at all\r\nno colon here"
    cases["garbage-http.warc.gz"] = Case(
        join(_replace(base, junk, base[junk].with_http(garbage, junk_payload))),
        damaged={base[junk].record_id}, offset=at[junk], record_id=base[junk].record_id)

    # Not a WARC at all (a Gutenberg book under a WARC name).
    cases["not-a-warc.warc.gz"] = Case((corpus / "books" / "16-0-peter-pan.txt").read_bytes()[:20000], offset=0)
    return base, cases


@pytest.fixture(scope="module")
def cc(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> CcBatch:
    root = tmp_path_factory.mktemp("battery-cc")
    inputs = root / "in"
    inputs.mkdir()
    base, cases = _build_cases(corpus)
    for name, case in cases.items():
        (inputs / name).write_bytes(case.data)
    run = run_batch(root, "cc", [str(inputs)], watch=[corpus / "cc"], line_dedup={"enabled": False},
                    minhash={"enabled": False})
    return CcBatch(run, _document_ids(join(base)), cases)


def _doc(run: BatchRun, name: str, record_id: str) -> dict | None:
    found = [d for d in run.file(name)["docs"] if d["meta"]["warc_record_id"] == record_id]
    return found[0] if found else None


def test_stats_reconcile_and_nothing_written_outside_the_output(cc):
    assert_sound(cc.run)
    assert cc.run.stats["documents_in"] > 0


def test_directory_input_processes_the_good_file_fully(cc):  # case 25
    run = cc.run
    assert len(cc.base_ids) == 6
    assert run.read_records("pristine.warc.gz", "warc_record_id") == cc.base_ids
    assert run.file("pristine.warc.gz")["quarantine"] == []
    assert run.file("pristine.warc.gz")["docs"], "the untouched crawl lost every page"


def test_truncated_gzip_warc_keeps_the_records_before_the_cut(cc):  # case 1
    case = cc.cases["truncated.warc.gz"]
    record = the_quarantine(cc.run, "truncated.warc.gz")
    assert record["record"] == str(case.offset)
    assert record["stage"] == "read"
    assert "truncated record" in record["error"] and "bytes missing" in record["error"]
    assert cc.run.read_records("truncated.warc.gz", "warc_record_id") == cc.base_ids - case.damaged
    assert 0 < len(cc.base_ids - case.damaged) < len(cc.base_ids)


def test_garbled_member_in_the_middle_is_quarantined_and_reading_resyncs(cc):  # case 2
    case = cc.cases["garbled-member.warc.gz"]
    record = the_quarantine(cc.run, "garbled-member.warc.gz")
    assert record["record"] == str(case.offset)
    assert record["error"].startswith("corrupt gzip member: Error -3 while decompressing data: "
                                      "incorrect header check")
    # Every record after the garbled one was read again: only that one is missing.
    assert cc.run.read_records("garbled-member.warc.gz", "warc_record_id") == cc.base_ids - {case.record_id}


def test_invalid_utf8_in_html_is_replaced_not_lost(cc):  # case 3
    case = cc.cases["invalid-utf8.warc.gz"]
    run = cc.run
    assert run.file("invalid-utf8.warc.gz")["quarantine"] == []
    assert run.read_records("invalid-utf8.warc.gz", "warc_record_id") == cc.base_ids
    pristine = _doc(run, "pristine.warc.gz", case.record_id)
    damaged = _doc(run, "invalid-utf8.warc.gz", case.record_id)
    assert pristine is not None and damaged is not None, "the page must stay kept"
    assert "\ufffd" in damaged["text"] and "\ufffd" not in pristine["text"]
    assert damaged["meta"]["charset"] == "utf-8"


def test_nul_bytes_in_a_payload_never_reach_the_output(cc):  # case 4
    case = cc.cases["nul-bytes.warc.gz"]
    run = cc.run
    assert run.file("nul-bytes.warc.gz")["quarantine"] == []
    assert run.read_records("nul-bytes.warc.gz", "warc_record_id") == cc.base_ids
    damaged = _doc(run, "nul-bytes.warc.gz", case.record_id)
    pristine = _doc(run, "pristine.warc.gz", case.record_id)
    assert damaged is not None and pristine is not None
    assert "\x00" not in damaged["text"]
    assert damaged["text"].split() == pristine["text"].split()


@pytest.mark.parametrize("name", ["empty.warc.gz", "empty-member.warc.gz"])
def test_empty_warc_reads_as_no_records(cc, name):  # case 6
    # An empty file holds no records: nothing to lose, nothing to quarantine.
    assert name in cc.cases
    assert cc.run.file(name) == {"docs": [], "dropped": [], "quarantine": []}


@pytest.mark.parametrize("name, content_type", [
    ("png-as-html.warc.gz", "text/html; charset=utf-8"),
    ("pdf-as-html.warc.gz", "text/html"),
    ("pdf-as-pdf.warc.gz", "application/pdf"),
])
def test_binary_payloads_are_dropped_non_html_not_parsed(cc, name, content_type):  # case 7
    if name not in cc.cases:
        pytest.skip("matplotlib's PDF is not installed")
    case = cc.cases[name]
    run = cc.run
    [dropped] = [d for d in run.file(name)["dropped"] if d["meta"]["warc_record_id"] == case.record_id]
    assert dropped["annotations"]["dropped"] == {"stage": "read", "reason": "non_html"}
    assert dropped["meta"]["content_type"] == content_type
    assert dropped["text"] == ""
    if content_type.startswith("text/html"):
        assert dropped["meta"]["sniffed"] == "binary"
    assert run.file(name)["quarantine"] == []
    assert run.read_records(name, "warc_record_id") == cc.base_ids


@pytest.mark.parametrize("name", ["gzip-named-plain.warc", "plain-named-gzip.warc.gz"])
def test_compression_is_detected_from_content_not_name(cc, name):  # case 20
    assert cc.run.file(name)["quarantine"] == []
    assert cc.run.read_records(name, "warc_record_id") == cc.base_ids


def test_response_with_garbage_http_headers_is_quarantined(cc):  # case 21
    case = cc.cases["garbage-http.warc.gz"]
    record = the_quarantine(cc.run, "garbage-http.warc.gz")
    assert record["record"] == str(case.offset)
    assert record["error"].startswith("unparseable HTTP response headers: status line 'GARBAGE")
    assert cc.run.read_records("garbage-http.warc.gz", "warc_record_id") == cc.base_ids - case.damaged


def test_a_file_that_is_no_warc_is_one_quarantine_record(cc):
    record = the_quarantine(cc.run, "not-a-warc.warc.gz")
    # warcio would parse plain text as legacy ARC "records"; none of them may become a page.
    assert record["record"] == "0"
    assert record["error"].startswith("not a WARC record (legacy ARC format or no web archive)")
    assert "The Project Gutenberg eBook of Peter Pan" in record["error"]
    assert cc.run.read_records("not-a-warc.warc.gz", "warc_record_id") == set()


def test_every_quarantine_record_is_accounted_to_a_damaged_file(cc):
    expected = {name for name, case in cc.cases.items() if case.offset is not None}
    got = {os.path.basename(q["file"]) for q in cc.run.quarantine}
    assert got == expected
    assert cc.run.stats["quarantined"] == len(expected)
    assert not any(re.search(r"Traceback", q["error"]) for q in cc.run.quarantine)
