"""Read books: Gutenberg/PG-19 ``.txt`` files (any encoding), Books3 tarballs, JSONL collections.

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

* ``*.tar``, ``*.tar.gz``, ``*.tgz`` (or any file that is a tar after gzip): a Books3-style
  tarball (``books3/the-eye.eu/public/Books/Bibliotik/<letter>/<title>.epub.txt``), streamed
  member by member (one book in memory at a time): every ``.txt`` member is a book titled by
  its file name; another file is dropped ``not_text``; a member over ``max_book_bytes`` or a
  link is quarantined by name without reading it, and the next member is read.

PG-19 titles come from the ``metadata.csv`` tables the recipe reads before the run, and the
recipe leaves Gutenberg renditions other than the preferred one out of the reading (both
need the whole listing: filters/sources/books/layouts.py).

Ids are ``stable_id(source, input name[, line or member])``, the input name being the path
relative to the input root (``InputFile.name``), so two mirrors' ``train/10.txt`` or two
tarballs' members never share an id; called as ``reader(path, fh)`` the file's base name
stands in. RedPajama numbered PG-19 and Books3 books from the same counter, so their ids
collided across the two collections.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from filters.base import Dropped, InputFile, QuarantineRecord
from filters.bounded_io import GZIP_MAGIC, is_tar_header
from filters.document import Document, stable_id, unpaired_surrogate
from filters.sources.books.config import BooksConfig
from filters.sources.books.gutenberg import gutenberg_title, normalize_newlines
from filters.sources.books.layouts import pg19_book_id, pg19_metadata_path

NOT_TEXT = "not_text"
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
BOOK_SUFFIXES = (".txt", ".txt.gz")



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


def book_title_of_member(member: str) -> str:
    """``The Hobbit`` for ``books3/.../T/The Hobbit.epub.txt``."""
    base = posixpath.basename(member)
    for suffix in (".epub.txt", ".txt"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


class BooksReader:
    """Reader for ``ReadSource``: a ``.txt`` book, a Books3-style tarball or a JSONL collection.

    Args:
        source: the source name written on every document and prefixed to its id.
        cfg: ``max_book_bytes`` bounds what one book may hold, ``max_archive_members`` a tarball.
        pg19: ``metadata.csv`` path → book id → fields joined into that book's meta (title,
            publication date, link), for the books of the PG-19 split folders beside it.
    """

    # A corrupt gzipped JSONL collection fails inside zlib half-way: the rest of that file
    # is quarantined (the books read before stay).
    data_errors = (zlib.error, tarfile.TarError)

    def __init__(self, source: str, cfg: BooksConfig,
                 pg19: dict[str, dict[str, dict[str, str]]] | None = None) -> None:
        self.source = source
        self.cfg = cfg
        self.pg19 = dict(pg19 or {})

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Any]:
        name = posixpath.basename(path.replace(os.sep, "/"))
        yield from self._read(path, path, name, fh)

    def read_input(self, item: InputFile, fh: BinaryIO) -> Iterator[Any]:
        yield from self._read(item.path, item.label, item.name or item.path, fh)

    def _read(self, path: str, label: str, name: str, fh: BinaryIO) -> Iterator[Any]:
        if is_jsonl(path):
            yield from self._jsonl(label, name, fh)
            return
        raw = fh if hasattr(fh, "peek") else io.BufferedReader(fh)  # type: ignore[arg-type]
        if path.endswith(TAR_SUFFIXES) or (not path.endswith(BOOK_SUFFIXES) and self._looks_like_tar(raw)):
            yield from self._tarball(label, name, raw)
            return
        yield from self._text_file(path, label, name, raw)

    @staticmethod
    def _looks_like_tar(raw: Any) -> bool:
        head = raw.peek(512)[:512]
        if head[:2] == GZIP_MAGIC:
            try:
                head = zlib.decompressobj(31).decompress(raw.peek(1 << 16), 512)
            except zlib.error:
                return False
        return is_tar_header(head)

    def _text_file(self, path: str, label: str, name: str, fh: BinaryIO) -> Iterator[Any]:
        limit = self.cfg.max_book_bytes
        data = fh.read(limit + 1)
        if len(data) <= limit and data.startswith(GZIP_MAGIC):
            # A gzipped book under a plain name: decompress (bounded) rather than decode gzip bytes.
            try:
                data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(limit + 1)
            except (OSError, EOFError, zlib.error) as exc:
                yield QuarantineRecord(self.source, label, name, "read",
                                       f"corrupt gzip data: {type(exc).__name__}: {exc}")
                return
        if len(data) > limit:
            yield QuarantineRecord(self.source, label, name, "read", f"book exceeds max_book_bytes={limit}")
            return
        record = posixpath.basename(name.replace(os.sep, "/"))
        extra = self._pg19_meta(path)
        yield self._book(data, stable_id(self.source, name), label, record, extra.get("title"), extra)

    def _pg19_meta(self, path: str) -> dict[str, str]:
        metadata = pg19_metadata_path(path)
        entry = self.pg19.get(metadata, {}).get(pg19_book_id(path)) if metadata else None
        if not entry:
            return {}
        split = posixpath.basename(posixpath.dirname(path.replace(os.sep, "/")))
        return {**entry, "collection": "pg19", "split": split}

    def _book(self, data: bytes, doc_id: str, label: str, record: str, title: str | None,
              extra: dict[str, Any]) -> Any:
        text, encoding = decode_book(data)
        problem = undecodable(text, encoding)
        if problem is not None:
            return QuarantineRecord(self.source, label, record, "read", problem)
        text = normalize_newlines(text)
        meta = {**extra, "file": label, "record": record, "encoding": encoding,
                "title": title or gutenberg_title(text) or record}
        return Document(doc_id, text, self.source, meta)

    def _tarball(self, label: str, name: str, raw: BinaryIO) -> Iterator[Any]:
        """Every ``.txt`` member of a (gzipped) tarball, streamed: the archive is never held whole."""
        cfg = self.cfg
        books = 0
        try:
            with tarfile.open(fileobj=raw, mode="r|*") as tar:  # type: ignore[call-overload]
                for count, member in enumerate(tar, start=1):
                    if count > cfg.max_archive_members:
                        raise tarfile.TarError(f"more than max_archive_members={cfg.max_archive_members} entries")
                    if member.isdir():
                        continue
                    books += 1
                    yield from self._member(tar, member, label, name)
        except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
            yield QuarantineRecord(self.source, label, f"after member {books}", "read",
                                   f"tarball: {type(exc).__name__}: {exc}"[:2000])

    def _member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, label: str, name: str) -> Iterator[Any]:
        record = member.name[:300]
        doc_id = stable_id(self.source, name, member.name)
        if not member.isfile():
            yield QuarantineRecord(self.source, label, record, "read", "archive member is a link or special file")
            return
        if member.size > self.cfg.max_book_bytes:
            yield QuarantineRecord(self.source, label, record, "read",
                                   f"member of {member.size} bytes exceeds max_book_bytes={self.cfg.max_book_bytes}")
            return
        if not member.name.lower().endswith(".txt"):
            meta = {"file": label, "record": record, "size": member.size}
            yield Dropped(Document(doc_id, "", self.source, meta), NOT_TEXT)
            return
        extracted = tar.extractfile(member)
        data = extracted.read(self.cfg.max_book_bytes + 1) if extracted is not None else b""
        yield self._book(data, doc_id, label, record, book_title_of_member(member.name), {"member": member.name})

    def _jsonl(self, label: str, name: str, fh: BinaryIO) -> Iterator[Any]:
        path = label
        name_for_record = posixpath.basename(name.replace(os.sep, "/"))
        raw = fh if hasattr(fh, "peek") else io.BufferedReader(fh)  # type: ignore[arg-type]
        lines: Any = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == GZIP_MAGIC else raw
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
            meta.update(file=path, record=f"{name_for_record}:{line_no}")
            meta.setdefault("title", gutenberg_title(text) or f"{name_for_record}:{line_no}")
            yield Document(stable_id(self.source, name, line_no), text, self.source, meta)
