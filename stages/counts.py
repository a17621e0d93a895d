"""Count what every stream of a source holds, inside the pipeline, for stats.json.

Counting in-graph (rather than reading back outputs or relying on runner metrics) works the
same on every runner, and the result is one small JSON file the driver reads after the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from stages.sinks import write_atomically
from stages.spill import bundle_output

DOCUMENTS_IN = "documents_in"
DOCUMENTS_OUT = "documents_out"
QUARANTINED = "quarantined"
SEEN_BY_STEP = "seen_by_step"
QUARANTINED_BY_STEP = "quarantined_by_step"
CHECKSUM = "sha256/"


# Keys of the per-step funnel: ``dropped_by_step/<stage>/<reason>``, ``chars/<step>`` (text
# characters a step was given) and ``length/<step>/<bin>`` (documents per length bin).
DROPPED_BY_STEP = "dropped_by_step/"
CHARS = "chars/"
LENGTH = "length/"
LENGTH_BINS_PER_DECADE = 4  # quarter-decade bins of characters: percentiles within ~78% of a bin


def _reason_of(doc: Any) -> str:
    dropped = doc.annotations.get("dropped") or {}
    return str(dropped.get("reason", "unknown"))


def _stage_of(doc: Any) -> str:
    dropped = doc.annotations.get("dropped") or {}
    return str(dropped.get("stage", "unknown"))


def length_bin(chars: int) -> int:
    """Quarter-decade bin of a document length (bin b holds lengths in [10^(b/4), 10^((b+1)/4)))."""
    return int(math.log10(chars) * LENGTH_BINS_PER_DECADE) if chars >= 1 else -1


def length_percentiles(bins: dict[str, int], percentiles: tuple[int, ...] = (10, 50, 90)) -> dict[str, int]:
    """Approximate length percentiles (characters, a bin's lower edge) from ``{bin: documents}``."""
    total = sum(bins.values())
    if not total:
        return {}
    ordered = sorted((int(b), n) for b, n in bins.items())
    out = {}
    for pct in percentiles:
        need, seen = total * pct / 100, 0
        for b, n in ordered:
            seen += n
            if seen >= need:
                out[f"p{pct}"] = 0 if b < 0 else int(round(10 ** (b / LENGTH_BINS_PER_DECADE)))
                break
    return out


class _BundleCounts(beam.DoFn):
    """Adds up ``keys_of(element)`` over a bundle and emits the sums when the bundle ends.

    The counting is done where each stream is produced: only one small dict per bundle
    reaches the merge, never a tuple per document (the local runner would hold those).
    """

    def __init__(self, keys_of: Callable[[Any], Iterable[tuple[str, int]]]) -> None:
        self._keys_of = keys_of
        self._sums: dict[str, int] = {}

    def start_bundle(self) -> None:
        self._sums = {}

    def process(self, element: Any) -> Iterator[tuple[str, int]]:
        sums = self._sums
        for key, n in self._keys_of(element):
            sums[key] = sums.get(key, 0) + n
        return iter(())

    def finish_bundle(self) -> Iterator[WindowedValue]:
        sums, self._sums = self._sums, {}
        for key in sorted(sums):
            yield bundle_output((key, sums[key]))


class _MergeCounts(beam.CombineFn):
    def create_accumulator(self) -> dict[str, int]:
        return {}

    def add_input(self, acc: dict[str, Any], element: tuple[str, Any]) -> dict[str, Any]:
        key, n = element
        # A checksum (text) is one value per key; counts add up.
        acc[key] = n if isinstance(n, str) else acc.get(key, 0) + n
        return acc

    def merge_accumulators(self, accs: Any) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for acc in accs:
            for key, n in acc.items():
                merged[key] = n if isinstance(n, str) else merged.get(key, 0) + n
        return merged

    def extract_output(self, acc: dict[str, int]) -> dict[str, int]:
        return dict(sorted(acc.items()))


def _with_prefix(counts: dict[str, int], prefix: str) -> dict[str, int]:
    return dict(sorted((k[len(prefix):], v) for k, v in counts.items() if k.startswith(prefix)))


def checksums_of(counts: dict[str, Any]) -> dict[str, str]:
    """The output checksums a ``CountStreams`` file holds, keyed by ``sub/shard name``."""
    return dict(sorted((k[len(CHECKSUM):], v) for k, v in counts.items() if k.startswith(CHECKSUM)))


def counts_to_stats(counts: dict[str, Any]) -> dict[str, Any]:
    """Flat keys (``dropped/lang``) → the stats.json shape."""
    return {
        DOCUMENTS_IN: counts.get(DOCUMENTS_IN, 0),
        DOCUMENTS_OUT: counts.get(DOCUMENTS_OUT, 0),
        "dropped": _with_prefix(counts, "dropped/"),
        "dropped_by_step": _nested(_with_prefix(counts, DROPPED_BY_STEP)),
        QUARANTINED: counts.get(QUARANTINED, 0),
        QUARANTINED_BY_STEP: _with_prefix(counts, "quarantined/"),
        SEEN_BY_STEP: _with_prefix(counts, "seen/"),
        "chars_by_step": _with_prefix(counts, CHARS),
        "length_bins_by_step": _nested(_with_prefix(counts, LENGTH)),
    }


def _nested(flat: dict[str, int]) -> dict[str, dict[str, int]]:
    """``{"a/b": n}`` → ``{"a": {"b": n}}`` (the last ``/`` splits: step names have none)."""
    out: dict[str, dict[str, int]] = {}
    for key, n in flat.items():
        outer, _, inner = key.rpartition("/")
        out.setdefault(outer, {})[inner] = n
    return out


class CountStreams(beam.PTransform):
    """Counts documents in/out, drops by reason and quarantined records into ``path`` (JSON).

    Applied to the pipeline: ``p | CountStreams(path, {"inputs": [...], "out": [...], ...})``.

    ``inputs`` are the collections whose sizes add up to documents_in (what the reader
    produced: documents, reader drops, reader quarantine). ``withdrawn`` holds one element per
    document of ``out`` that the sink set aside after all (an id collision: it is in
    ``quarantine`` too), so it is subtracted from documents_out. ``seen`` pairs each step with the
    documents it was given; quarantine records are also counted by the step that set them
    aside, so the runner can check each step's quarantine share. ``checksums`` are the shard
    writers' ``(name, sha256)`` pairs, carried along (``sha256/<name>`` keys, one per shard) so
    the launcher reads no shard and the job needs no second global combine.
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

        def count(label: str, pc: beam.PCollection, keys_of: Callable[[Any], Iterable[tuple[str, int]]]) -> None:
            keyed.append(pc | label >> beam.ParDo(_BundleCounts(keys_of)))

        for i, pc in enumerate(streams.get("inputs", [])):
            count(f"In {i}", pc, lambda _: ((DOCUMENTS_IN, 1),))
        for i, pc in enumerate(streams.get("out", [])):
            count(f"Out {i}", pc, lambda _: ((DOCUMENTS_OUT, 1),))
        for i, pc in enumerate(streams.get("withdrawn", [])):
            count(f"Withdrawn {i}", pc, lambda _: ((DOCUMENTS_OUT, -1),))
        for i, pc in enumerate(streams.get("dropped", [])):
            count(f"Dropped {i}", pc, lambda d: (("dropped/" + _reason_of(d), 1),
                                                 (DROPPED_BY_STEP + _stage_of(d) + "/" + _reason_of(d), 1)))
        for i, pc in enumerate(streams.get("quarantine", [])):
            count(f"Quarantine {i}", pc, lambda r: ((QUARANTINED, 1), ("quarantined/" + str(r["stage"]), 1)))
        for i, pc in enumerate(streams.get("checksums", [])):
            keyed.append(pc | f"Checksums {i}" >> beam.Map(lambda kv: (CHECKSUM + kv[0], kv[1])))
        for i, (step, pc) in enumerate([*self._seen, *(("out", pc) for pc in streams.get("out", []))]):
            seen = () if step == "out" else (("seen/" + step, 1),)
            chars, length = CHARS + step, LENGTH + step + "/"
            count(f"Text {i} {step}", pc, lambda d, seen=seen, chars=chars, length=length: (
                *seen, (chars, len(d.text)), (length + str(length_bin(len(d.text))), 1)))
        keyed.append(p | "Seed" >> beam.Create([(DOCUMENTS_IN, 0)]))
        path = self._path
        return (
            keyed
            | "Flatten" >> beam.Flatten()
            | "Merge" >> beam.CombineGlobally(_MergeCounts())
            | "Write" >> beam.Map(lambda counts: write_atomically(
                path, json.dumps(counts, indent=1, sort_keys=True).encode("utf-8")) or counts)
        )
