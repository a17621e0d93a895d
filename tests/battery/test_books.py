"""Bad-input battery, Books: real Gutenberg texts in wrong encodings, compressed, empty, binary.

One folder, one pipeline run. The inputs are given three times (the folder, a glob and one
file by name): every file must still be read exactly once (case 26).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from filters.sources.books.gutenberg import normalize_newlines
from tests.battery.harness import BatchRun, assert_sound, run_batch, the_quarantine
from tests.battery.warcs import real_png

PETER_PAN = "16-0-peter-pan.txt"
FRANKENSTEIN = "84-0-frankenstein-body-only.txt"
QUIJOTE = "pg2000-don-quijote-es.txt"


@dataclass
class BooksBatch:
    run: BatchRun
    originals: dict[str, str]  # input name → the text its real source decodes to


@pytest.fixture(scope="module")
def books(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> BooksBatch:
    root = tmp_path_factory.mktemp("battery-books")
    inputs = root / "in"
    inputs.mkdir()
    folder = corpus / "books"
    peter = (folder / PETER_PAN).read_bytes()
    frankenstein = (folder / FRANKENSTEIN).read_bytes()
    quijote = (folder / QUIJOTE).read_bytes()
    quijote = quijote[: quijote.index(b"\n", 300_000) + 1]  # a 300 KB head is enough
    originals = {
        "peter-pan.txt": normalize_newlines(peter.decode("utf-8-sig")),
        "frankenstein-utf16.txt": normalize_newlines(frankenstein.decode("utf-8-sig")),
        "quijote-gzipped.txt": normalize_newlines(quijote.decode("utf-8-sig")),
    }
    (inputs / "peter-pan.txt").write_bytes(peter)  # untouched (case 25)
    # 10/19. UTF-16 with a BOM: decoded correctly.
    (inputs / "frankenstein-utf16.txt").write_bytes(frankenstein.decode("utf-8").encode("utf-16"))
    # 20. A gzipped book under a plain .txt name: decompressed, not decoded as bytes.
    (inputs / "quijote-gzipped.txt").write_bytes(gzip.compress(quijote, mtime=0))
    # 19. Undecodable: EBCDIC, and UTF-16 without a BOM. Latin-1 "decodes" both into mojibake.
    (inputs / "peter-pan-ebcdic.txt").write_bytes(peter.decode("utf-8-sig").encode("cp500", errors="replace"))
    (inputs / "peter-pan-utf16-no-bom.txt").write_bytes(peter.decode("utf-8-sig").encode("utf-16-le"))
    # Binary data under a book's name (a real PNG from the crawl sample).
    (inputs / "image.txt").write_bytes(real_png(corpus / "cc" / "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz"))
    # 6. An empty book.
    (inputs / "empty.txt").write_bytes(b"")
    # JSONL collection with one good book, one line that is not JSON, one unpaired surrogate.
    good = json.dumps({"title": "Frankenstein", "text": originals["frankenstein-utf16.txt"][:20000]})
    cut = '{"title": "cut", "text": "no end\n'
    surrogate = '{"title": "bad", "text": "x\\udc80y"}\n'
    (inputs / "collection.jsonl").write_text(good + "\n" + cut + surrogate, encoding="utf-8")
    inputs_given_twice = [str(inputs), str(inputs / "*.txt"), str(inputs / "peter-pan.txt")]
    run = run_batch(root, "books", inputs_given_twice, watch=[folder])
    return BooksBatch(run, originals)


def test_stats_reconcile_and_nothing_written_outside_the_output(books):
    assert_sound(books.run)


def test_duplicate_input_paths_are_read_once(books):  # case 26
    # 7 .txt books + 3 JSONL lines, though the folder, a glob and a file name overlap.
    assert books.run.stats["documents_in"] == 10
    assert len(books.run.file("peter-pan.txt")["docs"]) == 1
    ids = [d["id"] for d in books.run.docs + books.run.dropped]
    assert len(ids) == len(set(ids))


def test_untouched_book_in_a_folder_of_bad_ones_is_kept(books):  # case 25
    [doc] = books.run.file("peter-pan.txt")["docs"]
    assert doc["meta"]["encoding"] == "utf-8-sig"
    assert "Peter Pan" in doc["text"] and "To die will be an awfully big adventure" in doc["text"]
    assert len(doc["text"]) > 0.8 * len(books.originals["peter-pan.txt"])


def test_utf16_book_with_bom_is_decoded_like_the_original(books):
    [doc] = books.run.file("frankenstein-utf16.txt")["docs"]
    assert doc["meta"]["encoding"] == "utf-16"
    original = books.originals["frankenstein-utf16.txt"]
    assert "\x00" not in doc["text"]
    assert "Frankenstein" in doc["text"] and doc["text"].strip() in original


def test_gzipped_book_under_a_txt_name_is_decompressed(books):  # case 20
    [doc] = books.run.file("quijote-gzipped.txt")["docs"]
    assert doc["meta"]["encoding"] == "utf-8-sig"
    assert "DON QUIJOTE" in doc["text"].upper() and "\x1f\x8b" not in doc["text"]


@pytest.mark.parametrize("name, encoding", [
    ("peter-pan-ebcdic.txt", "latin-1"),
    ("peter-pan-utf16-no-bom.txt", "cp1252"),
    ("image.txt", "latin-1"),
])
def test_undecodable_book_is_quarantined_with_the_reason(books, name, encoding):  # case 19
    record = the_quarantine(books.run, name)
    assert record["record"] == name
    assert record["error"].startswith("undecodable book: ")
    assert f"control characters after decoding as {encoding}" in record["error"]
    assert books.run.file(name)["docs"] == [] and books.run.file(name)["dropped"] == []


def test_empty_book_is_dropped_empty(books):  # case 6
    [dropped] = books.run.file("empty.txt")["dropped"]
    assert dropped["annotations"]["dropped"] == {"stage": "books_filter", "reason": "empty"}
    assert books.run.file("empty.txt")["quarantine"] == []


def test_jsonl_collection_keeps_the_good_line(books):
    part = books.run.file("collection.jsonl")
    errors = {q["record"]: q["error"] for q in part["quarantine"]}
    assert set(errors) == {"line 2", "line 3"}
    assert errors["line 2"].startswith("JSONDecodeError: ")
    assert errors["line 3"] == "ValueError: field 'text' holds an unpaired UTF-16 surrogate (not valid Unicode)"
    assert [d["meta"]["title"] for d in part["docs"] + part["dropped"]] == ["Frankenstein"]
