"""Books (LLaMA 4.5%): read → Gutenberg boilerplate cleaner → non-empty → book-level near-dedup.

A book is dropped when it overlaps a book with a smaller id by more than
``books.overlap_threshold`` (LLaMA: 90%), measured as shingle containment; the graph is
``stages/books_dedup.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filters.sources.books.gutenberg import BooksFilter, GutenbergCleaner
from filters.sources.books.reader import BooksReader
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes import Read
from stages.books_dedup import DedupBooks


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    books = cfg.settings("books")
    return [
        Read(BooksReader(spec.name, books), tuple(paths)),
        GutenbergCleaner(books),
        BooksFilter(books),
        DedupBooks(books),
    ]
