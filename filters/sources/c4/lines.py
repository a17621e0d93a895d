"""C4's line rules (TFDS ``c4_utils.clean_page`` plus ``is_valid_length``), pure and Beam-free.

Line rules, applied to every ``line.strip()`` in TFDS's order (``clean_page``):

1. any word (``line.split()``) longer than ``max_word_length`` = 1000 chars drops the line
   (``_MAX_WORD_LENGTH``);
2. citations ``\\[\\d*\\]|\\[edit\\]|\\[citation needed\\]`` are removed from the line;
3. the line is dropped unless it ends in ``.``, ``?``, ``!`` or ``"`` and not in ``...``
   (``_END_MARKS``, ``_ELLIPSIS``);
4. a line with fewer than ``min_words_per_line`` words is dropped. The default 5 is
   ``_MIN_WORDS_PER_LINE`` of the TFDS code that built C4; the T5 paper's text says
   "at least 3 words" (the code and the paper disagree), so it is configurable;
5. "lorem ipsum" anywhere in a surviving line drops the page;
6. "javascript" drops the line (``Please enable JavaScript`` notices);
7. a ``{`` drops the page ("probably contains javascript code");
8. a policy phrase (``_POLICY_SUBSTRINGS``) drops the line.

A page of more than ``max_page_chars`` = 1.9e5 characters before cleaning is dropped whole
(TFDS ``is_valid_length``). Page-level rules are only *recorded* here (``page_rule``); the
page filter (``filters/sources/c4/rules.py``) decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from filters.sources.c4.config import C4Config
from filters.sources.c4.sentences import split_sentences

# Page drop reasons that the line rules find (C4PageFilter returns them).
C4_TOO_LONG = "c4_too_long"
C4_LOREM_IPSUM = "c4_lorem_ipsum"
C4_CURLY_BRACKET = "c4_curly_bracket"

# Line rules: the keys of annotations["c4_clean"]["lines_removed"].
LINE_TOO_LONG_WORD = "too_long_word"
LINE_NO_END_MARK = "no_end_mark"
LINE_TOO_SHORT = "too_short"
LINE_JAVASCRIPT = "javascript"
LINE_POLICY = "policy"
LINE_RULES = (LINE_TOO_LONG_WORD, LINE_NO_END_MARK, LINE_TOO_SHORT, LINE_JAVASCRIPT, LINE_POLICY)

# TFDS c4_utils constants, verbatim.
CITATION_RE = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
END_MARKS = (".", "?", "!", '"')
ELLIPSIS = "..."
POLICY_SUBSTRINGS = (
    "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies",
)


@dataclass
class CleanResult:
    """What :func:`clean_page_text` did to one page."""

    text: str
    page_rule: str | None = None  # a page drop reason, or None
    chars_in: int = 0
    lines_in: int = 0
    lines_kept: int = 0
    lines_removed: dict[str, int] = field(default_factory=lambda: {rule: 0 for rule in LINE_RULES})
    citations_removed: int = 0
    sentences: int = 0

    def summary(self) -> dict[str, Any]:
        """The annotation stored under ``annotations["c4_clean"]``."""
        return {
            "page_rule": self.page_rule,
            "chars_in": self.chars_in,
            "lines_in": self.lines_in,
            "lines_kept": self.lines_kept,
            "lines_removed": dict(self.lines_removed),
            "citations_removed": self.citations_removed,
            "sentences": self.sentences,
        }


def clean_page_text(text: str, cfg: C4Config) -> CleanResult:
    """TFDS ``clean_page`` (plus ``is_valid_length``) on one page's text.

    Args:
        text: The page text, one line per text block (WET-like).
        cfg: Thresholds (``min_words_per_line``, ``max_word_length``, ``max_page_chars``).

    Returns:
        The kept lines joined by ``\\n``, per-rule line counts, the sentence count of the kept
        lines, and ``page_rule`` when a page-level rule fired; then ``text`` is the input,
        unchanged, because the page will be dropped whole.
    """
    result = CleanResult(text=text, chars_in=len(text))
    if len(text) > cfg.max_page_chars:
        result.page_rule = C4_TOO_LONG
        return result
    lines = text.splitlines()
    result.lines_in = len(lines)
    removed = result.lines_removed
    kept: list[str] = []
    for raw in lines:
        line = raw.strip()
        # A line no longer than the limit cannot hold a longer word: skip the split.
        if len(line) > cfg.max_word_length and any(len(word) > cfg.max_word_length for word in line.split()):
            removed[LINE_TOO_LONG_WORD] += 1
            continue
        line, n_citations = CITATION_RE.subn("", line)
        result.citations_removed += n_citations
        if not line.endswith(END_MARKS) or line.endswith(ELLIPSIS):
            removed[LINE_NO_END_MARK] += 1
            continue
        if len(line.split()) < cfg.min_words_per_line:
            removed[LINE_TOO_SHORT] += 1
            continue
        lower = line.lower()
        if "lorem ipsum" in lower:
            result.page_rule = C4_LOREM_IPSUM
            return result
        if "javascript" in lower:
            removed[LINE_JAVASCRIPT] += 1
            continue
        if "{" in line:
            result.page_rule = C4_CURLY_BRACKET
            return result
        if any(phrase in lower for phrase in POLICY_SUBSTRINGS):
            removed[LINE_POLICY] += 1
            continue
        result.sentences += len(split_sentences(line))
        kept.append(line)
    result.lines_kept = len(kept)
    result.text = "\n".join(kept).strip()
    return result
