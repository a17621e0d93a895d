"""Books (LLaMA 4.5%): read → Gutenberg boilerplate cleaner → non-empty → book-level dedup.

Inputs as published (filters/sources/books/reader.py, layouts.py): Gutenberg ``.txt`` files
and mirrors (one rendition per book number: ``-0.txt``, then ``pg<id>.txt``, ``-8.txt``,
``.txt``; the others are not read and the run lists them under ``skipped_inputs``), PG-19 folders (``train/``,
``validation/``, ``test/`` beside ``metadata.csv``, whose title, date and link join each
book's meta; ``metadata.csv`` itself is never read as a book), Books3-style tarballs
streamed member by member, and JSONL collections. The listing is looked at here, once,
before the pipeline is built: a rendition can only be chosen seeing its siblings.

A book is dropped when more than ``books.overlap_threshold`` (LLaMA: 90%) of its shingles
occur in a more complete book; candidates come from hash-sampled shingles, verified
exactly (``stages/books_dedup.py``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from filters.sources.books.gutenberg import BooksFilter, GutenbergCleaner
from filters.sources.books.layouts import (
    PG19_METADATA,
    parse_pg19_metadata,
    pg19_metadata_path,
    superseded_renditions,
)
from filters.sources.books.reader import BooksReader
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes import Read
from stages.books_dedup import DedupBooks


def _path(item: Any) -> str:
    return getattr(item, "path", item)


def _read_text(path: str) -> str | None:
    from apache_beam.io.filesystems import FileSystems

    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as fh:
            return fh.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):  # a scheme Beam cannot list (http): no titles, books still read
        return None


def plan_inputs(paths: Sequence[Any]) -> tuple[list[Any], dict[str, dict[str, dict[str, str]]], dict[str, str]]:
    """The inputs to read, PG-19 tables by ``metadata.csv`` path, and Gutenberg renditions left out.

    ``metadata.csv`` files are not read as books, and of a Gutenberg book's renditions only
    the preferred one is read: the others are listed by the run under ``skipped_inputs``
    (``{left out: read instead}`` is returned for the record). The PG-19 tables travel with
    the reader: id → title, date and link, about 2.5 MB for PG-19's 28,602 books.
    """
    files = [p for p in paths if posixpath.basename(_path(p).replace("\\", "/")) != PG19_METADATA]
    tables: dict[str, dict[str, dict[str, str]]] = {}
    for item in files:
        metadata = pg19_metadata_path(_path(item))
        if metadata is not None and metadata not in tables:
            text = _read_text(metadata)
            tables[metadata] = parse_pg19_metadata(text) if text is not None else {}
    superseded = superseded_renditions(_path(p) for p in files)
    return [p for p in files if _path(p) not in superseded], {k: v for k, v in tables.items() if v}, superseded


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[Any] = ()) -> list[Any]:
    books = cfg.settings("books")
    files, pg19, _ = plan_inputs(paths)
    return [
        Read(BooksReader(spec.name, books, pg19=pg19), tuple(files)),
        GutenbergCleaner(books),
        BooksFilter(books),
        DedupBooks(books),
    ]
