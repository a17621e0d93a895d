"""Apply Beam-free filters and cleaners as Beam steps, with counters and three outputs.

Every step yields kept documents on the main output, dropped documents (annotated with
stage and reason) on ``dropped`` and records it could not process on ``quarantine``.
A step never dies on one bad document: an exception becomes a quarantine record naming
the file and record, and the bundle goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from filters.base import (
    BadRecord,
    Dropped,
    QuarantineRecord,
    Verdict,
    mark_dropped,
    quarantine_for,
)
from filters.document import Document

DROPPED = "dropped"
QUARANTINE = "quarantine"


class _StepDoFn(beam.DoFn):
    """Runs one filter (returns a Verdict) or cleaner (returns a Document) per document."""

    def __init__(self, step: Any) -> None:
        self._step = step
        self._name = step.name
        self._kept = Metrics.counter(self._name, "kept")
        self._dropped = Metrics.counter(self._name, "dropped")
        self._quarantined = Metrics.counter(self._name, "quarantined")
        self._reason_counters: dict[str, Any] = {}

    def setup(self) -> None:
        self._step.load()

    def _count_drop(self, reason: str) -> None:
        counter = self._reason_counters.get(reason)
        if counter is None:
            counter = self._reason_counters[reason] = Metrics.counter(self._name, f"dropped.{reason}")
        counter.inc()
        self._dropped.inc()

    def process(self, doc: Document) -> Iterator[Any]:
        try:
            result = self._step(doc)
        except Exception as exc:  # noqa: BLE001 - any failure on one record is quarantined
            self._quarantined.inc()
            yield pvalue.TaggedOutput(QUARANTINE, quarantine_for(doc, self._name, exc).to_dict())
            return
        if isinstance(result, Document):
            self._kept.inc()
            yield result
            return
        if not isinstance(result, Verdict):
            raise TypeError(f"step {self._name} returned {type(result).__name__}, expected Verdict or Document")
        if result.scores:
            doc = doc.annotated(**{self._name: _merged(doc.annotations.get(self._name), result.scores)})
        if result.keep:
            self._kept.inc()
            yield doc
        else:
            reason = result.reason or self._name
            self._count_drop(reason)
            yield pvalue.TaggedOutput(DROPPED, mark_dropped(doc, self._name, reason))


def _merged(previous: Any, scores: dict[str, Any]) -> dict[str, Any]:
    if isinstance(previous, dict):
        return {**previous, **scores}
    return dict(scores)


class ApplyStep(beam.PTransform):
    """``docs | ApplyStep(step)`` → PCollectionTuple with main, ``dropped`` and ``quarantine``."""

    def __init__(self, step: Any) -> None:
        super().__init__(label=f"Step/{step.name}")
        self._step = step

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return docs | beam.ParDo(_StepDoFn(self._step)).with_outputs(DROPPED, QUARANTINE, main="docs")


class _ReadFileDoFn(beam.DoFn):
    """Opens one matched file and runs a pure reader over it.

    The reader yields Documents, ``Dropped`` or ``QuarantineRecord``; an exception that escapes
    it (say, a truncated gzip stream) quarantines the rest of that file and the run goes on.
    """

    def __init__(self, source: str, reader: Callable[[str, Any], Iterable[Any]]) -> None:
        self._source = source
        self._reader = reader
        self._read = Metrics.counter(f"read/{source}", "documents")
        self._quarantined = Metrics.counter(f"read/{source}", "quarantined")

    def process(self, path: str) -> Iterator[Any]:
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        emitted = 0
        try:
            # Compression is the reader's business (WARC members, bz2 dumps, tarballs).
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                for item in self._reader(path, fh):
                    emitted += 1
                    if isinstance(item, Document):
                        self._read.inc()
                        yield item
                    elif isinstance(item, Dropped):
                        yield pvalue.TaggedOutput(DROPPED, mark_dropped(item.doc, item.stage, item.reason))
                    elif isinstance(item, QuarantineRecord):
                        self._quarantined.inc()
                        yield pvalue.TaggedOutput(QUARANTINE, item.to_dict())
                    else:
                        raise TypeError(f"reader for {self._source} yielded {type(item).__name__}")
        except (BadRecord, OSError, EOFError, ValueError, UnicodeError, RuntimeError) as exc:
            self._quarantined.inc()
            record = QuarantineRecord(
                source=self._source,
                file=path,
                record=f"after record {emitted}",
                stage="read",
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )
            yield pvalue.TaggedOutput(QUARANTINE, record.to_dict())


class ReadSource(beam.PTransform):
    """Expands input paths/globs (any Beam filesystem) and reads every file with ``reader``.

    Returns a PCollectionTuple: ``docs``, ``dropped``, ``quarantine``. Files are read in
    parallel, one file per element; a ``Reshuffle`` after reading spreads the documents.
    """

    def __init__(self, source: str, paths: list[str], reader: Callable[[str, Any], Iterable[Any]]) -> None:
        super().__init__(label=f"Read/{source}")
        self._source = source
        self._paths = list(paths)
        self._reader = reader

    def expand(self, pbegin: beam.pvalue.PBegin) -> pvalue.DoOutputsTuple:
        outputs = (
            pbegin
            | "Paths" >> beam.Create(self._paths)
            | "Reshuffle files" >> beam.Reshuffle()
            | "Read files" >> beam.ParDo(_ReadFileDoFn(self._source, self._reader)).with_outputs(
                DROPPED, QUARANTINE, main="docs"
            )
        )
        return outputs
