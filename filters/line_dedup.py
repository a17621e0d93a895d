"""CCNet line-level dedup, the pure part: line keys, dedup groups and the rewrite of one document.

Semantics of cc_net's ``mine`` (``cc_net/dedup.py`` ``HashesCollector`` + ``DuplicatesRemover``
+ ``finalize_doc``, ``cc_net/flat_hash_set.py``), reproduced exactly by default:

* unit: the lines of the text, ``text.split("\\n")``;
* key: the first 8 bytes of ``sha1(normalize_for_dedup(line))`` read as a little-endian
  ``uint64`` (``normalize_for_dedup``: strip, lower-case, digits → 0, Unicode punctuation and
  control characters removed; ASCII punctuation kept). A blank line is a key too (the hash of
  the empty string), exactly as in cc_net;
* a key is *duplicated* when it occurs in two or more documents of one dedup group (cc_net's
  hash set is filled document by document: a key repeated only inside one document is still
  "added once"). Every line with a duplicated key is removed, in every document;
* inside one document, a line whose key was already kept earlier in that document is
  removed: the first copy stays (``finalize_doc``'s ``seen`` set);
* a document with no line left is dropped.

Named variants (``LineDedupConfig.repeats_in_doc``): ``keep_first`` (cc_net, default) and
``drop_all`` (our earlier semantics: every occurrence counts, so a line repeated inside one
document loses every copy).

Dedup groups (``LineDedupConfig.scope``): cc_net dedups one Common Crawl snapshot, shard by
shard, against the hashes of a *group* of consecutive shards (``hash_in_mem`` = 50 of 1,600
shards). ``snapshot`` groups the input files by their snapshot id (``CC-MAIN-2023-06`` in the
path, as Common Crawl lays files out under ``crawl-data/CC-MAIN-2023-06/...``), optionally cut
into groups of ``group_files`` consecutive files in name order (cc_net's hash groups);
``global`` dedups the whole run as one group. :func:`file_groups` does the mapping.

The kept text is the kept lines joined by ``\\n``. Like cc_net we keep the bookkeeping that
lets anyone rebuild the text from the original record: ``original_nlines``,
``original_length`` and ``line_ids`` (indices of the kept lines).

The Beam side (count keys per group, join back) is ``stages/line_dedup.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from filters.normalize import normalize_for_dedup

HASH_BYTES = 8  # cc_net HASH_SIZE: np.uint64

# Drop reasons (stage "line_dedup").
TOO_SHORT = "too_short"
EMPTY_AFTER_DEDUP = "empty_after_dedup"

KEEP_FIRST = "keep_first"  # cc_net: the first copy of a line repeated inside one document stays
DROP_ALL = "drop_all"  # every copy of a line that occurs twice anywhere goes

# What hashing the lines of bad text raises: a lone surrogate cannot be encoded to UTF-8.
LINE_DATA_ERRORS: tuple[type[BaseException], ...] = (UnicodeError,)

# Common Crawl lays its files out as crawl-data/CC-MAIN-YYYY-WW/segments/...; our own samples
# name the snapshot in the file name (resiliparse-CC-MAIN-2020-34-sample.warc.gz).
_SNAPSHOT = re.compile(r"CC-MAIN-(\d{4}-\d{2})(?!\d)")
UNKNOWN_SNAPSHOT = "unknown"


def line_key(line: str) -> int:
    """The dedup key of one line (cc_net ``compute_hashes``)."""
    digest = hashlib.sha1(normalize_for_dedup(line).encode("utf-8")).digest()
    return int.from_bytes(digest[:HASH_BYTES], "little")


def line_keys(text: str) -> list[int]:
    """One key per line of ``text.split("\\n")``; none for an empty text (cc_net skips it)."""
    if not text:
        return []
    return [line_key(line) for line in text.split("\n")]


def doc_key_occurrences(keys: list[int], repeats_in_doc: str = KEEP_FIRST) -> list[int]:
    """The keys one document contributes to its group's count.

    ``keep_first`` counts a document once per distinct key (a key is duplicated when two
    documents hold it); ``drop_all`` counts every line.
    """
    if repeats_in_doc == DROP_ALL:
        return list(keys)
    return sorted(set(keys))


def duplicated_keys(docs_keys: Iterable[list[int]], repeats_in_doc: str = KEEP_FIRST) -> set[int]:
    """Keys counted more than once over the documents of one group (in-memory reference)."""
    seen: set[int] = set()
    duplicated: set[int] = set()
    for keys in docs_keys:
        for key in doc_key_occurrences(keys, repeats_in_doc):
            if key in seen:
                duplicated.add(key)
            seen.add(key)
    return duplicated


def snapshot_of(path: str) -> str:
    """The Common Crawl snapshot id (``2023-06``) named in a file path, or ``unknown``."""
    found = _SNAPSHOT.findall(path)
    return found[0] if found else UNKNOWN_SNAPSHOT  # the crawl-data/CC-MAIN-.../ folder comes first


def file_groups(paths: Iterable[str], scope: str, group_files: int = 0) -> dict[str, str]:
    """Dedup group of each input file, keyed by its basename (what ``doc.meta["file"]`` holds).

    Args:
        paths: the run's input files.
        scope: ``global`` (one group) or ``snapshot``.
        group_files: with ``snapshot``, cut each snapshot's files, sorted by name, into groups
            of this many consecutive files (cc_net: ``hash_in_mem`` shards of one snapshot);
            0 keeps a snapshot whole.

    Raises:
        ValueError: two input files share a basename but fall in different groups.
    """
    by_snapshot: dict[str, list[str]] = {}
    for path in paths:
        by_snapshot.setdefault(snapshot_of(path) if scope != "global" else "", []).append(path)
    groups: dict[str, str] = {}
    for snapshot, members in sorted(by_snapshot.items()):
        for index, path in enumerate(sorted(members, key=os.path.basename)):
            group = snapshot if group_files <= 0 else f"{snapshot}/{index // group_files}"
            name = os.path.basename(path)
            if groups.setdefault(name, group) != group:
                raise ValueError(f"line_dedup: input files named {name!r} fall in two dedup groups")
    return groups


def group_of(file: str, groups: dict[str, str], scope: str) -> str:
    """Dedup group of a document read from ``file`` (a basename); unlisted files go by their name."""
    if scope == "global":
        return ""
    group = groups.get(file)
    return group if group is not None else snapshot_of(file)


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


def remove_lines(text: str, keys: list[int], duplicated: Collection[int]) -> DedupResult:
    """Drops the lines whose key is duplicated, and later copies of a line already kept.

    Args:
        text: the document text.
        keys: ``line_keys(text)`` (passed in so the hashing is done once).
        duplicated: the keys counted more than once in the document's dedup group.

    Returns:
        The kept text and bookkeeping.
    """
    lines = text.split("\n") if text else []
    if len(lines) != len(keys):
        raise ValueError(f"{len(keys)} keys for {len(lines)} lines")
    kept_ids = []
    seen: set[int] = set()
    for i, key in enumerate(keys):
        # cc_net zeroes the hash of a removed line and drops hash 0 (finalize_doc: h != 0).
        if key not in duplicated and key not in seen and key != 0:
            kept_ids.append(i)
        seen.add(key)
    return DedupResult(
        text="\n".join(lines[i] for i in kept_ids),
        line_ids=tuple(kept_ids),
        original_nlines=len(lines),
        original_length=len(text),
    )


def too_short(text: str, min_doc_chars: int) -> bool:
    """cc_net ``min_len``: a page shorter than this many characters is not mined at all."""
    return len(text) < min_doc_chars


def drop_reason(result: DedupResult, min_doc_chars: int) -> str | None:
    """Why a deduped document is dropped (``empty_after_dedup``, ``too_short``), or None.

    ``min_doc_chars`` is 0 when the length rule ran before dedup (cc_net) and the configured
    minimum when it runs after (``min_chars_at: after``).
    """
    if not result.line_ids:
        return EMPTY_AFTER_DEDUP
    if too_short(result.text, min_doc_chars):
        return TOO_SHORT
    return None
