"""Reading raw input files in bounded pieces: shared by the readers of several sources.

A reader must never hold one runaway record whole (a missing newline in a multi-GB JSON
lines export, a gzip member that inflates without end). These helpers read line by line
with a cap, and tell a tar archive by its first header block.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator
from typing import Any, BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
_SKIP_CHUNK = 1 << 20  # an overlong line is skipped in pieces of this size


def bounded_lines(fh: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """Each line of the (possibly gzipped) file; None for a line longer than ``limit`` bytes.

    An overlong line is skipped in bounded pieces and never held whole, so one runaway
    line cannot exhaust a worker's memory; the caller records it (quarantine, by line number).
    """
    buffered = fh if hasattr(fh, "peek") else io.BufferedReader(fh)  # type: ignore[arg-type]
    stream: Any = gzip.GzipFile(fileobj=buffered) if buffered.peek(2)[:2] == GZIP_MAGIC else buffered
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(_SKIP_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line


def is_tar_header(block: bytes) -> bool:
    """True when ``block`` starts with a valid tar header (512 bytes, checksum and all)."""
    if len(block) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(block[:512], "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True
