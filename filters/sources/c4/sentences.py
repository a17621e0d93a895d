"""Sentence splitting for C4's rules: a small deterministic stand-in for nltk's punkt.

TFDS counts sentences with nltk's English punkt model. :func:`split_sentences` splits on a
terminal ``.?!`` plus closing quotes/brackets followed by whitespace, except after a short
list of English abbreviations and single-letter initials. It agrees with punkt on ordinary
prose; punkt additionally learns abbreviations and uses orthographic context, so counts can
differ on pages full of unusual abbreviations. It needs no model download, which nltk's does.
"""

from __future__ import annotations

import re

# A terminal mark run, optional closing quotes/brackets, then whitespace or the end.
_BOUNDARY_RE = re.compile(r"""[.!?]+["'”’»)\]]*(?=\s|$)""")
# Common English abbreviations after which a period does not end a sentence (lower-cased,
# without the final period). punkt learns such a list from data; this one is fixed.
# Ordinary words that are also abbreviations ("no", "est") are left out: a sentence ending
# in them is commoner than the abbreviation.
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "e.g", "i.e",
    "cf", "al", "inc", "ltd", "corp", "vol", "vols", "pp", "fig", "figs",
    "jan", "feb", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "u.s", "u.k", "a.m", "p.m", "approx", "dept", "gov",
})


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, deterministically (our stand-in for nltk punkt).

    Args:
        text: One line or a whole page.

    Returns:
        The non-empty, stripped sentences in order; text without a terminal mark is one
        sentence.
    """
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(text):
        mark = match.group()
        if mark.rstrip("\"'”’»)]") == ".":
            # Only the last word before the period matters; abbreviations are short, so a
            # bounded window avoids rescanning long lines (a cut-off word is never one).
            tokens = text[max(start, match.start() - 24):match.start()].split()
            word = tokens[-1].lstrip("(\"'“‘") if tokens else ""
            # "Dr. Smith", "e.g. this", "J. R. R. Tolkien": not a sentence end.
            if word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        sentence = text[start:match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences
