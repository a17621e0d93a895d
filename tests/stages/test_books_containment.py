"""Book-level dedup by containment (LLaMA: drop books with > 90% content overlap), on real books.

A volume cut verbatim from a real Gutenberg book, at 10%, 30% or 60% of it, is dropped in
favour of the complete book, even when the volume has the smaller id; so is a volume cut
from the middle of another book; the two different books stay.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam.testing.util import assert_that, equal_to

from filters.document import Document
from filters.sources.books.config import BooksConfig
from filters.sources.books.gutenberg import GutenbergCleaner
from filters.sources.books.reader import BooksReader
from stages.books_dedup import DedupBooks, containment_verdict, sample_pairs

CFG = BooksConfig()


def _book(corpus, name: str) -> str:
    path = corpus / "books" / name
    with open(path, "rb") as fh:
        [doc] = BooksReader("books", CFG)(str(path), fh)
    return GutenbergCleaner(CFG)(doc).text


def _volume(text: str, start: float, end: float) -> str:
    """The lines between two fractions of ``text``, verbatim (cut at line breaks)."""
    a = text.rfind("\n", 0, int(len(text) * start)) + 1 if start else 0
    b = text.find("\n", int(len(text) * end)) + 1
    return text[a:b]


def test_volumes_are_dropped_for_the_complete_book_and_different_books_kept(corpus):
    peter = _book(corpus, "16-0-peter-pan.txt")
    frankenstein = _book(corpus, "84-0-frankenstein-body-only.txt")
    # Volumes get the smaller ids: the complete book must win on completeness, not on id.
    books = {
        "books/0-peter-10": _volume(peter, 0, 0.10),
        "books/0-peter-30": _volume(peter, 0, 0.30),
        "books/0-peter-60": _volume(peter, 0, 0.60),
        "books/0-frankenstein-middle-30": _volume(frankenstein, 0.35, 0.65),
        "books/9-peter": peter,
        "books/5-frankenstein": frankenstein,
    }
    docs = [Document(i, text, "books") for i, text in books.items()]
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(docs) | DedupBooks(CFG)
        assert_that(out["docs"] | "kept" >> beam.Map(lambda d: d.id),
                    equal_to(["books/9-peter", "books/5-frankenstein"]), label="kept")
        assert_that(out["dropped"] | "dropped" >> beam.Map(
            lambda d: (d.id, d.annotations["book_dedup"]["kept_id"], d.annotations["dropped"]["reason"])),
            equal_to([("books/0-peter-10", "books/9-peter", "near_duplicate_book"),
                      ("books/0-peter-30", "books/9-peter", "near_duplicate_book"),
                      ("books/0-peter-60", "books/9-peter", "near_duplicate_book"),
                      ("books/0-frankenstein-middle-30", "books/5-frankenstein", "near_duplicate_book")]),
            label="dropped")
        assert_that(out["quarantine"], equal_to([]), label="quarantine")


def test_the_less_complete_book_is_dropped_and_equals_by_id():
    whole = np.arange(1000, dtype=np.uint64)
    part = whole[:300]
    assert containment_verdict(("a", "b"), part, whole, CFG) == ("a", "b", 1.0)
    assert containment_verdict(("a", "b"), whole, part, CFG) == ("b", "a", 1.0)
    assert containment_verdict(("b", "a"), whole, whole.copy(), CFG) == ("b", "a", 1.0)
    other = np.arange(500, 1400, dtype=np.uint64)  # 500 of 900 shared: 56%, kept
    assert containment_verdict(("a", "b"), other, whole, CFG) is None


def test_a_stock_phrase_in_many_books_pairs_each_only_with_the_most_complete():
    members = [(f"b{i:03d}", 1000 + i, 10) for i in range(200)]
    pairs = [pair for pair, _ in sample_pairs(members, max_bucket=5)]
    assert len(pairs) == 10 + 195 * 5  # linear in books, not 200 * 199 / 2
    top = {f"b{i:03d}" for i in range(195, 200)}
    assert all(set(pair) & top for pair in pairs)
    assert len(list(sample_pairs(members[:5], max_bucket=5))) == 10
