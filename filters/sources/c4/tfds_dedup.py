"""C4's URL dedup and line dedup as TFDS built C4 (``c4_utils``), the pure halves.

URL dedup (``normalize_url`` + ``GroupByKey`` + ``dedupe_urls``, run right after the length
check and before cleaning):

* the URL is normalised: ``https?://(www.)?`` stripped, a query starting ``?utm_``, ``?ref``
  or ``?feed`` cut off, trailing ``/`` removed;
* among pages with the same normalised URL, the one whose text has the largest
  ``md5(text)`` hex digest is kept (the 2021 code: deterministic; the 2019 code kept
  whichever came last).

Line dedup (``remove_duplicate_text``, after ``clean_page``):

* every line of a page is keyed by ``md5(line.strip().lower())``;
* for every key one URL is selected, the one with the smallest ``md5(url)`` hex digest
  (``Top.PerKey(1, key=md5, reverse=True)``: "hash before comparison to avoid biasing by
  domain"); only the page at that URL keeps the line;
* in that page only the first copy of the line stays (``local_duplicate``);
* a page left empty, or with fewer than ``min_sentences`` sentences in its whole new text,
  is dropped.

The Beam side is ``stages/c4_dedup.py``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from filters.sources.c4.sentences import split_sentences

# Drop reasons.
C4_DUPLICATE_URL = "c4_duplicate_url"
C4_EMPTY_AFTER_DEDUP = "c4_empty_after_dedup"
C4_TOO_FEW_SENTENCES_AFTER_DEDUP = "c4_too_few_sentences_after_dedup"

# Hashing text with a lone surrogate (a JSON "\ud800" escape) cannot encode it: bad data.
DEDUP_DATA_ERRORS: tuple[type[BaseException], ...] = (UnicodeError,)

_SCHEME_RE = re.compile(r"https?:\/\/(www\.)?")
_TRACKING_RE = re.compile(r"\?(utm_|ref|feed).*")


def md5_hex(text: str) -> str:
    """TFDS ``_hash_text``."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def normalize_url(url: str) -> str:
    """TFDS ``normalize_url``."""
    url = _SCHEME_RE.sub("", url)
    url = _TRACKING_RE.sub("", url)
    return url.rstrip("/")


def url_winner(texts: Iterable[tuple[str, str]]) -> str | None:
    """Of ``(page_id, text)`` pairs sharing one normalised URL, the id of the page TFDS keeps
    (largest ``md5(text)``; the smaller id on equal texts, so the choice is deterministic)."""
    best: tuple[str, str] | None = None
    for page_id, text in texts:
        candidate = (md5_hex(text), page_id)
        if best is None or candidate[0] > best[0] or (candidate[0] == best[0] and candidate[1] < best[1]):
            best = candidate
    return None if best is None else best[1]


def line_hash(line: str) -> str:
    """The key of a line (TFDS ``_emit_url_to_lines``)."""
    return md5_hex(line.strip().lower())


def page_line_hashes(text: str) -> list[str]:
    """One key per line of ``text.split("\\n")``."""
    return [line_hash(line) for line in text.split("\n")]


def url_rank(url: str) -> str:
    """The value whose minimum selects the URL that keeps a line."""
    return md5_hex(url)


@dataclass(frozen=True, slots=True)
class LineDedupResult:
    """A page after TFDS line dedup."""

    text: str
    global_duplicates: int
    local_duplicates: int


def remove_lines(text: str, owned: Collection[str]) -> LineDedupResult:
    """TFDS ``_remove_lines_from_text``: keeps the first copy of each line this page owns."""
    kept: list[str] = []
    seen: set[str] = set()
    global_dups = local_dups = 0
    for line in text.split("\n"):
        key = line_hash(line)
        if key not in owned:
            global_dups += 1
        elif key in seen:
            local_dups += 1
        else:
            kept.append(line)
            seen.add(key)
    return LineDedupResult("\n".join(kept), global_dups, local_dups)


def drop_reason(result: LineDedupResult, min_sentences: int) -> str | None:
    """Why a deduped page is dropped, or None (sentences counted on the whole new text)."""
    if not result.text:
        return C4_EMPTY_AFTER_DEDUP
    if min_sentences and len(split_sentences(result.text)) < min_sentences:
        return C4_TOO_FEW_SENTENCES_AFTER_DEDUP
    return None
