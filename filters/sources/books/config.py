"""Settings of the books source: the top-level ``books:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

from mixtures.config import check


@dataclass(frozen=True)
class BooksConfig:
    """Book-level near-dedup: MinHash LSH candidates, verified by exact shingle containment."""

    overlap_threshold: float = 0.9  # LLaMA: drop books with > 90% content overlap
    shingle_words: int = 5  # word n-grams that make up a book's content set
    num_perm: int = 128
    bands: int = 32  # 32 bands x 4 rows: Jaccard 0.5 → candidate with p = 0.87
    rows: int = 4
    seed: int = 1
    max_book_bytes: int = 100_000_000  # a larger file is quarantined, not read

    def __post_init__(self) -> None:
        check(0.0 < self.overlap_threshold <= 1.0, "books.overlap_threshold must be in (0, 1]")
        check(self.bands * self.rows == self.num_perm, "books: bands * rows must equal num_perm")
        check(self.shingle_words >= 1, "books.shingle_words must be >= 1")
