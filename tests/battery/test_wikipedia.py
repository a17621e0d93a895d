"""Bad-input battery, Wikipedia: damaged dumps cut from the real ukwiki and enwiki samples.

One input folder holds an untouched slice of the Ukrainian dump and damaged slices of it
(different pages each, so page ids never collide), the English sample re-encoded as UTF-16,
an entity-expansion bomb and empty files; one pipeline run reads them all.
"""

from __future__ import annotations

import bz2
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from filters.base import Dropped, QuarantineRecord
from filters.document import Document
from filters.sources.wikipedia.reader import read_wikipedia_dump
from filters.sources.wikipedia.rules import WikitextCleaner
from tests.battery.harness import BatchRun, assert_sound, billion_laughs, finishes, run_batch, the_quarantine

UKWIKI = "ukwiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"
ENWIKI = "enwiki-pages-articles-sample.xml.bz2"
_PAGE = re.compile(rb"  <page>.*?</page>\n", re.S)
_PAGE_ID = re.compile(rb"<id>(\d+)</id>")
FOOTER = b"</mediawiki>\n"


def read_ids(data: bytes) -> set[str]:
    """Page ids the pure reader makes documents (or language drops) of."""
    items = read_wikipedia_dump("x.xml", io.BytesIO(data))
    return {(i.doc if isinstance(i, Dropped) else i).meta["record"]
            for i in items if isinstance(i, (Document, Dropped))}


@dataclass
class WikiBatch:
    run: BatchRun
    expected: dict[str, set[str]]  # file → page ids that must come out read
    last_page: dict[str, str]  # file → the page id its quarantine record names
    enwiki_texts: dict[str, str]  # title → cleaned text of the original English sample


@pytest.fixture(scope="module")
def wiki(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> WikiBatch:
    root = tmp_path_factory.mktemp("battery-wikipedia")
    inputs = root / "in"
    inputs.mkdir()
    uk = bz2.decompress((corpus / "wikipedia" / UKWIKI).read_bytes())
    header = uk[: uk.index(b"  <page>")]
    pages = _PAGE.findall(uk)
    ids = [_PAGE_ID.search(p).group(1).decode() for p in pages]
    assert len(pages) > 160
    expected: dict[str, set[str]] = {}
    last_page: dict[str, str] = {}

    def dump(part: list[bytes]) -> bytes:
        return header + b"".join(part) + FOOTER

    # Untouched slice (case 25: the good file in a folder of bad ones).
    (inputs / "pristine.xml.bz2").write_bytes(bz2.compress(dump(pages[0:30])))
    expected["pristine.xml.bz2"] = read_ids(dump(pages[0:30]))

    # 8. Cut in the middle of a page: the 30 pages before it are kept.
    cut_page = pages[60]
    (inputs / "cut-mid-page.xml").write_bytes(header + b"".join(pages[30:60]) + cut_page[: len(cut_page) // 2])
    expected["cut-mid-page.xml"] = read_ids(dump(pages[30:60]))
    last_page["cut-mid-page.xml"] = ids[60]  # the page the cut fell in

    # 23. bz2 cut mid-stream (small bz2 blocks, so whole blocks precede the cut).
    packed = bz2.compress(dump(pages[60:160]), compresslevel=1)
    truncated = packed[: len(packed) * 6 // 10]
    (inputs / "truncated.xml.bz2").write_bytes(truncated)
    complete = read_ids(dump(pages[60:160]))
    items = list(read_wikipedia_dump("t", io.BytesIO(truncated)))
    [broken] = [i for i in items if isinstance(i, QuarantineRecord)]
    last = broken.record.removeprefix("after page ")
    expected["truncated.xml.bz2"] = complete & set(ids[60: ids.index(last) + 1])
    last_page["truncated.xml.bz2"] = last

    # 9. Entity-expansion bomb around real pages.
    (inputs / "billion-laughs.xml").write_bytes(billion_laughs(
        dump([pages[160].replace(b"</title>", b" &lol9;</title>", 1)])))
    expected["billion-laughs.xml"] = set()

    # 10. The English sample re-encoded as UTF-16 with a BOM (plain and bz2).
    en = bz2.decompress((corpus / "wikipedia" / ENWIKI).read_bytes())
    utf16 = en.decode("utf-8").encode("utf-16")
    assert utf16.startswith(b"\xff\xfe")
    (inputs / "enwiki-utf16.xml").write_bytes(utf16)
    expected["enwiki-utf16.xml"] = read_ids(en)
    cleaner = WikitextCleaner()
    texts = {d.meta["title"]: cleaner(d).text
             for d in read_wikipedia_dump("en", io.BytesIO(en)) if isinstance(d, Document)}

    # 6. Empty files.
    (inputs / "empty.xml.bz2").write_bytes(b"")
    (inputs / "empty.xml").write_bytes(b"")

    run = run_batch(root, "wikipedia", [str(inputs)], watch=[corpus / "wikipedia"])
    return WikiBatch(run, expected, last_page, texts)


def test_stats_reconcile_and_nothing_written_outside_the_output(wiki):
    assert_sound(wiki.run)


def test_good_dump_in_a_folder_of_bad_ones_is_read_fully(wiki):  # case 25
    assert len(wiki.expected["pristine.xml.bz2"]) >= 25
    assert wiki.run.read_records("pristine.xml.bz2") == wiki.expected["pristine.xml.bz2"]
    assert wiki.run.file("pristine.xml.bz2")["quarantine"] == []


def test_dump_cut_mid_page_keeps_the_pages_before(wiki):  # case 8
    record = the_quarantine(wiki.run, "cut-mid-page.xml")
    # The page the cut fell in, by id, title and line (it used to be "after page <the one before>").
    assert record["record"].startswith(f"page {wiki.last_page['cut-mid-page.xml']} ")
    assert record["error"] == "DumpReadError: malformed XML: the dump ends inside this page (no </page>)"
    assert wiki.run.read_records("cut-mid-page.xml") == wiki.expected["cut-mid-page.xml"]
    assert len(wiki.expected["cut-mid-page.xml"]) >= 25


def test_bz2_truncated_mid_stream_keeps_the_pages_before(wiki):  # case 23
    record = the_quarantine(wiki.run, "truncated.xml.bz2")
    assert record["record"] == f"after page {wiki.last_page['truncated.xml.bz2']}"
    assert record["error"] == "DumpReadError: compressed stream ended early (truncated file)"
    got = wiki.run.read_records("truncated.xml.bz2")
    assert got == wiki.expected["truncated.xml.bz2"]
    assert len(got) >= 10


def test_billion_laughs_is_refused_unexpanded(wiki):  # case 9
    record = the_quarantine(wiki.run, "billion-laughs.xml")
    assert record["record"] == "after start of dump"
    assert record["error"] == ("DumpReadError: DOCTYPE or entity declaration in a dump: refused "
                               "(entity expansion is never parsed)")
    assert wiki.run.read_records("billion-laughs.xml") == set()
    assert not any("lollollol" in d["text"] for d in wiki.run.docs)
    # Hang guard: the pure reader stops at the DOCTYPE, whatever the entities would expand to.
    data = (wiki.run.root / "in" / "billion-laughs.xml").read_bytes()
    assert finishes(lambda: list(read_wikipedia_dump("b", io.BytesIO(data))))


def test_utf16_dump_is_decoded_like_the_utf8_original(wiki):  # case 10
    run = wiki.run
    assert run.file("enwiki-utf16.xml")["quarantine"] == []
    assert run.read_records("enwiki-utf16.xml") == wiki.expected["enwiki-utf16.xml"]
    docs = {d["meta"]["title"]: d["text"] for d in run.file("enwiki-utf16.xml")["docs"]}
    assert docs == wiki.enwiki_texts
    assert "Accessibility" in docs and docs["Accessibility"].startswith("Accessibility")


@pytest.mark.parametrize("name", ["empty.xml.bz2", "empty.xml"])
def test_empty_dump_is_quarantined_as_malformed(wiki, name):  # case 6
    record = the_quarantine(wiki.run, name)
    assert record["record"] == "after start of dump"
    assert record["error"] == "DumpReadError: malformed XML (no element found) at line 1, column 0"
    assert wiki.run.read_records(name) == set()
