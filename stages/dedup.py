"""Exact and near-duplicate removal as Beam composites; no step holds the corpus on one worker.

``DedupNearDuplicates`` (MinHash LSH), as a graph::

    docs ─ signature ─ band keys ─ GroupByKey(band key) ─ star edges ─┐
      │                                   (optional: verify by sig) │
      │                                   ConnectedComponents ◄─────┘
      │                                         │ (node, component min)
      │                                   GroupByKey(min) → cluster size
      └──────── CoGroupOnDisk(id) ◄─────────────┘ → keep min id, drop the rest

- Each bucket emits a *star* around its smallest id (k-1 edges for k members, not k²/2).
- Components come from large-star / small-star rounds over the edges only
  (stages/connected_components.py), never from a union-find on one worker.
- The keeper of a cluster is its smallest stable id, so the kept set does not depend on
  worker count or bundle order. Dropped documents carry
  ``annotations["minhash"] = {"kept_id", "cluster_size"}`` and the reason ``near_duplicate``;
  keepers of clusters carry the same annotation with their own id.
- Every text has a signature or none: one with no words has none and is kept (it cannot be
  a near-duplicate of anything). Only ``BadRecord`` quarantines a document
  (``SIGNATURE_DATA_ERRORS``); any other exception is a bug and fails the run.

``DedupExact(key_fn, reason, stage)`` groups the documents by any key from
filters/exact_dedup.py (content sha1, normalised URL, source-file hash) on disk
(``stages.spill``): per key the smallest id stays and the group's size is recorded. Keys that are ``None`` pass; a key
function's declared ``data_errors`` quarantine the document, any other exception fails the run.

Both return :func:`stages.streams.step_outputs` for ``SourceStreams.then_transform``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from filters.base import BadRecord, QuarantineRecord, mark_dropped
from filters.document import Document
from filters.exact_dedup import (
    REASON_DUPLICATE_FILE,
    REASON_DUPLICATE_URL,
    REASON_EXACT_DUPLICATE,
    content_key,
    file_content_key,
    url_key,
)
from filters.minhash import MinHasher, band_keys, estimated_jaccard, signature_bytes
from mixtures.config import MinHashConfig
from stages.connected_components import ConnectedComponents
from stages.spill import CoGroupOnDisk, GroupByKeyOnDisk
from stages.steps import DROPPED, QUARANTINE, guarded
from stages.streams import step_outputs

REASON_NEAR_DUPLICATE = "near_duplicate"
# Every string signs (filters.minhash breaks words on anything that is not a word
# character, lone surrogates included), so only an explicit BadRecord is bad data here.
SIGNATURE_DATA_ERRORS: tuple[type[BaseException], ...] = (BadRecord,)
_SIGNED = "signed"
_UNKEYED_PREFIX = "\x00unkeyed:"


# ---------------------------------------------------------------------------------------
# Near duplicates.


class _SignatureDoFn(beam.DoFn):
    """Main: ``(id, (tag, doc))`` for every doc that did not fail; ``signed``: ``(id, signature)``.

    The tag names the stream a document came from, so a dedup over several sources can
    hand each document back to its own source afterwards.
    """

    def __init__(self, cfg: MinHashConfig, stage: str, tag: str) -> None:
        self._hasher = MinHasher(cfg)
        self._stage = stage
        self._tag = tag
        self._signed = Metrics.counter(stage, "signed")
        self._no_shingles = Metrics.counter(stage, "no_shingles")
        self._quarantined = Metrics.counter(stage, "quarantined")

    def setup(self) -> None:
        self._hasher.load()

    def process(self, doc: Document) -> Iterator[Any]:
        values = guarded(self._stage, doc, SIGNATURE_DATA_ERRORS, self._hasher.hashvalues, doc.text)
        if isinstance(values, QuarantineRecord):  # one bad record is quarantined, the run goes on
            self._quarantined.inc()
            yield pvalue.TaggedOutput(QUARANTINE, values.to_dict())
            return
        if values is None:
            self._no_shingles.inc()
        else:
            self._signed.inc()
            yield pvalue.TaggedOutput(_SIGNED, (doc.id, signature_bytes(values)))
        yield doc.id, (self._tag, doc)


def _band_entries(signed: tuple[str, bytes], bands: int, rows: int) -> Iterator[tuple[bytes, str]]:
    doc_id, sig = signed
    for key in band_keys(sig, bands, rows):
        yield key, doc_id


class _BucketStarDoFn(beam.DoFn):
    """One LSH bucket → edges ``(member, smallest member)``: a star keeps edges O(members)."""

    def __init__(self, stage: str) -> None:
        self._buckets = Metrics.counter(stage, "candidate_buckets")
        self._edges = Metrics.counter(stage, "candidate_edges")
        self._sizes = Metrics.distribution(stage, "candidate_bucket_size")

    def process(self, element: tuple[bytes, Iterable[str]]) -> Iterator[tuple[str, str]]:
        _, ids = element
        members = sorted(set(ids))
        if len(members) < 2:
            return
        self._buckets.inc()
        self._sizes.update(len(members))
        self._edges.inc(len(members) - 1)
        low = members[0]
        for other in members[1:]:
            yield other, low


class _AttachLeafSignatureDoFn(beam.DoFn):
    """``(leaf, {edges: [centre...], sig: [leaf sig]})`` → ``(centre, (leaf, leaf sig))``."""

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        leaf, grouped = element
        sigs = list(grouped["sig"])
        centres = set(grouped["edges"])
        if not centres or not sigs:
            return
        for centre in sorted(centres):
            yield centre, (leaf, sigs[0])


class _VerifyEdgesDoFn(beam.DoFn):
    """Keeps an edge only when the estimated Jaccard of its two signatures is high enough."""

    def __init__(self, threshold: float, stage: str) -> None:
        self._threshold = threshold
        self._kept = Metrics.counter(stage, "verified_edges")
        self._rejected = Metrics.counter(stage, "rejected_edges")

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[tuple[str, str]]:
        centre, grouped = element
        sigs = list(grouped["sig"])
        if not sigs:
            return
        for leaf, leaf_sig in grouped["leaves"]:
            if estimated_jaccard(sigs[0], leaf_sig) >= self._threshold:
                self._kept.inc()
                yield leaf, centre
            else:
                self._rejected.inc()


def _cluster_sizes(element: tuple[str, Iterable[str]]) -> Iterator[tuple[str, tuple[str, int]]]:
    """``(component min, members)`` → ``(member, (min, size))`` for every member."""
    low, members = element
    size = sum(1 for _ in members)  # GroupByKey values are re-iterable
    for member in members:
        yield member, (low, size)


class _KeepSmallestDoFn(beam.DoFn):
    """Joins each document with its cluster: the smallest id stays, the others are dropped.

    Outputs ``(tag, doc)`` on the main and ``dropped`` outputs.
    """

    def __init__(self, stage: str, reason: str) -> None:
        self._stage = stage
        self._reason = reason
        self._kept = Metrics.counter(stage, "kept")
        self._dropped = Metrics.counter(stage, "dropped")
        self._dropped_reason = Metrics.counter(stage, f"dropped.{reason}")
        self._clusters = Metrics.counter(stage, "clusters")

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        doc_id, grouped = element
        clusters = list(grouped["cluster"])
        for tag, doc in grouped["doc"]:
            if not clusters:
                self._kept.inc()
                yield tag, doc
                continue
            kept_id, size = clusters[0]
            info = {"kept_id": kept_id, "cluster_size": size}
            if doc_id == kept_id:
                self._kept.inc()
                self._clusters.inc()
                yield tag, doc.annotated(**{self._stage: info})
            else:
                self._dropped.inc()
                self._dropped_reason.inc()
                yield pvalue.TaggedOutput(DROPPED, (tag, mark_dropped(doc, self._stage, self._reason, **info)))


class NearDuplicateSignatures(beam.PTransform):
    """Documents → ``{"docs": (id, (tag, doc)), "sigs": (id, signature bytes), "quarantine"}``.

    The first half of :class:`DedupNearDuplicates`; run it once per source and flatten the
    outputs to dedup several sources together (stages/near_dedup_global.py).
    """

    def __init__(self, cfg: MinHashConfig, stage: str = "minhash", tag: str = "", label: str | None = None) -> None:
        super().__init__(label)
        self._cfg = cfg
        self._stage = stage
        self._tag = tag

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        signed = docs | "Signatures" >> beam.ParDo(_SignatureDoFn(self._cfg, self._stage, self._tag)).with_outputs(
            QUARANTINE, _SIGNED, main="docs")
        return {"docs": signed.docs, "sigs": signed[_SIGNED], QUARANTINE: signed[QUARANTINE]}


class ClusterNearDuplicates(beam.PTransform):
    """``{"docs": (id, (tag, doc)), "sigs": (id, sig)}`` → ``{"docs", "dropped"}`` of ``(tag, doc)``.

    Band keys → buckets → star edges (→ optional verification) → connected components →
    cluster sizes → join back on id, keeping the smallest id of each cluster.
    """

    def __init__(self, cfg: MinHashConfig, reason: str = REASON_NEAR_DUPLICATE, stage: str = "minhash",
                 label: str | None = None) -> None:
        super().__init__(label)
        self._cfg = cfg
        self._reason = reason
        self._stage = stage

    def expand(self, inputs: dict[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        cfg = self._cfg
        keyed_docs, sigs = inputs["docs"], inputs["sigs"]
        edges = (
            sigs
            | "Band keys" >> beam.FlatMap(_band_entries, cfg.bands, cfg.rows)
            | "Group by band key" >> beam.GroupByKey()
            | "Bucket stars" >> beam.ParDo(_BucketStarDoFn(self._stage))
        )
        if cfg.verify_threshold > 0:
            edges = self._verified(edges, sigs)
        assignment = (
            edges
            | "Connected components" >> ConnectedComponents(cfg.max_rounds)
            | "By component" >> beam.Map(lambda pair: (pair[1], pair[0]))
            | "Group components" >> beam.GroupByKey()
            | "Cluster sizes" >> beam.FlatMap(_cluster_sizes)
        )
        joined = {"doc": keyed_docs, "cluster": assignment} | "Join clusters" >> CoGroupOnDisk()
        out = joined | "Keep smallest id" >> beam.ParDo(_KeepSmallestDoFn(self._stage, self._reason)).with_outputs(
            DROPPED, main="docs")
        return {"docs": out.docs, DROPPED: out[DROPPED]}

    def _verified(self, edges: beam.PCollection, sigs: beam.PCollection) -> beam.PCollection:
        """Attaches both signatures to each edge with two joins (a signature travels once per
        join, not once per band) and keeps edges with estimated Jaccard ≥ verify_threshold."""
        leaves = (
            {"edges": edges, "sig": sigs}
            | "Verify: join leaf signatures" >> beam.CoGroupByKey()
            | "Verify: by centre" >> beam.ParDo(_AttachLeafSignatureDoFn())
        )
        return (
            {"leaves": leaves, "sig": sigs}
            | "Verify: join centre signatures" >> beam.CoGroupByKey()
            | "Verify: estimated Jaccard" >> beam.ParDo(_VerifyEdgesDoFn(self._cfg.verify_threshold, self._stage))
        )


def _untagged(tagged: tuple[str, Document]) -> Document:
    return tagged[1]


class DedupNearDuplicates(beam.PTransform):
    """MinHash LSH near-dedup over a PCollection of Documents; keeps the smallest id per cluster.

    Args:
        cfg: ``MinHashConfig`` (ngram, num_perm, bands × rows, seed, verify_threshold,
            max_rounds).
        reason: Drop reason of every removed document.
        stage: Annotation key and counter namespace.

    Returns (from ``expand``):
        ``{"docs": kept, "dropped": near-duplicates, "quarantine": records that failed}``.
    """

    @property
    def drop_stage(self) -> str:
        """The stage its dropped documents are annotated with (stats funnel)."""
        return self._stage

    def __init__(self, cfg: MinHashConfig, reason: str = REASON_NEAR_DUPLICATE, stage: str = "minhash",
                 label: str | None = None) -> None:
        super().__init__(label)
        self._cfg = cfg
        self._reason = reason
        self._stage = stage

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        signed = docs | "Sign" >> NearDuplicateSignatures(self._cfg, self._stage)
        out = signed | "Cluster" >> ClusterNearDuplicates(self._cfg, self._reason, self._stage)
        return step_outputs(
            out["docs"] | "Untag kept" >> beam.Map(_untagged),
            out[DROPPED] | "Untag dropped" >> beam.Map(_untagged),
            signed[QUARANTINE],
        )


class NearDedup(DedupNearDuplicates):
    """The near-dedup step of a recipe (stage ``minhash``, reason ``near_duplicate``).

    With ``minhash.scope: global`` it is ``joint``: the runner dedups every source of the
    run whose recipe has this step together, in one graph (``stages.near_dedup_global``);
    otherwise each source dedups on its own.
    """

    cost_stage = "minhash"

    def __init__(self, cfg: MinHashConfig) -> None:
        super().__init__(cfg, reason=REASON_NEAR_DUPLICATE, stage="minhash", label="Near dedup")
        self.cfg = cfg
        self.joint = cfg.scope == "global"

    def apply_jointly(self, streams: dict) -> None:
        """Near-dedup of several sources' streams together, each result put back in place."""
        from stages.near_dedup_global import dedup_together  # it builds on this module

        dedup_together(self.cfg, streams)


# ---------------------------------------------------------------------------------------
# Exact duplicates.


class _KeyDoFn(beam.DoFn):
    """Main: ``(key, doc)`` (a doc without a key gets one of its own); ``quarantine``: bad data for key_fn."""

    def __init__(self, key_fn: Callable[[Document], str | None], stage: str,
                 data_errors: tuple[type[BaseException], ...]) -> None:
        self._key_fn = key_fn
        self._stage = stage
        self._data_errors = tuple(data_errors)
        self._unkeyed = Metrics.counter(stage, "unkeyed")
        self._quarantined = Metrics.counter(stage, "quarantined")

    def process(self, doc: Document) -> Iterator[Any]:
        key = guarded(self._stage, doc, self._data_errors, self._key_fn, doc)
        if isinstance(key, QuarantineRecord):  # one bad record is quarantined
            self._quarantined.inc()
            yield pvalue.TaggedOutput(QUARANTINE, key.to_dict())
            return
        if key is None:
            # A group of its own (no key function yields text starting with NUL): the kept
            # documents stay one stream, and a Flatten across stages would be a buffer.
            self._unkeyed.inc()
            yield _UNKEYED_PREFIX + doc.id, doc
        else:
            yield key, doc


class _KeepFirstOfKeyDoFn(beam.DoFn):
    def __init__(self, stage: str, reason: str) -> None:
        self._stage = stage
        self._reason = reason
        self._kept = Metrics.counter(stage, "kept")
        self._dropped = Metrics.counter(stage, "dropped")
        self._dropped_reason = Metrics.counter(stage, f"dropped.{reason}")

    def process(self, element: tuple[str, list[Document]]) -> Iterator[Any]:
        _, docs = element
        docs = sorted(docs, key=lambda doc: doc.id)
        kept_id, size = docs[0].id, len(docs)
        info = {"kept_id": kept_id, "cluster_size": size}
        keeper_seen = False
        for doc in docs:
            # A repeated id under one key (the same record read twice) keeps only one copy.
            if doc.id == kept_id and not keeper_seen:
                keeper_seen = True
                self._kept.inc()
                yield doc.annotated(**{self._stage: info}) if size > 1 else doc
            else:
                self._dropped.inc()
                self._dropped_reason.inc()
                yield pvalue.TaggedOutput(DROPPED, mark_dropped(doc, self._stage, self._reason, **info))


class DedupExact(beam.PTransform):
    """Exact dedup on ``key_fn(doc)``: per key, the smallest id stays and the rest are dropped.

    Args:
        key_fn: Picklable ``Document -> str | None`` (see filters/exact_dedup.py); ``None``
            means "no key", and the document is kept.
        reason: Drop reason (e.g. ``exact_duplicate``, ``duplicate_url``).
        stage: Annotation key (``{"kept_id", "cluster_size"}``) and counter namespace.
        data_errors: exceptions of ``key_fn`` that mean the document is bad data; they
            quarantine it (``BadRecord`` always does). Any other exception fails the run.
    """

    @property
    def drop_stage(self) -> str:
        """The stage its dropped documents are annotated with (stats funnel)."""
        return self._stage

    def __init__(self, key_fn: Callable[[Document], str | None], reason: str, stage: str,
                 label: str | None = None, data_errors: tuple[type[BaseException], ...] = ()) -> None:
        super().__init__(label)
        self._key_fn = key_fn
        self._reason = reason
        self._stage = stage
        self._data_errors = tuple(data_errors)

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        keyed = docs | "Key" >> beam.ParDo(_KeyDoFn(self._key_fn, self._stage, self._data_errors)).with_outputs(
            QUARANTINE, main="keyed")
        out = (
            keyed.keyed
            | "Group by key" >> GroupByKeyOnDisk()
            | "Keep smallest id" >> beam.ParDo(_KeepFirstOfKeyDoFn(self._stage, self._reason)).with_outputs(
                DROPPED, main="docs")
        )
        return step_outputs(out.docs, out[DROPPED], keyed[QUARANTINE])


def exact_content_dedup() -> DedupExact:
    """Document-level exact dedup on the sha1 of the text."""
    return DedupExact(content_key, REASON_EXACT_DUPLICATE, "exact_dedup")


def url_dedup() -> DedupExact:
    """CC / C4 URL dedup on the TFDS-normalised URL (``meta["url"]``)."""
    return DedupExact(url_key, REASON_DUPLICATE_URL, "url_dedup")


def file_dedup() -> DedupExact:
    """GitHub exact file dedup on the content hash (line endings unified)."""
    return DedupExact(file_content_key, REASON_DUPLICATE_FILE, "file_dedup", label="File dedup")
