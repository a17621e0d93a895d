"""Books: encodings, Gutenberg boilerplate (old and new styles) and overlap on the real files."""

from __future__ import annotations

import gzip
import json

import pytest

from filters.base import QuarantineRecord
from filters.document import Document
from filters.minhash import hash_sample
from filters.sources.books.config import BooksConfig
from filters.sources.books.gutenberg import (
    EMPTY,
    BooksFilter,
    GutenbergCleaner,
    containment,
    is_near_duplicate,
    strip_gutenberg,
)
from filters.sources.books.gutenberg import book_shingles as shingle_hashes
from filters.sources.books.reader import BooksReader, decode_book

CFG = BooksConfig()


def _read(path):
    with open(path, "rb") as fh:
        return list(BooksReader("books", CFG)(str(path), fh))


@pytest.fixture(scope="module")
def books(corpus):
    out = {}
    for name in ("16-0-peter-pan", "84-0-frankenstein-cp1252", "84-0-frankenstein-body-only",
                 "pg2000-don-quijote-es"):
        [doc] = _read(corpus / "books" / f"{name}.txt")
        out[name] = doc
    return out


@pytest.fixture(scope="module")
def cleaned(books):
    return {name: GutenbergCleaner(CFG)(doc) for name, doc in books.items()}


def test_encodings_are_detected(books):
    assert {n: d.meta["encoding"] for n, d in books.items()} == {
        "16-0-peter-pan": "utf-8-sig",
        "84-0-frankenstein-cp1252": "cp1252",
        "84-0-frankenstein-body-only": "utf-8",
        "pg2000-don-quijote-es": "utf-8-sig",
    }
    quijote = books["pg2000-don-quijote-es"].text
    assert "\r" not in quijote and "\ufeff" not in quijote and "Quijote" in quijote
    # The cp1252 file's BOM became a literal "?" at the start; the header cut removes it.
    assert books["84-0-frankenstein-cp1252"].text.startswith("?The Project Gutenberg eBook of Frankenstein")
    assert books["84-0-frankenstein-cp1252"].meta["title"] == "Frankenstein"  # the header's Title: line


def test_gutenberg_header_and_footer_are_removed(cleaned):
    for name in ("16-0-peter-pan", "84-0-frankenstein-cp1252", "pg2000-don-quijote-es"):
        doc = cleaned[name]
        info = doc.annotations["gutenberg_clean"]
        assert info["header_removed"] and info["footer_removed"], name
        assert "PROJECT GUTENBERG" not in doc.text.upper(), name
        assert "?The Project" not in doc.text
    assert cleaned["16-0-peter-pan"].text.startswith("Peter Pan\n\n[PETER AND WENDY]")
    assert cleaned["16-0-peter-pan"].text.endswith("children are gay and innocent and heartless.\n\nTHE END\n")
    assert cleaned["pg2000-don-quijote-es"].text.rstrip().endswith("Vale.\n\nFin")


def test_body_only_copy_is_left_alone(books, cleaned):
    doc = cleaned["84-0-frankenstein-body-only"]
    assert doc.annotations["gutenberg_clean"] == {"header_removed": False, "footer_removed": False,
                                                  "removed_chars": 0}
    assert doc.text == books["84-0-frankenstein-body-only"].text


@pytest.mark.parametrize(("text", "body"), [
    ("Header\n*** START OF THIS PROJECT GUTENBERG EBOOK ALICE ***\nBody.\n"
     "End of the Project Gutenberg EBook of Alice\n*** END OF THIS PROJECT GUTENBERG EBOOK ALICE ***\nLicense",
     "Body.\n"),
    ("Intro\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\nOld body.\n"
     "End of Project Gutenberg's Etext of Hamlet\nmore", "Old body.\n"),
    ("***START OF THE PROJECT GUTENBERG EBOOK X***\nB\n***END OF THE PROJECT GUTENBERG EBOOK X***", "B\n"),
    ("No markers at all.\n", "No markers at all.\n"),
])
def test_old_and_new_marker_styles(text, body):
    assert strip_gutenberg(text)[0] == body


def test_empty_book_is_dropped():
    doc = GutenbergCleaner(CFG)(Document("b", "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n"
                                              "*** END OF THE PROJECT GUTENBERG EBOOK X ***\n", "books"))
    assert BooksFilter(CFG)(doc).reason == EMPTY


def test_frankenstein_copies_overlap_over_90_percent(cleaned):
    a = shingle_hashes(cleaned["84-0-frankenstein-cp1252"].text, CFG.shingle_words)
    b = shingle_hashes(cleaned["84-0-frankenstein-body-only"].text, CFG.shingle_words)
    peter = shingle_hashes(cleaned["16-0-peter-pan"].text, CFG.shingle_words)
    assert containment(a, b) > 0.999 and is_near_duplicate(containment(a, b), CFG)
    assert containment(a, peter) < 0.01
    sa, sb, sp = (set(hash_sample(h, CFG.sample_one_in, CFG.seed).tolist()) for h in (a, b, peter))
    assert len(sa & sb) >= CFG.candidate_fraction * min(len(sa), len(sb))  # a certain candidate
    assert len(sa & sp) < 0.05 * min(len(sa), len(sp))


def test_containment_counts_a_subset_that_jaccard_would_not(cleaned):
    full = cleaned["16-0-peter-pan"].text
    half = full[: len(full) // 2]
    a, b = shingle_hashes(full, 5), shingle_hashes(half, 5)
    jaccard = len(set(a.tolist()) & set(b.tolist())) / len(set(a.tolist()) | set(b.tolist()))
    assert jaccard < 0.55 and containment(a, b) > 0.999


def test_shingles_ignore_case_and_punctuation():
    loud = shingle_hashes("The cat, sat on the MAT.", 3)
    assert loud.tolist() == shingle_hashes("the cat sat on the mat", 3).tolist()
    assert len(shingle_hashes("one two", 5)) == 0


def test_jsonl_books_and_bad_lines(tmp_path):
    path = tmp_path / "pg19-sample.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join([
        json.dumps({"text": "Chapter 1\r\nIt was.", "title": "A Book", "year": 1900}).encode(),
        b"{broken",
        json.dumps({"title": "no text"}).encode(),
    ])))
    items = _read(path)
    assert isinstance(items[0], Document) and items[0].text == "Chapter 1\nIt was."
    assert items[0].meta["title"] == "A Book" and items[0].meta["year"] == 1900
    assert [(q.record, isinstance(q, QuarantineRecord)) for q in items[1:]] == [("line 2", True), ("line 3", True)]


def test_decode_book_falls_back_to_latin1():
    assert decode_book("café".encode()) == ("café", "utf-8")
    assert decode_book("“quoted”".encode("cp1252")) == ("“quoted”", "cp1252")
    assert decode_book(b"\x81\x8d") == ("\x81\x8d", "latin-1")  # undefined in cp1252
