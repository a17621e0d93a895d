"""Wikipedia (LLaMA 4.5%): dump reader → wikitext cleaner → non-empty filter.

Reads MediaWiki ``pages-articles`` dumps as Wikimedia publishes them (whole, split parts
``…-pages-articles1.xml-p1p41242.bz2``, multistream; ``.bz2``, ``.gz``, ``.xz`` or plain),
keeps namespace-0 articles of the configured languages (``wikipedia.languages``: LLaMA's
20 by default; other dumps drop with ``wiki_lang``), turns wikitext into plain text and
drops pages left ``empty``.

A multistream dump whose index (``…-multistream-index.txt.bz2``) is among the inputs or
beside the dump is split here, before the pipeline is built: the index gives every bz2
stream's offset, and streams are grouped into byte ranges of about
``wikipedia.multistream_split_bytes``, one unit of reading each, so one large dump is read
by many workers. Index files are read for this plan only, never as dumps.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

from filters.base import InputFile
from filters.sources.wikipedia.dumpfile import (
    DumpError,
    dump_of_index,
    is_index_file,
    read_index_offsets,
    stream_ranges,
)
from filters.sources.wikipedia.reader import WikipediaDumpReader
from filters.sources.wikipedia.rules import WikipediaTextFilter, WikitextCleaner
from mixtures.config import ConfigError, PipelineConfig, SourceSpec
from pipeline.recipes import Read


def _path(item: Any) -> str:
    return item.path if isinstance(item, InputFile) else str(item)


def _open(path: str) -> Any:
    if "://" in path:
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return open(path, "rb")


def _stamp(path: str) -> tuple[int, float] | None:
    """Size and mtime of a local file (None for a remote one): a changed index is read again."""
    if "://" in path:
        return None
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime


@functools.lru_cache(maxsize=16)
def _index_offsets(index: str, stamp: tuple[int, float] | None) -> tuple[int, ...]:
    """The stream offsets of an index, read once per run (the recipe is built several times)."""
    try:
        with _open(index) as fh:
            return tuple(read_index_offsets(fh))
    except (DumpError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"wikipedia: cannot read the multistream index {index}: {exc}") from None


def _index_beside(dump: str, indexes: dict[str, str]) -> str | None:
    """The index of a multistream dump: among the inputs, else next to it on local disk."""
    if dump in indexes:
        return indexes[dump]
    if "multistream" not in os.path.basename(dump) or "://" in dump:
        return None
    folder = os.path.dirname(dump)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        candidate = os.path.join(folder, name)
        if is_index_file(name) and dump_of_index(candidate) == dump:
            return candidate
    return None


def plan_units(paths: Sequence[Any], split_bytes: int) -> tuple[Any, ...]:
    """The units of reading: each dump whole, or a multistream dump with an index as byte ranges.

    Index files are left out (they only plan). Raises ``ConfigError`` naming an index that
    cannot be read, before any work starts.
    """
    indexes = {dump_of_index(_path(p)): _path(p) for p in paths if is_index_file(_path(p))}
    units: list[Any] = []
    for item in paths:
        path = _path(item)
        if is_index_file(path):
            continue
        index = _index_beside(path, indexes)
        if index is None:
            units.append(item)
            continue
        name = item.name if isinstance(item, InputFile) else ""
        offsets = _index_offsets(index, _stamp(index))
        units.extend(InputFile(path, name, start, end) for start, end in stream_ranges(offsets, split_bytes))
    return tuple(units)


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    wikipedia = cfg.settings("wikipedia")
    return [
        Read(WikipediaDumpReader(spec.name, wikipedia), plan_units(paths, wikipedia.multistream_split_bytes)),
        WikitextCleaner(wikipedia),
        WikipediaTextFilter(wikipedia),
    ]
