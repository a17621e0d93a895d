"""CCNet line-level dedup, the pure part: line keys and the rewrite of one document.

Semantics (``cc_net/dedup.py``, ``cc_net/flat_hash_set.py``), reproduced exactly:

* unit: the lines of the text, ``text.split("\\n")``;
* key: the first 8 bytes of ``sha1(normalize_for_dedup(line))`` read as a little-endian
  ``uint64`` (``normalize_for_dedup``: strip, lower-case, digits → 0, Unicode punctuation and
  control characters removed; ASCII punctuation kept);
* **every** copy of a line whose key occurs more than once in the input is removed,
  including the first one and including repeats inside one document. This is not
  "keep first": it strips boilerplate (menus, cookie banners, footers) from every page.

Lines that normalise to nothing (blank, or only Unicode punctuation / control characters)
are not keys and are removed from the text. cc_net hashes them as the empty string, which
repeats across any real corpus, so they are removed there too; we just do not ship a key that
every document shares.

The kept text is the kept lines joined by ``\\n``. Like cc_net we keep the bookkeeping that
lets anyone rebuild the text from the original record: ``original_nlines``,
``original_length`` and ``line_ids`` (indices of the kept lines).

The Beam side (count keys over the whole input, join back) is ``stages/line_dedup.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from filters.normalize import normalize_for_dedup

HASH_BYTES = 8  # cc_net HASH_SIZE: np.uint64

# Drop reasons (stage "line_dedup").
TOO_SHORT = "too_short"
EMPTY_AFTER_DEDUP = "empty_after_dedup"

# What hashing the lines of bad text raises: a lone surrogate cannot be encoded to UTF-8.
LINE_DATA_ERRORS: tuple[type[BaseException], ...] = (UnicodeError,)


def line_key(line: str) -> int | None:
    """The dedup key of one line, or None when the line normalises to nothing."""
    normalized = normalize_for_dedup(line)
    if not normalized:
        return None
    return int.from_bytes(hashlib.sha1(normalized.encode("utf-8")).digest()[:HASH_BYTES], "little")


def line_keys(text: str) -> list[int | None]:
    """One key per line of ``text.split("\\n")`` (None for lines that are not keys)."""
    return [line_key(line) for line in text.split("\n")]


@dataclass(frozen=True, slots=True)
class DedupResult:
    """A document's text after line dedup, with cc_net's bookkeeping."""

    text: str
    line_ids: tuple[int, ...]
    original_nlines: int
    original_length: int

    def annotations(self) -> dict[str, object]:
        """What goes into ``doc.annotations["line_dedup"]``."""
        return {
            "original_nlines": self.original_nlines,
            "original_length": self.original_length,
            "nlines": len(self.line_ids),
            "length": len(self.text),
            "line_ids": list(self.line_ids),
        }


def remove_lines(text: str, keys: list[int | None], duplicated: Collection[int]) -> DedupResult:
    """Drops the lines whose key is duplicated (or None) and rebuilds the text.

    Args:
        text: the document text.
        keys: ``line_keys(text)`` (passed in so the hashing is done once).
        duplicated: every key seen more than once in the whole input.

    Returns:
        The kept text and bookkeeping.
    """
    lines = text.split("\n")
    if len(lines) != len(keys):
        raise ValueError(f"{len(keys)} keys for {len(lines)} lines")
    kept_ids = tuple(i for i, key in enumerate(keys) if key is not None and key not in duplicated)
    return DedupResult(
        text="\n".join(lines[i] for i in kept_ids),
        line_ids=kept_ids,
        original_nlines=len(lines),
        original_length=len(text),
    )


def drop_reason(result: DedupResult, min_doc_chars: int) -> str | None:
    """Why a deduped document is dropped (``empty_after_dedup``, ``too_short``), or None."""
    if not result.line_ids:
        return EMPTY_AFTER_DEDUP
    if len(result.text) < min_doc_chars:
        return TOO_SHORT
    return None
