"""``Posts.xml`` streamed out of a Stack Exchange ``.7z`` archive, never unpacked to disk.

The data dump ships one archive per site (``coffee.stackexchange.com.7z``: ``Posts.xml``,
``Users.xml``, ``Comments.xml`` …) and stackoverflow split by table
(``stackoverflow.com-Posts.7z``). Only ``Posts.xml`` is needed; its bytes come out as
decompressed blocks while the archive is read, so memory stays at one block whatever the
member's size.

Library: libarchive through ``libarchive-c`` (a small ctypes binding of Debian's
``libarchive13``). Measured on the same archive (``bench/readers_archives.py``, BENCHMARKS.md
"StackExchange and Wikipedia archives"): decoding the member, libarchive and py7zr 1.1.4 are
level (both run liblzma's C decoder: 0.94x for py7zr), so the choice is about the API and the
install. libarchive hands out the member as a pull-style stream of blocks, which is what a
reader needs; py7zr 1.x only pushes a member into a ``WriterFactory`` (no ``read()`` any
more), so streaming through it would take a thread and a bounded queue, and it brings six
compiled dependencies (pyppmd, pybcj, pyzstd, brotli, inflate64, multivolumefile). Debian's
``7z x -so`` (not installed here, not measured) needs the binary on every worker and a
subprocess fed from a local path, so it could not read straight from a Beam filesystem.
libarchive reads through the file object ReadSource opens (7z's headers sit at the end: it
seeks), local or remote.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import BinaryIO

from filters.base import BadRecord

_BLOCK = 1 << 20


class ArchiveError(BadRecord):
    """The archive cannot be read (not a 7z, broken, or without ``Posts.xml``)."""


def posts_chunks(fh: BinaryIO, path: str, member: str = "posts.xml") -> Iterator[bytes]:
    """The bytes of the archive's ``Posts.xml`` (any folder inside it), block by block.

    Raises:
        ArchiveError: the archive is unreadable or has no such member.
    """
    try:
        import libarchive
        from libarchive.exception import ArchiveError as LibArchiveError
    except (ImportError, OSError, AttributeError) as exc:  # the binding, or the C library it loads
        # The machine, not the file: fail the run rather than quarantine every archive.
        raise RuntimeError(f"reading {path} needs libarchive: apt-get install libarchive13 and "
                           f"pip install libarchive-c ({type(exc).__name__}: {exc})") from None

    try:
        with libarchive.stream_reader(fh, format_name="7zip", block_size=_BLOCK) as archive:
            for entry in archive:
                if entry.isfile and posixpath.basename(entry.pathname).lower() == member:
                    yield from entry.get_blocks(_BLOCK)
                    return
    except LibArchiveError as exc:
        raise ArchiveError(f"unreadable 7z archive {path}: {exc}") from None
    raise ArchiveError(f"no {member} in 7z archive {path}")
