"""Forward-only framing of WARC files: where each record starts and ends, at bounded cost.

The reader never trusts a record's ``Content-Length`` to find the next record: it reads the
file front to back through these streams, each of which holds at most one record's worth of
bytes and enforces a limit:

* :class:`RawStream` — the file's bytes with absolute offsets. It only moves forward, except
  back to the start of the record being read (to rescan it for the next record boundary),
  which a seekable file does with ``seek`` and an unseekable one from bytes it kept.
* :class:`GzipMember` — one gzip member inflated on demand, in slices, with a cap on the
  inflated size (a gzip bomb costs the cap, not its size), ending exactly at the member end.
* :class:`Block` — a record block of the declared length, whose ``readline`` is bounded (the
  HTTP header lines warcio parses from it).

All line reads search only the bytes not searched yet, so a header without a line break
costs time linear in the limit, never quadratic in its size. Every limit or framing error
raises :class:`BadFraming` with a reason naming it; the reader quarantines the record and
resynchronises on the next record boundary (:func:`next_member`, :func:`next_warc_header`).
"""

from __future__ import annotations

import re
import zlib
from typing import BinaryIO

CHUNK = 1 << 20  # bytes read from the file (or inflated) at a time
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/"
# The first line of a WARC record: WARC/1.0, WARC/1.1 (and the 0.17/0.18 drafts).
WARC_VERSION_LINE = re.compile(rb"WARC/(?:1\.[01]|0\.1[78])\r?\n")
VERIFY_BYTES = 64 << 10  # compressed bytes inflated to check that a gzip member starts a record


class BadFraming(Exception):
    """A record whose bytes cannot be framed or break a limit; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Buffered:
    """A forward byte stream over a growing buffer; subclasses append bytes in ``_more``."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._at = 0  # read position in _buf
        self._base = 0  # stream offset of _buf[0]

    @property
    def pos(self) -> int:
        """Offset of the next byte to read, counted from the stream's start."""
        return self._base + self._at

    def _more(self) -> bool:
        """Appends more bytes to ``_buf``; False at the end of the stream."""
        raise NotImplementedError

    def _drop_before(self) -> int:
        """Offset before which buffered bytes may be freed (subclasses may keep more)."""
        return self.pos

    def _compact(self) -> None:
        drop = self._drop_before() - self._base
        # Freeing a prefix copies the rest: only do it when it halves the buffer (amortised linear).
        if drop > 0 and drop * 2 >= len(self._buf):
            del self._buf[:drop]
            self._at -= drop
            self._base += drop

    def _fill(self, n: int) -> int:
        """Buffers at least ``n`` bytes after the read position if the stream has them."""
        while len(self._buf) - self._at < n:
            self._compact()
            if not self._more():
                break
        return len(self._buf) - self._at

    def peek(self, n: int) -> bytes:
        self._fill(n)
        # One copy, straight out of the buffer (a bytearray slice would be a second one).
        with memoryview(self._buf) as view:
            return bytes(view[self._at:self._at + n])

    def skip(self, n: int) -> int:
        """Moves past up to ``n`` bytes without copying them; returns how many there were."""
        skipped = 0
        while skipped < n:
            available = self._fill(1)
            if not available:
                break
            step = min(available, n - skipped)
            self._at += step
            skipped += step
        return skipped

    def read(self, n: int | None = None) -> bytes:
        if n is None or n < 0:
            raise ValueError("unbounded read of a WARC stream")
        data = self.peek(n)
        self._at += len(data)
        return data

    def readline(self, limit: int) -> bytes:
        """Up to and including the next ``\\n``, or ``limit`` bytes, or what is left."""
        searched = self._at
        while True:
            end = self._buf.find(b"\n", searched, self._at + limit)
            if end >= 0:
                return self.read(end + 1 - self._at)
            available = len(self._buf) - self._at
            if available >= limit:
                return self.read(limit)
            searched = len(self._buf)
            before = self._at
            self._compact()
            searched -= before - self._at  # the buffer may have shifted
            if not self._more():
                return self.read(available)

    def skip_blank(self) -> bytes:
        """Consumes the CR/LF bytes at the read position (record separators); returns the first
        16 of them (so a caller can tell an exact ``CRLF CRLF``), however many there were."""
        skipped = b""
        total = 0
        while True:
            head = self.peek(CHUNK if total else 16)
            kept = head.lstrip(b"\r\n")
            count = len(head) - len(kept)
            if total < 16:
                skipped += head[:16 - total] if count > 16 - total else head[:count]
            total += count
            self._at += count
            if kept or not head:
                return skipped if total <= 16 else skipped + b"..."

    def at_end(self) -> bool:
        return not self.peek(1)


class RawStream(_Buffered):
    """The bytes of one file, read forward, with absolute offsets in ``pos``.

    ``keep(offset)`` marks the start of the record being read: ``rewind`` may go back to any
    offset after it (a seekable file seeks; an unseekable one keeps those bytes buffered, at
    most one record). Nothing before the mark is ever read again.
    """

    def __init__(self, fileobj: BinaryIO, start: int = 0) -> None:
        super().__init__()
        self._fh = fileobj
        self._seekable = _seekable(fileobj)
        self._base = start
        self._kept: int | None = None

    def _more(self) -> bool:
        chunk = self._fh.read(CHUNK)
        if not chunk:
            return False
        self._buf += chunk
        return True

    def _drop_before(self) -> int:
        if self._kept is None or self._seekable:
            return self.pos
        return min(self.pos, self._kept)

    def keep(self, offset: int | None) -> None:
        self._kept = offset

    def rewind(self, offset: int) -> None:
        """Moves the read position to ``offset`` (buffered, or by seeking the file)."""
        if self._base <= offset <= self._base + len(self._buf):
            self._at = offset - self._base
            return
        if not self._seekable:
            raise AssertionError(f"cannot go back to offset {offset} of an unseekable stream")
        self._fh.seek(offset)
        self._buf = bytearray()
        self._at = 0
        self._base = offset

    def find(self, magic: bytes, start: int) -> int | None:
        """Moves to the first occurrence of ``magic`` at or after offset ``start``; None at the end.

        Memory stays bounded whatever the distance: scanned bytes are freed as the scan goes.
        """
        self._kept = None
        self.rewind(start)
        while True:
            index = self._buf.find(magic, self._at)
            if index >= 0:
                self._at = index
                return self.pos
            self._at = max(self._at, len(self._buf) - len(magic) + 1)
            self._compact()
            if not self._more():
                self._at = len(self._buf)
                return None


class GzipMember(_Buffered):
    """The inflated bytes of the gzip member starting at ``raw.pos``.

    Inflates on demand, at most :data:`CHUNK` bytes at a time, and raises
    :class:`BadFraming` when the member inflates past ``cap`` bytes, is corrupt, or is cut
    off. At the member's end, ``raw`` is left exactly at the next member's first byte.
    ``pos`` counts inflated bytes since the member's start.
    """

    def __init__(self, raw: RawStream, cap: int, limit: str) -> None:
        super().__init__()
        self._raw = raw
        self._cap = cap
        self._limit = limit  # the setting the cap derives from, as quarantine records name it
        self._inflater = zlib.decompressobj(31)
        self._inflated = 0
        self._record_start = 0
        self._done = False

    def start_record(self) -> None:
        """The cap counts from here: a member holding a whole file has one cap per record."""
        self._record_start = self.pos

    def _more(self) -> bool:
        while not self._done:
            data = self._inflater.unconsumed_tail or self._raw.read(CHUNK)
            if not data:
                raise BadFraming(f"truncated record: the file ends inside this gzip member, bytes missing "
                                 f"after {self._inflated} inflated bytes")
            try:
                out = self._inflater.decompress(data, CHUNK)
            except zlib.error as exc:
                raise BadFraming(f"corrupt gzip member: {exc}") from exc
            if self._inflater.eof:
                self._done = True
                # What follows the member belongs to the next one: hand it back.
                self._raw.rewind(self._raw.pos - len(self._inflater.unused_data))
            self._inflated += len(out)
            if self._inflated - self._record_start > self._cap:
                raise BadFraming(f"record inflates past {self._limit} (stopped at {self._cap} bytes)")
            if out:
                self._buf += out
                return True
        return False


class Block:
    """The ``length`` bytes of one record block, read from ``stream``.

    ``readline`` (how warcio parses the HTTP status line and headers) returns at most
    ``max_line`` bytes per run of line reads, so a header without a line break costs the
    limit, not its size: past it, :class:`BadFraming` names ``limit_name``.
    """

    def __init__(self, stream: _Buffered, length: int, max_line: int, limit_name: str) -> None:
        self._stream = stream
        self.remaining = length
        self._max_line = max_line
        self._line_budget = max_line
        self._limit_name = limit_name

    def read(self, n: int | None = None) -> bytes:
        n = self.remaining if n is None or n < 0 else min(n, self.remaining)
        data = self._stream.read(n) if n else b""
        self.remaining -= len(data)
        self._line_budget = self._max_line
        return data

    def readline(self, n: int | None = None) -> bytes:
        wanted = self.remaining if n is None or n < 0 else min(n, self.remaining)
        if not wanted:
            return b""
        if self._line_budget <= 0:
            raise BadFraming(f"HTTP header block larger than {self._limit_name}={self._max_line}")
        allowed = min(wanted, self._line_budget)
        line = self._stream.readline(allowed)
        self.remaining -= len(line)
        self._line_budget -= len(line)
        if len(line) == allowed < wanted and not line.endswith(b"\n"):
            raise BadFraming(f"HTTP header block larger than {self._limit_name}={self._max_line}")
        return line

    def drain(self) -> int:
        """Moves past the rest of the block (an oversized payload is never copied out);
        returns how many declared bytes the stream lacked."""
        self.remaining -= self._stream.skip(self.remaining)
        self._line_budget = self._max_line
        return self.remaining

    def tell(self) -> int:  # warcio asks; never used for seeking
        return 0


class Chain:
    """``head`` (already-read WARC header bytes) followed by a :class:`Block`, for warcio."""

    def __init__(self, head: bytes, block: Block) -> None:
        self._head = head
        self._at = 0
        self._block = block

    def read(self, n: int | None = None) -> bytes:
        if self._at < len(self._head):
            end = len(self._head) if n is None or n < 0 else min(len(self._head), self._at + n)
            data, self._at = self._head[self._at:end], end
            return data
        return self._block.read(n)

    def readline(self, n: int | None = None) -> bytes:
        if self._at < len(self._head):
            end = self._head.find(b"\n", self._at)
            end = len(self._head) if end < 0 else end + 1
            if n is not None and n >= 0:
                end = min(end, self._at + n)
            data, self._at = self._head[self._at:end], end
            return data
        return self._block.readline(n)

    def tell(self) -> int:
        return 0


def next_member(raw: RawStream, start: int) -> int | None:
    """Moves to the first gzip member at or after ``start`` that inflates to a WARC record.

    The gzip magic also occurs by chance inside compressed data (about once per 16 MiB):
    a candidate counts only if its first inflated bytes are a WARC version line. Linear in
    the compressed bytes scanned; nothing is inflated beyond a few bytes per candidate.
    """
    position = start
    while True:
        found = raw.find(GZIP_MAGIC, position)
        if found is None:
            return None
        if _starts_warc_record(raw.peek(VERIFY_BYTES)):
            return found
        position = found + 1


def next_warc_header(raw: RawStream, start: int) -> int | None:
    """Moves to the first ``WARC/1.x`` version line at a line start at or after ``start``."""
    position = start
    while True:
        found = raw.find(b"\n" + WARC_MAGIC, position - 1)
        if found is None:
            return None
        raw.rewind(found + 1)
        if WARC_VERSION_LINE.match(raw.peek(16)):
            return found + 1
        position = found + 2


def _starts_warc_record(data: bytes) -> bool:
    try:
        head = zlib.decompressobj(31).decompress(data, 16)
    except zlib.error:
        return False
    return WARC_VERSION_LINE.match(head) is not None


def _seekable(fileobj: BinaryIO) -> bool:
    try:
        return bool(fileobj.seekable()) and fileobj.tell() >= 0
    except (AttributeError, OSError, ValueError):
        return False
