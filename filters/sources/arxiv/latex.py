"""arXiv LaTeX → training text: flatten, strip comments, cut preamble and bibliography, expand macros.

LLaMA (arXiv 2302.13971 §2): "We removed everything before the first section, as well as the
bibliography. We also removed the comments from the .tex files, and inline-expanded
definitions and macros written by users." RedPajama v1 ``data_prep/arxiv/arxiv_cleaner.py``
implements it; we keep its steps and fix what it gets wrong:

* The section regex is written from the LaTeX sectioning commands, ``\\part`` …
  ``\\subparagraph``, starred or not, followed by a non-letter (RedPajama's lacks a ``|``
  between ``paragraph`` and ``subparagraph``). The search starts after ``\\begin{document}``,
  so a ``\\renewcommand\\section`` or ``\\titleformat{\\section}`` in the preamble is no section.
* Comments are ``%`` preceded by an even number of backslashes (``\\\\%`` is a line break
  then a comment, ``\\%`` a percent sign). Verbatim-like environments and ``\\verb`` keep
  their ``%``; the ``comment`` environment is removed.
* ``\\input``/``\\include`` are inlined recursively (depth-bounded, cycle-safe); a missing file
  is left as is, as LaTeX sources on arXiv often dangle. The flattened size and the number
  of inlined copies are bounded (``cfg.max_flattened_bytes``, ``cfg.max_inputs``): an
  ``\\input`` fan-out is quarantined naming the limit instead of exhausting memory.
* The bibliography is cut from the first ``\\bibliography{``, ``\\printbibliography``,
  ``\\begin{thebibliography}`` or ``\\begin{references}`` to ``\\end{document}``.
  **Appendices are kept** (``cfg.keep_appendix``): LLaMA only says "bibliography", and an
  appendix holds derivations and proofs. RedPajama cuts at ``\\appendix``; an appendix that
  follows the bibliography is re-attached after the cut. ``keep_appendix: false`` restores
  RedPajama's behaviour.
* Argument-less macros from ``\\newcommand``/``\\renewcommand``/``\\providecommand`` (starred
  or not, ``{\\x}`` or ``\\x``, optional ``[0]``) and ``\\def``/``\\gdef`` without a parameter
  text are expanded, with balanced-brace bodies over several lines. Expansion is bounded by
  ``cfg.max_macro_expansions`` and ``cfg.max_macro_depth`` passes, so ``\\def\\a{\\a}`` stops,
  and may add at most the body's length + 1 Mi characters, so a huge body used thousands of
  times cannot build gigabytes of text.
  LaTeX structure commands (``\\section``, ``\\begin``, ``\\item`` …) are never expanded even
  when a class redefines them. All definitions of one paper are global and the last wins.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from filters.base import BadRecord, Step, Verdict
from filters.document import Document
from filters.sources.arxiv.config import ArxivConfig

NO_SECTION = "no_section"
EMPTY = "empty"
NO_TEX = "no_tex"

SECTION = re.compile(
    r"\\(?:part|chapter|section|subsection|subsubsection|paragraph|subparagraph)\*?(?![A-Za-z@])"
)
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_DOCUMENTCLASS = re.compile(r"\\document(?:class|style)(?![A-Za-z])")
BIBLIOGRAPHY = re.compile(
    r"\\bibliography\s*\{|\\printbibliography(?![A-Za-z])|\\begin\s*\{(?:thebibliography|references|REFERENCES)\}"
)
_APPENDIX = re.compile(r"\\appendix(?![A-Za-z])|\\begin\s*\{appendix\}")

# Environments whose content is taken literally (so a % inside is no comment).
_VERBATIM_ENVS = "verbatim|Verbatim|BVerbatim|lstlisting|minted|alltt|spverbatim"
VERBATIM_SPANS = re.compile(
    r"\\begin\s*\{(" + _VERBATIM_ENVS + r")\*?\}.*?\\end\s*\{\1\*?\}"
    r"|\\verb\*?([^A-Za-z\s*])(?:(?!\2).)*\2",
    re.S,
)
_COMMENT_ENV = re.compile(r"\\begin\s*\{comment\}.*?\\end\s*\{comment\}[ \t]*\n?", re.S)
# % preceded by an even number of backslashes (possibly none).
_INLINE_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%.*")

_INPUT = re.compile(r"\\(?:input|include)(?![A-Za-z])\s*(?:\{\s*([^{}\n]+?)\s*\}|([^\s{}\\%]+))")

_DEFINITION = re.compile(
    r"\\(?:(?:re)?newcommand|providecommand)\*?\s*(?:\{\s*\\([A-Za-z]+)\s*\}|\\([A-Za-z]+))"
    r"|\\g?def\s*\\([A-Za-z]+)"
)
_CONTROL_WORD = re.compile(r"\\([A-Za-z]+)(?![A-Za-z@])(\{\})?")
# Never expanded: redefining these changes document structure, not words.
STRUCTURAL = frozenset((
    "part", "chapter", "section", "subsection", "subsubsection", "paragraph", "subparagraph",
    "begin", "end", "item", "input", "include", "appendix", "bibliography", "documentclass",
    "usepackage", "def", "gdef", "newcommand", "renewcommand", "providecommand", "label", "ref",
    "cite", "caption", "par", "maketitle", "title", "author", "abstract", "footnote", "thanks",
))


def strip_comments(tex: str) -> str:
    """Remove full-line and inline ``%`` comments and ``comment`` environments."""
    tex = _COMMENT_ENV.sub("", tex)
    out: list[str] = []
    pos = 0
    for match in VERBATIM_SPANS.finditer(tex):
        out.append(_strip_comments_plain(tex[pos:match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_strip_comments_plain(tex[pos:]))
    return "".join(out)


def _strip_comments_plain(tex: str) -> str:
    if "%" not in tex:
        return tex
    out = []
    # Line by line: the regexes only run on the few lines that contain a '%'.
    for line in tex.split("\n"):
        if "%" not in line:
            out.append(line)
        elif not line.lstrip(" \t").startswith("%"):
            out.append(_INLINE_COMMENT.sub(_keep_backslashes, line))
        # else: a full-line comment, removed with its line break
    return "\n".join(out)


def _keep_backslashes(match: re.Match[str]) -> str:
    return match.group(1)


def find_main(files: dict[str, str]) -> str | None:
    """The main file: one with ``\\documentclass``, preferring one with ``\\begin{document}``."""
    candidates = [name for name, text in files.items() if _DOCUMENTCLASS.search(strip_comments(text))]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (not _BEGIN_DOCUMENT.search(files[n]), n.count("/"), len(n), n))


@dataclass
class FlattenResult:
    text: str
    inlined: list[str]
    missing: list[str]


def flatten(files: dict[str, str], main: str, max_depth: int = 8,
            max_chars: int | None = None, max_inputs: int | None = None) -> FlattenResult:
    """``main`` with every ``\\input``/``\\include`` replaced by that file (comments stripped).

    Names resolve against the archive root and the including file's folder, with and without
    ``.tex``. A file already on the inclusion stack (a cycle) or beyond ``max_depth`` is left
    as the command, as is a missing file.

    A file may be inlined more than once (a shared macro file, a repeated table), so files
    that ``\\input`` each other several times grow exponentially with depth: ten files of a
    338-byte tarball reach gigabytes. The flattened text therefore has a budget: the main
    file plus every inlined copy may hold at most ``max_chars`` characters and at most
    ``max_inputs`` copies may be inlined. Past either, :class:`BadRecord` names the limit
    (the paper is quarantined) before the text is built, so memory stays within the budget.
    """
    inlined: list[str] = []
    missing: list[str] = []
    stripped: dict[str, str] = {}
    used = 0

    def text_of(name: str) -> str:
        nonlocal used
        if name not in stripped:
            stripped[name] = strip_comments(files[name])
        used += len(stripped[name])
        if max_chars is not None and used > max_chars:
            raise BadRecord(f"\\input expansion exceeds max_flattened_bytes={max_chars} "
                            f"(after {len(inlined)} inlined files, at {name!r})")
        return stripped[name]

    def resolve(name: str, base_dir: str) -> str | None:
        for folder in (base_dir, ""):
            for candidate in (name, name + ".tex"):
                path = posixpath.normpath(posixpath.join(folder, candidate))
                if path in files:
                    return path
        return None

    def expand(name: str, stack: tuple[str, ...]) -> str:
        text = text_of(name)
        base_dir = posixpath.dirname(name)

        def replace(match: re.Match[str]) -> str:
            target = (match.group(1) or match.group(2) or "").strip()
            path = resolve(target, base_dir)
            if path is None:
                missing.append(target)
                return match.group(0)
            if path in stack or len(stack) > max_depth:
                return match.group(0)
            if max_inputs is not None and len(inlined) >= max_inputs:
                raise BadRecord(f"\\input expansion exceeds max_inputs={max_inputs} inlined files (at {path!r})")
            inlined.append(path)
            return expand(path, stack + (path,))

        return _INPUT.sub(replace, text)

    return FlattenResult(expand(main, (main,)), inlined, missing)


# --- macros ----------------------------------------------------------------------------


def _balanced_group(text: str, start: int) -> int | None:
    """Index after the ``{...}`` group opening at ``start`` (escaped braces skipped), or None."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def extract_macros(tex: str) -> tuple[dict[str, str], str]:
    """Argument-less macro definitions, and ``tex`` with those definitions removed.

    Definitions with arguments (``[n]`` with n > 0, or a ``\\def`` parameter text) are left in
    the text untouched and not expanded.
    """
    macros: dict[str, str] = {}
    out: list[str] = []
    pos = 0
    for match in _DEFINITION.finditer(tex):
        if match.start() < pos:
            continue
        name = match.group(1) or match.group(2) or match.group(3)
        i = match.end()
        while i < len(tex) and tex[i] in " \t\n":
            i += 1
        if match.group(3) is None:  # \newcommand family: optional [n] then optional [default]
            arity = re.match(r"\[\s*(\d+)\s*\]\s*", tex[i:])
            if arity:
                if int(arity.group(1)) > 0:
                    continue
                i += arity.end()
        body_end = _balanced_group(tex, i)  # \def\x#1{...}: '#' is no '{', so skipped
        if body_end is None:
            continue
        if name not in STRUCTURAL:
            macros[name] = tex[i + 1:body_end - 1]
        out.append(tex[pos:match.start()])
        pos = body_end
    out.append(tex[pos:])
    return macros, "".join(out)


@dataclass
class ExpansionResult:
    text: str
    expansions: int
    capped: bool


def expand_macros(tex: str, macros: dict[str, str], max_expansions: int, max_depth: int,
                  max_added_chars: int | None = None) -> ExpansionResult:
    """Replace every use of an argument-less macro by its body, pass after pass.

    A body may use other macros, so passes repeat until nothing changes, for at most
    ``max_depth`` passes and ``max_expansions`` replacements in total; ``\\def\\a{\\a}`` or
    ``\\def\\a{\\a\\a}`` therefore ends with ``capped=True`` instead of hanging.

    Expansion also stops (``capped``) before it adds more than ``max_added_chars``
    characters (default: the input's length + 1 Mi): a 1 MB body used 10,000 times would
    otherwise build a 10 GB string. Real papers grow by a few percent.
    """
    if not macros:
        return ExpansionResult(tex, 0, False)
    budget = len(tex) + (1 << 20) if max_added_chars is None else max_added_chars
    count = 0
    added = 0
    capped = False

    def replace(match: re.Match[str]) -> str:
        nonlocal count, capped, added
        body = macros.get(match.group(1))
        if body is None:
            return match.group(0)
        growth = len(body) - len(match.group(0))
        if count >= max_expansions or added + growth > budget:
            capped = True
            return match.group(0)
        count += 1
        added += growth
        return body

    for _ in range(max_depth):
        before = count
        tex = _CONTROL_WORD.sub(replace, tex)
        if count == before or capped:
            break
    else:
        # The last allowed pass still expanded something: a self-referencing macro.
        capped = capped or any(m.group(1) in macros for m in _CONTROL_WORD.finditer(tex))
    return ExpansionResult(tex, count, capped)


# --- document structure ----------------------------------------------------------------


def body_from_first_section(tex: str) -> str | None:
    """From the first sectioning command after ``\\begin{document}``; None if there is none."""
    begin = _BEGIN_DOCUMENT.search(tex)
    offset = begin.end() if begin else 0
    match = SECTION.search(tex, offset)
    if match is None:
        return None
    return tex[match.start():]


def cut_bibliography(tex: str, keep_appendix: bool = True) -> str:
    """Drop ``\\end{document}`` onward and the bibliography onward (see module doc)."""
    end = _END_DOCUMENT.search(tex)
    if end:
        tex = tex[:end.start()]
    bib = BIBLIOGRAPHY.search(tex)
    if not keep_appendix:
        appendix = _APPENDIX.search(tex)
        if appendix and (bib is None or appendix.start() < bib.start()):
            return tex[:appendix.start()]
    if bib is None:
        return tex
    head = tex[:bib.start()]
    appendix = _APPENDIX.search(tex, bib.end()) if keep_appendix else None
    if appendix is None:
        return head
    return head.rstrip() + "\n\n" + tex[appendix.start():]


_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")


class ArxivCleaner(Step):
    """Flattened LaTeX source → the text LLaMA trained on (see module doc).

    Every rule is a bounded regex pass or a bounded expansion (``cfg.max_macro_*``) over a
    string: no input makes it raise, so it declares no data errors.
    """

    name = "arxiv_clean"
    version = 1

    def __init__(self, cfg: ArxivConfig) -> None:
        self.cfg = cfg

    def __call__(self, doc: Document) -> Document:
        cfg = self.cfg
        tex = strip_comments(doc.text)
        macros, tex = extract_macros(tex)
        body = body_from_first_section(tex)
        info = {"macros": len(macros), "has_section": body is not None, "expansions": 0, "expansion_capped": False}
        if body is None:
            return doc.with_text("").annotated(**{self.name: info})
        body = cut_bibliography(body, keep_appendix=cfg.keep_appendix)
        expanded = expand_macros(body, macros, cfg.max_macro_expansions, cfg.max_macro_depth)
        info["expansions"] = expanded.expansions
        info["expansion_capped"] = expanded.capped
        text = _BLANK_LINES.sub("\n\n", expanded.text).strip() + "\n"
        return doc.with_text(text.lstrip("\n") if text.strip() else "").annotated(**{self.name: info})


class ArxivFilter(Step):
    """Drops papers the cleaner left empty.

    Drop reasons: ``no_section`` (no sectioning command: RedPajama also yields nothing),
    ``empty``.
    """

    name = "arxiv_filter"
    version = 1
    reasons = (NO_SECTION, EMPTY)

    def __init__(self, cfg: ArxivConfig) -> None:
        self.cfg = cfg

    def __call__(self, doc: Document) -> Verdict:
        if doc.text.strip():
            return Verdict.kept(chars=len(doc.text))
        info = doc.annotations.get(ArxivCleaner.name) or {}
        return Verdict.dropped(EMPTY if info.get("has_section", True) else NO_SECTION)
