"""Read arXiv sources: one paper's download, or arXiv's bulk ``arXiv_src_YYMM_NNN.tar`` files.

Two input shapes, told apart by name and, for a plain tar under another name, by its first
member (``YYMM/<id>.gz``):

* **One paper**: a (gzipped) tarball, or a single (gzipped) ``.tex``, as
  ``arxiv.org/e-print/<id>`` serves it. One paper per file.
* **Bulk**: the tars of arXiv's requester-pays S3 bucket (``s3://arxiv/src/``). Members are
  ``YYMM/<id>.gz`` (new-style ``1901.00001.gz``, old-style ``hep-th9901001.gz`` for
  ``hep-th/9901001``), each a gzipped tar of the paper's sources or one gzipped ``.tex``,
  and ``YYMM/<id>.pdf`` for papers submitted as PDF only (dropped ``pdf_only``, counted).
  The outer tar is streamed member by member: one paper is in memory at a time, each under
  the same per-paper limits as a single download, and a paper that breaks one is
  quarantined under its own id while the next paper is read.

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

One paper is one document. A paper without any ``.tex`` is dropped (``no_tex``); a single
gzipped file that is a PDF or PostScript counts as no ``.tex`` too.
The document text is the flattened source: the main file (the one with
``\\documentclass``) with its ``\\input``/``\\include`` files inlined and comments removed;
:class:`filters.sources.arxiv.latex.ArxivCleaner` does the rest.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from filters.base import BadRecord, Dropped, InputFile, QuarantineRecord
from filters.bounded_io import GZIP_MAGIC, is_tar_header
from filters.document import Document, stable_id
from filters.sources.arxiv.config import ArxivConfig
from filters.sources.arxiv.latex import NO_TEX, find_main, flatten, strip_comments

TEX_SUFFIXES = (".tex", ".ltx", ".latex")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
UNSAFE_PATH = "unsafe_path"
LINK = "link"
SPECIAL = "special"
OVERSIZE = "oversize"
PDF_ONLY = "pdf_only"
_NOT_TEX_MAGIC = (b"%PDF-", b"%!PS")
# arXiv_src_1901_001.tar (also the manifest's arXiv_src_9107_001.tar): bulk, whatever the folder.
BULK_NAME = re.compile(r"^arXiv_src_\d{4}_\d{3}\.tar$")
# A bulk member: YYMM/ then a new-style (1901.00001) or old-style (hep-th9901001) id.
BULK_MEMBER = re.compile(r"^(\d{4})/([A-Za-z.-]+?\d{7}|\d{4}\.\d{4,5})(v\d+)?\.(gz|pdf)$")


def paper_id(path: str) -> str:
    """``1703.09710`` for ``.../1703.09710.tar.gz`` (also ``.tgz``, ``.gz``, ``.tex``, ``.tar``)."""
    name = posixpath.basename(path.replace(os.sep, "/"))
    for suffix in (".tar.gz", ".tgz", ".tar", ".tex.gz", ".gz", ".tex"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def bulk_paper_id(member_name: str) -> str | None:
    """``hep-th/9901001`` for ``9901/hep-th9901001.gz``, ``1901.00001`` for ``1901/1901.00001.pdf``;
    None for a name that is no bulk member."""
    match = BULK_MEMBER.match(member_name)
    if match is None:
        return None
    ident = match.group(2)
    if not ident[0].isdigit():  # old style: archive (and subject class) then 7 digits
        ident = f"{ident[:-7]}/{ident[-7:]}"
    return ident


def is_bulk_tar(name: str, head: bytes) -> bool:
    """Is this file one of arXiv's bulk tars? By its name, or a plain tar whose first member
    is a ``YYMM/<id>.gz|pdf`` (or the ``YYMM`` folder)."""
    if BULK_NAME.match(posixpath.basename(name)):
        return True
    if not is_tar_header(head):
        return False
    first = tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape").name
    return bool(BULK_MEMBER.match(first) or re.fullmatch(r"\d{4}/?", first))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        # Old arXiv sources are often Latin-1; every byte sequence decodes, nothing is lost.
        return data.decode("latin-1")


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
    gzipped = raw.peek(2)[:2] == GZIP_MAGIC
    if gzipped:
        stream = io.BufferedReader(gzip.GzipFile(fileobj=raw), buffer_size=1 << 16)  # type: ignore[arg-type]
    try:
        head = stream.peek(512)[:512]
        if is_tar_header(head):
            return _read_tar(stream, cfg)
        if expect_tar and not gzipped:
            found = "an empty file" if not head else f"it starts with {head[:16]!r}"
            raise BadRecord(f"not a tar archive: named as a tarball but neither gzip nor tar ({found})")
        data = stream.read(cfg.max_total_bytes + 1)
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise BadRecord(f"corrupt archive: {type(exc).__name__}: {exc}") from exc
    if len(data) > cfg.max_total_bytes:
        raise BadRecord(f"single file exceeds max_total_bytes={cfg.max_total_bytes}")
    if data.startswith(_NOT_TEX_MAGIC):  # a gzipped PDF or PostScript: no LaTeX to read
        return {}, [{"member": single_name, "reason": "not_tex", "size": len(data)}]
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
    """Reader for ``ReadSource``: one paper per file, or every paper of a bulk tar.

    Ids: ``stable_id(source, input name)`` for a paper file and ``stable_id(source, input
    name, member)`` for a paper of a bulk tar, where the input name is the path relative to
    the input root (``InputFile.name``), so two snapshots or the same paper in a bulk tar
    and as a download never share an id. Called as ``reader(path, fh)`` (no input name),
    a paper file keeps its historical id ``stable_id(source, arXiv id)``.

    Args:
        source: the source name written on every document.
        cfg: byte, member, depth and ``\\input`` limits.
    """

    def __init__(self, source: str, cfg: ArxivConfig) -> None:
        self.source = source
        self.cfg = cfg

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Any]:
        yield from self._read(path, path, None, fh)

    def read_input(self, item: InputFile, fh: BinaryIO) -> Iterator[Any]:
        name = item.name or item.path
        yield from self._read(item.path, item.label, name, fh)

    def _read(self, path: str, label: str, name: str | None, fh: BinaryIO) -> Iterator[Any]:
        raw = fh if hasattr(fh, "peek") else io.BufferedReader(fh)  # type: ignore[arg-type]
        if is_bulk_tar(name or path, raw.peek(512)[:512]):
            yield from self._bulk(label, name or path, raw)
            return
        pid = paper_id(path)
        doc_id = stable_id(self.source, pid) if name is None else stable_id(self.source, name)
        yield from self._paper(raw, label, pid, pid, doc_id, expect_tar=path.endswith(TAR_SUFFIXES))

    def _bulk(self, label: str, name: str, raw: BinaryIO) -> Iterator[Any]:
        """Every paper of one bulk tar, streamed: the outer tar is never held whole."""
        cfg = self.cfg
        reader = _TailReader(raw)
        papers = 0
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for count, member in enumerate(tar, start=1):
                    if count > cfg.max_bulk_members:
                        raise BadRecord(f"bulk tar has more than max_bulk_members={cfg.max_bulk_members} entries")
                    if member.isdir():
                        continue
                    papers += 1
                    yield from self._bulk_member(tar, member, label, name)
                stop = reader.block_at(tar.offset)
        except (BadRecord, tarfile.TarError, zlib.error, EOFError, OSError) as exc:
            yield QuarantineRecord(self.source, label, f"after paper {papers}", "read",
                                   f"bulk tar: {type(exc).__name__}: {exc}"[:2000])
            return
        if stop and stop.strip(b"\0"):
            kind = "truncated" if len(stop) < 512 else "corrupt"
            yield QuarantineRecord(self.source, label, f"after paper {papers}", "read",
                                   f"bulk tar: {kind} tar header at offset {tar.offset}: "
                                   "the papers after it cannot be read")

    def _bulk_member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, label: str, name: str) -> Iterator[Any]:
        cfg = self.cfg
        pid = bulk_paper_id(member.name)
        record = member.name[:300]
        doc_id = stable_id(self.source, name, member.name)
        if pid is None or unsafe_reason(member) is not None:
            why = unsafe_reason(member) or "not a YYMM/<id>.gz or .pdf member"
            yield QuarantineRecord(self.source, label, record, "read", f"bulk tar member skipped: {why}")
            return
        if member.name.endswith(".pdf"):
            meta = {"arxiv_id": pid, "file": label, "record": record, "size": member.size}
            yield Dropped(Document(doc_id, "", self.source, meta, {"arxiv_read": {"member": record}}), PDF_ONLY)
            return
        if member.size > cfg.max_total_bytes:  # compressed already larger than the decompressed budget
            yield QuarantineRecord(self.source, label, record, "read",
                                   f"member of {member.size} bytes exceeds max_total_bytes={cfg.max_total_bytes}")
            return
        extracted = tar.extractfile(member)
        if extracted is None:
            return
        yield from self._paper(extracted, label, pid, record, doc_id, expect_tar=False,
                               member=member.name)

    def _paper(self, fh: BinaryIO, file: str, pid: str, record: str, doc_id: str,
               expect_tar: bool, member: str | None = None) -> Iterator[Any]:
        meta: dict[str, Any] = {"arxiv_id": pid, "file": file, "record": record}
        if member is not None:
            meta["member"] = member
        single = pid.replace("/", "") + ".tex"
        try:
            files, skipped = read_source(fh, self.cfg, single_name=single, expect_tar=expect_tar)
            if not files:
                read_info: dict[str, Any] = {"tex_files": [], "skipped": skipped}
                yield Dropped(Document(doc_id, "", self.source, meta, {"arxiv_read": read_info}), NO_TEX)
                return
            read_info = {"tex_files": sorted(files), "skipped": skipped}
            main = find_main(files)
            if main is None:
                # No \documentclass anywhere: concatenate every file, as RedPajama does.
                text = "\n".join(strip_comments(files[name]) for name in sorted(files))
                read_info.update(main=None, inlined=[], missing_inputs=[])
            else:
                result = flatten(files, main, max_depth=self.cfg.max_include_depth,
                                 max_chars=self.cfg.max_flattened_bytes, max_inputs=self.cfg.max_inputs)
                text = result.text
                read_info.update(main=main, inlined=result.inlined, missing_inputs=sorted(set(result.missing)))
        except BadRecord as exc:
            yield QuarantineRecord(self.source, file, record, "read", str(exc)[:2000])
            return
        meta["main"] = read_info["main"]
        yield Document(doc_id, text, self.source, meta, {"arxiv_read": read_info})
