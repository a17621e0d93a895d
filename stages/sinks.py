"""Deterministic, atomic shard writing.

Beam's ``WriteToText`` names and fills shards in an order that depends on bundling, so two
runs (or 1 vs 2 workers) give different bytes. Here every element is assigned to a shard by a
stable hash of its sort key, each shard is sorted, and written to a temporary name that is
renamed when complete: same input and config → byte-identical files, and a killed run
never leaves a half-written shard under its final name.

The sort is external (``stages.spill``): records reach a shard's writer as sorted runs on
disk and are merged into the file as they stream, so neither a worker nor the local runner
holds a shard, or the corpus, in memory.
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import hashlib
import io
import json
import pickle
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils.windowed_value import WindowedValue

from filters.document import shard_name, shard_of
from filters.sorted_runs import Record
from mixtures.provenance import sha256_stream
from stages import fsio
from stages.spill import (
    GatherRuns,
    SpillRuns,
    bundle_output,
    merged,
    shuffles_on_disk,
    spill_directory,
    write_run_file,
)


def gzip_bytes(payload: bytes) -> bytes:
    """gzip with a zero mtime and no file name, so equal payloads give equal files."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="", compresslevel=6) as gz:
        gz.write(payload)
    return buffer.getvalue()


def write_atomically(path: str, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary name (any Beam filesystem)."""
    tmp = f"{path}.tmp-{hashlib.sha1(payload).hexdigest()[:12]}"
    with FileSystems.create(tmp) as fh:
        fh.write(payload)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def encode_jsonl(records: Iterable[Any], to_json: Callable[[Any], str]) -> bytes:
    return "".join(to_json(r) + "\n" for r in records).encode("utf-8")


COLLISIONS = "collisions"
ID_COLLISION_STAGE = "id_collision"


def _location(doc: Any) -> tuple[str, str]:
    return str(doc.meta.get("file", "")), str(doc.meta.get("record", ""))


def document_record(doc: Any) -> Record:
    """A document as a sorted-run record: key ``(id, file, record)``, payload its JSON line.

    Copies of one id then sort by where they were read from (compared as text), then by
    their JSON: the order :func:`unique_ids` keeps the first of, whatever the input order.
    """
    return (doc.id, *_location(doc)), doc.to_json().encode("utf-8")


def unique_ids(records: Iterable[Record], quarantine: bool) -> Iterator[Record | dict[str, str]]:
    """Sorted document records → the same records, or with ``quarantine`` one per id and a
    quarantine record (a dict) for each other copy.

    The copy kept is the first in record order (smallest location, then JSON); each other
    copy is quarantined under stage ``id_collision`` at its own location, its error naming
    the kept copy's location. Streams: holds one record at a time.
    """
    kept_key: tuple | None = None
    for record in records:
        key = record[0]
        if not quarantine or kept_key is None or key[0] != kept_key[0]:
            kept_key = key
            yield record
            continue
        doc_id, file, location = key
        yield {
            "source": json.loads(record[1])["source"], "file": file, "record": location, "stage": ID_COLLISION_STAGE,
            "error": f"duplicate document id {doc_id}: also read from {kept_key[1]} record {kept_key[2]}, "
                     "which is kept",
        }


def split_id_collisions(docs: list[Any]) -> tuple[list[Any], list[dict[str, str]]]:
    """Documents → (one per id, a quarantine record per extra copy): :func:`unique_ids` on a list."""
    kept: list[Any] = []
    quarantined: list[dict[str, str]] = []
    by_payload = {}
    records = []
    for doc in docs:
        record = document_record(doc)
        by_payload[record[1]] = doc
        records.append(record)
    for out in unique_ids(sorted(records), quarantine=True):
        if isinstance(out, dict):
            quarantined.append(out)
        else:
            kept.append(by_payload[out[1]])
    return kept, quarantined


class _HashingWriter(io.RawIOBase):
    """Passes bytes to ``fh`` and hashes them: a shard's checksum costs no second read."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        data = bytes(data)
        self.sha256.update(data)
        self._fh.write(data)
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written


class ShardFile:
    """One output file written as records stream in, under a temporary name until :meth:`commit`."""

    suffix = ""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = contextlib.ExitStack()
        self._out = _HashingWriter(self._file.enter_context(fsio.atomic_output(path)))

    def add(self, payload: bytes) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Write what is buffered and any trailer to ``self._out``."""

    def commit(self) -> str:
        """Complete the file, give it its final name and return its sha256."""
        self._finish()
        self._file.close()
        return self._out.sha256.hexdigest()


class JsonlGzShard(ShardFile):
    """JSON lines, gzip'd with a zero mtime and no file name, written in 1 MiB pieces."""

    suffix = ".jsonl.gz"
    _PIECE = 1 << 20

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._gz = gzip.GzipFile(fileobj=self._out, mode="wb", mtime=0, filename="", compresslevel=6)
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def add(self, payload: bytes) -> None:
        self._pending.append(payload)
        self._pending.append(b"\n")
        self._pending_bytes += len(payload) + 1
        if self._pending_bytes >= self._PIECE:
            self._flush()

    def _flush(self) -> None:
        self._gz.write(b"".join(self._pending))
        self._pending, self._pending_bytes = [], 0

    def _finish(self) -> None:
        self._flush()
        self._gz.close()


# One Parquet schema for every source: what differs between sources (meta, annotations) is JSON text.
PARQUET_COLUMNS = ("id", "text", "source", "url", "meta", "annotations")
PARQUET_ROW_GROUP_ROWS = 4096
PARQUET_ROW_GROUP_BYTES = 64 << 20


def _parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(name, pa.string()) for name in PARQUET_COLUMNS])


def _parquet_columns(docs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    def as_json(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    return {
        "id": [d["id"] for d in docs],
        "text": [d["text"] for d in docs],
        "source": [d.get("source", "") for d in docs],
        "url": [str(d["meta"]["url"]) if (d.get("meta") or {}).get("url") else None for d in docs],
        "meta": [as_json(d.get("meta") or {}) for d in docs],
        "annotations": [as_json(d.get("annotations") or {}) for d in docs],
    }


class ParquetShard(ShardFile):
    """Documents as Parquet (zstd, no statistics that vary), a row group per 4,096 documents or
    64 MiB of JSON, so equal documents give equal bytes and a writer holds one row group."""

    suffix = ".parquet"

    def __init__(self, path: str) -> None:
        import pyarrow.parquet as pq

        super().__init__(path)
        self._schema = _parquet_schema()
        self._writer = pq.ParquetWriter(self._out, self._schema, compression="zstd", write_statistics=False)
        self._rows: list[dict[str, Any]] = []
        self._row_bytes = 0

    def add(self, payload: bytes) -> None:
        self._rows.append(json.loads(payload))
        self._row_bytes += len(payload)
        if len(self._rows) >= PARQUET_ROW_GROUP_ROWS or self._row_bytes >= PARQUET_ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.table(_parquet_columns(self._rows), schema=self._schema))
        self._rows, self._row_bytes = [], 0

    def _finish(self) -> None:
        self._flush()
        self._writer.close()


FORMATS: dict[str, type[ShardFile]] = {"jsonl": JsonlGzShard, "parquet": ParquetShard}


class _WriteShardDoFn(beam.DoFn):
    """One shard: merges its runs (stages.spill) and streams them into each format's file."""

    def __init__(self, directory: str, num_shards: int, formats: tuple[str, ...], skip_existing: bool,
                 output_name: str, collisions: bool | None) -> None:
        self._directory = directory
        self._num_shards = num_shards
        self._formats = formats
        self._skip_existing = skip_existing
        self._output_name = output_name
        self._collisions = collisions

    def process(self, element: tuple[int, Any]) -> Iterator[Any]:
        index, grouped = element
        files: dict[str, ShardFile] = {}
        reused: list[tuple[str, str]] = []
        for fmt in self._formats:
            name = shard_name(index, self._num_shards, FORMATS[fmt].suffix)
            path = FileSystems.join(self._directory, name)
            if self._skip_existing and FileSystems.exists(path):
                # A shard a killed run renamed into place under the same fingerprint (pipeline.run_manifest).
                with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                    reused.append((name, sha256_stream(fh)))
            else:
                files[name] = FORMATS[fmt](path)
        with self._sorted(grouped) as stream:
            records: Iterable[Any] = stream
            if self._collisions is not None:
                records = unique_ids(stream, quarantine=self._collisions)
            for record in records:
                if isinstance(record, dict):
                    yield beam.pvalue.TaggedOutput(COLLISIONS, record)
                    continue
                for out in files.values():
                    out.add(record[1])
        # Checksums come from the workers that wrote the bytes: the launcher reads no shard.
        for name, out in files.items():
            yield f"{self._output_name}/{name}", out.commit()
        for name, digest in reused:
            yield f"{self._output_name}/{name}", digest

    @contextlib.contextmanager
    def _sorted(self, grouped: Any) -> Iterator[Iterable[Record]]:
        """The shard's records in order: merged from run files (a list of paths), or, from the
        runner's own GroupByKey (``{"records": [...]}``), sorted in this worker's memory."""
        if isinstance(grouped, dict):
            yield sorted(grouped["records"])
        else:
            with merged(grouped) as stream:
                yield stream


def _by_shard(spill_record: Callable[[Any], tuple[int, Any, bytes]]) -> Callable[[Any], tuple[int, Record]]:
    def by_shard(element: Any) -> tuple[int, Record]:
        shard, key, payload = spill_record(element)
        return shard, (key, payload)
    return by_shard


def _spill_record(record_of: Callable[[Any], Record], num_shards: int) -> Callable[[Any], tuple[int, Any, bytes]]:
    def spill_record(element: Any) -> tuple[int, Any, bytes]:
        key, payload = record_of(element)
        return shard_of(key[0], num_shards), key, payload
    return spill_record


class WriteShards(beam.PTransform):
    """Write a PCollection as ``num_shards`` files per format under ``directory``, sorted by key.

    ``record_of(element)`` gives its sorted-run record ``(key, payload)``; the shard is a hash
    of ``key[0]`` (``filters.document.shard_of``), the order within a shard the whole record,
    and the payload one line of the file. Records cross to the shard writers on disk
    (``stages.spill``): no worker, and not the local runner, holds a shard in memory. Every
    shard file exists afterwards, empty ones included, so a reader can tell a finished
    output from a partial one by counting.

    Returns a ``DoOutputsTuple``: ``written``, ``(name, sha256)`` per file with ``name`` =
    ``<last folder of directory>/<shard file>``, and ``collisions``: with ``collisions=True``
    (document records), a quarantine record per extra copy of an id (:func:`unique_ids`).
    """

    def __init__(self, directory: str, num_shards: int, *, record_of: Callable[[Any], Record],
                 formats: tuple[str, ...] = ("jsonl",), skip_existing: bool = False,
                 collisions: bool | None = None, label: str | None = None) -> None:
        super().__init__(label=label)
        self._directory = directory
        self._num_shards = num_shards
        self._record_of = record_of
        self._formats = tuple(formats)
        self._skip_existing = skip_existing
        self._collisions = collisions

    def expand(self, pcolls: beam.PCollection | tuple[beam.PCollection, ...]) -> Any:
        # Several streams (the drops of each step) are spilled each where it is produced: a
        # Flatten of documents made in different stages is one more buffer in the local runner.
        streams = (pcolls,) if isinstance(pcolls, beam.PCollection) else tuple(pcolls)
        output_name = self._directory.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        write = _WriteShardDoFn(self._directory, self._num_shards, self._formats, self._skip_existing,
                                output_name, self._collisions)
        record_of = _spill_record(self._record_of, self._num_shards)
        p = streams[0].pipeline
        if shuffles_on_disk(p):
            spill = spill_directory(p, f"{self.label}-{output_name}")
            runs = [stream | f"Spill by shard {i}" >> SpillRuns(spill, record_of) for i, stream in enumerate(streams)]
            grouped = runs | "Runs" >> beam.Flatten() | "Gather shard runs" >> GatherRuns(self._num_shards)
        else:
            # The runner's shuffle service groups the records by shard; each shard is sorted in
            # its writer's memory (shards.input_bytes_per_shard keeps that to a few hundred MB).
            keyed = [stream | f"Key by shard {i}" >> beam.Map(_by_shard(record_of)) for i, stream in enumerate(streams)]
            every = p | "Shard indices" >> beam.Create([(i, i) for i in range(self._num_shards)])
            grouped = (
                {"records": keyed | "Records" >> beam.Flatten(), "index": every}
                | "Group shards" >> beam.CoGroupByKey()
            )
        return grouped | "Write" >> beam.ParDo(write).with_outputs(COLLISIONS, main="written")


class WriteDocuments(WriteShards):
    """Documents → ``DIR/part-*-of-*.jsonl.gz`` (and ``.parquet`` with ``"parquet"`` in ``formats``),
    sorted by id in each shard.

    With ``quarantine_collisions``, a document whose id another document already has is set
    aside (:func:`unique_ids`) into ``collisions`` as a quarantine record; without, copies of
    an id are all written, in a fixed order. Every copy of an id lands in the same shard (the
    shard is a hash of the id), so this costs no extra shuffle.
    """

    def __init__(self, directory: str, num_shards: int, skip_existing: bool = False,
                 quarantine_collisions: bool = False, label: str | None = None,
                 formats: tuple[str, ...] = ("jsonl",)) -> None:
        super().__init__(directory, num_shards, record_of=document_record, formats=formats,
                         skip_existing=skip_existing, collisions=quarantine_collisions, label=label)


def _id_hash(doc: Any) -> tuple[str, str]:
    return hashlib.sha1(doc.id.encode("utf-8")).hexdigest(), doc.id


def _drop_reason(doc: Any) -> str:
    dropped = doc.annotations.get("dropped") or {}
    return str(dropped.get("reason", "unknown"))


def _sample_key(doc: Any) -> tuple[str, str, str, str]:
    """What a sample keeps the smallest of: the sha1 of the id, the id, then where the document
    was read from (so copies of one id tie-break the same way in every run)."""
    return (*_id_hash(doc), *_location(doc))


class _BundleSampleDoFn(beam.DoFn):
    """Per bundle, the ``n`` documents with the smallest :func:`_sample_key` of each drop reason,
    emitted when the bundle ends: a stream is sampled where it is made, in ``n`` documents per
    reason, with no shuffle of its own.

    Without ``directory``, emits ``(reason, doc)``. With it (shuffles on disk), the bundle's
    sample is written to one run file there and only ``(reason, handle)`` records leave, a
    handle being ``(*_sample_key(doc), path, position)``: the local runner holds every record
    that crosses a stage in the launcher's memory, so documents must not cross (a few
    hundred sampled documents per reason and bundle cost the launcher ten times their size).
    """

    def __init__(self, n: int, directory: str | None = None) -> None:
        self._n = n
        self._directory = directory
        self._kept: dict[str, list[tuple[tuple[str, ...], int, Any]]] = {}
        self._seen = 0

    def start_bundle(self) -> None:
        self._kept, self._seen = {}, 0

    def process(self, doc: Any) -> Iterator[Any]:
        kept = self._kept.setdefault(_drop_reason(doc), [])
        entry = (_sample_key(doc), self._seen, doc)  # the counter breaks ties before docs are compared
        self._seen += 1
        if len(kept) < self._n:
            bisect.insort(kept, entry)
        elif entry[0] < kept[-1][0]:
            kept.pop()
            bisect.insort(kept, entry)
        return iter(())

    def finish_bundle(self) -> Iterator[WindowedValue]:
        kept, self._kept = self._kept, {}
        if self._directory is None:
            for reason in sorted(kept):
                for _, _, doc in kept[reason]:
                    yield bundle_output((reason, doc))
            return
        if not any(kept.values()):
            return
        records = [((reason, seen), pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))
                   for reason in sorted(kept) for _, seen, doc in kept[reason]]
        path = write_run_file(self._directory, 0, records)
        for reason in sorted(kept):
            for key, seen, _ in kept[reason]:
                yield bundle_output((reason, (*key, path, seen)))


def _load_sample(element: tuple[str, list[tuple[Any, ...]]]) -> Iterator[Any]:
    """``(reason, chosen handles)`` → the documents they point to, read from the bundles' run files."""
    reason, handles = element
    wanted: dict[str, set[tuple[str, int]]] = {}
    for *_, path, seen in handles:
        wanted.setdefault(path, set()).add((reason, seen))
    for path in sorted(wanted):
        with merged([path]) as records:
            for key, payload in records:
                if key in wanted[path]:
                    yield pickle.loads(payload)


class SampleDropped(beam.PTransform):
    """At most ``per_reason`` dropped documents per drop reason: those with the smallest sha1 of
    their id, so the sample is uniform and the same whatever the worker count.

    Each stream is sampled per bundle where it is made; only those samples meet, in one
    ``Top.PerKey``. The sample of the union is the sample of the samples (the smallest hashes
    overall are among them), and memory is ``per_reason`` documents per reason and bundle,
    whatever the input size. With shuffles on disk (the local runner) the samples meet as
    small handles and the chosen documents are read back from disk after the ``Top``
    (:class:`_BundleSampleDoFn`), so no document crosses the launcher.
    """

    def __init__(self, per_reason: int, label: str | None = None) -> None:
        super().__init__(label=label)
        self._per_reason = per_reason

    def expand(self, streams: beam.PCollection | tuple[beam.PCollection, ...]) -> beam.PCollection:
        streams = (streams,) if isinstance(streams, beam.PCollection) else tuple(streams)
        n = self._per_reason
        p = streams[0].pipeline
        directory = spill_directory(p, self.label) if shuffles_on_disk(p) else None
        samples = [stream | f"Sample {i}" >> beam.ParDo(_BundleSampleDoFn(n, directory))
                   for i, stream in enumerate(streams)]
        # Documents are ranked by their _sample_key; on disk, a handle is that key + (path, position).
        rank = _sample_key if directory is None else (lambda handle: handle[:-2])
        smallest = (
            samples
            | "Samples" >> beam.Flatten()
            | "Smallest id hashes" >> beam.combiners.Top.PerKey(n, key=rank, reverse=True)
        )
        if directory is None:
            return smallest | "Unpack" >> beam.FlatMap(lambda kv: kv[1])
        return smallest | "Load" >> beam.FlatMap(_load_sample)


def _quarantine_record(record: dict[str, Any]) -> Record:
    line = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return (line,), line.encode("utf-8")


class WriteQuarantine(WriteShards):
    """Quarantine records → ``DIR/part-*-of-*.jsonl.gz`` (source, file, record, stage, error);
    returns the ``(name, sha256)`` PCollection."""

    def __init__(self, directory: str, num_shards: int = 1, label: str | None = None) -> None:
        super().__init__(directory, num_shards, record_of=_quarantine_record, label=label)

    def expand(self, pcolls: beam.PCollection | tuple[beam.PCollection, ...]) -> beam.PCollection:
        return super().expand(pcolls).written
