"""Book-level near-dedup for the books source.

The graph (overlap = shingle containment, see filters/sources/books/gutenberg.py)::

    docs ─ shingles ─ MinHash ─ band keys ─ GroupByKey(band) ─ candidate pairs ─ Distinct
      │        │                                                      │
      │        └──────── CoGroupByKey(book id) ◄── pairs by member ───┘
      │                         │
      │                  GroupByKey(pair) → exact containment > threshold → (larger id, smaller id)
      └──── CoGroupByKey(book id) ◄── drop list ──┘ → kept / dropped ``near_duplicate_book``

A book is dropped when it overlaps a book with a *smaller* id by more than
``books.overlap_threshold``; the smallest id of a group of copies always stays, so the
result does not depend on worker count or order. The shingle sets travel through two
shuffles: fine for books (few, large documents), which is why this is not the generic
``stages.dedup.DedupNearDuplicates`` (that one verifies by estimated Jaccard only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import combinations
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from filters.base import QuarantineRecord, mark_dropped
from filters.document import Document
from filters.minhash import band_keys, minhash_signature
from filters.sources.books.config import BooksConfig
from filters.sources.books.gutenberg import NEAR_DUPLICATE_BOOK, book_shingles, containment, is_near_duplicate
from stages.steps import DROPPED, QUARANTINE, guarded
from stages.streams import step_outputs

STAGE = "book_dedup"
_BANDS = "bands"
_SHINGLES = "shingles"
# Shingling takes any string (words are ``\w+``, which never holds a lone surrogate), so
# only an explicit BadRecord is bad data; any other exception is a bug and fails the run.


class _ShingleDoFn(beam.DoFn):
    """Main: ``(id, doc)``; ``shingles``: ``(id, shingle hashes as bytes)``; ``bands``:
    ``(band key, id)`` per LSH band; ``quarantine``: books that failed (not passed on)."""

    def __init__(self, cfg: BooksConfig) -> None:
        self._cfg = cfg
        self._no_shingles = Metrics.counter(STAGE, "no_shingles")

    def process(self, doc: Document) -> Iterator[Any]:
        cfg = self._cfg
        hashes = guarded(STAGE, doc, (), book_shingles, doc.text, cfg.shingle_words)
        if isinstance(hashes, QuarantineRecord):  # one bad book is quarantined, the run goes on
            yield pvalue.TaggedOutput(QUARANTINE, hashes.to_dict())
            return
        keys = band_keys(minhash_signature(hashes, cfg.num_perm, cfg.seed), cfg.bands, cfg.rows) if len(hashes) else []
        if not keys:
            self._no_shingles.inc()  # too short to compare: kept, it can overlap nothing
        for key in keys:
            yield pvalue.TaggedOutput(_BANDS, (key, doc.id))
        yield pvalue.TaggedOutput(_SHINGLES, (doc.id, hashes.tobytes()))
        yield doc.id, doc


def _bucket_pairs(element: tuple[str, Iterable[str]]) -> Iterator[tuple[str, str]]:
    _, ids = element
    yield from combinations(sorted(set(ids)), 2)


def _pair_by_member(pair: tuple[str, str]) -> Iterator[tuple[str, tuple[str, str]]]:
    yield pair[0], pair
    yield pair[1], pair


def _attach_shingles(element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
    book_id, grouped = element
    shingles = list(grouped["shingles"])
    if not shingles:
        return
    for pair in grouped["pairs"]:
        yield pair, (book_id, shingles[0])


class _VerifyPairDoFn(beam.DoFn):
    """Exact containment of one candidate pair → ``(larger id, (smaller id, overlap))`` if over."""

    def __init__(self, cfg: BooksConfig) -> None:
        self._cfg = cfg
        self._verified = Metrics.counter(STAGE, "verified_pairs")
        self._rejected = Metrics.counter(STAGE, "rejected_pairs")

    def process(self, element: tuple[tuple[str, str], Iterable[tuple[str, bytes]]]) -> Iterator[Any]:
        (low, high), members = element
        sets = {book_id: np.frombuffer(data, dtype=np.uint64) for book_id, data in members}
        if low not in sets or high not in sets:
            return
        overlap = containment(sets[low], sets[high])
        if is_near_duplicate(overlap, self._cfg):
            self._verified.inc()
            yield high, (low, round(overlap, 6))
        else:
            self._rejected.inc()


class _ApplyDropsDoFn(beam.DoFn):
    def __init__(self) -> None:
        self._dropped = Metrics.counter(STAGE, f"dropped.{NEAR_DUPLICATE_BOOK}")

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        _, grouped = element
        matches = sorted(grouped["drops"])
        for doc in grouped["docs"]:
            if not matches:
                yield doc
                continue
            kept_id, overlap = matches[0]  # the smallest id it duplicates
            self._dropped.inc()
            yield pvalue.TaggedOutput(DROPPED, mark_dropped(
                doc, STAGE, NEAR_DUPLICATE_BOOK, kept_id=kept_id, overlap=overlap,
                max_overlap=max(o for _, o in matches)))


class DedupBooks(beam.PTransform):
    """Book-level near-dedup by verified containment; returns ``docs``/``dropped``/``quarantine``."""

    cost_stage = "minhash"

    def __init__(self, cfg: BooksConfig, label: str | None = "Book dedup") -> None:
        super().__init__(label)
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        shingled = docs | "Shingles" >> beam.ParDo(_ShingleDoFn(self._cfg)).with_outputs(
            _SHINGLES, _BANDS, QUARANTINE, main="keyed")
        pairs = (
            shingled[_BANDS]
            | "Group by band" >> beam.GroupByKey()
            | "Candidate pairs" >> beam.FlatMap(_bucket_pairs)
            | "Distinct pairs" >> beam.Distinct()
        )
        drops = (
            {"pairs": pairs | "Pairs by member" >> beam.FlatMap(_pair_by_member), "shingles": shingled[_SHINGLES]}
            | "Join shingles" >> beam.CoGroupByKey()
            | "Attach shingles" >> beam.FlatMap(_attach_shingles)
            | "Group by pair" >> beam.GroupByKey()
            | "Verify containment" >> beam.ParDo(_VerifyPairDoFn(self._cfg))
        )
        out = (
            {"docs": shingled.keyed, "drops": drops}
            | "Join drops" >> beam.CoGroupByKey()
            | "Apply drops" >> beam.ParDo(_ApplyDropsDoFn()).with_outputs(DROPPED, main="docs")
        )
        return step_outputs(out.docs, out[DROPPED], shingled[QUARANTINE])
