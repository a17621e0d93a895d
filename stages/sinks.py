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
from apache_beam.io.filesystems import FileSystems

from filters.document import shard_name, shard_of


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


class _WriteShardDoFn(beam.DoFn):
    def __init__(self, directory: str, num_shards: int, suffix: str,
                 sort_key: Callable[[Any], str], encode: Callable[[list[Any]], bytes],
                 skip_existing: bool) -> None:
        self._directory = directory
        self._num_shards = num_shards
        self._suffix = suffix
        self._sort_key = sort_key
        self._encode = encode
        self._skip_existing = skip_existing

    def process(self, keyed: tuple[int, tuple[Iterable[Any], Iterable[int]]]) -> Iterable[tuple[str, int]]:
        index, (elements, _) = keyed
        path = FileSystems.join(self._directory, shard_name(index, self._num_shards, self._suffix))
        records = sorted(elements, key=self._sort_key)
        if not (self._skip_existing and FileSystems.exists(path)):
            write_atomically(path, self._encode(records))
        yield path, len(records)


class WriteShards(beam.PTransform):
    """Write a PCollection as ``num_shards`` sorted, gzip'd or raw files under ``directory``.

    Every shard file exists afterwards, empty ones included, so a reader can tell a finished
    output from a partial one by counting. Returns a PCollection of ``(path, count)``.
    """

    def __init__(self, directory: str, num_shards: int, *, sort_key: Callable[[Any], str],
                 encode: Callable[[list[Any]], bytes], suffix: str, skip_existing: bool = False,
                 label: str | None = None) -> None:
        super().__init__(label=label)
        self._num_shards = num_shards
        self._sort_key = sort_key
        self._write = _WriteShardDoFn(directory, num_shards, suffix, sort_key, encode, skip_existing)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        n = self._num_shards
        sort_key = self._sort_key
        keyed = pcoll | "Key by shard" >> beam.Map(lambda e: (shard_of(sort_key(e), n), e))
        every_shard = pcoll.pipeline | "Shard indices" >> beam.Create([(i, i) for i in range(n)])
        return (
            {"elements": keyed, "index": every_shard}
            | "Group shards" >> beam.CoGroupByKey()
            | "Unpack" >> beam.Map(lambda kv: (kv[0], (kv[1]["elements"], kv[1]["index"])))
            | "Write" >> beam.ParDo(self._write)
        )


def _doc_json(doc: Any) -> str:
    return doc.to_json()


def _doc_id(doc: Any) -> str:
    return doc.id


def _encode_docs(docs: list[Any]) -> bytes:
    return gzip_bytes(encode_jsonl(docs, _doc_json))


def _encode_quarantine(records: list[dict[str, Any]]) -> bytes:
    return gzip_bytes(encode_jsonl(records, lambda r: json.dumps(r, ensure_ascii=False, sort_keys=True)))


def _quarantine_key(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


class WriteDocuments(WriteShards):
    """Documents → ``DIR/part-*-of-*.jsonl.gz``, sorted by id inside each shard."""

    def __init__(self, directory: str, num_shards: int, skip_existing: bool = False, label: str | None = None) -> None:
        super().__init__(directory, num_shards, sort_key=_doc_id, encode=_encode_docs,
                         suffix=".jsonl.gz", skip_existing=skip_existing, label=label)


class WriteQuarantine(WriteShards):
    """Quarantine records → ``DIR/part-*-of-*.jsonl.gz`` (source, file, record, stage, error)."""

    def __init__(self, directory: str, num_shards: int = 1, label: str | None = None) -> None:
        super().__init__(directory, num_shards, sort_key=_quarantine_key, encode=_encode_quarantine,
                         suffix=".jsonl.gz", label=label)
