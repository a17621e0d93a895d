"""arXiv reader (in-memory, hostile archives) and LaTeX cleaner on the three real papers."""

from __future__ import annotations

import dataclasses
import gzip
import io
import re
import tarfile

import pytest

from filters.base import Dropped, QuarantineRecord
from filters.document import Document
from filters.sources.arxiv.config import ArxivConfig
from filters.sources.arxiv.latex import (
    NO_SECTION,
    SECTION,
    VERBATIM_SPANS,
    ArxivCleaner,
    ArxivFilter,
    body_from_first_section,
    cut_bibliography,
    expand_macros,
    extract_macros,
    strip_comments,
)
from filters.sources.arxiv.reader import LINK, OVERSIZE, SPECIAL, UNSAFE_PATH, ArxivReader

CFG = ArxivConfig()
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)(?:\\\\)*%")


def _read(path, cfg=CFG):
    with open(path, "rb") as fh:
        return list(ArxivReader("arxiv", cfg)(str(path), fh))


def _clean(corpus, paper, cfg=CFG):
    [doc] = _read(corpus / "arxiv" / f"{paper}.tar.gz", cfg)
    return doc, ArxivCleaner(cfg)(doc)


@pytest.mark.parametrize("paper", ["1703.09710", "1907.10121", "2206.14220"])
def test_real_papers_lose_preamble_comments_and_bibliography(corpus, paper):
    raw, doc = _clean(corpus, paper)
    assert doc.text.startswith(("\\section{", "\\section*{"))
    for preamble in ("\\documentclass", "\\begin{document}", "\\usepackage", "\\newcommand"):
        assert preamble not in doc.text
    for bib in ("\\bibliography{", "\\begin{thebibliography}", "\\end{document}"):
        assert bib not in doc.text
    # The sources have comments; none survive outside verbatim (only escaped \% remain).
    assert _UNESCAPED_PERCENT.search(VERBATIM_SPANS.sub("", raw.text)) is None  # stripped while inlining
    assert _UNESCAPED_PERCENT.search(VERBATIM_SPANS.sub("", doc.text)) is None
    assert ArxivFilter(CFG)(doc).keep


def test_celerite_macros_are_expanded(corpus):
    raw, doc = _clean(corpus, "1703.09710")
    assert "\\newcommand{\\celerite}{\\project{celerite}}" in raw.text
    assert re.search(r"\\celerite(?![A-Za-z])", doc.text) is None
    assert "\\project{celerite}" in doc.text
    assert "\\emph{celerite}" in doc.text  # \celeriteterm
    assert "\\project{TESS}\\ " in doc.text  # \tess\
    # figures/examples-macros.tex is \include'd in the preamble; its numbers land in the text.
    assert "\\exampleindata" not in doc.text
    info = doc.annotations["arxiv_clean"]
    assert info["macros"] >= 30 and info["expansions"] > 100 and not info["expansion_capped"]
    assert raw.annotations["arxiv_read"]["missing_inputs"] == ["vc"]
    # The appendix comes before the bibliography in this paper and is kept.
    assert "\\appendix" in doc.text


def test_astropy_macros_inputs_and_appendix_after_bibliography(corpus):
    raw, doc = _clean(corpus, "2206.14220")
    assert re.search(r"\\astropy(?![A-Za-z])", doc.text) is None
    assert "Astropy\\xspace" in doc.text
    assert raw.annotations["arxiv_read"]["inlined"] == ["preamble.tex", "static/authors.tex"]
    # \appendix follows \bibliography here: re-attached after the cut.
    assert "List of Affiliated Packages" in doc.text
    assert "\\input{generated/affiliated-table.tex}" in doc.text  # missing file left as is


def test_scipy_inputs_inlined_and_acknowledgements_after_bibliography_cut(corpus):
    raw, doc = _clean(corpus, "1907.10121")
    assert "\\input{" not in raw.text
    assert "Data Availability" in doc.text
    assert "Acknowledgements" not in doc.text


def test_keep_appendix_false_cuts_at_appendix_like_redpajama(corpus):
    cfg = dataclasses.replace(CFG, keep_appendix=False)
    _, doc = _clean(corpus, "1703.09710", cfg)
    assert "\\appendix" not in doc.text and "\\section{Discussion}" in doc.text


@pytest.mark.parametrize(("tex", "matches"), [
    ("\\paragraph{Setup} text", True),
    ("\\subparagraph{Detail} text", True),
    ("\\subparagraph*{Detail}", True),
    ("\\section*{Intro}", True),
    ("\\part{One}", True),
    ("\\chapter {Two}", True),
    ("\\subsubsection{x}", True),
    ("\\sectionname~2", False),
    ("\\paragraphmark", False),
    ("\\parskip=1pt", False),
])
def test_section_regex_covers_every_sectioning_command(tex, matches):
    assert (SECTION.search(tex) is not None) is matches


def test_preamble_redefinition_of_section_is_not_the_first_section():
    tex = "\\renewcommand\\section{x}\n\\begin{document}\ntitle\n\\paragraph{A} body\n"
    assert body_from_first_section(tex) == "\\paragraph{A} body\n"
    assert body_from_first_section("\\begin{document}no sections\\end{document}") is None


@pytest.mark.parametrize(("tex", "expected"), [
    ("% full line\nkeep\n", "keep\n"),
    ("50\\% of it % a comment\n", "50\\% of it \n"),
    ("line break\\\\% comment\n", "line break\\\\\n"),
    ("\\begin{verbatim}\nx = 5 % 3\n\\end{verbatim}\n", "\\begin{verbatim}\nx = 5 % 3\n\\end{verbatim}\n"),
    ("use \\verb|a%b| here % gone\n", "use \\verb|a%b| here \n"),
    ("a\n\\begin{comment}\nhidden\n\\end{comment}\nb\n", "a\nb\n"),
])
def test_strip_comments(tex, expected):
    assert strip_comments(tex) == expected


def test_macro_definitions_with_arguments_are_not_expanded():
    macros, rest = extract_macros(
        "\\newcommand{\\a}{A}\\newcommand\\b[1]{B#1}\\def\\c#1{C}\\renewcommand*{\\d}[0]{D}"
        "\\def\\e{E {nested}}\\providecommand{\\section}{X}"
    )
    assert macros == {"a": "A", "d": "D", "e": "E {nested}"}
    assert rest == "\\newcommand\\b[1]{B#1}\\def\\c#1{C}"
    result = expand_macros("\\a{} and \\e, \\ab stays, \\d\\ x", macros, 100, 10)
    assert result.text == "A and E {nested}, \\ab stays, D\\ x" and result.expansions == 3


@pytest.mark.parametrize("definition", ["\\def\\a{\\a}", "\\def\\a{\\a\\a}", "\\def\\a{\\b}\\def\\b{\\a}"])
def test_self_referencing_macros_stop(definition):
    macros, _ = extract_macros(definition)
    result = expand_macros("x \\a y", macros, max_expansions=500, max_depth=10)
    assert result.capped and result.expansions <= 500


def test_self_referencing_def_in_a_paper_is_cleaned_not_hung():
    tex = ("\\documentclass{article}\\def\\loop{\\loop\\loop}\\begin{document}"
           "\\section{A} text \\loop\n\\end{document}")
    doc = ArxivCleaner(CFG)(Document("a", tex, "arxiv"))
    assert doc.annotations["arxiv_clean"]["expansion_capped"]
    assert doc.text.startswith("\\section{A} text")


def test_cut_bibliography_variants():
    assert cut_bibliography("a\\begin{thebibliography}{9}\\bibitem x\\end{thebibliography}") == "a"
    assert cut_bibliography("a\\begin{references} r\\end{references}") == "a"
    assert cut_bibliography("a\\printbibliography\n\\section{After}") == "a"
    assert cut_bibliography("a\\bibliography{x}\nack\\appendix\\section{B} b") == "a\n\n\\appendix\\section{B} b"


def test_paper_without_sections_is_dropped_no_section():
    doc = ArxivCleaner(CFG)(Document("a", "\\documentclass{article}\\begin{document}hi\\end{document}", "arxiv"))
    assert doc.text == "" and ArxivFilter(CFG)(doc).reason == NO_SECTION


# --- hostile archives, built in memory -------------------------------------------------

MAIN = b"\\documentclass{article}\\begin{document}\n\\section{Intro}\nHello \\input{part}\n\\end{document}\n"


def _tarball(members, gz=True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
                info.linkname = data.decode() if kind != "fifo" else ""
                tar.addfile(info)
    return buffer.getvalue()


def _read_bytes(tmp_path, name, data, cfg=CFG):
    path = tmp_path / name
    path.write_bytes(data)
    return _read(path, cfg)


def test_unsafe_members_are_skipped_and_recorded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _tarball([
        ("main.tex", MAIN, "file"),
        ("part.tex", b"world", "file"),
        ("../escape.tex", b"\\section{Evil}", "file"),
        ("/etc/evil.tex", b"\\section{Evil}", "file"),
        ("link.tex", b"/etc/passwd", "sym"),
        ("hard.tex", b"main.tex", "hard"),
        ("pipe.tex", b"", "fifo"),
        ("big.tex", b"%" * 5000, "file"),
    ])
    cfg = dataclasses.replace(CFG, max_member_bytes=2000)
    [doc] = _read_bytes(tmp_path, "0001.00001.tar.gz", data, cfg)
    skipped = {s["member"]: s["reason"] for s in doc.annotations["arxiv_read"]["skipped"]}
    assert skipped == {"../escape.tex": UNSAFE_PATH, "/etc/evil.tex": UNSAFE_PATH, "link.tex": LINK,
                       "hard.tex": LINK, "pipe.tex": SPECIAL, "big.tex": OVERSIZE}
    assert doc.annotations["arxiv_read"]["tex_files"] == ["main.tex", "part.tex"]
    assert "Hello world" in ArxivCleaner(cfg)(doc).text and "Evil" not in doc.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.00001.tar.gz"]  # nothing extracted


def test_archive_over_total_bytes_is_quarantined(tmp_path):
    data = _tarball([("main.tex", MAIN, "file")] + [(f"f{i}.dat", b"\0" * 4000, "file") for i in range(10)])
    cfg = dataclasses.replace(CFG, max_total_bytes=20_000)
    [record] = _read_bytes(tmp_path, "bomb.tar.gz", data, cfg)
    assert isinstance(record, QuarantineRecord) and "max_total_bytes" in record.error


def test_corrupt_archive_is_quarantined(tmp_path):
    data = _tarball([("main.tex", MAIN * 200, "file")])
    [record] = _read_bytes(tmp_path, "broken.tar.gz", data[: len(data) // 2])
    assert isinstance(record, QuarantineRecord) and record.record == "broken"


def test_single_gzipped_tex_and_archive_without_tex(tmp_path):
    [doc] = _read_bytes(tmp_path, "0002.00002.gz", gzip.compress(MAIN))
    assert doc.meta["main"] == "0002.00002.tex" and doc.annotations["arxiv_read"]["missing_inputs"] == ["part"]
    [dropped] = _read_bytes(tmp_path, "0003.tar", _tarball([("fig.png", b"\x89PNG", "file")], gz=False))
    assert isinstance(dropped, Dropped) and dropped.reason == "no_tex"
