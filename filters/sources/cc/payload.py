"""What a WARC payload is and how it decodes: charset detection, binary sniffing and the
split of a WET page into title and text, pure.

Charset of HTML payloads, first that names a known codec wins: byte-order mark, the HTTP
``Content-Type`` charset, a ``<meta charset>`` / ``http-equiv`` declaration in the first
32 KiB, else UTF-8. Labels go through the WHATWG aliases that matter on the web
(gb2312 → gbk, iso-8859-1 → windows-1252, ...); decoding always uses ``errors="replace"``
so one bad byte never loses a page.
"""

from __future__ import annotations

import codecs
import re

HTML_TYPES = ("text/html", "application/xhtml+xml")
# Content types too generic to trust: the payload is sniffed instead.
SNIFF_TYPES = ("", "application/octet-stream", "unknown/unknown", "application/unknown", "text/plain")
META_SCAN_BYTES = 32 * 1024
SNIFF_BYTES = 1024

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
_BINARY_MAGIC = (
    b"%PDF-", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b\x08",
    b"BZh", b"7z\xbc\xaf\x27\x1c", b"\x00\x00\x01\x00", b"wOFF", b"wOF2", b"\x7fELF", b"OggS", b"fLaC", b"ID3",
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))


def declared_codec(content_type: str | None) -> str | None:
    """The codec named by the ``charset`` parameter of a Content-Type, if it names a known one."""
    match = _CHARSET_PARAM.search(content_type or "")
    return codec_for(match.group(1)) if match else None


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
    codec = declared_codec(content_type)
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


def wet_title_and_text(content: str) -> tuple[str, str]:
    """A WET page split as cc_net's ``process_wet_file.py`` splits it: ``(title, text)``.

    cc_net reads the WET file as text lines (universal newlines), strips each line, drops
    the blank ones, takes the first remaining line as the page title (CC writes the HTML
    ``<title>`` there) and joins the rest with ``\\n`` as the content: the title is not part
    of the text that line dedup, language id and perplexity see.
    """
    lines = content.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = [stripped for stripped in (line.strip() for line in lines) if stripped]
    if not kept:
        return "", ""
    return kept[0], "\n".join(kept[1:])
