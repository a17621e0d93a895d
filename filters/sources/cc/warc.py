"""Read WARC / WET files (Common Crawl and any ISO 28500 crawl) into Documents.

One pure reader, :class:`WarcReader` (``reader(path, fileobj)``), used by ``ReadSource``.
It handles gzip-per-record ``.warc.gz`` and plain ``.warc`` through warcio, and yields:

* a :class:`Document` for every HTML ``response`` (HTTP 200), every HTML ``resource`` and
  every WET ``conversion`` record. HTML documents carry the *decoded HTML* as text and
  ``meta["format"] = "html"``; the extractor turns it into main text later. WET text is kept
  as is, ``meta["format"] = "text"``, ``meta["kind"] = "wet"``;
* a :class:`Dropped` (stage ``read``) for input records that are pages but not usable, so
  that stats reconcile: ``revisit`` records, non-200 responses (``http_status``) and
  non-HTML payloads such as images, JS, CSS, PDFs, DNS records (``non_html``), including
  binary payloads mislabelled ``text/html`` (sniffed by magic number, ``meta["sniffed"]``);
* a :class:`QuarantineRecord` naming file + byte offset + error for a record that cannot be
  read (corrupt WARC or HTTP headers, corrupt payload, oversized payload). The reader then resyncs on the next
  record start (next gzip member, or next ``WARC/1.`` line in a plain file). A truncated
  gzip stream therefore ends the file with exactly one quarantine record.

``warcinfo``, ``request`` and ``metadata`` records (incl. WAT JSON) are not documents and
are skipped without a trace: they describe other records.

Charset detection and binary sniffing of payloads are in ``payload.py``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataException, DecompressingBufferedReader
from warcio.recordloader import ArchiveLoadFailed
from warcio.utils import BUFF_SIZE

from filters.base import BadRecord, Dropped, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.cc.payload import (
    HTML_TYPES,
    SNIFF_TYPES,
    declared_codec,
    decode_html,
    looks_binary,
    looks_like_html,
    media_type,
)
from mixtures.config import ExtractConfig

# Drop reasons (stage "read").
REVISIT = "revisit"
HTTP_STATUS = "http_status"
NON_HTML = "non_html"

DOCUMENT_TYPES = ("response", "resource", "conversion")
RESYNC_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_MAGIC = b"WARC/1."


class GzipMemberError(Exception):
    """A gzip member that started to decompress and then failed (corrupt or cut data)."""


# What reading one parsed record's payload raises on a broken record: ours (truncation,
# a corrupt gzip member), warcio's (bad chunked encoding, unparseable headers), a corrupt
# HTTP Content-Encoding stream, an unreadable status code. Anything else is a bug and fails
# the run. (Parsing the *next* record is warcio's alone; see read_warc.)
PAYLOAD_ERRORS: tuple[type[BaseException], ...] = (
    BadRecord, GzipMemberError, ChunkedDataException, ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error,
)


class _StrictDecompressingReader(DecompressingBufferedReader):
    """warcio's reader, except that a gzip member failing half-way raises.

    warcio writes the zlib error to stderr, returns no data and keeps feeding the broken
    decompressor, which silently swallows every later record of the file. Raising lets the
    reader quarantine the one record and resync on the next gzip member.
    """

    def _decompress(self, data: bytes) -> bytes:
        if self.decompressor is not None and data and self.num_block_read > 0:
            try:
                return self.decompressor.decompress(data)
            except zlib.error as exc:
                raise GzipMemberError(f"corrupt gzip member: {exc}") from exc
        return super()._decompress(data)


class _StrictArchiveIterator(ArchiveIterator):
    def __init__(self, fileobj: BinaryIO) -> None:
        super().__init__(fileobj)
        self.reader = _StrictDecompressingReader(self.fh, block_size=BUFF_SIZE)


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
        cfg: extraction config; ``max_html_bytes`` bounds the payload read per record.
    """

    def __init__(self, source: str, cfg: ExtractConfig | None = None) -> None:
        self.source = source
        self.cfg = cfg or ExtractConfig()

    def __call__(self, path: str, fileobj: BinaryIO) -> Iterator[Document | Dropped | QuarantineRecord]:
        return read_warc(path, fileobj, self.cfg, self.source)


def read_warc(path: str, fileobj: BinaryIO, cfg: ExtractConfig | None = None,
              source: str = "cc") -> Iterator[Document | Dropped | QuarantineRecord]:
    """Yields the documents, drops and quarantine records of one WARC/WET file.

    Args:
        path: the file's path (only its basename goes into ids and meta).
        fileobj: the raw (still compressed) bytes, opened in binary mode.
        cfg: extraction config (``max_html_bytes``).
        source: source name for ids and ``Document.source``.
    """
    cfg = cfg or ExtractConfig()
    basename = os.path.basename(path)
    seekable = _seekable(fileobj)
    start = fileobj.tell() if seekable else 0
    gzipped = _is_gzip(fileobj) if seekable else False
    quarantined: set[int] = set()  # offsets already reported
    emitted: set[int] = set()  # offsets of records read in full
    position = start
    while True:
        iterator = _StrictArchiveIterator(fileobj)
        failed_at: int | None = None
        while True:
            try:
                record = next(iterator)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - only warcio's parser runs here, and on garbage
                # it raises whatever its code trips on (ArchiveLoadFailed, ValueError, even an
                # AttributeError for a response without target URI): all of it is the file's fault.
                # warcio's offset is the failing record's start, or the previous record's
                # when finishing that one failed (then it was quarantined already).
                failed_at = iterator.offset
                if failed_at not in quarantined:
                    quarantined.add(failed_at)
                    # Failing to finish a record already yielded means the bytes after it are bad.
                    where = f"after {failed_at}" if failed_at in emitted else str(failed_at)
                    yield QuarantineRecord(source, basename, where, "read",
                                           f"unreadable WARC record: {type(exc).__name__}: {exc}"[:2000])
                break
            offset = iterator.offset  # start of the record just parsed (see warcio read_to_end)
            if record.format == "arc":
                # warcio falls back to the legacy ARC format for any line that is no WARC
                # header, so plain text would become bogus "records". We read WARC/WET only:
                # the rest of the file is skipped up to the next WARC record, if any.
                failed_at = offset
                quarantined.add(offset)
                fields = " ".join(str(v) for _, v in record.rec_headers.headers)
                yield QuarantineRecord(source, basename, str(offset), "read",
                                       f"not a WARC record (legacy ARC format or no web archive): {fields[:100]!r}")
                break
            try:
                yield from _record_items(record, source, basename, offset, cfg)
                emitted.add(offset)
            except PAYLOAD_ERRORS as exc:  # a bad payload costs this record only
                quarantined.add(offset)
                yield QuarantineRecord(source, basename, str(offset), "read",
                                       f"unreadable WARC payload: {type(exc).__name__}: {exc}"[:2000])
        if not seekable:
            return  # cannot resync a stream: the one quarantine record above ends the file
        position = _next_record_start(fileobj, max(failed_at, position) + 1, gzipped)
        if position is None:
            return
        fileobj.seek(position)


def _record_items(record: Any, source: str, basename: str, offset: int,
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
        "file": basename,
        "record": offset,
        "warc_record_id": headers.get_header("WARC-Record-ID") or "",
        "warc_type": rec_type,
    }
    doc_id = stable_id(source, basename, offset)
    warc_content_type = headers.get_header("Content-Type") or ""
    has_http = http is not None and http.protocol.upper().startswith("HTTP") and rec_type in ("response", "revisit")
    content_type = (http.get_header("Content-Type") or "") if has_http else warc_content_type
    meta["content_type"] = content_type
    if rec_type == "response" and http is not None and not has_http:
        # warcio parsed the block as HTTP (an http(s) target) but found no HTTP status line:
        # the headers are garbage, so neither the status nor the content type can be trusted.
        status_line = f"{http.protocol} {http.statusline}".strip()
        yield QuarantineRecord(source, basename, str(offset), "read",
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
            yield _oversized(source, basename, offset, cfg)
            return
        codec = declared_codec(content_type) or "utf-8"
        language = headers.get_header("WARC-Identified-Content-Language")
        meta.update({"charset": codec, "format": "text", "kind": "wet"})
        if language:
            meta["cc_language"] = language
        yield Document(doc_id, payload.decode(codec, errors="replace"), source, meta)
        return
    kind = media_type(content_type)
    if kind not in HTML_TYPES and kind not in SNIFF_TYPES:
        yield Dropped(Document(doc_id, "", source, meta), NON_HTML)
        return
    payload = _read_bounded(record, cfg.max_html_bytes)
    if payload is None:
        yield _oversized(source, basename, offset, cfg)
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
    """The decoded payload, or None when it is larger than ``limit`` bytes.

    Raises:
        BadRecord: the record ends before its ``Content-Length`` (a truncated file); warcio
            would otherwise hand back the partial payload without a word.
    """
    payload = record.content_stream().read(limit + 1)
    _check_complete(record)
    return None if len(payload) > limit else payload


def _check_complete(record: Any) -> None:
    raw = record.raw_stream
    while raw.read(RESYNC_CHUNK):
        pass
    missing = getattr(raw, "limit", 0)
    if missing > 0:
        declared = record.rec_headers.get_header("Content-Length")
        raise BadRecord(f"truncated record: {missing} of {declared} bytes missing")


def _oversized(source: str, basename: str, offset: int, cfg: ExtractConfig) -> QuarantineRecord:
    return QuarantineRecord(source, basename, str(offset), "read",
                            f"payload larger than extract.max_html_bytes={cfg.max_html_bytes}")


def _seekable(fileobj: BinaryIO) -> bool:
    try:
        return bool(fileobj.seekable()) and fileobj.tell() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _is_gzip(fileobj: BinaryIO) -> bool:
    position = fileobj.tell()
    magic = fileobj.read(2)
    fileobj.seek(position)
    return magic == _GZIP_MAGIC[:2]


def _next_record_start(fileobj: BinaryIO, position: int, gzipped: bool) -> int | None:
    """The offset of the next plausible record start at or after ``position``, if any.

    A false candidate (the gzip magic occurring inside compressed data, about once per 16 MiB)
    fails to parse; it is reported like any unreadable record and the scan goes on after it.
    """
    magic = _GZIP_MAGIC if gzipped else b"\n" + _WARC_MAGIC
    fileobj.seek(position)
    carry = b""
    base = position
    while True:
        chunk = fileobj.read(RESYNC_CHUNK)
        if not chunk:
            return None
        data = carry + chunk
        index = data.find(magic)
        if index >= 0:
            found = base - len(carry) + index
            return found if gzipped else found + 1
        carry = data[-(len(magic) - 1):]
        base += len(chunk)
