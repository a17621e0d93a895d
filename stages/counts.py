"""Count what every stream of a source holds, inside the pipeline, for stats.json.

Counting in-graph (rather than reading back outputs or relying on runner metrics) works the
same on every runner, and the result is one small JSON file the driver reads after the run.
"""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam

from stages.sinks import write_atomically

DOCUMENTS_IN = "documents_in"
DOCUMENTS_OUT = "documents_out"
QUARANTINED = "quarantined"
SEEN_BY_STEP = "seen_by_step"
QUARANTINED_BY_STEP = "quarantined_by_step"


def _reason_of(doc: Any) -> str:
    dropped = doc.annotations.get("dropped") or {}
    return str(dropped.get("reason", "unknown"))


class _MergeCounts(beam.CombineFn):
    def create_accumulator(self) -> dict[str, int]:
        return {}

    def add_input(self, acc: dict[str, int], element: tuple[str, int]) -> dict[str, int]:
        key, n = element
        acc[key] = acc.get(key, 0) + n
        return acc

    def merge_accumulators(self, accs: Any) -> dict[str, int]:
        merged: dict[str, int] = {}
        for acc in accs:
            for key, n in acc.items():
                merged[key] = merged.get(key, 0) + n
        return merged

    def extract_output(self, acc: dict[str, int]) -> dict[str, int]:
        return dict(sorted(acc.items()))


def _with_prefix(counts: dict[str, int], prefix: str) -> dict[str, int]:
    return dict(sorted((k[len(prefix):], v) for k, v in counts.items() if k.startswith(prefix)))


def counts_to_stats(counts: dict[str, int]) -> dict[str, Any]:
    """Flat keys (``dropped/lang``) → the stats.json shape."""
    return {
        DOCUMENTS_IN: counts.get(DOCUMENTS_IN, 0),
        DOCUMENTS_OUT: counts.get(DOCUMENTS_OUT, 0),
        "dropped": _with_prefix(counts, "dropped/"),
        QUARANTINED: counts.get(QUARANTINED, 0),
        QUARANTINED_BY_STEP: _with_prefix(counts, "quarantined/"),
        SEEN_BY_STEP: _with_prefix(counts, "seen/"),
    }


class CountStreams(beam.PTransform):
    """Counts documents in/out, drops by reason and quarantined records into ``path`` (JSON).

    Applied to the pipeline: ``p | CountStreams(path, {"inputs": [...], "out": [...], ...})``.

    ``inputs`` are the collections whose sizes add up to documents_in (what the reader
    produced: documents, reader drops, reader quarantine). ``seen`` pairs each step with the
    documents it was given; quarantine records are also counted by the step that set them
    aside, so the runner can check each step's quarantine share.
    """

    def __init__(self, path: str, streams: dict[str, list[beam.PCollection]],
                 seen: list[tuple[str, beam.PCollection]] = (), label: str | None = None) -> None:
        super().__init__(label=label)
        self._path = path
        self._streams = streams
        self._seen = list(seen)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        p = pbegin.pipeline
        streams = self._streams
        keyed = []
        for i, pc in enumerate(streams.get("inputs", [])):
            keyed.append(pc | f"In {i}" >> beam.Map(lambda _: (DOCUMENTS_IN, 1)))
        for i, pc in enumerate(streams.get("out", [])):
            keyed.append(pc | f"Out {i}" >> beam.Map(lambda _: (DOCUMENTS_OUT, 1)))
        for i, pc in enumerate(streams.get("dropped", [])):
            keyed.append(pc | f"Dropped {i}" >> beam.Map(lambda d: ("dropped/" + _reason_of(d), 1)))
        for i, pc in enumerate(streams.get("quarantine", [])):
            keyed.append(pc | f"Quarantine {i}" >> beam.Map(lambda _: (QUARANTINED, 1)))
            keyed.append(pc | f"Quarantine by step {i}" >> beam.Map(lambda r: ("quarantined/" + str(r["stage"]), 1)))
        for i, (step, pc) in enumerate(self._seen):
            keyed.append(pc | f"Seen {i} {step}" >> beam.Map(lambda _, key="seen/" + step: (key, 1)))
        keyed.append(p | "Seed" >> beam.Create([(DOCUMENTS_IN, 0)]))
        path = self._path
        return (
            keyed
            | "Flatten" >> beam.Flatten()
            | "Merge" >> beam.CombineGlobally(_MergeCounts())
            | "Write" >> beam.Map(lambda counts: write_atomically(
                path, json.dumps(counts, indent=1, sort_keys=True).encode("utf-8")) or counts)
        )
