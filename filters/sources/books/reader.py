"""Read books: Project Gutenberg ``.txt`` files (any encoding) and JSONL book collections.

* ``*.txt``: one book per file (gzipped content is decompressed, whatever the name). The
  encoding is detected, in order: a UTF-32/UTF-16 BOM, a UTF-8 BOM, strict UTF-8, strict
  cp1252, then latin-1 (which always succeeds). Real Gutenberg mirrors mix all of these;
  ``84-0-frankenstein-cp1252.txt`` was re-encoded to cp1252 by its uploader, and its BOM
  became a literal ``?`` (it sits in the header, which the cleaner removes). Line ends are
  normalised to ``\\n``; the detected encoding is recorded in ``meta["encoding"]``. A text
  that decodes to more than 1% control characters (binary data, UTF-16 without BOM, EBCDIC)
  is quarantined as undecodable rather than kept as mojibake.
* ``*.jsonl`` / ``*.jsonl.gz``: one book per line, ``{"text": ..., "title": ..., ...}`` (PG-19,
  Books3-style dumps). Other fields go to meta; a line without a string ``text``, or with an
  unpaired surrogate escape (``"\\\\ud800"``: no valid Unicode), is quarantined.

Ids are ``stable_id(source, file name[, line])``: RedPajama numbered PG-19 and Books3 books
from the same counter, so their ids collided across the two collections.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import posixpath
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from filters.base import QuarantineRecord
from filters.document import Document, stable_id, unpaired_surrogate
from filters.sources.books.config import BooksConfig
from filters.sources.books.gutenberg import gutenberg_title, normalize_newlines

_GZIP_MAGIC = b"\x1f\x8b"


# UTF-32 first: its little-endian BOM starts with UTF-16's.
_UTF_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
             (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# C0 controls other than tab, LF, FF, CR (and ESC, in old ANSI-art texts), plus the C1 block:
# a decoded book where they are common was binary or decoded with the wrong codec.
_CONTROL_CHARS = frozenset(chr(c) for c in (*range(32), *range(0x7F, 0xA0)) if chr(c) not in "\t\n\x0c\r\x1b")
_CONTROL_SAMPLE = 65536
MAX_CONTROL_FRACTION = 0.01


def decode_book(data: bytes) -> tuple[str, str]:
    """(text, encoding) for the bytes of a plain-text book."""
    for bom, codec in _UTF_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec  # the codec consumes the BOM
            except UnicodeDecodeError:
                break
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def undecodable(text: str, encoding: str) -> str | None:
    """Why ``text`` is no readable book (binary data, a wrong codec), or None if it reads.

    The latin-1 fallback of :func:`decode_book` decodes every byte string, so a PNG, a UTF-16
    file without BOM or an EBCDIC file would otherwise become a "book" of mojibake.
    """
    sample = text[:_CONTROL_SAMPLE]
    if not sample:
        return None
    control = sum(1 for ch in sample if ch in _CONTROL_CHARS)
    if control / len(sample) <= MAX_CONTROL_FRACTION:
        return None
    return (f"undecodable book: {control / len(sample):.0%} control characters after decoding as {encoding} "
            "(binary data, or an encoding such as UTF-16 without byte-order mark or EBCDIC)")


def is_jsonl(path: str) -> bool:
    return path.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"))


class BooksReader:
    """``reader(path, fh)`` for ``ReadSource``: a ``.txt`` book or a JSONL collection.

    Args:
        source: the source name written on every document and prefixed to its id.
        cfg: ``max_book_bytes`` bounds what one book may hold.
    """

    # A corrupt gzipped JSONL collection fails inside zlib half-way: the rest of that file
    # is quarantined (the books read before stay).
    data_errors = (zlib.error,)

    def __init__(self, source: str, cfg: BooksConfig) -> None:
        self.source = source
        self.cfg = cfg

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Any]:
        name = posixpath.basename(path.replace(os.sep, "/"))
        if is_jsonl(path):
            yield from self._jsonl(path, name, fh)
            return
        limit = self.cfg.max_book_bytes
        data = fh.read(limit + 1)
        if len(data) <= limit and data.startswith(_GZIP_MAGIC):
            # A gzipped book under a plain name: decompress (bounded) rather than decode gzip bytes.
            try:
                data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(limit + 1)
            except (OSError, EOFError, zlib.error) as exc:
                yield QuarantineRecord(self.source, path, name, "read",
                                       f"corrupt gzip data: {type(exc).__name__}: {exc}")
                return
        if len(data) > limit:
            yield QuarantineRecord(self.source, path, name, "read", f"book exceeds max_book_bytes={limit}")
            return
        text, encoding = decode_book(data)
        problem = undecodable(text, encoding)
        if problem is not None:
            yield QuarantineRecord(self.source, path, name, "read", problem)
            return
        text = normalize_newlines(text)
        meta = {"file": path, "record": name, "encoding": encoding, "title": gutenberg_title(text) or name}
        yield Document(stable_id(self.source, name), text, self.source, meta)

    def _jsonl(self, path: str, name: str, fh: BinaryIO) -> Iterator[Any]:
        raw = fh if hasattr(fh, "peek") else io.BufferedReader(fh)  # type: ignore[arg-type]
        lines: Any = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == _GZIP_MAGIC else raw
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                    raise ValueError("record has no string 'text' field")
                bad_field = unpaired_surrogate(record) if b"\\u" in line else None
                if bad_field is not None:
                    raise ValueError(f"field {bad_field!r} holds an unpaired UTF-16 surrogate (not valid Unicode)")
            except (ValueError, UnicodeDecodeError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
                yield QuarantineRecord(self.source, path, f"line {line_no}", "read", error)
                continue
            text = normalize_newlines(record.pop("text"))
            meta = {k: v for k, v in record.items() if isinstance(v, (str, int, float, bool)) or v is None}
            meta.update(file=path, record=f"{name}:{line_no}")
            meta.setdefault("title", gutenberg_title(text) or f"{name}:{line_no}")
            yield Document(stable_id(self.source, name, line_no), text, self.source, meta)
