"""Apply Beam-free filters and cleaners as Beam steps, with counters and three outputs.

Every step yields kept documents on the main output, dropped documents (annotated with
stage and reason) on ``dropped`` and records it could not process on ``quarantine``.

Bad data never stops a run; a bug always does. A step quarantines a record only for the
exception types it declares as data errors (``Step.data_errors``, :class:`BadRecord`
always): the record goes to ``quarantine`` naming its file and record, and the bundle goes
on. Any other exception fails the run with a :class:`StepFailed` that names the step and
the record, so a typo in a filter cannot pass as a source full of bad documents.
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
    InputFile,
    QuarantineRecord,
    Verdict,
    mark_dropped,
    quarantine_for,
)
from filters.document import Document
from mixtures.config import HttpSettings
from stages import progress
from stages.http_input import is_url, open_url
from stages.spill import is_local_runner

DROPPED = "dropped"
QUARANTINE = "quarantine"


# What a broken or hostile input file raises while it is decoded and parsed: the rest of
# that file is quarantined (a reader quarantines single records itself where it can).
READ_ERRORS: tuple[type[BaseException], ...] = (BadRecord, OSError, EOFError, ValueError, UnicodeError)


class StepFailed(RuntimeError):
    """A step raised an exception it does not declare as a data error: a bug, not bad data."""


def data_errors_of(step: Any) -> tuple[type[BaseException], ...]:
    """The exception types that quarantine a record in ``step`` (BadRecord always does)."""
    return (BadRecord, *getattr(step, "data_errors", ()))


def guarded(stage: str, doc: Document, data_errors: tuple[type[BaseException], ...],
            fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` for ``doc``, under the one error policy of every step and composite.

    A declared data error (``BadRecord`` always) comes back as the document's
    :class:`QuarantineRecord`; any other exception fails the run naming ``stage`` and the
    document (:class:`StepFailed`).
    """
    try:
        return fn(*args)
    except (BadRecord, *data_errors) as exc:
        return quarantine_for(doc, stage, exc)
    except Exception as exc:
        raise failure(stage, doc, exc) from exc


def failure(step_name: str, doc: Document, exc: BaseException) -> StepFailed:
    where = f"{doc.meta.get('file', '')} record {doc.meta.get('record', doc.id)}".strip()
    return StepFailed(f"step {step_name} failed on document {doc.id} ({where}) with an undeclared "
                      f"{type(exc).__name__}: {exc}. Fix the step, or declare the exception in its "
                      f"data_errors if it means the record is bad.")


class _StepDoFn(beam.DoFn):
    """Runs one filter (returns a Verdict) or cleaner (returns a Document) per document."""

    def __init__(self, step: Any) -> None:
        self._step = step
        self._name = step.name
        self._data_errors = data_errors_of(step)
        self._reasons = frozenset(getattr(step, "reasons", ()))
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
        result = guarded(self._name, doc, self._data_errors, self._step, doc)
        if isinstance(result, QuarantineRecord):
            self._quarantined.inc()
            yield pvalue.TaggedOutput(QUARANTINE, result.to_dict())
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
            if self._reasons and reason not in self._reasons:
                raise StepFailed(f"step {self._name} dropped {doc.id} for {reason!r}, which it does not "
                                 f"declare in its reasons {sorted(self._reasons)}")
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
    """Opens one input (a path on any Beam filesystem, or an ``http(s)://`` URL) and runs a pure reader over it.

    The reader yields Documents, ``Dropped`` or ``QuarantineRecord``; an exception that escapes
    it (say, a truncated gzip stream, or an HTTP input that failed after its last try)
    quarantines the rest of that input and the run goes on. A reader with
    ``read_input(item, fh)`` gets the :class:`~filters.base.InputFile`; any other is called as
    ``reader(path, fh)``.
    """

    def __init__(self, source: str, reader: Callable[[str, Any], Iterable[Any]],
                 http: HttpSettings | None = None) -> None:
        self._source = source
        self._reader = reader
        self._http = http or HttpSettings()
        self._read = Metrics.counter(f"read/{source}", "documents")
        self._progress = Metrics.counter(f"progress/{source}", "read")
        self._quarantined = Metrics.counter(f"read/{source}", "quarantined")

    def _open(self, path: str) -> Any:
        if is_url(path):
            fh = open_url(path, self._http)
            try:
                fh.peek(1)  # the first request now: a URL that always fails is reported before the reader runs
            except BaseException:
                fh.close()  # frees this worker's download slot at once
                raise
            return fh
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        # Compression is the reader's business (WARC members, bz2 dumps, tarballs).
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)

    def process(self, element: str | InputFile) -> Iterator[Any]:
        item = element if isinstance(element, InputFile) else InputFile(element)
        path = item.path
        label = printable_path(item.label)
        emitted = 0
        reported = False
        fh = None
        try:
            fh = self._open(path)
            if hasattr(self._reader, "read_input"):
                items = self._reader.read_input(item, fh)
            else:
                # A non-UTF-8 file name reaches the reader escaped: it only names the file
                # (ids, meta), and output files must be valid UTF-8.
                items = self._reader(printable_path(path), fh)
            for out in items:
                emitted += 1
                if isinstance(out, Document):
                    self._read.inc()
                    self._progress.inc()
                    progress.add(self._source, "read", 1, len(out.text.encode("utf-8", "surrogatepass")))
                    yield out
                elif isinstance(out, Dropped):
                    yield pvalue.TaggedOutput(DROPPED, mark_dropped(out.doc, out.stage, out.reason))
                elif isinstance(out, QuarantineRecord):
                    self._quarantined.inc()
                    yield pvalue.TaggedOutput(QUARANTINE, out.to_dict())
                else:
                    raise TypeError(f"reader for {self._source} yielded {type(out).__name__}")
        except (*READ_ERRORS, *getattr(self._reader, "data_errors", ())) as exc:
            reported = True
            yield self._quarantine(label, emitted, exc)
        finally:
            if fh is not None:
                fh.close()
        # A reader that caught an HTTP failure itself must not make a short read look complete.
        failure = getattr(getattr(fh, "raw", None), "failure", None)
        if failure is not None and not reported:
            yield self._quarantine(label, emitted, failure)

    def _quarantine(self, label: str, emitted: int, exc: BaseException) -> pvalue.TaggedOutput:
        self._quarantined.inc()
        record = QuarantineRecord(
            source=self._source,
            file=label,
            record=f"after record {emitted}",
            stage="read",
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        return pvalue.TaggedOutput(QUARANTINE, record.to_dict())


def read_one_input(source: str, reader: Callable[[str, Any], Iterable[Any]],
                   http: HttpSettings | None = None) -> Callable[[str | InputFile], Iterator[Any]]:
    """One input's records exactly as ``ReadSource`` emits them (documents on the main output,
    ``TaggedOutput`` drops and quarantine records), for a DoFn that reads inside its own
    ``process`` (a unit whose documents must not cross a shuffle: ``stages.model_inputs``)."""
    return _ReadFileDoFn(source, reader, http).process


def printable_path(path: str) -> str:
    """``path`` as valid UTF-8 text: bytes of a non-UTF-8 file name (surrogate escapes) as ``\\xNN``."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def spreads_documents(pipeline: beam.Pipeline) -> bool:
    """Whether documents are reshuffled after reading: on a distributed runner (Dataflow), where
    it spreads one large file's documents over workers; not on the local runner, where a
    Reshuffle is a copy of the data in the launcher's memory and the workers already split
    the work by input file."""
    return not is_local_runner(pipeline)


class ReadOutputs(dict):
    """ReadSource's outputs: ``docs``, ``dropped`` and ``quarantine``, by key (``docs`` also as attribute)."""

    @property
    def docs(self) -> beam.PCollection:
        return self["docs"]


class ReadSource(beam.PTransform):
    """Reads every input (paths on any Beam filesystem, ``http(s)://`` URLs, or InputFiles) with ``reader``.

    Returns :class:`ReadOutputs`: ``docs``, ``dropped``, ``quarantine``. Inputs are spread over
    workers (a Reshuffle of the inputs), one input per element; on a distributed runner a
    second Reshuffle after reading spreads the documents of one large file over workers for
    the steps that follow (:func:`spreads_documents`; the output does not depend on it:
    shards are sorted by id). ``http`` configures URL inputs.
    """

    def __init__(self, source: str, paths: list[Any], reader: Callable[[str, Any], Iterable[Any]],
                 http: HttpSettings | None = None) -> None:
        super().__init__(label=f"Read/{source}")
        self._source = source
        self._paths = list(paths)
        self._reader = reader
        self._http = http

    def expand(self, pbegin: beam.pvalue.PBegin) -> ReadOutputs:
        read = (
            pbegin
            | "Paths" >> beam.Create(self._paths)
            | "Reshuffle files" >> beam.Reshuffle()
            | "Read files" >> beam.ParDo(_ReadFileDoFn(self._source, self._reader, self._http)).with_outputs(
                DROPPED, QUARANTINE, main="docs"
            )
        )
        docs = read.docs
        if spreads_documents(pbegin.pipeline):
            docs = docs | "Reshuffle documents" >> beam.Reshuffle()
        return ReadOutputs({"docs": docs, DROPPED: read[DROPPED], QUARANTINE: read[QUARANTINE]})
