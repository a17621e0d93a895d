"""Bad-input battery, arXiv: hostile tarballs and macros built around the three real papers.

One paper is one input file (and one record). The hostile members are added to a real
paper's tarball, so "the other records are intact" means: the paper's text is exactly the
text of the untouched paper.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from filters.sources.arxiv.config import ArxivConfig
from filters.sources.arxiv.latex import ArxivCleaner
from filters.sources.arxiv.reader import ArxivReader
from tests.battery.harness import BatchRun, assert_sound, run_batch, the_quarantine

PAPERS = ("1703.09710", "1907.10121", "2206.14220")
EVIL = b"\\section{Evil}\nowned by a path outside the archive\n"


def _members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]


def _pack(members: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _plain_tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> tuple[int, bytes]:
    """An uncompressed tar of ``members`` and the offset where its end-of-archive blocks start."""
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
    for info, data in members:
        tar.addfile(info, io.BytesIO(data) if data is not None else None)
    end = tar.offset
    tar.close()
    return end, buf.getvalue()


def _info(name: str, data: bytes = b"", **fields) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, (data if info.isfile() else None)


def _edit_main(members, edit) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    out = []
    for info, data in members:
        if info.name == "ms.tex":
            data = edit(data)
            info = tarfile.TarInfo(info.name)
            info.size = len(data)
        out.append((info, data))
    return out


def _text_of(data: bytes, name: str) -> str:
    """The cleaned text of one paper through the pure reader + cleaner (the reference)."""
    cfg = ArxivConfig()
    [doc] = ArxivReader("arxiv", cfg)(name, io.BytesIO(data))
    return ArxivCleaner(cfg)(doc).text


@dataclass
class ArxivBatch:
    run: BatchRun
    reference: dict[str, str]  # paper → cleaned text of the untouched tarball
    garbled_header_at: int


@pytest.fixture(scope="module")
def ax(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> ArxivBatch:
    root = tmp_path_factory.mktemp("battery-arxiv")
    inputs = root / "in"
    inputs.mkdir()
    real = {p: (corpus / "arxiv" / f"{p}.tar.gz").read_bytes() for p in PAPERS}
    reference = {p: _text_of(real[p], f"{p}.tar.gz") for p in PAPERS}
    celerite, scipy, astropy = (_members(real[p]) for p in PAPERS)

    (inputs / "1907.10121.tar.gz").write_bytes(real["1907.10121"])  # untouched (case 25)
    # 12. Members escaping the archive root.
    (inputs / "dotdot.tar.gz").write_bytes(_pack(
        [_info("../../evil.tex", EVIL), _info("figures/../../../evil2.tex", EVIL), _info("/etc/evil3.tex", EVIL)]
        + celerite))
    # 13. A symbolic link and a hard link (to /etc/passwd and to the main file).
    (inputs / "links.tar.gz").write_bytes(_pack(
        [_info("passwd.tex", type=tarfile.SYMTYPE, linkname="/etc/passwd"),
         _info("zz-hard.tex", type=tarfile.LNKTYPE, linkname="ms.tex")] + astropy))
    # 14. A 25 MB member (over max_member_bytes) next to the paper; a sparse member that
    # declares a terabyte; a member that declares 30 MB and then the archive ends.
    (inputs / "big-member.tar.gz").write_bytes(_pack(celerite + [_info("huge.tex", b"%" * 25_000_000)]))
    sparse, _ = _info("sparse.tex", b"x" * 512)
    sparse.pax_headers = {"GNU.sparse.map": "0,512", "GNU.sparse.size": str(10**12), "GNU.sparse.name": "sparse.tex"}
    (inputs / "sparse.tar.gz").write_bytes(_pack(scipy + [(sparse, b"x" * 512)], fmt=tarfile.PAX_FORMAT))
    declared, _ = _info("declared.tex")
    declared.size = 30_000_000
    members_end, plain_tar = _plain_tar(scipy)
    (inputs / "declared-size.tar.gz").write_bytes(gzip.compress(
        plain_tar[:members_end] + declared.tobuf(tarfile.GNU_FORMAT) + b"\\section{x}" * 100, mtime=0))
    # 2 (for tarballs). A garbled header in the middle: tarfile alone would stop silently there.
    offsets = [m.offset for m in tarfile.open(fileobj=io.BytesIO(plain_tar)).getmembers()]
    garbled = bytearray(plain_tar)
    garbled[offsets[3]:offsets[3] + 100] = b"\xff" * 100
    (inputs / "corrupt-header.tar.gz").write_bytes(gzip.compress(bytes(garbled), mtime=0))
    # 15. \def loops: self-reference and mutual recursion, used in the body.
    loops = b"\\def\\loopy{\\loopy}\n\\def\\ping{\\pong}\n\\def\\pong{\\ping}\n"

    def add_loops(tex: bytes) -> bytes:
        tex = tex.replace(b"\\begin{document}", loops + b"\\begin{document}", 1)
        return tex.replace(b"\\section{Introduction}", b"\\section{Introduction}\n\\loopy{} and \\ping{} here\n", 1)

    (inputs / "def-loop.tar.gz").write_bytes(_pack(_edit_main(celerite, add_loops)))
    # A macro bomb: a 200 kB body used 10,000 times would make 2 GB of text.
    bomb = b"\\def\\bomb{" + b"lol " * 50_000 + b"}\n"

    def add_bomb(tex: bytes) -> bytes:
        tex = tex.replace(b"\\begin{document}", bomb + b"\\begin{document}", 1)
        return tex.replace(b"\\section{Introduction}", b"\\section{Introduction}\n" + b"\\bomb " * 10_000, 1)

    (inputs / "macro-bomb.tar.gz").write_bytes(_pack(_edit_main(celerite, add_bomb)))
    # 22. Not a tarball (a book under a tarball's name); 6. an empty tarball; corrupt gzip.
    (inputs / "not-a-tarball.tar.gz").write_bytes((corpus / "books" / "16-0-peter-pan.txt").read_bytes()[:4096])
    (inputs / "empty.tar.gz").write_bytes(b"")
    (inputs / "corrupt-gzip.tar.gz").write_bytes(real["2206.14220"][:10] + b"\x00" * 200)

    run = run_batch(root, "arxiv", [str(inputs)], watch=[corpus / "arxiv"])
    return ArxivBatch(run, reference, offsets[3])


def _doc(run: BatchRun, name: str) -> dict:
    [doc] = run.file(name)["docs"]
    assert run.file(name)["quarantine"] == []
    return doc


def test_stats_reconcile_and_nothing_written_outside_the_output(ax):
    assert_sound(ax.run)
    assert ax.run.stats["documents_in"] == 12


def test_untouched_paper_in_a_folder_of_bad_ones_is_kept(ax):  # case 25
    assert _doc(ax.run, "1907.10121.tar.gz")["text"] == ax.reference["1907.10121"]


def test_dotdot_members_are_skipped_and_the_paper_kept(ax):  # case 12
    doc = _doc(ax.run, "dotdot.tar.gz")
    skipped = doc["annotations"]["arxiv_read"]["skipped"]
    assert [(s["member"], s["reason"]) for s in skipped] == [
        ("../../evil.tex", "unsafe_path"), ("figures/../../../evil2.tex", "unsafe_path"),
        ("/etc/evil3.tex", "unsafe_path")]
    assert doc["text"] == ax.reference["1703.09710"]
    assert "owned" not in doc["text"]


def test_symlinks_and_hardlinks_are_skipped_and_the_paper_kept(ax):  # case 13
    doc = _doc(ax.run, "links.tar.gz")
    skipped = doc["annotations"]["arxiv_read"]["skipped"]
    assert [(s["member"], s["reason"]) for s in skipped] == [("passwd.tex", "link"), ("zz-hard.tex", "link")]
    assert doc["text"] == ax.reference["2206.14220"]
    assert "root:" not in doc["text"]


def test_oversize_member_is_skipped_and_the_paper_kept(ax):  # case 14
    doc = _doc(ax.run, "big-member.tar.gz")
    assert doc["annotations"]["arxiv_read"]["skipped"] == [
        {"member": "huge.tex", "reason": "oversize", "size": 25_000_000}]
    assert doc["text"] == ax.reference["1703.09710"]


@pytest.mark.parametrize("name, error", [
    ("sparse.tar.gz", "archive exceeds max_total_bytes=100000000 (at 'sparse.tex')"),
    ("declared-size.tar.gz", "corrupt archive: ReadError: unexpected end of data"),
])
def test_members_declaring_huge_sizes_quarantine_the_paper(ax, name, error):  # case 14
    record = the_quarantine(ax.run, name)
    assert record["record"] == name.removesuffix(".tar.gz")
    assert record["error"] == error
    assert ax.run.file(name)["docs"] == [] and ax.run.file(name)["dropped"] == []


def test_self_and_mutually_recursive_defs_stop(ax):  # case 15
    doc = _doc(ax.run, "def-loop.tar.gz")
    info = doc["annotations"]["arxiv_clean"]
    assert info["expansion_capped"] is True
    assert info["expansions"] <= ArxivConfig().max_macro_expansions
    # The loops stay as (bounded) control words; the rest of the paper is untouched.
    assert "\\loopy" in doc["text"] and ("\\ping" in doc["text"] or "\\pong" in doc["text"])
    assert len(doc["text"]) < len(ax.reference["1703.09710"]) + 10_000


def test_macro_bomb_is_bounded(ax):
    doc = _doc(ax.run, "macro-bomb.tar.gz")
    info = doc["annotations"]["arxiv_clean"]
    assert info["expansion_capped"] is True
    # Expansion adds at most the input's length + 1 Mi characters (not 2 GB); the input
    # is the paper plus 10,000 uses of 6 characters.
    body = len(ax.reference["1703.09710"]) + 60_000
    assert body < len(doc["text"]) < 2 * body + (1 << 20)


def test_garbled_header_mid_archive_quarantines_the_paper(ax):
    record = the_quarantine(ax.run, "corrupt-header.tar.gz")
    assert record["record"] == "corrupt-header"
    assert record["error"] == (f"corrupt tar header at offset {ax.garbled_header_at}: "
                               "the members after it cannot be read")


@pytest.mark.parametrize("name, error", [
    ("not-a-tarball.tar.gz",
     "not a tar archive: named as a tarball but neither gzip nor tar (it starts with b'\\xef\\xbb\\xbfThe Project G')"),
    ("empty.tar.gz", "not a tar archive: named as a tarball but neither gzip nor tar (an empty file)"),
])
def test_not_a_tarball_is_quarantined(ax, name, error):  # cases 22 and 6
    record = the_quarantine(ax.run, name)
    assert record["error"] == error
    assert record["stage"] == "read"


def test_corrupt_gzip_is_quarantined(ax):
    record = the_quarantine(ax.run, "corrupt-gzip.tar.gz")
    assert record["error"].startswith("corrupt archive: ")
