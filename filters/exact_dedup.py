"""Keys for exact deduplication (Beam-free); ``stages.dedup.DedupExact`` groups by them.

A key function maps a document to a string, or to ``None`` when the document has nothing to
dedup on (a page without URL); such documents are always kept. Within one key the keeper is
the document with the smallest stable id, so the choice never depends on run order.

- :func:`content_key`: sha1 of the document text (document-level exact dedup).
- :func:`url_key`: the page URL normalised as TFDS C4 does (``c4_utils._normalize_url``):
  scheme and ``www.`` stripped, everything from ``?utm_`` / ``?ref`` / ``?feed`` on dropped,
  trailing ``/`` removed. We also lower-case the host and drop the ``#fragment``, which never
  reaches the server.
- :func:`file_content_key`: for source files (GitHub): sha1 of the content with line endings
  unified, so a CRLF checkout and an LF checkout of one file are one file. RedPajama uses md5
  of the raw content; sha1 has no known accidental collisions either and matches the rest.
"""

from __future__ import annotations

import hashlib
import re

from filters.document import Document

REASON_EXACT_DUPLICATE = "exact_duplicate"
REASON_DUPLICATE_URL = "duplicate_url"
REASON_DUPLICATE_FILE = "duplicate_file"

_SCHEME_WWW_RE = re.compile(r"^https?://(www\.)?", re.IGNORECASE)
# TFDS: re.sub(r"\?(utm_|ref|feed).*", "", url)
_TRACKING_QUERY_RE = re.compile(r"\?(utm_|ref|feed).*")


def sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def content_key(doc: Document) -> str:
    """sha1 of the exact text: two documents with the same key are byte-identical text."""
    return sha1_hex(doc.text)


def file_content_key(doc: Document) -> str:
    """sha1 of a source file's content with CRLF/CR line ends turned into LF."""
    return sha1_hex(doc.text.replace("\r\n", "\n").replace("\r", "\n"))


def normalize_url(url: str) -> str:
    """TFDS C4's URL key: ``https://www.Example.org/a/?utm_source=x`` → ``example.org/a``.

    Args:
        url: An absolute URL as found in the WARC header.

    Returns:
        The normalised URL (may be empty for an empty input).
    """
    url = url.strip()
    if url.startswith("<") and url.endswith(">"):  # WARC 1.0 writers that bracket the URI
        url = url[1:-1]
    url = url.split("#", 1)[0]
    url = _SCHEME_WWW_RE.sub("", url)
    url = _TRACKING_QUERY_RE.sub("", url)
    url = url.rstrip("/")
    host, sep, rest = url.partition("/")
    return host.lower() + sep + rest


def url_key(doc: Document) -> str | None:
    """The normalised ``meta["url"]``; ``None`` (never deduplicated) when there is none."""
    url = doc.meta.get("url")
    if not url:
        return None
    key = normalize_url(str(url))
    return key or None
