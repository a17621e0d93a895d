"""Sorted run files and their streaming merge: an external sort in bounded memory.

A stage that must see records in key order (a shard sorted by document id, the documents
of one id next to their verdicts) writes what it has in sorted runs of bounded size and
reads them back through a k-way merge that holds one record per run. Neither side ever
holds more than one buffer, whatever the input size; this is how a shuffle crosses a
worker boundary on disk instead of in the local runner's memory (``stages.spill``).

A record is ``(key, payload)``: ``key`` a tuple of str/bytes/int (compared as Python
compares tuples), ``payload`` bytes. Records are ordered by the whole pair, so equal keys
come back in payload order and the merged stream does not depend on which run a record
was written to: same records → same stream, whatever the bundling or worker count.
"""

from __future__ import annotations

import heapq
import pickle
import struct
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

Record = tuple[Any, bytes]

_LENGTH = struct.Struct("<I")  # each record: its pickled length, then the pickled (key, payload)
MAGIC = b"PRUN1\n"


class CorruptRun(ValueError):
    """A run file that does not hold what a run writer wrote (truncated or foreign)."""


def record_size(record: Record) -> int:
    """What a buffered record costs, roughly: its payload plus the key and the tuple around it."""
    key, payload = record
    return len(payload) + sum(len(part) if isinstance(part, (str, bytes)) else 8 for part in key) + 120


def write_run(fh: BinaryIO, records: Iterable[Record]) -> int:
    """Write ``records`` (already sorted) to ``fh``; returns how many were written."""
    fh.write(MAGIC)
    count = 0
    for record in records:
        blob = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        fh.write(_LENGTH.pack(len(blob)))
        fh.write(blob)
        count += 1
    return count


def read_run(fh: BinaryIO, name: str = "run") -> Iterator[Record]:
    """The records of one run file, in the order they were written."""
    if fh.read(len(MAGIC)) != MAGIC:
        raise CorruptRun(f"{name}: not a sorted run file")
    while True:
        head = fh.read(_LENGTH.size)
        if not head:
            return
        if len(head) != _LENGTH.size:
            raise CorruptRun(f"{name}: truncated record length")
        (length,) = _LENGTH.unpack(head)
        blob = fh.read(length)
        if len(blob) != length:
            raise CorruptRun(f"{name}: truncated record")
        yield pickle.loads(blob)  # our own scratch files, written by write_run in this run


def merge_runs(runs: Iterable[Iterable[Record]]) -> Iterator[Record]:
    """The records of sorted ``runs`` in one sorted stream, one record per run in memory."""
    return heapq.merge(*runs)


def sort_buffer(records: list[Record]) -> list[Record]:
    """A buffer in run order (by key, then payload)."""
    records.sort()
    return records


def group_runs(records: Iterable[Record], key_length: int) -> Iterator[tuple[tuple, list[Record]]]:
    """Consecutive records whose first ``key_length`` key fields are equal, as ``(fields, records)``."""
    current: tuple | None = None
    group: list[Record] = []
    for record in records:
        fields = tuple(record[0][:key_length])
        if fields != current:
            if group:
                yield current, group  # type: ignore[misc]
            current, group = fields, []
        group.append(record)
    if group:
        yield current, group  # type: ignore[misc]
