"""Deterministic, atomic shard writing.

Beam's ``WriteToText`` names and fills shards in an order that depends on bundling, so two
runs (or 1 vs 2 workers) give different bytes. Here every element is assigned to a shard by a
stable hash of its sort key, each shard is sorted, and written to a temporary name that is
renamed when complete: same input and config → byte-identical files, and a killed run
never leaves a half-written shard under its final name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from filters.document import shard_name, shard_of
from mixtures.provenance import sha256_stream


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


def split_id_collisions(docs: list[Any]) -> tuple[list[Any], list[dict[str, str]]]:
    """Documents sorted by id → (one per id, a quarantine record per extra copy).

    Of the documents sharing an id, the one read from the smallest ``(meta.file, meta.record)``
    (compared as text, then by its JSON) is kept, whatever the worker count or input order;
    each other copy is quarantined under stage ``id_collision`` at its own location, its
    error naming the kept copy's location. Pure: the write DoFn calls it on a sorted shard.
    """
    kept: list[Any] = []
    quarantined: list[dict[str, str]] = []
    for group in _same_id_runs(docs):
        kept.append(group[0])
        first_file, first_record = _location(group[0])
        for dup in group[1:]:
            file, record = _location(dup)
            quarantined.append({
                "source": dup.source, "file": file, "record": record, "stage": ID_COLLISION_STAGE,
                "error": f"duplicate document id {dup.id}: also read from {first_file} record {first_record}, "
                         "which is kept",
            })
    return kept, quarantined


def order_equal_ids(docs: list[Any]) -> tuple[list[Any], list[Any]]:
    """Documents sorted by id → the same, copies of one id in :func:`split_id_collisions`'s order, none set aside.

    For outputs that may hold an id twice (dropped documents): the bytes stay independent of input order.
    """
    return [doc for group in _same_id_runs(docs) for doc in group], []


def _same_id_runs(docs: list[Any]) -> Iterable[list[Any]]:
    """Runs of equal ids in ``docs`` (sorted by id), each ordered by location, then JSON."""
    start = 0
    while start < len(docs):
        end = start + 1
        while end < len(docs) and docs[end].id == docs[start].id:
            end += 1
        group = docs[start:end]
        yield group if len(group) == 1 else sorted(group, key=lambda d: (_location(d), d.to_json()))
        start = end


class _WriteShardDoFn(beam.DoFn):
    def __init__(self, directory: str, num_shards: int, suffix: str,
                 sort_key: Callable[[Any], str], encode: Callable[[list[Any]], bytes],
                 skip_existing: bool, output_name: str, split: Callable[[list[Any]], tuple[list, list]] | None) -> None:
        self._directory = directory
        self._num_shards = num_shards
        self._suffix = suffix
        self._sort_key = sort_key
        self._encode = encode
        self._skip_existing = skip_existing
        self._output_name = output_name
        self._split = split

    def process(self, keyed: tuple[int, tuple[Iterable[Any], Iterable[int]]]) -> Iterable[Any]:
        index, (elements, _) = keyed
        name = shard_name(index, self._num_shards, self._suffix)
        path = FileSystems.join(self._directory, name)
        records = sorted(elements, key=self._sort_key)
        if self._split is not None:
            records, set_aside = self._split(records)
            for record in set_aside:
                yield beam.pvalue.TaggedOutput(COLLISIONS, record)
        if self._skip_existing and FileSystems.exists(path):
            # A shard a killed run renamed into place under the same fingerprint (pipeline.run_manifest).
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                digest = sha256_stream(fh)
        else:
            payload = self._encode(records)
            write_atomically(path, payload)
            digest = hashlib.sha256(payload).hexdigest()
        # The checksum comes from the worker that wrote the bytes: the launcher reads no shard.
        yield f"{self._output_name}/{name}", digest


class WriteShards(beam.PTransform):
    """Write a PCollection as ``num_shards`` sorted, gzip'd or raw files under ``directory``.

    Every shard file exists afterwards, empty ones included, so a reader can tell a finished
    output from a partial one by counting. Returns a PCollection of ``(name, sha256)`` with
    ``name`` = ``<last folder of directory>/<shard file>``; with ``split`` (a function of a
    sorted shard's records → (written, set aside)), a ``DoOutputsTuple`` whose main output is
    that and whose ``collisions`` output holds what ``split`` set aside.
    """

    def __init__(self, directory: str, num_shards: int, *, sort_key: Callable[[Any], str],
                 encode: Callable[[list[Any]], bytes], suffix: str, skip_existing: bool = False,
                 split: Callable[[list[Any]], tuple[list, list]] | None = None,
                 label: str | None = None) -> None:
        super().__init__(label=label)
        self._num_shards = num_shards
        self._sort_key = sort_key
        self._split = split
        output_name = directory.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        self._write = _WriteShardDoFn(directory, num_shards, suffix, sort_key, encode, skip_existing,
                                      output_name, split)

    def expand(self, pcoll: beam.PCollection) -> Any:
        n = self._num_shards
        sort_key = self._sort_key
        keyed = pcoll | "Key by shard" >> beam.Map(lambda e: (shard_of(sort_key(e), n), e))
        every_shard = pcoll.pipeline | "Shard indices" >> beam.Create([(i, i) for i in range(n)])
        grouped = (
            {"elements": keyed, "index": every_shard}
            | "Group shards" >> beam.CoGroupByKey()
            | "Unpack" >> beam.Map(lambda kv: (kv[0], (kv[1]["elements"], kv[1]["index"])))
        )
        if self._split is None:
            return grouped | "Write" >> beam.ParDo(self._write)
        return grouped | "Write" >> beam.ParDo(self._write).with_outputs(COLLISIONS, main="written")


def _doc_json(doc: Any) -> str:
    return doc.to_json()


def _doc_id(doc: Any) -> str:
    return doc.id


def _encode_docs(docs: list[Any]) -> bytes:
    return gzip_bytes(encode_jsonl(docs, _doc_json))


# One Parquet schema for every source: what differs between sources (meta, annotations) is JSON text.
PARQUET_COLUMNS = ("id", "text", "source", "url", "meta", "annotations")


def encode_parquet_docs(docs: list[Any]) -> bytes:
    """Documents as one Parquet file (zstd, no statistics that vary): same docs → same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def as_json(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    schema = pa.schema([(name, pa.string()) for name in PARQUET_COLUMNS])
    table = pa.table({
        "id": [d.id for d in docs],
        "text": [d.text for d in docs],
        "source": [d.source for d in docs],
        "url": [str(d.meta["url"]) if d.meta.get("url") else None for d in docs],
        "meta": [as_json(d.meta) for d in docs],
        "annotations": [as_json(d.annotations) for d in docs],
    }, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", write_statistics=False)
    return buffer.getvalue()


def _encode_quarantine(records: list[dict[str, Any]]) -> bytes:
    return gzip_bytes(encode_jsonl(records, lambda r: json.dumps(r, ensure_ascii=False, sort_keys=True)))


def _quarantine_key(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


class WriteDocuments(WriteShards):
    """Documents → ``DIR/part-*-of-*.jsonl.gz`` (``.parquet`` with ``fmt="parquet"``), sorted by id in each shard.

    Returns a ``DoOutputsTuple``: ``written`` (``(name, sha256)`` per shard) and ``collisions``.
    With ``quarantine_collisions``, a document whose id another document already has is set
    aside (:func:`split_id_collisions`) into ``collisions`` as a quarantine record; without,
    copies of an id are all written, in a fixed order. Every copy of an id lands in the same
    shard (the shard is a hash of the id), so this costs no extra shuffle.
    """

    def __init__(self, directory: str, num_shards: int, skip_existing: bool = False,
                 quarantine_collisions: bool = False, label: str | None = None, fmt: str = "jsonl") -> None:
        encode, suffix = (encode_parquet_docs, ".parquet") if fmt == "parquet" else (_encode_docs, ".jsonl.gz")
        super().__init__(directory, num_shards, sort_key=_doc_id, encode=encode, suffix=suffix,
                         skip_existing=skip_existing,
                         split=split_id_collisions if quarantine_collisions else order_equal_ids, label=label)


def _id_hash(doc: Any) -> tuple[str, str]:
    return hashlib.sha1(doc.id.encode("utf-8")).hexdigest(), doc.id


def _drop_reason(doc: Any) -> str:
    dropped = doc.annotations.get("dropped") or {}
    return str(dropped.get("reason", "unknown"))


class SampleDropped(beam.PTransform):
    """At most ``per_reason`` dropped documents per drop reason: those with the smallest sha1 of
    their id, so the sample is uniform and the same whatever the worker count.

    ``Top.PerKey`` combines on every worker first: memory is ``per_reason`` documents per
    reason and worker, whatever the input size.
    """

    def __init__(self, per_reason: int, label: str | None = None) -> None:
        super().__init__(label=label)
        self._per_reason = per_reason

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        return (
            docs
            | "Key by reason" >> beam.Map(lambda d: (_drop_reason(d), d))
            | "Smallest id hashes" >> beam.combiners.Top.PerKey(self._per_reason, key=_id_hash, reverse=True)
            | "Unpack" >> beam.FlatMap(lambda kv: kv[1])
        )


class WriteQuarantine(WriteShards):
    """Quarantine records → ``DIR/part-*-of-*.jsonl.gz`` (source, file, record, stage, error)."""

    def __init__(self, directory: str, num_shards: int = 1, label: str | None = None) -> None:
        super().__init__(directory, num_shards, sort_key=_quarantine_key, encode=_encode_quarantine,
                         suffix=".jsonl.gz", label=label)
