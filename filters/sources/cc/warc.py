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

Charset of HTML payloads, first that names a known codec wins: byte-order mark, the HTTP
``Content-Type`` charset, a ``<meta charset>`` / ``http-equiv`` declaration in the first
32 KiB, else UTF-8. Labels go through the WHATWG aliases that matter on the web
(gb2312 → gbk, iso-8859-1 → windows-1252, ...); decoding always uses ``errors="replace"``
so one bad byte never loses a page.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.utils import BUFF_SIZE

from filters.base import BadRecord, Dropped, QuarantineRecord
from filters.document import Document, stable_id
from mixtures.config import ExtractConfig

# Drop reasons (stage "read").
REVISIT = "revisit"
HTTP_STATUS = "http_status"
NON_HTML = "non_html"

DOCUMENT_TYPES = ("response", "resource", "conversion")
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Content types too generic to trust: the payload is sniffed instead.
SNIFF_TYPES = ("", "application/octet-stream", "unknown/unknown", "application/unknown", "text/plain")
META_SCAN_BYTES = 32 * 1024
SNIFF_BYTES = 1024
RESYNC_CHUNK = 1 << 20

# WHATWG Encoding Standard: labels browsers decode with a superset codec. Without this,
# "gb2312" pages that use GBK characters (most of them) would be full of U+FFFD.
WHATWG_ALIASES = {
    "gb2312": "gbk", "gb_2312": "gbk", "gb_2312-80": "gbk", "chinese": "gbk", "csgb2312": "gbk",
    "x-gbk": "gbk", "iso-ir-58": "gbk",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "iso_8859-1": "cp1252", "latin1": "cp1252",
    "l1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252", "ansi_x3.4-1968": "cp1252",
    "iso-8859-9": "cp1254", "latin5": "cp1254",
    "iso-8859-11": "cp874", "tis-620": "cp874",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "windows-31j": "cp932",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "big5": "big5hkscs",
    "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
}

_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_GZIP_MAGIC = b"\x1f\x8b\x08"
_BINARY_MAGIC = (
    b"%PDF-", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b\x08",
    b"BZh", b"7z\xbc\xaf\x27\x1c", b"\x00\x00\x01\x00", b"wOFF", b"wOF2", b"\x7fELF", b"OggS", b"fLaC", b"ID3",
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))
_WARC_MAGIC = b"WARC/1."


class GzipMemberError(Exception):
    """A gzip member that started to decompress and then failed (corrupt or cut data)."""


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
            except Exception as exc:  # noqa: BLE001 - zlib.error and friends
                raise GzipMemberError(f"corrupt gzip member: {exc}") from exc
        return super()._decompress(data)


class _StrictArchiveIterator(ArchiveIterator):
    def __init__(self, fileobj: BinaryIO) -> None:
        super().__init__(fileobj)
        self.reader = _StrictDecompressingReader(self.fh, block_size=BUFF_SIZE)


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, or None when the label names no known codec."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = WHATWG_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # utf-7 / utf-16 declared in <meta> are lies in practice (the meta itself was ASCII).
    return None if name in ("utf-7", "utf-16", "utf-32") else name


def decode_html(payload: bytes, content_type: str) -> tuple[str, str, str]:
    """Decodes an HTML payload.

    Args:
        payload: the raw bytes (HTTP transfer/content encodings already removed).
        content_type: the HTTP (or WARC) Content-Type header value, possibly empty.

    Returns:
        ``(text, codec, origin)`` where ``origin`` is ``bom``, ``http``, ``meta`` or ``default``.
    """
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            return payload[len(bom):].decode(codec, errors="replace"), codec, "bom"
    match = _CHARSET_PARAM.search(content_type or "")
    codec = codec_for(match.group(1)) if match else None
    origin = "http"
    if codec is None:
        meta = _META_CHARSET.search(payload, 0, META_SCAN_BYTES)
        codec = codec_for(meta.group(1).decode("ascii", "replace")) if meta else None
        origin = "meta"
    if codec is None:
        codec, origin = "utf-8", "default"
    return payload.decode(codec, errors="replace"), codec, origin


def media_type(content_type: str | None) -> str:
    """``"Text/HTML; charset=x"`` → ``"text/html"``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def looks_like_html(payload: bytes) -> bool:
    """True when the first bytes look like an HTML document (for untyped payloads)."""
    head = payload[:SNIFF_BYTES].lstrip().lower()
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):].lstrip()
    if head.startswith((b"<!doctype html", b"<html")):
        return True
    return head.startswith(b"<") and any(tag in head for tag in (b"<html", b"<head", b"<body"))


def looks_binary(payload: bytes) -> bool:
    """True when the payload is a binary format (PDF, image, archive, font...), whatever its label.

    Servers send PDFs and images as ``text/html`` often enough that the label alone would
    turn them into pages of mojibake. A known magic number decides; otherwise more than 10%
    control bytes in the first KiB (NUL and friends; tab, CR, LF, FF, ESC are text) does.
    UTF-16 with a byte-order mark is text, whatever its NULs.
    """
    head = payload[:SNIFF_BYTES]
    if head.startswith(_BINARY_MAGIC) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return True
    if not head or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    control = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return control / len(head) > 0.10


def clean_url(url: str | None) -> str:
    """The target URI without the ``<...>`` brackets some WARC/1.0 writers (wget) add."""
    url = (url or "").strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1].strip()
    return url


class WarcReader:
    """Reads one WARC/WET file; picklable (holds only config), so Beam can ship it.

    Args:
        cfg: extraction config; ``max_html_bytes`` bounds the payload read per record.
        source: the source name: prefix of document ids and ``Document.source``.
    """

    def __init__(self, cfg: ExtractConfig | None = None, source: str = "cc") -> None:
        self.cfg = cfg or ExtractConfig()
        self.source = source

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
            except Exception as exc:  # noqa: BLE001 - warcio raises many types on corrupt data
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
            except Exception as exc:  # noqa: BLE001 - a bad payload costs this record only
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
        charset_match = _CHARSET_PARAM.search(content_type)
        codec = codec_for(charset_match.group(1)) if charset_match else None
        codec = codec or "utf-8"
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
