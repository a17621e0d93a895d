"""The bytes of a MediaWiki dump file: names, decompression, encoding and multistream indexes.

Wikimedia publishes ``pages-articles`` dumps as one file (``enwiki-20230401-pages-articles.xml.bz2``),
as split parts (``enwiki-20230401-pages-articles1.xml-p1p41242.bz2``) and as *multistream*
files (``…-pages-articles-multistream.xml.bz2``): bz2 streams of 100 pages each, concatenated,
with an index (``…-multistream-index.txt.bz2``, lines ``offset:page_id:title``) giving the
byte offset of the stream that holds each page. Mirrors recompress them (``.gz``, ``.xz``).

This module turns any of these, or a byte range of a multistream file, into UTF-8 XML
chunks of bounded size (a decompression bomb never holds more than a chunk in memory), and
reads an index into stream offsets. Beam-free.
"""

from __future__ import annotations

import bz2
import codecs
import io
import lzma
import posixpath
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from filters.base import BadRecord

CHUNK = 1 << 20


class DumpError(BadRecord):
    """The dump cannot be read on: malformed XML, a DOCTYPE, an unknown encoding, a broken stream."""


class CompressedStreamError(DumpError):
    """The compressed bytes are broken or end early: nothing after this point can be read."""


_SNAPSHOT_RE = re.compile(r"^(.+?)-(\d{8}|latest)-pages-articles")
_INDEX_RE = re.compile(r"-index(\d*)\.txt")


def dump_snapshot(name: str) -> str:
    """The wiki and dump date a file name stands for, shared by the parts of one dump.

    ``enwiki-20230401-pages-articles1.xml-p1p41242.bz2`` → ``enwiki-20230401`` (every split
    part, multistream or not, of that snapshot); a name not in Wikimedia's pattern stands
    for itself without its extensions (``enwiki-pages-articles-sample.xml.bz2`` →
    ``enwiki-pages-articles-sample``). Two snapshots of one wiki thus never share a page's id.
    """
    base = posixpath.basename(name.replace("\\", "/"))
    match = _SNAPSHOT_RE.match(base)
    if match:
        return f"{match.group(1)}-{match.group(2)}"
    return base.split(".", 1)[0] or base


def is_index_file(name: str) -> bool:
    """A multistream index (``…-multistream-index.txt.bz2``, ``…-index1.txt-p1p41242.bz2``): not a dump."""
    base = posixpath.basename(name.replace("\\", "/")).lower()
    return "multistream" in base and bool(_INDEX_RE.search(base))


def dump_of_index(index_name: str) -> str:
    """The multistream dump an index describes: ``…-multistream-index1.txt-p1p41242.bz2`` →
    ``…-multistream1.xml-p1p41242.bz2`` (same folder)."""
    folder, base = posixpath.split(index_name.replace("\\", "/"))
    dump = _INDEX_RE.sub(lambda m: f"{m.group(1)}.xml", base, count=1)
    return posixpath.join(folder, dump) if folder else dump


def read_index_offsets(fileobj: BinaryIO) -> list[int]:
    """The distinct stream offsets of a multistream index, ascending.

    Each line is ``offset:page_id:title`` (the title may hold colons). Raises
    :class:`DumpError` naming the line for anything else.
    """
    offsets: set[int] = set()
    text = io.TextIOWrapper(_Decompressed(fileobj), encoding="utf-8", newline="\n")
    for number, line in enumerate(text, 1):
        head, sep, _ = line.partition(":")
        if not line.strip():
            continue
        if not sep or not head.isdigit():
            raise DumpError(f"multistream index line {number} is not offset:page_id:title: {line[:80]!r}")
        offsets.add(int(head))
    return sorted(offsets)


def stream_ranges(offsets: Iterable[int], target_bytes: int) -> list[tuple[int, int | None]]:
    """``offsets`` (stream starts) grouped into consecutive byte ranges of about ``target_bytes``.

    The first range starts at 0 (it holds the header stream), the last one runs to the end
    of the file (``None``, it holds the closing tag); every cut is at a stream start.
    """
    cuts = [0]
    for offset in sorted(set(offsets)):
        if offset - cuts[-1] >= target_bytes:
            cuts.append(offset)
    return [(start, end) for start, end in zip(cuts, [*cuts[1:], None])]


class _Decompressor:
    """One compression format's decoder of a run of concatenated streams, bounded output per call."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._new()

    def _new(self) -> None:
        self.fed = False
        self._pending = b""
        if self.kind == "bz2":
            self._dec: Any = bz2.BZ2Decompressor()
        elif self.kind == "xz":
            self._dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        else:
            self._dec = zlib.decompressobj(wbits=31)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decompressed bytes of ``data``, at most ``CHUNK`` at a time; a new stream starts
        where one ends (multistream bz2, concatenated gzip members, xz streams)."""
        gzip = self.kind == "gzip"
        while data:
            self.fed = True
            out = self._dec.decompress(data, CHUNK)
            data = self._dec.unconsumed_tail if gzip else b""
            if out:
                yield out
            while not gzip and not self._dec.eof and not self._dec.needs_input:
                out = self._dec.decompress(b"", CHUNK)
                if out:
                    yield out
            # zlib may hold output back when the chunk filled up with all input consumed.
            while gzip and not data and len(out) == CHUNK and not self._dec.eof:
                out = self._dec.decompress(b"", CHUNK)
                data = self._dec.unconsumed_tail
                if out:
                    yield out
            if self._dec.eof:
                data = self._dec.unused_data + data
                if self.kind == "xz":
                    data = data.lstrip(b"\x00")  # xz stream padding
                self._new()


def _compression_of(head: bytes) -> str:
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return ""


def decompressed_chunks(fileobj: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
    """The file's bytes (at most ``limit`` raw bytes of it), decompressed by magic number
    (bz2, gzip, xz or none), a bounded chunk at a time.

    Raises:
        CompressedStreamError: broken compressed data, or a stream cut short.
    """
    left = limit

    def read() -> bytes:
        nonlocal left
        size = CHUNK if left is None else min(CHUNK, left)
        data = fileobj.read(size) if size else b""
        if left is not None:
            left -= len(data)
        return data

    head = read()
    kind = _compression_of(head)
    if not kind:
        while head:
            yield head
            head = read()
        return
    decoder = _Decompressor(kind)
    data = head
    try:
        while data:
            yield from decoder.feed(data)
            data = read()
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
        raise CompressedStreamError(f"broken {kind} stream: {type(exc).__name__}: {exc}") from None
    if decoder.fed:
        raise CompressedStreamError("compressed stream ended early (truncated file)")


def first_stream(fileobj: BinaryIO, max_bytes: int) -> bytes:
    """The decompressed first bz2 stream of a multistream file (its header), at most ``max_bytes``."""
    fileobj.seek(0)
    decoder = bz2.BZ2Decompressor()
    out = bytearray()
    while not decoder.eof and len(out) <= max_bytes:
        data = fileobj.read(1 << 16)
        if not data:
            raise CompressedStreamError("the header stream of the multistream dump ends early")
        try:
            out += decoder.decompress(data, max_bytes + 1 - len(out))
            while not decoder.eof and not decoder.needs_input and len(out) <= max_bytes:
                out += decoder.decompress(b"", max_bytes + 1 - len(out))
        except (OSError, EOFError, ValueError) as exc:
            raise CompressedStreamError(f"broken bz2 header stream: {exc}") from None
    return bytes(out)


class _Decompressed(io.RawIOBase):
    """A file object over :func:`decompressed_chunks` (for reading an index line by line)."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._chunks = decompressed_chunks(fileobj)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            self._buffer = next(self._chunks, b"")
            if not self._buffer:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


_DECLARED_ENCODING_RE = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


def utf8_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """XML chunks re-encoded as UTF-8 (the parser is then told so, whatever the declaration).

    The encoding comes from the byte-order mark, the UTF-16 ``<?`` pattern, or the XML
    declaration; UTF-8 and ASCII pass through untouched.

    Raises:
        DumpError: an encoding Python does not know, or bytes that do not decode.
    """
    first = b""
    for chunk in chunks:
        first += chunk
        if len(first) >= 512:
            break
    if first.startswith(codecs.BOM_UTF8):
        encoding, first = "utf-8", first[len(codecs.BOM_UTF8):]
    elif first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif first.startswith(b"<\x00?\x00"):
        encoding = "utf-16-le"
    elif first.startswith(b"\x00<\x00?"):
        encoding = "utf-16-be"
    else:
        declared = _DECLARED_ENCODING_RE.match(first)
        encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        codec = codecs.lookup(encoding)
    except LookupError as exc:
        raise DumpError(f"undecodable dump encoding: {exc}") from None
    if codec.name in ("utf-8", "ascii"):
        yield first
        yield from chunks
        return
    decoder = codec.incrementaldecoder("strict")
    try:
        yield decoder.decode(first).encode("utf-8")
        for chunk in chunks:
            yield decoder.decode(chunk).encode("utf-8")
        yield decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise DumpError(f"undecodable dump encoding: {codec.name}: {exc.reason}") from None
