"""Read WARC / WET files (Common Crawl and any ISO 28500 crawl) into Documents.

One pure reader, :class:`WarcReader` (``reader.read_input(item, fileobj)``, or
``reader(path, fileobj)``), used by ``ReadSource``. It reads per-record gzip ``.warc.gz`` (as
Common Crawl publishes) and plain ``.warc`` front to back, and yields:

* a :class:`Document` for every HTML ``response`` (HTTP 200), every HTML ``resource`` and
  every WET ``conversion`` record. HTML documents carry the *decoded HTML* as text and
  ``meta["format"] = "html"``; the extractor turns it into main text later. A WET record is
  split as cc_net's ``process_wet_file.py`` splits it: lines stripped, blank lines dropped,
  the first line is the page title (``meta["title"]``), the rest is the text;
  ``meta["format"] = "text"``, ``meta["kind"] = "wet"``;
* a :class:`Dropped` (stage ``read``) for input records that are pages but not usable, so
  that stats reconcile: ``revisit`` records, non-200 responses (``http_status``) and
  non-HTML payloads such as images, JS, CSS, PDFs, DNS records (``non_html``), including
  binary payloads mislabelled ``text/html`` (sniffed by magic number, ``meta["sniffed"]``);
* a :class:`QuarantineRecord` naming file + byte offset + reason for a record that cannot be
  read: corrupt or cut gzip member, unparseable WARC or HTTP headers, a ``Content-Length``
  that is not a number or does not match where the record ends, a record or header block
  over its limit (``extract.max_record_bytes``, ``extract.max_header_bytes``, named in the
  reason), an oversized payload. The reader then moves *forward* to the next record
  boundary (the next gzip member that starts a WARC record, or the next ``WARC/1.x`` line of
  a plain file) and says in the reason how many bytes it skipped. Framing lives in
  ``framing.py``: a record's ``Content-Length`` is checked against the bytes that follow it
  (its gzip member's end, or the next record's header), never trusted to find the next one.

Every good record comes out exactly once, in file order; each record costs at most its
limits in time and memory (one record, capped, is held at a time). Ids and ``meta["file"]``
use the input's ``name`` (its path relative to the input root, or its URL) plus the record's
byte offset, so they are stable across runs and worker counts.

``warcinfo``, ``request`` and ``metadata`` records (incl. WAT JSON) are not documents and
are skipped without a trace: they describe other records.

Charset detection and binary sniffing of payloads are in ``payload.py``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from warcio.bufferedreaders import ChunkedDataException
from warcio.recordloader import ArchiveLoadFailed, ArcWarcRecordLoader

from filters.base import BadRecord, Dropped, InputFile, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.cc.framing import (
    CHUNK,
    WARC_VERSION_LINE,
    BadFraming,
    Block,
    Chain,
    GzipMember,
    RawStream,
    next_member,
    next_warc_header,
)
from filters.sources.cc.payload import (
    HTML_TYPES,
    SNIFF_TYPES,
    declared_codec,
    decode_html,
    looks_binary,
    looks_like_html,
    media_type,
    wet_title_and_text,
)
from mixtures.config import ExtractConfig

# Drop reasons (stage "read").
REVISIT = "revisit"
HTTP_STATUS = "http_status"
NON_HTML = "non_html"

DOCUMENT_TYPES = ("response", "resource", "conversion")

# What decoding one well-framed record's payload raises on bad content: bad chunked
# encoding, a corrupt HTTP Content-Encoding stream, an unreadable status code. It costs
# that record only; the framing (where the next record starts) is unaffected.
PAYLOAD_ERRORS: tuple[type[BaseException], ...] = (
    BadRecord, ChunkedDataException, ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error,
)
# HTTP headers unverified, as warcio's ArchiveIterator reads them: a garbage status line
# is reported by _record_items as such, with the line.
_LOADER = ArcWarcRecordLoader(verify_http=False)


def clean_url(url: str | None) -> str:
    """The target URI without the ``<...>`` brackets some WARC/1.0 writers (wget) add."""
    url = (url or "").strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1].strip()
    return url


class WarcReader:
    """Reads one WARC/WET file; picklable (holds only config), so Beam can ship it.

    Args:
        source: the source name: prefix of document ids and ``Document.source``.
        cfg: extraction config: ``max_html_bytes`` bounds the payload read per record,
            ``max_record_bytes`` / ``max_header_bytes`` bound each record's framing.
    """

    def __init__(self, source: str, cfg: ExtractConfig | None = None) -> None:
        self.source = source
        self.cfg = cfg or ExtractConfig()

    def __call__(self, path: str, fileobj: BinaryIO) -> Iterator[Document | Dropped | QuarantineRecord]:
        return read_warc(path, fileobj, self.cfg, self.source)

    def read_input(self, item: InputFile, fileobj: BinaryIO) -> Iterator[Document | Dropped | QuarantineRecord]:
        """Reads ``item`` (records starting in its byte range), naming it by ``item.name``."""
        return read_warc(item.path, fileobj, self.cfg, self.source, name=item.name or None,
                         start=item.start, end=item.end)


def read_warc(path: str, fileobj: BinaryIO, cfg: ExtractConfig | None = None, source: str = "cc",
              name: str | None = None, start: int = 0,
              end: int | None = None) -> Iterator[Document | Dropped | QuarantineRecord]:
    """Yields the documents, drops and quarantine records of one WARC/WET file.

    Args:
        path: the file's path or URL (its basename names it when ``name`` is not given).
        fileobj: the raw (still compressed) bytes, opened in binary mode, seekable or not.
        cfg: extraction config (``max_html_bytes``, ``max_record_bytes``, ``max_header_bytes``).
        source: source name for ids and ``Document.source``.
        name: what ids and ``meta["file"]`` are built from (the path relative to the input
            root, or the URL).
        start, end: read the records starting in this byte range of the file (``end`` None:
            to the end); offsets in ids stay offsets in the whole file.
    """
    cfg = cfg or ExtractConfig()
    name = name or os.path.basename(path)
    if start:
        _skip_to(fileobj, start)
    raw = RawStream(fileobj, start)
    reader = _FileReader(raw, cfg, source, name, end)
    if raw.peek(2) == b"\x1f\x8b":
        yield from reader.gzip_members()
    else:
        yield from reader.plain_records()


class _FileReader:
    """The record loop over one file: frame, read, and on bad framing quarantine and resync."""

    def __init__(self, raw: RawStream, cfg: ExtractConfig, source: str, name: str, end: int | None) -> None:
        self.raw = raw
        self.cfg = cfg
        self.source = source
        self.name = name
        self.end = end

    def _done(self) -> bool:
        return self.raw.at_end() or (self.end is not None and self.raw.pos >= self.end)

    def gzip_members(self) -> Iterator[Document | Dropped | QuarantineRecord]:
        """Per-record gzip: each member holds one record (a whole-file member holds many)."""
        raw, cfg = self.raw, self.cfg
        # The inflate cap: the largest record allowed, its two header blocks, one slice of lookahead.
        cap = cfg.max_record_bytes + 2 * cfg.max_header_bytes + CHUNK
        limit = f"extract.max_record_bytes={cfg.max_record_bytes}"
        while not self._done():
            member_start = raw.pos
            raw.keep(member_start)
            member = GzipMember(raw, cap, limit)
            location: int | str = member_start
            records = 0
            try:
                while True:
                    member.skip_blank()
                    if member.at_end():
                        break
                    if records:  # a further record in the same member (a whole file gzipped as one):
                        location = f"{member_start}+{member.pos}"  # + its offset in the inflated member
                    member.start_record()
                    items = self._record(member, location, in_member=True)
                    records += 1
                    yield from items
            except BadFraming as bad:
                record, found = self._resync(location, member_start, bad.reason, next_member)
                yield record
                if not found:
                    return

    def plain_records(self) -> Iterator[Document | Dropped | QuarantineRecord]:
        """An uncompressed file: records one after another, separated by blank lines."""
        raw = self.raw
        while True:
            raw.skip_blank()
            if self._done():
                return
            start = raw.pos
            raw.keep(start)
            try:
                items = self._record(raw, start, in_member=False)
            except BadFraming as bad:
                record, found = self._resync(start, start, bad.reason, next_warc_header)
                yield record
                if not found:
                    return
                continue
            yield from items

    def _resync(self, location: int | str, start: int, reason: str,
                find: Any) -> tuple[QuarantineRecord, bool]:
        """The quarantine record for a bad record at ``start``, after moving to the next record.

        Only ever forward: the scan starts one byte after the bad record's start.
        """
        found = find(self.raw, start + 1)
        if found is None:
            detail = f"; no record after it ({self.raw.pos - start} bytes to the end skipped)"
        else:
            detail = f"; resumed at the next record, offset {found} ({found - start} bytes skipped)"
        record = QuarantineRecord(self.source, self.name, str(location), "read", (reason + detail)[:2000])
        return record, found is not None

    def _record(self, stream: Any, location: int | str,
                in_member: bool) -> list[Document | Dropped | QuarantineRecord]:
        """What the record at the read position of ``stream`` contributes, once it is known to
        end where it says (so nothing is yielded for a record that turns out to be misframed).

        Raises:
            BadFraming: the record cannot be framed or breaks a limit (the caller resyncs).
        """
        cfg = self.cfg
        head = _read_head(stream, cfg.max_header_bytes)
        length = _content_length(head, cfg.max_record_bytes)
        block = Block(stream, length, cfg.max_header_bytes, "extract.max_header_bytes")
        try:
            record = _LOADER.parse_record_stream(Chain(head, block), known_format="warc")
        except BadFraming:
            raise
        except Exception as exc:  # noqa: BLE001 - warcio's header parser on garbage raises whatever
            # its code trips on (StatusAndHeadersParserException, ValueError, AttributeError...):
            # all of it is this record's fault, and its framing is already known.
            items: list[Any] = [self._quarantine(location, f"unreadable WARC record: {type(exc).__name__}: {exc}")]
        else:
            try:
                items = list(_record_items(record, self.source, self.name, location, cfg))
            except BadFraming:
                raise
            except PAYLOAD_ERRORS as exc:  # a bad payload costs this record only
                items = [self._quarantine(location, f"unreadable WARC payload: {type(exc).__name__}: {exc}")]
        missing = block.drain()
        if missing:
            raise BadFraming(f"truncated record: {missing} of {length} bytes missing")
        _check_record_end(stream, length, in_member)
        return items

    def _quarantine(self, location: int | str, error: str) -> QuarantineRecord:
        return QuarantineRecord(self.source, self.name, str(location), "read", error[:2000])


def _read_head(stream: Any, limit: int) -> bytes:
    """The WARC version line and header lines up to the blank line, at most ``limit`` bytes."""
    first = stream.readline(16)
    if not WARC_VERSION_LINE.match(first):
        start = (first + stream.peek(100 - len(first))).decode("utf-8", "replace")
        raise BadFraming(f"not a WARC record (legacy ARC format or no web archive): starts with {start!r}")
    head = bytearray(first)
    while True:
        budget = limit - len(head)
        line = stream.readline(budget) if budget > 0 else b""
        head += line
        if line in (b"\r\n", b"\n"):
            return bytes(head)
        if not line.endswith(b"\n"):
            if budget <= 0 or len(line) == budget:
                raise BadFraming(f"WARC header block larger than extract.max_header_bytes={limit}")
            raise BadFraming("truncated record: the file ends inside the WARC headers")


def _content_length(head: bytes, limit: int) -> int:
    """The record's declared block length: a decimal number, at most ``limit``."""
    for line in head.split(b"\n")[1:]:
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise BadFraming(f"invalid Content-Length {value[:40].decode('latin-1')!r}")
            length = int(value)
            if length > limit:
                raise BadFraming(f"Content-Length {length} larger than extract.max_record_bytes={limit}")
            return length
    raise BadFraming("no Content-Length in the WARC headers")


def _check_record_end(stream: Any, length: int, in_member: bool) -> None:
    """Raises BadFraming unless the record's block ends where the next record (or the end) begins.

    A block is followed by CRLF CRLF, then the next record's version line or the end of its
    gzip member / file. In a plain file, an exact CRLF CRLF is enough (garbage after it is the
    next record's fault and is reported at its own offset); inside a gzip member, the member
    boundary is known, so anything else before it means the declared length was wrong.
    """
    separator = stream.skip_blank()
    if stream.at_end() or WARC_VERSION_LINE.match(stream.peek(16)):
        return
    if separator == b"\r\n\r\n" and not in_member:
        return
    where = "its gzip member" if in_member else "the record"
    raise BadFraming(f"Content-Length {length} does not match the end of {where}: "
                     f"followed by {stream.peek(24)!r}")


def _skip_to(fileobj: BinaryIO, offset: int) -> None:
    try:
        fileobj.seek(offset)
        return
    except (AttributeError, OSError, ValueError):
        pass
    left = offset
    while left:
        chunk = fileobj.read(min(left, CHUNK))
        if not chunk:
            return
        left -= len(chunk)


def _record_items(record: Any, source: str, name: str, location: int | str,
                  cfg: ExtractConfig) -> Iterator[Document | Dropped | QuarantineRecord]:
    """What one parsed record contributes: nothing, a Document, a Dropped or a quarantine."""
    rec_type = record.rec_type
    if rec_type not in DOCUMENT_TYPES and rec_type != "revisit":
        return
    headers = record.rec_headers
    http = record.http_headers
    meta: dict[str, Any] = {
        "url": clean_url(headers.get_header("WARC-Target-URI")),
        "date": headers.get_header("WARC-Date") or "",
        "digest": headers.get_header("WARC-Payload-Digest") or headers.get_header("WARC-Block-Digest") or "",
        "file": name,
        "record": location,
        "warc_record_id": headers.get_header("WARC-Record-ID") or "",
        "warc_type": rec_type,
    }
    doc_id = stable_id(source, name, location)
    warc_content_type = headers.get_header("Content-Type") or ""
    has_http = http is not None and http.protocol.upper().startswith("HTTP") and rec_type in ("response", "revisit")
    content_type = (http.get_header("Content-Type") or "") if has_http else warc_content_type
    meta["content_type"] = content_type
    if rec_type == "response" and http is not None and not has_http:
        # warcio parsed the block as HTTP (an http(s) target) but found no HTTP status line:
        # the headers are garbage, so neither the status nor the content type can be trusted.
        status_line = f"{http.protocol} {http.statusline}".strip()
        yield QuarantineRecord(source, name, str(location), "read",
                               f"unparseable HTTP response headers: status line {status_line[:100]!r}")
        return
    if rec_type == "revisit":
        yield Dropped(Document(doc_id, "", source, meta), REVISIT)
        return
    if has_http:
        status = http.get_statuscode()
        meta["http_status"] = int(status) if status and status.isdigit() else status
        if status != "200":
            yield Dropped(Document(doc_id, "", source, meta), HTTP_STATUS)
            return
    if rec_type == "conversion":
        payload = _read_bounded(record, cfg.max_html_bytes)
        if payload is None:
            yield _oversized(source, name, location, cfg)
            return
        codec = declared_codec(content_type) or "utf-8"
        language = headers.get_header("WARC-Identified-Content-Language")
        title, text = wet_title_and_text(payload.decode(codec, errors="replace"))
        meta.update({"charset": codec, "format": "text", "kind": "wet", "title": title})
        if language:
            meta["cc_language"] = language
        yield Document(doc_id, text, source, meta)
        return
    kind = media_type(content_type)
    if kind not in HTML_TYPES and kind not in SNIFF_TYPES:
        yield Dropped(Document(doc_id, "", source, meta), NON_HTML)
        return
    payload = _read_bounded(record, cfg.max_html_bytes)
    if payload is None:
        yield _oversized(source, name, location, cfg)
        return
    if looks_binary(payload):
        meta["sniffed"] = "binary"
        yield Dropped(Document(doc_id, "", source, meta), NON_HTML)
        return
    if kind not in HTML_TYPES and not looks_like_html(payload):
        yield Dropped(Document(doc_id, "", source, meta), NON_HTML)
        return
    text, codec, origin = decode_html(payload, content_type)
    meta.update({"charset": codec, "charset_origin": origin, "format": "html", "kind": "warc"})
    yield Document(doc_id, text, source, meta)


def _read_bounded(record: Any, limit: int) -> bytes | None:
    """The decoded payload, or None when it is larger than ``limit`` bytes (only ``limit`` + 1
    bytes are ever decoded; the framing reads past the rest and checks the record is whole)."""
    payload = record.content_stream().read(limit + 1)
    return None if len(payload) > limit else payload


def _oversized(source: str, name: str, location: int | str, cfg: ExtractConfig) -> QuarantineRecord:
    return QuarantineRecord(source, name, str(location), "read",
                            f"payload larger than extract.max_html_bytes={cfg.max_html_bytes}")
