"""The streams one source produces inside a pipeline, and how each step extends them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from stages.steps import DROPPED, QUARANTINE, ApplyStep

DOCS = "docs"
# Optional key of a composite's outputs: what the documents it was given count as in
# ``documents_in``, for a step that merges records (StackExchange attaches answers to their
# question: only questions and orphan answers are documents of the source).
COUNTED_INPUTS = "counted_inputs"


Streams = Any  # a PCollection, or a tuple of them


def step_outputs(docs: beam.PCollection, dropped: Streams, quarantine: Streams,
                 counted_inputs: Streams | None = None) -> dict[str, Streams]:
    """The one output shape of every composite step: ``{docs, dropped, quarantine}``.

    ``dropped``, ``quarantine`` and ``counted_inputs`` may each be a tuple of PCollections
    made in different stages: the runner writes and counts each where it is made, where a
    Flatten would hold them all in the local runner's memory.
    """
    outputs = {DOCS: docs, DROPPED: dropped, QUARANTINE: quarantine}
    if counted_inputs is not None:
        outputs[COUNTED_INPUTS] = counted_inputs
    return outputs


@dataclass
class SourceStreams:
    """Kept documents plus every side stream that stats.json must account for.

    ``inputs`` are the collections whose sizes add up to ``documents_in``; ``seen`` pairs
    each filter or cleaner with the documents it was given, so a step's quarantine share can
    be checked against what it saw.
    """

    name: str
    docs: beam.PCollection
    dropped: list[beam.PCollection] = field(default_factory=list)
    quarantine: list[beam.PCollection] = field(default_factory=list)
    inputs: list[beam.PCollection] = field(default_factory=list)
    seen: list[tuple[str, beam.PCollection]] = field(default_factory=list)

    @classmethod
    def from_read(cls, name: str, read: Any) -> SourceStreams:
        """From the PCollectionTuple of ``ReadSource``: everything read counts as input."""
        return cls(
            name=name,
            docs=read.docs,
            dropped=[read[DROPPED]],
            quarantine=[read[QUARANTINE]],
            inputs=[read.docs, read[DROPPED], read[QUARANTINE]],
        )

    def then(self, step: Any, label: str | None = None) -> SourceStreams:
        """Apply one filter or cleaner; its drops and quarantine join the side streams."""
        self.seen.append((step.name, self.docs))
        out = self.docs | (label or f"{self.name}/{step.name}") >> ApplyStep(step)
        self.docs = out.docs
        self.dropped.append(out[DROPPED])
        self.quarantine.append(out[QUARANTINE])
        return self

    def then_all(self, steps: list[Any]) -> SourceStreams:
        for step in steps:
            self.then(step)
        return self

    def then_transform(self, transform: beam.PTransform, label: str) -> SourceStreams:
        """Apply a composite step; it returns :func:`step_outputs`."""
        given = self.docs
        out = given | label >> transform
        missing = {DOCS, DROPPED, QUARANTINE} - set(out)
        if missing:
            raise TypeError(f"{label}: a composite step must return step_outputs(...); missing {sorted(missing)}")
        self.docs = out[DOCS]
        self.dropped.extend(_as_list(out[DROPPED]))
        self.quarantine.extend(_as_list(out[QUARANTINE]))
        if COUNTED_INPUTS in out:
            self.inputs = [pc for pc in self.inputs if pc is not given] + _as_list(out[COUNTED_INPUTS])
        return self


def _as_list(streams: Streams) -> list[beam.PCollection]:
    return [streams] if isinstance(streams, beam.PCollection) else list(streams)
