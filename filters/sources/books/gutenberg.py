"""Books: Project Gutenberg boilerplate removal and book-level near-duplicate detection.

LLaMA (arXiv 2302.13971 §2): Gutenberg + Books3, "we perform deduplication at the book
level, removing books with more than 90% content overlap."

Boilerplate: the Gutenberg header ends at a start marker and the license footer begins at
an end marker; both old and new styles are recognised (``*** START OF THE/THIS PROJECT
GUTENBERG EBOOK …``, ``*END*THE SMALL PRINT!``, ``*** END OF …``, ``End of the Project
Gutenberg EBook of …``, ``End of Project Gutenberg's …``). A file with no marker (e.g. a
body-only copy) is left as it is.

Overlap, measured properly (RedPajama used SimHash with Hamming distance ≤ 5, which
implements no percentage at all; RedPajama v1 ``data_prep/book/dedup.py``):

* A book's content is the *set* of its word 5-gram shingles (lower-cased ``\\w+`` words),
  each hashed to 64 bits.
* **overlap(A, B) = |A ∩ B| / min(|A|, |B|)**, the containment of the smaller book in the
  larger, so a book that is a subset of another (an abridged copy, a body-only copy, one
  volume of a collection) counts as a duplicate, which Jaccard would miss. A book is
  dropped when its overlap with a more complete book is *more than* ``overlap_threshold``.
* Candidate pairs come from hash-sampled shingles (a shingle is sampled iff its mixed hash
  is below a global threshold, so a contained book's samples are a subset of its
  container's, whatever the length ratio); every candidate is then verified exactly on the
  shingle sets, so sampling can only miss pairs, never invent them (stages/books_dedup.py).
  Of a verified pair, the book with fewer shingles (the less complete) is dropped.

Drop reasons: ``empty`` (BooksFilter), ``near_duplicate_book`` (the dedup stage).
"""

from __future__ import annotations

import re

import numpy as np

from filters.base import Step, Verdict
from filters.document import Document
from filters.minhash import word_shingle_hashes
from filters.sources.books.config import BooksConfig

EMPTY = "empty"
NEAR_DUPLICATE_BOOK = "near_duplicate_book"

_START_MARKERS = re.compile(
    r"(?im)^[ \t]*(?:\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*"
    r"|\*END\*THE SMALL PRINT![^\n]*)$"
)
_END_MARKERS = re.compile(
    r"(?im)^[ \t]*(?:\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*"
    r"|End of (?:the |this )?Project Gutenberg(?:'s)?\b[^\n]*)$"
)
_TITLE = re.compile(r"(?m)^Title:[ \t]*(.+)$")
_WORD = re.compile(r"\w+")
# A start marker further in than this fraction of the file is book text quoting the marker.
_HEADER_FRACTION = 0.5


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def gutenberg_title(text: str) -> str | None:
    """The ``Title:`` line of a Gutenberg header, if there is one near the top."""
    match = _TITLE.search(text[:20_000])
    return match.group(1).strip() if match else None


def strip_gutenberg(text: str) -> tuple[str, bool, bool]:
    """``text`` without the Gutenberg header and license footer; (text, header_cut, footer_cut)."""
    start = 0
    header = False
    limit = len(text) * _HEADER_FRACTION
    for match in _START_MARKERS.finditer(text):
        if match.start() > limit:
            break
        start = match.end()
        header = True
    end_match = _END_MARKERS.search(text, start)
    end = end_match.start() if end_match else len(text)
    return text[start:end].strip("\n\r\t ") + "\n", header, end_match is not None


class GutenbergCleaner(Step):
    """Removes the Project Gutenberg header and license footer (a no-op without markers)."""

    name = "gutenberg_clean"
    version = 1

    def __init__(self, cfg: BooksConfig) -> None:
        self.cfg = cfg

    def __call__(self, doc: Document) -> Document:
        text, header, footer = strip_gutenberg(normalize_newlines(doc.text))
        if not text.strip():
            text = ""
        out = doc.with_text(text) if (header or footer or text != doc.text) else doc
        return out.annotated(**{self.name: {"header_removed": header, "footer_removed": footer,
                                            "removed_chars": len(doc.text) - len(text)}})


class BooksFilter(Step):
    """Drops books with no text left after cleaning.

    Drop reasons: ``empty``.
    """

    name = "books_filter"
    version = 1
    reasons = (EMPTY,)

    def __init__(self, cfg: BooksConfig) -> None:
        self.cfg = cfg

    def __call__(self, doc: Document) -> Verdict:
        if not doc.text.strip():
            return Verdict.dropped(EMPTY)
        return Verdict.kept(chars=len(doc.text))


# --- near-duplicate detection (pure parts; the Beam graph is stages/books_dedup.py) ---
# Hashing and sampling are filters/minhash.py's; what is the books' own is how a
# book's words are split, that short books are never compared, and the exact containment.


def book_shingles(text: str, n: int) -> np.ndarray:
    """Sorted unique 64-bit hashes of the word ``n``-grams of ``text`` (lower-cased ``\\w+``).

    64 bits (``filters.minhash.word_shingle_hashes``) so that :func:`containment` on the hash
    sets is exact in practice; a book of fewer than ``n`` words has no shingles.
    """
    words = [w.encode("utf-8") for w in _WORD.findall(text.lower())]
    if len(words) < n:
        return np.zeros(0, dtype=np.uint64)
    return np.unique(word_shingle_hashes(words, n, bits=64))


def containment(a: np.ndarray, b: np.ndarray) -> float:
    """|A ∩ B| / min(|A|, |B|) for two sorted unique hash arrays (0.0 if either is empty)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    shared = np.intersect1d(a, b, assume_unique=True).size
    return shared / min(len(a), len(b))


def is_near_duplicate(overlap: float, cfg: BooksConfig) -> bool:
    """LLaMA: *more than* 90% overlap."""
    return overlap > cfg.overlap_threshold
