"""The pure halves of C4's corpus-wide three-sentence span dedup (``stages/c4_dedup.py`` wires them).

C4 (T5 paper §2.2): "discarded all but one of any three-sentence span occurring more than
once". :func:`span_hashes` lists a page's spans; :func:`remove_duplicate_spans` removes the
span occurrences the page does not own.

Drop reason (stage ``c4_dedup``): ``c4_too_few_sentences_after_dedup``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from filters.sources.c4.sentences import split_sentences

C4_TOO_FEW_SENTENCES_AFTER_DEDUP = "c4_too_few_sentences_after_dedup"

# What the span functions raise on bad text: a lone surrogate cannot be encoded to hash it.
SPAN_DATA_ERRORS: tuple[type[BaseException], ...] = (UnicodeError,)

SPAN_SENTENCES = 3


def _page_sentences(text: str) -> list[tuple[int, str]]:
    """(line index, sentence) for every sentence of every line, in order."""
    return [(i, s) for i, line in enumerate(text.split("\n")) for s in split_sentences(line)]


def _span_keys(sentences: list[str], span: int) -> list[str]:
    """md5 of each window of ``span`` sentences, lower-cased with whitespace collapsed.

    Normalising lets trivial variants share a hash (TFDS lower-cases its dedup lines).
    """
    normalised = [" ".join(sentence.lower().split()) for sentence in sentences]
    return [hashlib.md5(" ".join(normalised[i:i + span]).encode()).hexdigest()
            for i in range(len(normalised) - span + 1)]


def span_hashes(text: str, span: int = SPAN_SENTENCES) -> list[str]:
    """md5 of every window of ``span`` consecutive sentences, in page order (with repeats)."""
    return _span_keys([s for _, s in _page_sentences(text)], span)


@dataclass(frozen=True)
class SpanDedupResult:
    text: str
    sentences_in: int
    sentences_removed: int
    spans_removed: int  # span occurrences owned by another page or repeated in this one
    sentences_left: int


def remove_duplicate_spans(text: str, keep: set[str] | frozenset[str],
                           span: int = SPAN_SENTENCES) -> SpanDedupResult:
    """Remove every span occurrence this page does not own (C4 ``remove_duplicate_text``).

    A span occurrence is removed, with all its sentences, when its hash is not in ``keep``
    (another page was chosen to keep it) or when it already occurred earlier in this page.
    Lines that lose sentences are rebuilt from their surviving sentences; emptied lines go.

    Args:
        text: The cleaned page, one line per ``\\n``.
        keep: The span hashes this page was chosen to keep.
        span: Sentences per span.

    Returns:
        The new text and counts.
    """
    located = _page_sentences(text)
    sentences = [s for _, s in located]
    removed: set[int] = set()
    seen: set[str] = set()
    spans_removed = 0
    for i, key in enumerate(_span_keys(sentences, span)):
        if key in keep and key not in seen:
            seen.add(key)
            continue
        spans_removed += 1
        removed.update(range(i, i + span))
    if not removed:
        return SpanDedupResult(text, len(sentences), 0, 0, len(sentences))
    lines = text.split("\n")
    survivors: dict[int, list[str]] = {}
    touched: set[int] = set()
    for index, (line_no, sentence) in enumerate(located):
        if index in removed:
            touched.add(line_no)
        else:
            survivors.setdefault(line_no, []).append(sentence)
    new_lines = []
    for line_no, line in enumerate(lines):
        if line_no not in touched:
            new_lines.append(line)
        elif survivors.get(line_no):
            new_lines.append(" ".join(survivors[line_no]))
    left = len(sentences) - len(removed)
    return SpanDedupResult("\n".join(new_lines).strip(), len(sentences), len(removed), spans_removed, left)
