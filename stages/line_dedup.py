"""``DedupLines``: CCNet line-level dedup as a Beam graph (pure logic in filters/line_dedup.py).

Graph (two shuffles, both on disk: no whole-corpus state on any worker or in the local
runner's memory, ``stages.spill``)::

    docs ──(too short? dropped)──Map(keys)──> (doc, keys)
        ──FlatMap──> ((group, line_key), doc_id)  once per distinct key of a document
                       │ GroupByKeyOnDisk((group, line_key))
                       └─ held by > 1 document ──> (doc_id, line_key)
    (doc_id, (doc, keys)) ──────────────┐
                                         CoGroupOnDisk(doc_id) ──> rewrite text / drop

Semantics are cc_net's ``mine`` (see ``filters/line_dedup.py``): pages shorter than
``min_doc_chars`` are dropped before hashing (``min_chars_at: before``), a key held by two
documents of one dedup group is removed everywhere, a line repeated inside one document keeps
its first copy. The group of a document is the group of the file it was read from
(``doc.meta["file"]``), computed by the recipe from the run's input paths
(``filters.line_dedup.file_groups``): one Common Crawl snapshot (or cc_net-style groups of
``group_files`` files of one snapshot), or the whole run with ``scope: global``. The output
does not depend on how Beam shards the work.

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
from filters.line_dedup import (
    LINE_DATA_ERRORS,
    TOO_SHORT,
    doc_key_occurrences,
    drop_reason,
    group_of,
    line_keys,
    remove_lines,
    too_short,
)
from mixtures.config import LineDedupConfig
from stages.spill import CoGroupOnDisk, GroupByKeyOnDisk
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
    """Main: ``(doc_id, (doc, group, line keys))``; ``dropped``: pages too short to mine
    (``min_chars_at: before``); ``quarantine``: documents whose lines cannot be hashed."""

    def __init__(self, cfg: LineDedupConfig, groups: dict[str, str]) -> None:
        self._cfg = cfg
        self._groups = groups
        self._quarantined = Metrics.counter(STAGE, "quarantined")
        self._short = Metrics.counter(STAGE, f"dropped.{TOO_SHORT}")
        self._dropped = Metrics.counter(STAGE, "dropped")

    def process(self, doc: Document) -> Iterator[Any]:
        try:
            short = self._cfg.min_chars_at == "before" and too_short(doc.text, self._cfg.min_doc_chars)
        except Exception as exc:  # a reader always yields text: anything else is a bug
            raise failure(STAGE, doc, exc) from exc
        if short:
            # cc_net drops these at WET parsing: they neither lose lines nor contribute hashes.
            self._short.inc()
            self._dropped.inc()
            yield pvalue.TaggedOutput(DROPPED, mark_dropped(doc, STAGE, TOO_SHORT))
            return
        keys = guarded(STAGE, doc, LINE_DATA_ERRORS, line_keys, doc.text)
        if isinstance(keys, QuarantineRecord):
            self._quarantined.inc()
            yield pvalue.TaggedOutput(QUARANTINE, keys.to_dict())
            return
        group = group_of(str(doc.meta.get("file", "")), self._groups, self._cfg.scope)
        yield doc.id, (doc, group, keys)


def _key_occurrences(item: tuple[str, tuple[Document, str, list[int]]], repeats_in_doc: str
                     ) -> Iterator[tuple[tuple[str, int], str]]:
    doc_id, (_, group, keys) = item
    for key in doc_key_occurrences(keys, repeats_in_doc):
        yield (group, _signed(key)), doc_id


def _duplicated_in(item: tuple[tuple[str, int], Iterable[str]]) -> Iterator[tuple[str, int]]:
    """(doc_id, key) for every document holding a key counted more than once in its group."""
    (_, key), doc_ids = item
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
        # With min_chars_at "before" the length rule already ran on the raw page.
        self._min_chars = cfg.min_doc_chars if cfg.min_chars_at == "after" else 0
        self._kept = Metrics.counter(STAGE, "kept")
        self._dropped = Metrics.counter(STAGE, "dropped")
        self._lines_in = Metrics.counter(STAGE, "lines_in")
        self._lines_removed = Metrics.counter(STAGE, "lines_removed")
        self._reasons: dict[str, Any] = {}

    def process(self, item: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
        _, joined = item
        duplicated = set(joined["dup"])
        for doc, _, keys in joined["doc"]:
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
        cfg: ``min_doc_chars`` (cc_net ``min_len`` = 300) and when it applies, in-document
            repeats, scope.
        groups: dedup group of each input file by basename (``filters.line_dedup.file_groups``);
            files not listed are grouped by the snapshot id in their name.
    """

    drop_stage = STAGE  # the stage its dropped documents are annotated with (stats funnel)
    cost_stage = "line_dedup"

    def __init__(self, cfg: LineDedupConfig | None = None, label: str | None = None,
                 groups: dict[str, str] | None = None) -> None:
        super().__init__(label=label)
        self._cfg = cfg or LineDedupConfig()
        self._groups = dict(groups or {})

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        hashed = docs | "Hash lines" >> beam.ParDo(_HashLinesDoFn(self._cfg, self._groups)).with_outputs(
            QUARANTINE, DROPPED, main="keyed")
        keyed = hashed.keyed
        duplicated = (
            keyed
            | "Line occurrences" >> beam.FlatMap(_key_occurrences, self._cfg.repeats_in_doc)
            | "Group by line" >> GroupByKeyOnDisk()
            | "Repeated lines" >> beam.FlatMap(_duplicated_in)
        )
        out = (
            {"doc": keyed, "dup": duplicated}
            | "Join by document" >> CoGroupOnDisk()
            | "Rewrite" >> beam.ParDo(_RewriteDoFn(self._cfg)).with_outputs(DROPPED, main="docs")
        )
        return step_outputs(out.docs, (out[DROPPED], hashed[DROPPED]), hashed[QUARANTINE])
