"""Take real Common Crawl-style WARC files apart and put damaged copies back together.

Every record of a ``.warc.gz`` is its own gzip member, so a record can be edited (payload,
HTTP headers) or its compressed bytes garbled without touching its neighbours.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Member:
    """One gzip member: its raw (uncompressed) WARC record and its compressed bytes."""

    raw: bytes
    packed: bytes

    @property
    def warc_type(self) -> str:
        match = re.search(rb"\r\nWARC-Type: *([^\r]*)", self.head)
        return match.group(1).decode() if match else ""

    @property
    def record_id(self) -> str:
        match = re.search(rb"\r\nWARC-Record-ID: *([^\r]*)", self.head)
        return match.group(1).decode() if match else ""

    @property
    def head(self) -> bytes:
        return self.raw.partition(b"\r\n\r\n")[0]

    @property
    def block(self) -> bytes:
        """The record block (HTTP headers + payload for a response), without the record's trailer."""
        block = self.raw.partition(b"\r\n\r\n")[2]
        return block[:-4] if block.endswith(b"\r\n\r\n") else block

    def http_parts(self) -> tuple[bytes, bytes]:
        """``(HTTP status line + headers, payload)`` of a response record."""
        headers, _, payload = self.block.partition(b"\r\n\r\n")
        return headers, payload

    def with_block(self, block: bytes) -> Member:
        """The same record with a new block and a Content-Length that matches it."""
        head = re.sub(rb"\r\nContent-Length: *\d+", b"\r\nContent-Length: %d" % len(block), self.head)
        # The digests would no longer match; warcio does not check them, but say so honestly.
        head = re.sub(rb"\r\nWARC-(?:Block|Payload)-Digest: *[^\r]*", b"", head)
        raw = head + b"\r\n\r\n" + block + b"\r\n\r\n"
        return Member(raw, gzip.compress(raw, mtime=0))

    def with_http(self, headers: bytes, payload: bytes) -> Member:
        return self.with_block(headers + b"\r\n\r\n" + payload)


def members(data: bytes) -> list[Member]:
    """The gzip members of a ``.warc.gz``, in order."""
    out = []
    pos = 0
    while pos < len(data):
        decompressor = zlib.decompressobj(31)
        raw = decompressor.decompress(data[pos:])
        end = len(data) - len(decompressor.unused_data)
        out.append(Member(raw, data[pos:end]))
        pos = end
    return out


def join(parts: list[Member]) -> bytes:
    return b"".join(m.packed for m in parts)


def offsets(parts: list[Member]) -> list[int]:
    """Byte offset of each member in ``join(parts)``."""
    out, pos = [], 0
    for member in parts:
        out.append(pos)
        pos += len(member.packed)
    return out


def plain_headers(headers: bytes) -> bytes:
    """HTTP headers without transfer/content encodings, so an edited payload is read as is."""
    lines = [line for line in headers.split(b"\r\n")
             if not re.match(rb"(?i)(content-encoding|transfer-encoding|content-length):", line)]
    return b"\r\n".join(lines)


def with_content_type(headers: bytes, content_type: bytes) -> bytes:
    return re.sub(rb"(?i)\r\ncontent-type:[^\r]*", b"\r\nContent-Type: " + content_type, headers)


def real_png(warc: Path) -> bytes:
    """The payload of the first PNG response (stored without transfer encoding) in ``warc``."""
    for member in members(warc.read_bytes()):
        if member.warc_type == "response":
            headers, payload = member.http_parts()
            if payload.startswith(b"\x89PNG\r\n\x1a\n") and b"chunked" not in headers.lower():
                return payload
    raise AssertionError(f"no PNG response in {warc}")
