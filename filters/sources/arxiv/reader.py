"""Read arXiv source downloads in memory: a (gzipped) tarball, or a single (gzipped) .tex.

Nothing is ever extracted to disk. The archive is read with ``tarfile`` in streaming mode
(``r|``), member by member, and only ``.tex`` members are kept, as strings. Every member
is checked *before* its data is read:

* an absolute name, a ``..`` component, a symbolic or hard link, or a device/FIFO is
  skipped (``unsafe_path``, ``link``, ``special``) and recorded in
  ``annotations["arxiv_read"]["skipped"]``; the rest of the paper is still used;
* a member larger than ``cfg.max_member_bytes`` is skipped (``oversize``);
* the sum of all member sizes (what the stream must decompress) above
  ``cfg.max_total_bytes``, or more than ``cfg.max_members`` entries, quarantines the paper:
  a decompression bomb stops after the limit, not at the end of the stream;
* a corrupt or truncated header after the first member quarantines the paper (``tarfile``
  alone would end the archive there without a word), and so does a file named as a
  tarball that is neither gzip nor tar.

One paper is one input document. A paper without any ``.tex`` is dropped (``no_tex``).
The document text is the flattened source: the main file (the one with
``\\documentclass``) with its ``\\input``/``\\include`` files inlined and comments removed;
:class:`filters.sources.arxiv.latex.ArxivCleaner` does the rest.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from filters.base import BadRecord, Dropped, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.arxiv.config import ArxivConfig
from filters.sources.arxiv.latex import NO_TEX, find_main, flatten, strip_comments

TEX_SUFFIXES = (".tex", ".ltx", ".latex")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
UNSAFE_PATH = "unsafe_path"
LINK = "link"
SPECIAL = "special"
OVERSIZE = "oversize"
_GZIP_MAGIC = b"\x1f\x8b"


def paper_id(path: str) -> str:
    """``1703.09710`` for ``.../1703.09710.tar.gz`` (also ``.tgz``, ``.gz``, ``.tex``, ``.tar``)."""
    name = posixpath.basename(path.replace(os.sep, "/"))
    for suffix in (".tar.gz", ".tgz", ".tar", ".tex.gz", ".gz", ".tex"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        # Old arXiv sources are often Latin-1; every byte sequence decodes, nothing is lost.
        return data.decode("latin-1")


def _is_tar_header(block: bytes) -> bool:
    if len(block) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(block[:512], "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True


def unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` must not be read, or None if it is a plain file with a safe name."""
    name = member.name
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return UNSAFE_PATH
    if ".." in name.replace("\\", "/").split("/"):
        return UNSAFE_PATH
    if member.issym() or member.islnk():
        return LINK
    if not member.isfile():
        return SPECIAL
    return None


def read_source(fh: BinaryIO, cfg: ArxivConfig, single_name: str,
                expect_tar: bool = False) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The ``.tex`` files of one paper (name → text) and the members that were skipped.

    Args:
        expect_tar: the file is named as a tarball (``.tar``, ``.tar.gz``, ``.tgz``). It may
            still be one gzipped ``.tex`` (arXiv serves single-file papers so), but bytes
            that are neither gzip nor tar are a broken download, not LaTeX.

    Raises:
        BadRecord: the archive is corrupt or exceeds ``max_total_bytes``/``max_members``.
    """
    raw = fh if hasattr(fh, "peek") else io.BufferedReader(fh)  # type: ignore[arg-type]
    stream: Any = raw
    gzipped = raw.peek(2)[:2] == _GZIP_MAGIC
    if gzipped:
        stream = io.BufferedReader(gzip.GzipFile(fileobj=raw), buffer_size=1 << 16)  # type: ignore[arg-type]
    try:
        head = stream.peek(512)[:512]
        if _is_tar_header(head):
            return _read_tar(stream, cfg)
        if expect_tar and not gzipped:
            found = "an empty file" if not head else f"it starts with {head[:16]!r}"
            raise BadRecord(f"not a tar archive: named as a tarball but neither gzip nor tar ({found})")
        data = stream.read(cfg.max_total_bytes + 1)
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise BadRecord(f"corrupt archive: {type(exc).__name__}: {exc}") from exc
    if len(data) > cfg.max_total_bytes:
        raise BadRecord(f"single file exceeds max_total_bytes={cfg.max_total_bytes}")
    return {single_name: _decode(data)}, []


class _TailReader:
    """Passes reads through and keeps the last bytes read, to look at where tarfile stopped.

    tarfile ends iteration *silently* at a corrupt or truncated header after the first one
    (only a zero block is a proper end), so every member behind it would be lost without a
    word. tarfile reads ahead in 10 KiB records; 64 KiB of tail always holds that header.
    """

    def __init__(self, raw: BinaryIO, keep: int = 1 << 16) -> None:
        self._raw = raw
        self._keep = keep
        self._tail = b""
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.position += len(data)
        self._tail = (self._tail + data)[-self._keep:]
        return data

    def block_at(self, offset: int) -> bytes | None:
        """The 512-byte block at stream ``offset`` (shorter at the end), or None if no longer held."""
        start = offset - (self.position - len(self._tail))
        return self._tail[start:start + 512] if start >= 0 else None


def _read_tar(stream: BinaryIO, cfg: ArxivConfig) -> tuple[dict[str, str], list[dict[str, Any]]]:
    files: dict[str, str] = {}
    skipped: list[dict[str, Any]] = []
    total = 0
    reader = _TailReader(stream)
    with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
        for count, member in enumerate(tar, start=1):
            if count > cfg.max_members:
                raise BadRecord(f"archive has more than max_members={cfg.max_members} entries")
            total += max(member.size, 0)
            if total > cfg.max_total_bytes:
                raise BadRecord(f"archive exceeds max_total_bytes={cfg.max_total_bytes} (at {member.name!r})")
            if member.isdir():
                continue
            reason = unsafe_reason(member)
            if reason is None and member.size > cfg.max_member_bytes:
                reason = OVERSIZE
            if reason is not None:
                skipped.append({"member": member.name[:300], "reason": reason, "size": member.size})
                continue
            name = posixpath.normpath(member.name.replace("\\", "/"))
            if not name.lower().endswith(TEX_SUFFIXES):
                continue  # figures, .bib, .sty: passed over without keeping them
            extracted = tar.extractfile(member)
            if extracted is None:
                continue
            data = extracted.read(cfg.max_member_bytes + 1)
            files[name] = _decode(data)
        stop = reader.block_at(tar.offset)
    if stop and stop.strip(b"\0"):
        # Neither the end of the data nor an end-of-archive (zero) block: a broken header.
        kind = "truncated" if len(stop) < 512 else "corrupt"
        raise BadRecord(f"{kind} tar header at offset {tar.offset}: the members after it cannot be read")
    return files, skipped


class ArxivReader:
    """``reader(path, fh)`` for ``ReadSource``: one paper per input file.

    Args:
        source: the source name written on every document.
        cfg: byte and depth limits.
    """

    def __init__(self, source: str, cfg: ArxivConfig) -> None:
        self.source = source
        self.cfg = cfg

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Any]:
        pid = paper_id(path)
        meta: dict[str, Any] = {"arxiv_id": pid, "file": path, "record": pid}
        doc_id = stable_id(self.source, pid)
        try:
            files, skipped = read_source(fh, self.cfg, single_name=pid + ".tex",
                                         expect_tar=path.endswith(TAR_SUFFIXES))
        except BadRecord as exc:
            yield QuarantineRecord(self.source, path, pid, "read", str(exc)[:2000])
            return
        read_info: dict[str, Any] = {"tex_files": sorted(files), "skipped": skipped}
        if not files:
            yield Dropped(Document(doc_id, "", self.source, meta, {"arxiv_read": read_info}), NO_TEX)
            return
        main = find_main(files)
        if main is None:
            # No \documentclass anywhere: concatenate every file, as RedPajama does.
            text = "\n".join(strip_comments(files[name]) for name in sorted(files))
            read_info.update(main=None, inlined=[], missing_inputs=[])
        else:
            result = flatten(files, main, max_depth=self.cfg.max_include_depth)
            text = result.text
            read_info.update(main=main, inlined=result.inlined, missing_inputs=sorted(set(result.missing)))
        meta["main"] = read_info["main"]
        yield Document(doc_id, text, self.source, meta, {"arxiv_read": read_info})
