"""arXiv's bulk ``arXiv_src_YYMM_NNN.tar`` files, built from the real papers as arXiv ships them.

The bulk tar holds ``YYMM/<id>.gz`` members (a gzipped tar of a paper's sources, or one
gzipped ``.tex``; old-style ids such as ``hep-th9901001``) and ``YYMM/<id>.pdf`` for
PDF-only submissions. Each becomes one document (or a counted drop), read through a stream
that cannot seek, so the outer tar is never held whole; a hostile ``\\input`` fan-out costs
its own paper only.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import tarfile
from pathlib import Path

import pytest

from filters.base import Dropped, InputFile, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.arxiv.config import ArxivConfig
from filters.sources.arxiv.latex import flatten
from filters.sources.arxiv.reader import PDF_ONLY, ArxivReader, bulk_paper_id, is_bulk_tar

CFG = ArxivConfig()
BULK = "arXiv_src_1703_001.tar"


def fan_out_tarball(files: int = 9, copies: int = 10) -> bytes:
    """The hostile paper: each file ``\\input``s the next ``copies`` times (copies^files inlinings)."""
    members = {"main.tex": b"\\documentclass{article}\\begin{document}\\section{A}\\input{f0}\\end{document}"}
    for i in range(files):
        members[f"f{i}.tex"] = (b"\\input{f%d}" % (i + 1)) * copies if i + 1 < files else b"x"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _member_tex(tarball: Path, member: str) -> bytes:
    with tarfile.open(tarball) as tar:
        return tar.extractfile(member).read()


def build_bulk(corpus: Path, path: Path, hostile: bytes | None = None) -> dict[str, bytes]:
    """A bulk tar of the real papers: two source tarballs as they are, the celerite ``ms.tex``
    as a single gzipped file under a new-style and an old-style id, a PDF-only paper, and
    (optionally) the hostile fan-out between them. Returns member → bytes."""
    celerite = corpus / "arxiv" / "1703.09710.tar.gz"
    ms_tex = _member_tex(celerite, "ms.tex")
    members = {
        "1703/1703.09710.gz": celerite.read_bytes(),  # a gzipped tar of the paper's sources
        "1703/1703.09711.gz": gzip.compress(ms_tex, mtime=0),  # one gzipped .tex
        "1703/1703.09712.pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
    }
    if hostile is not None:
        members["1703/1703.09713.gz"] = hostile
    members["1703/1907.10121.gz"] = (corpus / "arxiv" / "1907.10121.tar.gz").read_bytes()
    members["1703/hep-th9901001.gz"] = gzip.compress(ms_tex, mtime=0)  # old-style id
    with tarfile.open(path, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return members


class _Unseekable(io.RawIOBase):
    """A file that can only be read forward, as an HTTP body or a pipe: proves streaming."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.largest_read = max(self.largest_read, len(buffer))
        data = self._fh.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def _read_bulk(path: Path, cfg: ArxivConfig = CFG) -> tuple[list, int]:
    raw = _Unseekable(path)
    try:
        items = list(ArxivReader("arxiv", cfg).read_input(InputFile(str(path), BULK), raw))
    finally:
        raw.close()
    return items, raw.largest_read


def test_bulk_tar_gives_one_document_per_paper(corpus, tmp_path):
    path = tmp_path / BULK
    members = build_bulk(corpus, path)
    items, largest_read = _read_bulk(path)
    assert largest_read < path.stat().st_size // 2  # read forward in pieces, never whole
    docs = [i for i in items if isinstance(i, Document)]
    assert [d.meta["arxiv_id"] for d in docs] == ["1703.09710", "1703.09711", "1907.10121", "hep-th/9901001"]
    assert [d.id for d in docs] == [stable_id("arxiv", BULK, m) for m in members if not m.endswith(".pdf")]
    [pdf] = [i for i in items if isinstance(i, Dropped)]
    assert pdf.reason == PDF_ONLY and pdf.doc.meta["arxiv_id"] == "1703.09712"
    assert not [i for i in items if isinstance(i, QuarantineRecord)]
    # A paper in the bulk tar reads exactly as the same paper downloaded alone.
    for doc in docs[:1] + docs[2:3]:
        loose = corpus / "arxiv" / f"{doc.meta['arxiv_id']}.tar.gz"
        with open(loose, "rb") as fh:
            [alone] = ArxivReader("arxiv", CFG)(str(loose), fh)
        assert doc.text == alone.text and doc.meta["main"] == alone.meta["main"]
    # The single gzipped .tex is the whole paper under either id style.
    assert docs[1].text == docs[3].text and "\\section{Introduction}" in docs[1].text


def test_input_fan_out_is_quarantined_naming_the_limit_and_the_next_papers_are_kept(corpus, tmp_path):
    hostile = fan_out_tarball()
    assert len(hostile) < 400  # the published case was a 338-byte tarball
    path = tmp_path / BULK
    build_bulk(corpus, path, hostile=hostile)
    items, _ = _read_bulk(path)
    [record] = [i for i in items if isinstance(i, QuarantineRecord)]
    assert (record.file, record.record) == (BULK, "1703/1703.09713.gz")
    assert "max_inputs=2000" in record.error
    assert [d.meta["arxiv_id"] for d in items if isinstance(d, Document)] == [
        "1703.09710", "1703.09711", "1907.10121", "hep-th/9901001"]
    # With a generous file count the byte budget stops it instead.
    cfg = dataclasses.replace(CFG, max_inputs=10**9, max_flattened_bytes=2_000_000)
    items, _ = _read_bulk(path, cfg)
    [record] = [i for i in items if isinstance(i, QuarantineRecord)]
    assert "max_flattened_bytes=2000000" in record.error


def test_flatten_budget_counts_every_inlined_copy():
    files = {"main.tex": "\\input{a}\\input{a}", "a.tex": "x" * 10}
    assert flatten(files, "main.tex", max_chars=38).text == "x" * 20
    with pytest.raises(Exception, match="max_flattened_bytes=37"):
        flatten(files, "main.tex", max_chars=37)


@pytest.mark.parametrize(("member", "ident"), [
    ("1901/1901.00001.gz", "1901.00001"), ("0704/0704.0001.gz", "0704.0001"),
    ("9901/hep-th9901001.gz", "hep-th/9901001"), ("0001/math.AG0001001.pdf", "math.AG/0001001"),
    ("1901/notes.txt", None),
])
def test_bulk_member_names(member, ident):
    assert bulk_paper_id(member) == ident


def test_bulk_is_told_by_name_or_first_member(corpus, tmp_path):
    path = tmp_path / "renamed.tar"
    build_bulk(corpus, path)
    head = path.read_bytes()[:512]
    assert is_bulk_tar("renamed.tar", head) and is_bulk_tar(BULK, b"")
    paper = (corpus / "arxiv" / "1703.09710.tar.gz").read_bytes()
    assert not is_bulk_tar("1703.09710.tar", gzip.decompress(paper)[:512])
