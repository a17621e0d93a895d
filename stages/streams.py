"""The streams one source produces inside a pipeline, and helpers to extend them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from stages.steps import DROPPED, QUARANTINE, ApplyStep


@dataclass
class SourceStreams:
    """Kept documents plus every side stream that stats.json must account for.

    ``inputs`` are the collections whose sizes add up to ``documents_in``.
    """

    name: str
    docs: beam.PCollection
    dropped: list[beam.PCollection] = field(default_factory=list)
    quarantine: list[beam.PCollection] = field(default_factory=list)
    inputs: list[beam.PCollection] = field(default_factory=list)

    @classmethod
    def from_read(cls, name: str, read: Any) -> "SourceStreams":
        """From the PCollectionTuple of ``ReadSource``: everything read counts as input."""
        return cls(
            name=name,
            docs=read.docs,
            dropped=[read[DROPPED]],
            quarantine=[read[QUARANTINE]],
            inputs=[read.docs, read[DROPPED], read[QUARANTINE]],
        )

    def then(self, step: Any, label: str | None = None) -> "SourceStreams":
        """Apply one filter or cleaner; its drops and quarantine join the side streams."""
        out = self.docs | (label or f"{self.name}/{step.name}") >> ApplyStep(step)
        self.docs = out.docs
        self.dropped.append(out[DROPPED])
        self.quarantine.append(out[QUARANTINE])
        return self

    def then_all(self, steps: list[Any]) -> "SourceStreams":
        for step in steps:
            self.then(step)
        return self

    def then_transform(self, transform: beam.PTransform, label: str) -> "SourceStreams":
        """Apply a composite that returns ``docs``/``dropped``/``quarantine`` (e.g. dedup)."""
        out = self.docs | label >> transform
        self.docs = out["docs"] if isinstance(out, dict) else out.docs
        for tag, target in ((DROPPED, self.dropped), (QUARANTINE, self.quarantine)):
            try:
                target.append(out[tag])
            except (KeyError, AttributeError, ValueError):
                pass
        return self
