"""C4's corpus-wide dedup steps as Beam composites: TFDS's URL and line dedup, and span dedup.

``DedupC4Urls`` and ``DedupC4Lines`` are TFDS's ``normalize_url``/``dedupe_urls`` and
``remove_duplicate_text`` (pure halves and exact semantics in
``filters/sources/c4/tfds_dedup.py``): the URL step keeps, per normalised URL, the page with
the largest ``md5(text)``; the line step gives each line (``md5(line.strip().lower())``) to
the page whose key has the smallest md5 (the normalised URL, or the document id when URL
dedup is off), keeps its first copy there and drops pages left empty or under
``c4.min_sentences`` sentences. ``DedupC4Spans`` is the named variant described below.

Span dedup:

The T5 paper (arXiv 1910.10683 §2.2): "we discarded all but one of any three-sentence span
occurring more than once in the data set". The graph is TFDS ``remove_duplicate_text``
with sentence spans in place of lines:

1. every page emits ``(md5(normalised 3-sentence span), page id)`` for each distinct span
   it contains (:func:`filters.sources.c4.spans.span_hashes`);
2. ``Top.PerKey(1, key=md5(page id))`` picks one keeper page per span, deterministically
   and without favouring a domain (TFDS: "hash before comparison to avoid biasing by
   domain", keyed on URLs; we key on stable document ids, which are unique where URLs
   are not);
3. ``CoGroupOnDisk`` (``stages.spill``) joins each page with the spans it keeps; every other span occurrence
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
from filters.sources.c4.tfds_dedup import (
    C4_DUPLICATE_URL,
    DEDUP_DATA_ERRORS,
    normalize_url,
    page_line_hashes,
    url_rank,
    url_winner,
)
from filters.sources.c4.tfds_dedup import drop_reason as line_drop_reason
from filters.sources.c4.tfds_dedup import remove_lines as remove_tfds_lines
from stages.spill import CoGroupOnDisk, GroupByKeyOnDisk
from stages.steps import DROPPED, QUARANTINE, failure, guarded
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

    drop_stage = STAGE  # the stage its dropped documents are annotated with (stats funnel)
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
            | "Join pages and kept spans" >> CoGroupOnDisk()
            | "Remove duplicate spans" >> beam.ParDo(_RemoveSpansDoFn(self._cfg, self._span)).with_outputs(
                DROPPED, QUARANTINE, main="docs")
        )
        return step_outputs(out.docs, out[DROPPED], out[QUARANTINE])


URL_STAGE = "c4_url_dedup"
LINE_STAGE = "c4_line_dedup"
URL_KEY = "c4_url"  # annotations["c4_url"]: the normalised URL the page is known by after URL dedup


def _url_key(doc: Document) -> tuple[str, Document]:
    try:
        url = str(doc.meta.get("url") or "")
        return (normalize_url(url) if url else f"id:{doc.id}"), doc
    except Exception as exc:  # a str always normalises: anything else is a bug
        raise failure(URL_STAGE, doc, exc) from exc


class _PickUrlDoFn(beam.DoFn):
    """``(normalised url, pages)`` → the page TFDS keeps; the others are dropped."""

    def __init__(self) -> None:
        self._kept = Metrics.counter(URL_STAGE, "kept")
        self._dropped = Metrics.counter(URL_STAGE, f"dropped.{C4_DUPLICATE_URL}")
        self._quarantined = Metrics.counter(URL_STAGE, "quarantined")

    def process(self, element: tuple[str, Any]) -> Iterator[Any]:
        key, pages = element
        good = []
        for doc in pages:
            bad = guarded(URL_STAGE, doc, DEDUP_DATA_ERRORS, lambda text: text.encode("utf-8"), doc.text)
            if isinstance(bad, QuarantineRecord):
                self._quarantined.inc()
                yield pvalue.TaggedOutput(QUARANTINE, bad.to_dict())
            else:
                good.append(doc)
        winner = url_winner((doc.id, doc.text) for doc in good)
        for doc in sorted(good, key=lambda d: d.id):
            if doc.id == winner:
                self._kept.inc()
                yield doc.annotated(**{URL_KEY: key})
            else:
                self._dropped.inc()
                yield pvalue.TaggedOutput(DROPPED, mark_dropped(doc, URL_STAGE, C4_DUPLICATE_URL, kept=winner))


class DedupC4Urls(beam.PTransform):
    """``docs | DedupC4Urls()`` → ``{"docs", "dropped", "quarantine"}`` (TFDS ``dedupe_urls``).

    Kept pages carry ``annotations["c4_url"]``, their normalised URL (the key of line dedup).
    """

    drop_stage = URL_STAGE  # the stage its dropped documents are annotated with (stats funnel)
    cost_stage = "c4_url_dedup"

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        out = (
            docs
            | "Normalise URL" >> beam.Map(_url_key)
            | "Group by URL" >> GroupByKeyOnDisk()
            | "Keep one page" >> beam.ParDo(_PickUrlDoFn()).with_outputs(DROPPED, QUARANTINE, main="docs")
        )
        return step_outputs(out.docs, out[DROPPED], out[QUARANTINE])


def _page_key(doc: Document) -> str:
    key = doc.annotations.get(URL_KEY)
    return key if isinstance(key, str) and key else f"id:{doc.id}"


def _emit_lines(doc: Document) -> Iterator[tuple[str, str]]:
    hashes = guarded(LINE_STAGE, doc, DEDUP_DATA_ERRORS, page_line_hashes, doc.text)
    if isinstance(hashes, QuarantineRecord):
        return  # the same error quarantines the page after the join
    key = _page_key(doc)
    for line in sorted(set(hashes)):
        yield line, key


class _RemoveLinesDoFn(beam.DoFn):
    """Joined ``(page key, {"doc": [Document], "keep": [line hash]})`` → kept, dropped or quarantined."""

    def __init__(self, cfg: C4Config) -> None:
        self._cfg = cfg
        self._kept = Metrics.counter(LINE_STAGE, "kept")
        self._dropped = Metrics.counter(LINE_STAGE, "dropped")
        self._quarantined = Metrics.counter(LINE_STAGE, "quarantined")
        self._global = Metrics.counter(LINE_STAGE, "lines_removed.global_duplicate")
        self._local = Metrics.counter(LINE_STAGE, "lines_removed.local_duplicate")

    def process(self, element: tuple[str, dict[str, Any]]) -> Iterator[Any]:
        _, joined = element
        keep = frozenset(joined["keep"])
        for doc in joined["doc"]:
            result = guarded(LINE_STAGE, doc, DEDUP_DATA_ERRORS, remove_tfds_lines, doc.text, keep)
            if isinstance(result, QuarantineRecord):
                self._quarantined.inc()
                yield pvalue.TaggedOutput(QUARANTINE, result.to_dict())
                continue
            self._global.inc(result.global_duplicates)
            self._local.inc(result.local_duplicates)
            stats = {"global_duplicates": result.global_duplicates, "local_duplicates": result.local_duplicates}
            reason = line_drop_reason(result, self._cfg.min_sentences)
            if reason is not None:
                self._dropped.inc()
                yield pvalue.TaggedOutput(DROPPED, mark_dropped(doc, LINE_STAGE, reason, **stats))
                continue
            self._kept.inc()
            yield doc.with_text(result.text).annotated(**{LINE_STAGE: stats})


class DedupC4Lines(beam.PTransform):
    """``docs | DedupC4Lines(cfg)`` → ``{"docs", "dropped", "quarantine"}`` (TFDS ``remove_duplicate_text``).

    Args:
        cfg: ``min_sentences`` decides which deduplicated pages survive.
    """

    drop_stage = LINE_STAGE  # the stage its dropped documents are annotated with (stats funnel)
    cost_stage = "c4_line_dedup"

    def __init__(self, cfg: C4Config) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        keyed = docs | "Key by page" >> beam.Map(lambda doc: (_page_key(doc), doc))
        keepers = (
            docs
            | "Line hashes" >> beam.FlatMap(_emit_lines)
            | "Pick page per line" >> beam.combiners.Top.PerKey(1, key=url_rank, reverse=True)
            | "Page by line" >> beam.Map(lambda kv: (kv[1][0], kv[0]))
        )
        out = (
            {"doc": keyed, "keep": keepers}
            | "Join pages and kept lines" >> CoGroupOnDisk()
            | "Remove duplicate lines" >> beam.ParDo(_RemoveLinesDoFn(self._cfg)).with_outputs(
                DROPPED, QUARANTINE, main="docs")
        )
        return step_outputs(out.docs, out[DROPPED], out[QUARANTINE])
