"""``DedupLines``: CCNet line-level dedup as a Beam graph (pure logic in filters/line_dedup.py).

Graph (two shuffles, no whole-corpus state on any worker)::

    docs ──Map(keys)──> (doc, keys) ──FlatMap──> (line_key, doc_id)  per line occurrence
                                                   │ GroupByKey(line_key)
                                                   └─ keys seen > 1 ──> (doc_id, line_key)
    (doc_id, (doc, keys)) ──────────────┐
                                         CoGroupByKey(doc_id) ──> rewrite text / drop

Scope: **global** over the whole input of the run: a line is removed if it occurs more than
once anywhere in the run's input. cc_net dedups shard ``s`` only against the hashes of its
group of 50 out of 1,600 shards (≈ 3% of a snapshot) and RedPajama only within one shard;
a global scope removes at least as much boilerplate and does not depend on how files are
grouped, so the output is the same whatever the sharding or runner.

Outputs (dict): ``docs`` (text rewritten, ``annotations["line_dedup"]`` with
``original_nlines``, ``original_length``, ``nlines``, ``length``, ``line_ids``), ``dropped``
(stage ``line_dedup``, reasons ``empty_after_dedup`` / ``too_short``, original text kept for
inspection) and ``quarantine``: documents whose lines cannot be hashed (``LINE_DATA_ERRORS``).
Any other exception is a bug and fails the run, naming the document.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from filters.base import QuarantineRecord, mark_dropped
from filters.document import Document
from filters.line_dedup import LINE_DATA_ERRORS, drop_reason, line_keys, remove_lines
from mixtures.config import LineDedupConfig
from stages.steps import DROPPED, QUARANTINE, failure, guarded
from stages.streams import step_outputs

STAGE = "line_dedup"
_UINT64_SIGN = 1 << 63
_UINT64_WRAP = 1 << 64


def _signed(key: int) -> int:
    # Beam codes ints that fit int64 as varints; larger ones fall back to pickling.
    return key - _UINT64_WRAP if key >= _UINT64_SIGN else key


def _unsigned(key: int) -> int:
    return key + _UINT64_WRAP if key < 0 else key


class _HashLinesDoFn(beam.DoFn):
    """Main: ``(doc_id, (doc, line keys))``; ``quarantine``: documents whose lines cannot be hashed."""

    def __init__(self) -> None:
        self._quarantined = Metrics.counter(STAGE, "quarantined")

    def process(self, doc: Document) -> Iterator[Any]:
        keys = guarded(STAGE, doc, LINE_DATA_ERRORS, line_keys, doc.text)
        if isinstance(keys, QuarantineRecord):
            self._quarantined.inc()
            yield pvalue.TaggedOutput(QUARANTINE, keys.to_dict())
            return
        yield doc.id, (doc, keys)


def _key_occurrences(item: tuple[str, tuple[Document, list[int | None]]]) -> Iterator[tuple[int, str]]:
    doc_id, (_, keys) = item
    for key in keys:
        if key is not None:
            yield _signed(key), doc_id


def _duplicated_in(item: tuple[int, Iterable[str]]) -> Iterator[tuple[str, int]]:
    """(doc_id, key) for every document holding a key that occurs more than once."""
    key, doc_ids = item
    occurrences = 0
    for _ in doc_ids:
        occurrences += 1
        if occurrences > 1:
            break
    if occurrences > 1:
        # A second pass instead of a set: a boilerplate line can sit in millions of documents.
        for doc_id in doc_ids:
            yield doc_id, _unsigned(key)


class _RewriteDoFn(beam.DoFn):
    """Joins one document with its duplicated keys and rewrites (or drops) it."""

    def __init__(self, cfg: LineDedupConfig) -> None:
        self._min_chars = cfg.min_doc_chars
        self._kept = Metrics.counter(STAGE, "kept")
        self._dropped = Metrics.counter(STAGE, "dropped")
        self._lines_in = Metrics.counter(STAGE, "lines_in")
        self._lines_removed = Metrics.counter(STAGE, "lines_removed")
        self._reasons: dict[str, Any] = {}

    def process(self, item: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
        _, joined = item
        duplicated = set(joined["dup"])
        for doc, keys in joined["doc"]:
            try:
                result = remove_lines(doc.text, keys, duplicated)
            except Exception as exc:  # the keys were hashed from this text: any error is a bug
                raise failure(STAGE, doc, exc) from exc
            self._lines_in.inc(result.original_nlines)
            self._lines_removed.inc(result.original_nlines - len(result.line_ids))
            annotations = result.annotations()
            reason = drop_reason(result, self._min_chars)
            if reason is not None:
                self._count_drop(reason)
                yield pvalue.TaggedOutput(DROPPED, mark_dropped(doc.annotated(**{STAGE: annotations}), STAGE, reason))
                continue
            self._kept.inc()
            yield doc.with_text(result.text).annotated(**{STAGE: annotations})

    def _count_drop(self, reason: str) -> None:
        counter = self._reasons.get(reason)
        if counter is None:
            counter = self._reasons[reason] = Metrics.counter(STAGE, f"dropped.{reason}")
        counter.inc()
        self._dropped.inc()


class DedupLines(beam.PTransform):
    """``docs | DedupLines(cfg)`` → ``{"docs", "dropped", "quarantine"}``.

    Args:
        cfg: ``min_doc_chars`` (cc_net ``min_len`` = 300, checked after dedup) and scope.
    """

    cost_stage = "line_dedup"

    def __init__(self, cfg: LineDedupConfig | None = None, label: str | None = None) -> None:
        super().__init__(label=label)
        self._cfg = cfg or LineDedupConfig()

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        hashed = docs | "Hash lines" >> beam.ParDo(_HashLinesDoFn()).with_outputs(QUARANTINE, main="keyed")
        keyed = hashed.keyed
        duplicated = (
            keyed
            | "Line occurrences" >> beam.FlatMap(_key_occurrences)
            | "Group by line" >> beam.GroupByKey()
            | "Repeated lines" >> beam.FlatMap(_duplicated_in)
        )
        out = (
            {"doc": keyed, "dup": duplicated}
            | "Join by document" >> beam.CoGroupByKey()
            | "Rewrite" >> beam.ParDo(_RewriteDoFn(self._cfg)).with_outputs(DROPPED, main="docs")
        )
        return step_outputs(out.docs, out[DROPPED], hashed[QUARANTINE])
