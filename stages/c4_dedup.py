"""C4's corpus-wide three-sentence span dedup as a Beam composite.

The T5 paper (arXiv 1910.10683 §2.2): "we discarded all but one of any three-sentence span
occurring more than once in the data set". The graph is TFDS ``remove_duplicate_text``
with sentence spans in place of lines:

1. every page emits ``(md5(normalised 3-sentence span), page id)`` for each distinct span
   it contains (:func:`filters.sources.c4.spans.span_hashes`);
2. ``Top.PerKey(1, key=md5(page id))`` picks one keeper page per span, deterministically
   and without favouring a domain (TFDS: "hash before comparison to avoid biasing by
   domain", keyed on URLs; we key on stable document ids, which are unique where URLs
   are not);
3. ``CoGroupByKey`` joins each page with the spans it keeps; every other span occurrence
   (owned by another page, or repeated inside the page) loses its sentences
   (:func:`filters.sources.c4.spans.remove_duplicate_spans`);
4. a page left with fewer than ``c4.min_sentences`` sentences is dropped with reason
   ``c4_too_few_sentences_after_dedup`` (TFDS ``filtered-deduped_page-toofewsentences``;
   an emptied page counts here too).

Kept pages carry ``annotations["c4_dedup"] = {sentences_in, sentences_removed,
spans_removed}``. A page whose text cannot be hashed (``SPAN_DATA_ERRORS``) is quarantined,
never lost; any other exception is a bug and fails the run, naming the page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from filters.base import QuarantineRecord, mark_dropped
from filters.document import Document
from filters.sources.c4.config import C4Config
from filters.sources.c4.spans import (
    C4_TOO_FEW_SENTENCES_AFTER_DEDUP,
    SPAN_DATA_ERRORS,
    SPAN_SENTENCES,
    remove_duplicate_spans,
    span_hashes,
)
from stages.steps import DROPPED, QUARANTINE, guarded
from stages.streams import step_outputs

STAGE = "c4_dedup"


def _emit_spans(doc: Document, span: int) -> Iterator[tuple[str, str]]:
    hashes = guarded(STAGE, doc, SPAN_DATA_ERRORS, span_hashes, doc.text, span)
    if isinstance(hashes, QuarantineRecord):
        return  # the same error quarantines the page after the join
    for key in sorted(set(hashes)):
        yield key, doc.id


def _keeper_rank(doc_id: str) -> str:
    return hashlib.md5(doc_id.encode("utf-8")).hexdigest()


class _RemoveSpansDoFn(beam.DoFn):
    """Joined ``(id, {"doc": [Document], "keep": [span hash]})`` → kept, dropped or quarantined."""

    def __init__(self, cfg: C4Config, span: int) -> None:
        self._cfg = cfg
        self._span = span
        self._kept = Metrics.counter(STAGE, "kept")
        self._dropped = Metrics.counter(STAGE, f"dropped.{C4_TOO_FEW_SENTENCES_AFTER_DEDUP}")
        self._quarantined = Metrics.counter(STAGE, "quarantined")
        self._sentences_removed = Metrics.counter(STAGE, "sentences_removed")
        self._spans_removed = Metrics.counter(STAGE, "spans_removed")

    def process(self, element: tuple[str, dict[str, Any]]) -> Iterator[Any]:
        _, joined = element
        keep = frozenset(joined["keep"])
        for doc in joined["doc"]:
            result = guarded(STAGE, doc, SPAN_DATA_ERRORS, remove_duplicate_spans, doc.text, keep, self._span)
            if isinstance(result, QuarantineRecord):
                self._quarantined.inc()
                yield pvalue.TaggedOutput(QUARANTINE, result.to_dict())
                continue
            self._sentences_removed.inc(result.sentences_removed)
            self._spans_removed.inc(result.spans_removed)
            stats = {
                "sentences_in": result.sentences_in,
                "sentences_removed": result.sentences_removed,
                "spans_removed": result.spans_removed,
            }
            if not result.text or result.sentences_left < self._cfg.min_sentences:
                self._dropped.inc()
                yield pvalue.TaggedOutput(
                    DROPPED, mark_dropped(doc, STAGE, C4_TOO_FEW_SENTENCES_AFTER_DEDUP, **stats))
                continue
            self._kept.inc()
            yield doc.with_text(result.text).annotated(**{STAGE: stats})


class DedupC4Spans(beam.PTransform):
    """``docs | DedupC4Spans(cfg)`` → ``{"docs", "dropped", "quarantine"}``.

    Args:
        cfg: ``min_sentences`` decides which deduplicated pages survive.
        span: Sentences per span (C4: 3).
    """

    cost_stage = "c4_span_dedup"

    def __init__(self, cfg: C4Config, span: int = SPAN_SENTENCES) -> None:
        super().__init__()
        self._cfg = cfg
        self._span = span

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        keyed = docs | "Key by id" >> beam.Map(lambda doc: (doc.id, doc))
        keepers = (
            docs
            | "Span hashes" >> beam.FlatMap(_emit_spans, self._span)
            | "Pick keeper" >> beam.combiners.Top.PerKey(1, key=_keeper_rank)
            | "Keeper by id" >> beam.Map(lambda kv: (kv[1][0], kv[0]))
        )
        out = (
            {"doc": keyed, "keep": keepers}
            | "Join pages and kept spans" >> beam.CoGroupByKey()
            | "Remove duplicate spans" >> beam.ParDo(_RemoveSpansDoFn(self._cfg, self._span)).with_outputs(
                DROPPED, QUARANTINE, main="docs")
        )
        return step_outputs(out.docs, out[DROPPED], out[QUARANTINE])
