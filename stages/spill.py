"""Shuffles on disk: grouping and sorting whose data never passes through the runner's memory.

Beam's local runner (FnApiRunner) keeps every PCollection that crosses a GroupByKey,
CoGroupByKey or Reshuffle whole in the launcher process, so a local run's memory grows with
its input (3 GB for 112 MB of gzip'd WARC). Here the data crosses on disk instead:

    elements ─"Spill"─> one file per buffer flush under the spill folder, holding a sorted
             run per partition; only its path goes on
             ─"Gather runs" (the paths → one manifest of every file's runs beside them;
             ``(partition, manifest)`` for every partition)
             ─"Merge"─> a k-way merge per partition (filters.sorted_runs) ─> consumer

What the launcher holds is one path per buffer flush and one per partition, whatever the
partition count (output shards, which grow with the input, are partitions of the writers).

Every worker holds one spill buffer (``--spill_buffer_mb``) while it writes and one record
per run while it merges, whatever the input size. The merged stream is ordered by key then
payload, so what a consumer sees does not depend on bundling or worker count. The same
graph runs on Dataflow with the spill folder on the job's filesystem (``gs://``), as the
tokenizer's encode spills do (``stages.tokenize``).

``CoGroupOnDisk`` and ``GroupByKeyOnDisk`` have the output shapes of ``beam.CoGroupByKey``
and ``beam.GroupByKey`` (values as lists); ``SpillRuns`` + ``GatherRuns`` + :func:`merged`
are the parts for a consumer that wants the sorted stream itself (``stages.sinks``).

The spill folder (``--spill_dir``; the runner points it at ``OUTPUT/.spill``) is scratch:
the runner empties it before a pipeline starts and after it succeeds.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import struct
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from filters.sorted_runs import Record, group_runs, merge_runs, read_run, record_size, write_run
from stages import fsio

RUN_SUFFIX = ".run"
DEFAULT_FOLDER = ".spill"  # under the run's output folder, unless --spill_dir says otherwise
DEFAULT_PARTITIONS = 16
# Past this many runs in one partition, runs are merged in passes: each open run costs a
# read buffer (and, on an object store, a connection).
MAX_FAN_IN = 64


class SpillOptions(PipelineOptions):
    """Where shuffles on disk write their runs, and how much each worker buffers before a run."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument("--shuffle_on_disk", default="auto", choices=("auto", "always", "never"),
                            help="Group documents through sorted runs on disk (auto: on the local runner "
                                 "only; a distributed runner has a shuffle service that does it better).")
        parser.add_argument("--spill_dir", default=None,
                            help="Scratch folder (any Beam filesystem) for shuffles on disk; "
                                 "default: a temporary folder on the launcher's disk.")
        parser.add_argument("--spill_buffer_mb", type=float, default=64,
                            help="MB of records a worker sorts in memory before writing a run, per spilling step.")


def _settings(pipeline: beam.Pipeline) -> SpillOptions:
    return pipeline.options.view_as(SpillOptions)


# The local runner: it holds any shuffled data in the launcher's memory.
LOCAL_RUNNERS = frozenset({None, "", "FnApiRunner", "DirectRunner", "BundleBasedDirectRunner",
                           "SwitchingDirectRunner", "direct"})


def is_local_runner(pipeline: beam.Pipeline) -> bool:
    from apache_beam.options.pipeline_options import StandardOptions

    runner = pipeline.options.view_as(StandardOptions).runner
    name = runner if isinstance(runner, str) or runner is None else type(runner).__name__
    return name in LOCAL_RUNNERS


def shuffles_on_disk(pipeline: beam.Pipeline) -> bool:
    """Whether groupings of documents go through sorted runs on disk (``--shuffle_on_disk``).

    On the local runner, yes: its shuffles are lists in the launcher's memory. On Dataflow,
    no: its shuffle service keeps grouped data out of worker memory already, and runs on an
    object store would be many small files per bundle.
    """
    mode = _settings(pipeline).shuffle_on_disk
    return mode == "always" or (mode == "auto" and is_local_runner(pipeline))


def bundle_output(value: Any) -> WindowedValue:
    """``value`` as ``finish_bundle`` must emit it (global window): what a DoFn gathered over a
    bundle (runs written, sums, a sample) leaves at its end."""
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


def _as_streams(value: Any) -> tuple[beam.PCollection, ...]:
    return (value,) if isinstance(value, beam.PCollection) else tuple(value)


def spill_directory(pipeline: beam.Pipeline, label: str) -> str:
    """A fresh folder for one transform's runs under the pipeline's spill folder."""
    root = _settings(pipeline).spill_dir
    if not root:
        root = tempfile.mkdtemp(prefix="pasture-spill-")
        _settings(pipeline).spill_dir = root
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")[:60] or "spill"
    return fsio.join(root, f"{slug}-{uuid.uuid4().hex[:8]}")


def partition_of(key: Any, partitions: int) -> int:
    """A key's partition: a CRC of its repr, the same in every process (``hash()`` is salted)."""
    return zlib.crc32(repr(key).encode("utf-8", "backslashreplace")) % partitions


def _open_write(path: str) -> Any:
    if "://" not in path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return open(path, "wb", buffering=1 << 20)
    return FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _open_read(path: str) -> Any:
    if "://" not in path:
        return open(path, "rb", buffering=1 << 16)
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def write_run_file(directory: str, partition: int, records: list[Record]) -> str:
    """``records`` sorted into a new run file of ``partition``; returns its path."""
    path = fsio.join(directory, f"p{partition:05d}-{uuid.uuid4().hex}{RUN_SUFFIX}")
    records.sort()
    with _open_write(path) as fh:
        write_run(fh, records)
    return path


class _CountingWriter:
    """Passes bytes on and counts them (a remote stream may not tell its position)."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.written = 0

    def write(self, data: bytes) -> int:
        self._fh.write(data)
        self.written += len(data)
        return len(data)


_FOOTER = struct.Struct("<Q")


def write_segmented_run_file(directory: str, buffers: dict[int, list[Record]]) -> str:
    """One buffer's records as one file: a sorted run per partition, one after the other, then
    an index ``[(partition, offset, length)]`` and its length. Returns the file's path.

    One file (and one path crossing the pipeline) per buffer, whatever the partition count:
    a file per partition and buffer made the paths the local runner holds grow with the
    input times the partitions (output shards grow with the input).
    """
    path = fsio.join(directory, f"b-{uuid.uuid4().hex}{RUN_SUFFIX}")
    index = []
    with _open_write(path) as raw:
        fh = _CountingWriter(raw)
        for partition in sorted(buffers):
            records = buffers[partition]
            records.sort()
            start = fh.written
            write_run(fh, records)
            index.append((partition, start, fh.written - start))
        footer = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
        fh.write(footer)
        fh.write(_FOOTER.pack(len(footer)))
    return path


def read_segment_index(path: str) -> list[tuple[int, int, int]]:
    """The ``[(partition, offset, length)]`` index of a :func:`write_segmented_run_file` file."""
    with _open_read(path) as fh:
        fh.seek(-_FOOTER.size, os.SEEK_END)
        (length,) = _FOOTER.unpack(fh.read(_FOOTER.size))
        fh.seek(-_FOOTER.size - length, os.SEEK_END)
        return pickle.loads(fh.read(length))  # our own scratch files, written in this run


class _Segment:
    """``length`` bytes of ``fh`` from ``offset``: one partition's run in a segmented file."""

    def __init__(self, fh: Any, offset: int, length: int) -> None:
        fh.seek(offset)
        self._fh = fh
        self._left = length

    def read(self, n: int) -> bytes:
        data = self._fh.read(min(n, self._left))
        self._left -= len(data)
        return data


class _SpillDoFn(beam.DoFn):
    """Buffers ``record_of(element)`` = ``(partition, key, payload)`` and writes sorted runs;
    emits the path of each buffer's file once (one file per buffer, a run per partition in it:
    :func:`write_segmented_run_file`), never the records."""

    def __init__(self, directory: str, record_of: Callable[[Any], tuple[int, Any, bytes]],
                 budget_bytes: int) -> None:
        self._directory = directory
        self._record_of = record_of
        self._budget = budget_bytes
        self._buffers: dict[int, list[Record]] = {}
        self._buffered = 0

    def start_bundle(self) -> None:
        self._buffers, self._buffered = {}, 0

    def process(self, element: Any) -> Iterator[str]:
        partition, key, payload = self._record_of(element)
        record = (key, payload)
        self._buffers.setdefault(partition, []).append(record)
        self._buffered += record_size(record)
        if self._buffered >= self._budget:
            yield from self._flush()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for out in self._flush():
            yield bundle_output(out)

    def _flush(self) -> Iterator[str]:
        buffers, self._buffers, self._buffered = self._buffers, {}, 0
        if buffers:
            yield write_segmented_run_file(self._directory, buffers)


class SpillRuns(beam.PTransform):
    """Elements → sorted run files; returns the path of each file written (one per buffer).

    Args:
        directory: the folder for the runs (:func:`spill_directory`).
        record_of: element → ``(partition, key, payload)``; ``key`` a tuple, ``payload`` bytes.
    """

    def __init__(self, directory: str, record_of: Callable[[Any], tuple[int, Any, bytes]],
                 label: str | None = None) -> None:
        super().__init__(label=label)
        self._directory = directory
        self._record_of = record_of

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        budget = max(1, int(_settings(pcoll.pipeline).spill_buffer_mb * (1 << 20)))
        return pcoll | "Spill" >> beam.ParDo(_SpillDoFn(self._directory, self._record_of, budget)).with_output_types(
            str)


RunRef = str | tuple[str, int, int]  # a whole run file, or (path, offset, length) of a segment


def _index_runs(partitions: int) -> Callable[[Any, list[str | None]], Iterator[tuple[int, str | None]]]:
    """All spill files of a transform → one manifest of their segments, then ``(partition,
    manifest)`` for every partition; ``(partition, None)`` for all when nothing was spilled."""

    def index(_: Any, paths: list[str | None]) -> Iterator[tuple[int, str | None]]:
        paths = sorted(p for p in paths if p is not None)
        manifest = None
        if paths:
            manifest = fsio.join(paths[0].rsplit("/", 1)[0], f"segments-{uuid.uuid4().hex}.idx")
            with _open_write(manifest) as fh:  # streamed: one record per file, never all in memory
                for path in paths:
                    pickle.dump((path, read_segment_index(path)), fh, protocol=pickle.HIGHEST_PROTOCOL)
        for partition in range(partitions):
            yield partition, manifest

    return index


def _segments_of(partition: int, manifests: list[str | None]) -> list[RunRef]:
    """The segments of ``partition`` listed in its manifest, in path order."""
    refs: list[RunRef] = []
    for manifest in manifests:
        if manifest is None:
            continue
        with _open_read(manifest) as fh:
            while True:
                try:
                    path, index = pickle.load(fh)
                except EOFError:
                    break
                refs.extend((path, offset, length) for part, offset, length in index if part == partition)
    return sorted(refs)


class GatherRuns(beam.PTransform):
    """Spill file paths (``SpillRuns``) → ``(partition, [run refs])`` for every partition in
    ``range(partitions)``, refs sorted, empty partitions included; :func:`merged` reads them.

    What crosses stages is one path per spill file, then one manifest path per partition,
    whatever the input size: the manifest, a file beside the runs, lists the segments.
    """

    def __init__(self, partitions: int, label: str | None = None) -> None:
        super().__init__(label=label)
        self._partitions = partitions

    def expand(self, runs: beam.PCollection) -> beam.PCollection:
        seed = runs.pipeline | "Seed" >> beam.Create([None]).with_output_types(str | None)
        return (
            (runs, seed)
            | "All runs" >> beam.Flatten()
            | "One key" >> beam.Map(lambda path: (0, path))
            | "Group runs" >> beam.GroupByKey()
            | "Index" >> beam.FlatMapTuple(_index_runs(self._partitions))
            | "By partition" >> beam.GroupByKey()
            | "Segments" >> beam.MapTuple(lambda part, manifests: (part, _segments_of(part, list(manifests))))
        )


@contextlib.contextmanager
def merged(paths: list[RunRef], scratch: str | None = None) -> Iterator[Iterator[Record]]:
    """The records of the runs at ``paths`` (run files, or segments ``(path, offset, length)``
    of spill files) as one sorted stream (a context: it closes the files).

    More than ``MAX_FAN_IN`` runs are first merged in groups into new runs under ``scratch``
    (default: the folder of the first run).
    """
    paths = list(paths)
    while len(paths) > MAX_FAN_IN:
        folder = scratch or _path_of(paths[0]).rsplit("/", 1)[0]
        merged_paths: list[RunRef] = []
        for start in range(0, len(paths), MAX_FAN_IN):
            with merged(paths[start:start + MAX_FAN_IN]) as stream:
                path = fsio.join(folder, f"m-{uuid.uuid4().hex}{RUN_SUFFIX}")
                with _open_write(path) as fh:
                    write_run(fh, stream)
            merged_paths.append(path)
        paths = merged_paths
    with contextlib.ExitStack() as stack:
        handles = [(_open_ref(stack, ref), _path_of(ref)) for ref in paths]
        yield merge_runs(read_run(fh, path) for fh, path in handles)


def _path_of(ref: RunRef) -> str:
    return ref if isinstance(ref, str) else ref[0]


def _open_ref(stack: contextlib.ExitStack, ref: RunRef) -> Any:
    fh = stack.enter_context(_open_read(_path_of(ref)))
    return fh if isinstance(ref, str) else _Segment(fh, ref[1], ref[2])


# ---------------------------------------------------------------------------------------
# Grouping on disk, with the output shapes of Beam's own transforms.


def _tagged_record(partitions: int, tag: int) -> Callable[[tuple[Any, Any]], tuple[int, Any, bytes]]:
    def record_of(kv: tuple[Any, Any]) -> tuple[int, Any, bytes]:
        key, value = kv
        return partition_of(key, partitions), (key, tag), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return record_of


class _CoGroupDoFn(beam.DoFn):
    def __init__(self, tags: list[str]) -> None:
        self._tags = tags

    def process(self, element: tuple[int, list[str]]) -> Iterator[tuple[Any, dict[str, list[Any]]]]:
        _, paths = element
        if not paths:
            return
        with merged(paths) as stream:
            for (key,), records in group_runs(stream, 1):
                values: dict[str, list[Any]] = {tag: [] for tag in self._tags}
                for (_, tag), payload in records:
                    values[self._tags[tag]].append(pickle.loads(payload))
                yield key, values


class CoGroupOnDisk(beam.PTransform):
    """``{tag: PCollection[(key, value)]}`` → ``(key, {tag: [values]})``, like ``beam.CoGroupByKey``.

    Keys must be comparable with each other (str, int, tuples of them) and values picklable.
    Keys come out in key order within a partition; the values of one tag in pickled order.
    A tag may name a tuple of PCollections (the same as their Flatten): each is spilled where
    it is made, since a Flatten across stages is one more buffer in the local runner.
    """

    def __init__(self, partitions: int = DEFAULT_PARTITIONS, label: str | None = None,
                 directory: str | None = None) -> None:
        """``directory``: where the runs go (default: a fresh folder under the pipeline's spill folder);
        a transform that cleans up after itself (``stages.tokenize``) passes its own."""
        super().__init__(label=label)
        self._partitions = partitions
        self._directory = directory

    def expand(self, inputs: dict[str, beam.PCollection | tuple[beam.PCollection, ...]]) -> beam.PCollection:
        tags = sorted(inputs)
        streams = {tag: _as_streams(inputs[tag]) for tag in tags}
        if not shuffles_on_disk(streams[tags[0]][0].pipeline):
            return (
                {tag: (s[0] if len(s) == 1 else s | f"Flatten {tag}" >> beam.Flatten()) for tag, s in streams.items()}
                | "Group" >> beam.CoGroupByKey()
                | "As lists" >> beam.MapTuple(lambda key, grouped: (key, {tag: list(v) for tag, v in grouped.items()}))
            )
        directory = self._directory or spill_directory(streams[tags[0]][0].pipeline, self.label)
        runs = [
            stream | f"Spill {tag}{f' {i}' if i else ''}" >> SpillRuns(
                directory, _tagged_record(self._partitions, index))
            for index, tag in enumerate(tags) for i, stream in enumerate(streams[tag])
        ]
        return (
            tuple(runs)
            | "Flatten runs" >> beam.Flatten()
            | "Gather runs" >> GatherRuns(self._partitions)
            | "Merge" >> beam.ParDo(_CoGroupDoFn(tags))
        )


class GroupByKeyOnDisk(beam.PTransform):
    """``PCollection[(key, value)]`` → ``(key, [values])``, like ``beam.GroupByKey``."""

    def __init__(self, partitions: int = DEFAULT_PARTITIONS, label: str | None = None,
                 directory: str | None = None) -> None:
        super().__init__(label=label)
        self._partitions = partitions
        self._directory = directory

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            {"values": pcoll}
            | "Group" >> CoGroupOnDisk(self._partitions, directory=self._directory)
            | "Values" >> beam.MapTuple(lambda key, grouped: (key, grouped["values"]))
        )


def remove_spill_dir(path: str | None) -> None:
    """Delete a spill folder and everything under it (any filesystem); a missing one is fine."""
    if not path:
        return
    if "://" not in path:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        parent = os.path.dirname(path.rstrip(os.sep))
        if os.path.basename(parent) == DEFAULT_FOLDER:  # ours (not a --spill_dir): gone once empty
            with contextlib.suppress(OSError):
                os.rmdir(parent)
        return
    fsio.delete(fsio.match(fsio.join(path, "**")))
