"""Book-level dedup by containment for the books source.

LLaMA removes books with more than 90% content overlap. Overlap is containment: the share
of the smaller book's shingles that occur in the other (filters/sources/books/gutenberg.py),
and the book dropped is the *less complete* one, so a volume cut from a novel, an abridged
copy or a body-only copy goes and the complete edition stays.

Candidates come from **hash-sampled shingles**: a shingle is sampled iff its mixed hash is
below ``2^64 / books.sample_one_in`` (``filters.minhash.hash_sample``). Sampling depends on the
shingle alone, so a book contained in another has its samples inside the other's samples,
whatever the length ratio (a 10% volume shares ~100% of its samples with the novel; MinHash
LSH, an estimate of Jaccard, sees only J = 0.1). The graph::

    docs ─ shingles ─ samples ─ GroupByKey(sample) ─ pairs sharing it ─ CombinePerKey(pair): shared count
      │        │                                                              │
      │        │                                    shared ≥ candidate_fraction × samples of the smaller
      │        └──────── CoGroupOnDisk(book id) ◄── candidate pairs by member ──┘
      │                         │
      │                  GroupByKeyOnDisk(pair) → exact containment > threshold → (less complete id, kept id)
      └──── CoGroupOnDisk(book id) ◄── drop list ──┘ → kept / dropped ``near_duplicate_book``

Every step is keyed (no side input over documents), so it scales with the runner. A sample
shared by more than ``books.max_bucket_books`` books (a stock phrase) pairs each of them only
with the ``max_bucket_books`` most complete ones, which keeps pairs linear in books: a copy
still meets its container there, as the container is among the most complete. The less
complete book of a verified pair is dropped; of two with the same number of shingles, the
larger id, so the result does not depend on worker count or order. Shingle sets travel
through two shuffles: fine for books (few, large documents), which is why this is not the
generic ``stages.dedup.DedupNearDuplicates``.
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
from filters.minhash import hash_sample
from filters.sources.books.config import BooksConfig
from filters.sources.books.gutenberg import NEAR_DUPLICATE_BOOK, book_shingles, is_near_duplicate
from stages.spill import CoGroupOnDisk, GroupByKeyOnDisk
from stages.steps import DROPPED, QUARANTINE, guarded
from stages.streams import step_outputs

STAGE = "book_dedup"
_SAMPLES = "samples"
_SHINGLES = "shingles"
# Shingling takes any string (words are ``\w+``, which never holds a lone surrogate), so
# only an explicit BadRecord is bad data; any other exception is a bug and fails the run.


class _ShingleDoFn(beam.DoFn):
    """Main: ``(id, doc)``; ``shingles``: ``(id, shingle hashes as bytes)``; ``samples``:
    ``(sampled shingle, (id, shingles, samples))``; ``quarantine``: books that failed."""

    def __init__(self, cfg: BooksConfig) -> None:
        self._cfg = cfg
        self._too_short = Metrics.counter(STAGE, "too_short")

    def process(self, doc: Document) -> Iterator[Any]:
        cfg = self._cfg
        hashes = guarded(STAGE, doc, (), book_shingles, doc.text, cfg.shingle_words)
        if isinstance(hashes, QuarantineRecord):  # one bad book is quarantined, the run goes on
            yield pvalue.TaggedOutput(QUARANTINE, hashes.to_dict())
            return
        samples = hash_sample(hashes, cfg.sample_one_in, cfg.seed)
        if len(samples) < cfg.min_samples:
            self._too_short.inc()  # too short to compare: kept, it can overlap nothing
        else:
            member = (doc.id, int(len(hashes)), int(len(samples)))
            for sample in samples.tolist():
                yield pvalue.TaggedOutput(_SAMPLES, (sample, member))
            yield pvalue.TaggedOutput(_SHINGLES, (doc.id, hashes.tobytes()))
        yield doc.id, doc


def _completeness(member: tuple[str, int, int]) -> tuple[int, str]:
    """Sort key: most shingles first, then smallest id."""
    return -member[1], member[0]


def sample_pairs(members: Iterable[tuple[str, int, int]], max_bucket: int) -> Iterator[Any]:
    """``((low id, high id), (1, samples of the smaller))`` for the books sharing one sample.

    Up to ``max_bucket`` books: every pair. Beyond: each book with the ``max_bucket`` most
    complete ones only (pairs grow linearly, and a copy still meets its container).
    """
    books = sorted(set(members), key=_completeness)
    if len(books) <= max_bucket:
        pairs: Iterable[tuple[Any, Any]] = combinations(books, 2)
    else:
        top = books[:max_bucket]
        pairs = [*combinations(top, 2), *((t, b) for b in books[max_bucket:] for t in top)]
    for a, b in pairs:
        low, high = sorted((a[0], b[0]))
        yield (low, high), (1, min(a[2], b[2]))


def _bucket_pairs(element: tuple[int, Iterable[tuple[str, int, int]]], max_bucket: int) -> Iterator[Any]:
    return sample_pairs(element[1], max_bucket)


def _is_candidate(element: tuple[tuple[str, str], tuple[int, int]], fraction: float) -> bool:
    shared, smaller_samples = element[1]
    return shared >= fraction * smaller_samples


def _add_shared(values: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """Combiner: shared samples summed; the smaller book's sample count carried along."""
    shared = 0
    smaller = 0
    for count, samples in values:
        shared += count
        smaller = max(smaller, samples)
    return shared, smaller


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


def containment_verdict(ids: tuple[str, str], a: np.ndarray, b: np.ndarray,
                        cfg: BooksConfig) -> tuple[str, str, float] | None:
    """(dropped id, kept id, overlap) for two books' sorted unique shingle hashes, or None.

    Overlap is |A ∩ B| / min(|A|, |B|); over ``cfg.overlap_threshold`` the book with fewer
    shingles (the less complete) is dropped, of two equal ones the larger id.
    """
    if len(a) == 0 or len(b) == 0:
        return None
    overlap = np.intersect1d(a, b, assume_unique=True).size / min(len(a), len(b))
    if not is_near_duplicate(overlap, cfg):
        return None
    (low, high) = sorted(ids)
    sizes = {ids[0]: len(a), ids[1]: len(b)}
    if sizes[low] == sizes[high]:
        return high, low, round(overlap, 6)
    smaller, larger = (low, high) if sizes[low] < sizes[high] else (high, low)
    return smaller, larger, round(overlap, 6)


class _VerifyPairDoFn(beam.DoFn):
    """Exact containment of one candidate pair → ``(dropped id, (kept id, overlap, kept's shingles))``."""

    def __init__(self, cfg: BooksConfig) -> None:
        self._cfg = cfg
        self._verified = Metrics.counter(STAGE, "verified_pairs")
        self._rejected = Metrics.counter(STAGE, "rejected_pairs")

    def process(self, element: tuple[tuple[str, str], Iterable[tuple[str, bytes]]]) -> Iterator[Any]:
        (low, high), members = element
        sets = {book_id: np.frombuffer(data, dtype=np.uint64) for book_id, data in members}
        if low not in sets or high not in sets:
            return
        verdict = containment_verdict((low, high), sets[low], sets[high], self._cfg)
        if verdict is None:
            self._rejected.inc()
            return
        self._verified.inc()
        dropped, kept, overlap = verdict
        yield dropped, (kept, overlap, int(max(len(sets[low]), len(sets[high]))))


class _ApplyDropsDoFn(beam.DoFn):
    def __init__(self) -> None:
        self._dropped = Metrics.counter(STAGE, f"dropped.{NEAR_DUPLICATE_BOOK}")

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        _, grouped = element
        # The most complete book it is contained in (smallest id among equals) is named.
        matches = sorted(grouped["drops"], key=lambda m: (-m[2], m[0]))
        for doc in grouped["docs"]:
            if not matches:
                yield doc
                continue
            kept_id, overlap, _ = matches[0]
            self._dropped.inc()
            yield pvalue.TaggedOutput(DROPPED, mark_dropped(
                doc, STAGE, NEAR_DUPLICATE_BOOK, kept_id=kept_id, overlap=overlap,
                max_overlap=max(m[1] for m in matches)))


class DedupBooks(beam.PTransform):
    """Book-level dedup by verified containment; returns ``docs``/``dropped``/``quarantine``."""

    drop_stage = STAGE  # the stage its dropped documents are annotated with (stats funnel)
    cost_stage = "minhash"

    def __init__(self, cfg: BooksConfig, label: str | None = "Book dedup") -> None:
        super().__init__(label)
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        cfg = self._cfg
        shingled = docs | "Shingles" >> beam.ParDo(_ShingleDoFn(cfg)).with_outputs(
            _SHINGLES, _SAMPLES, QUARANTINE, main="keyed")
        pairs = (
            shingled[_SAMPLES]
            | "Group by sample" >> beam.GroupByKey()
            | "Pairs sharing a sample" >> beam.FlatMap(_bucket_pairs, cfg.max_bucket_books)
            | "Count shared samples" >> beam.CombinePerKey(_add_shared)
            | "Candidates" >> beam.Filter(_is_candidate, cfg.candidate_fraction)
            | "Candidate pairs" >> beam.Keys()
        )
        drops = (
            {"pairs": pairs | "Pairs by member" >> beam.FlatMap(_pair_by_member), "shingles": shingled[_SHINGLES]}
            | "Join shingles" >> CoGroupOnDisk()
            | "Attach shingles" >> beam.FlatMap(_attach_shingles)
            | "Group by pair" >> GroupByKeyOnDisk()
            | "Verify containment" >> beam.ParDo(_VerifyPairDoFn(cfg))
        )
        out = (
            {"docs": shingled.keyed, "drops": drops}
            | "Join drops" >> CoGroupOnDisk()
            | "Apply drops" >> beam.ParDo(_ApplyDropsDoFn()).with_outputs(DROPPED, main="docs")
        )
        return step_outputs(out.docs, out[DROPPED], shingled[QUARANTINE])
