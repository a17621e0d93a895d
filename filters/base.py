"""The contract every filter and cleaner follows, kept free of Beam.

A *filter* decides: ``filter(doc) -> Verdict(keep, reason, scores)``. It never mutates the
document; the Beam stage stores ``scores`` in ``doc.annotations`` and routes dropped
documents to a separate output with their reason ("tag first, decide second").

A *cleaner* transforms: ``cleaner(doc) -> Document``. It raises :class:`BadRecord` when a
record cannot be cleaned at all; the stage then quarantines it with the message.

Both build their heavy resources (models) in ``load()``, which the Beam stage calls once per
worker in ``DoFn.setup()``; the constructor only stores config so the object pickles cheaply.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

from filters.document import Document


@dataclass(frozen=True, slots=True)
class Verdict:
    keep: bool
    reason: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def kept(cls, **scores: Any) -> Verdict:
        return cls(True, None, scores)

    @classmethod
    def dropped(cls, reason: str, **scores: Any) -> Verdict:
        return cls(False, reason, scores)


class BadRecord(Exception):
    """A record that cannot be read or cleaned; it goes to quarantine with this message."""


class Step:
    """Base of every filter and cleaner: configured in the constructor, loaded once per worker.

    A subclass declares, as class attributes:

    - ``name``: the annotation key and counter namespace. It never changes once outputs
      exist; ``version`` is bumped instead whenever the step's output changes, and
      ``versioned_name`` (``quality_v1``) is what stats.json records.
    - ``reasons``: every drop reason it may return; returning another one is a bug.
    - ``data_errors``: exception types that mean "this record is bad data". They quarantine
      the record; any other exception is a bug in our code and fails the run, naming the
      step. :class:`BadRecord` is always a data error.
    - ``cost_stage`` (optional): the benchmarked stage the cost model charges it to.

    The constructor only stores its arguments, under the parameter names; heavy resources
    (models) are built in ``load()``. Pickling keeps the constructor arguments alone, so a
    worker receives config, never a model, and rebuilds the step from it.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    reasons: ClassVar[tuple[str, ...]] = ()
    data_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    @property
    def versioned_name(self) -> str:
        return f"{self.name}_v{self.version}"

    def load(self) -> None:
        """Build heavy resources once per worker; steps without any need not override it."""

    def __getstate__(self) -> dict[str, Any]:
        params = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        missing = [p for p in params if not hasattr(self, p)]
        if missing:
            raise TypeError(f"{type(self).__name__} must store constructor argument(s) {missing} as attributes")
        return {p: getattr(self, p) for p in params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __call__(self, doc: Document) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class InputFile:
    """One unit of reading: a file (local path or URL), or a byte range of one.

    ``name`` is what ids and ``meta.file`` are built from: the path relative to the input
    root the user gave (or the URL), so same-named files in two folders never collide.
    ``start``/``end`` select a byte range (a multistream dump split by its index; ``end``
    None: to the end of the file). A reader that accepts these defines
    ``read_input(item, fh)``; a reader without it is called as ``reader(item.path, fh)``.
    """

    path: str
    name: str = ""
    start: int = 0
    end: int | None = None

    @property
    def label(self) -> str:
        """The name to show in errors and quarantine records."""
        where = self.name or self.path
        if self.start or self.end is not None:
            return f"{where}[{self.start}:{'' if self.end is None else self.end}]"
        return where


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """Why one input record was set aside, and where to find it again."""

    source: str
    file: str
    record: str
    stage: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {
            "source": self.source,
            "file": self.file,
            "record": self.record,
            "stage": self.stage,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Dropped:
    """A document a reader or filter set aside on purpose, with the reason counted in stats."""

    doc: Document
    reason: str
    stage: str = "read"


def mark_dropped(doc: Document, stage: str, reason: str, **scores: Any) -> Document:
    """The dropped copy of ``doc``: its scores plus ``dropped = {stage, reason}``."""
    annotations = dict(doc.annotations)
    if scores:
        earlier = annotations.get(stage)
        annotations[stage] = {**earlier, **scores} if isinstance(earlier, dict) else dict(scores)
    annotations["dropped"] = {"stage": stage, "reason": reason}
    return Document(doc.id, doc.text, doc.source, dict(doc.meta), annotations)


def quarantine_for(doc: Document, stage: str, error: BaseException | str) -> QuarantineRecord:
    """A quarantine record naming the file and record the document was read from."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return QuarantineRecord(
        source=doc.source,
        file=str(doc.meta.get("file", "")),
        record=str(doc.meta.get("record", doc.id)),
        stage=stage,
        error=message[:2000],
    )
