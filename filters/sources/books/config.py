"""Settings of the books source: the top-level ``books:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

from mixtures.config import check


@dataclass(frozen=True)
class BooksConfig:
    """Book-level dedup by containment: candidates from hash-sampled shingles, verified exactly.

    A book is dropped when more than ``overlap_threshold`` of its shingles occur in a more
    complete book (stages/books_dedup.py, filters/sources/books/gutenberg.py).
    """

    overlap_threshold: float = 0.9  # LLaMA: drop books with > 90% content overlap
    shingle_words: int = 5  # word n-grams that make up a book's content set
    # Candidates: a shingle is sampled iff its mixed hash < 2^64 / sample_one_in (the same
    # shingles in every book). A 10k-word volume has ~300 samples at 1 in 32.
    sample_one_in: int = 32
    # A pair is verified exactly when this share of the smaller book's samples occur in the
    # other book (a 90%-contained book shares ~90% of its samples).
    candidate_fraction: float = 0.5
    min_samples: int = 4  # a book with fewer samples is too short to compare: kept
    # A sampled shingle found in more books than this (a stock phrase) pairs each of them
    # only with the most complete ones, not with every other: pairs stay linear in books.
    max_bucket_books: int = 50
    seed: int = 1  # of the sampling hash
    num_perm: int = 128  # MinHash size of a book's signature where one is wanted (bench/cleaners.py)
    max_book_bytes: int = 100_000_000  # a larger file or archive member is quarantined, not read
    max_archive_members: int = 1_000_000  # entries of one Books3-style tarball; beyond → rest quarantined

    def __post_init__(self) -> None:
        check(0.0 < self.overlap_threshold <= 1.0, "books.overlap_threshold must be in (0, 1]")
        check(0.0 < self.candidate_fraction <= 1.0, "books.candidate_fraction must be in (0, 1]")
        check(self.shingle_words >= 1, "books.shingle_words must be >= 1")
        check(self.sample_one_in >= 1 and self.min_samples >= 1, "books.sample_one_in and min_samples must be >= 1")
        check(self.max_bucket_books >= 2, "books.max_bucket_books must be >= 2")
        check(self.max_book_bytes > 0 and self.max_archive_members > 0, "books: limits must be > 0")
