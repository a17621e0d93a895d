"""Spill files: encoded documents parked by the encoding worker until their shard's writer reads them.

Encoding and sharding are two steps (the shard count follows from the total token count,
known only once everything is encoded), and the encoded documents must not travel through a
shuffle (a local runner holds a shuffle in memory; at Common Crawl scale it is terabytes).
So each encoding worker writes what it encoded, at most ``spill_tokens`` tokens at a time,
as one spill: documents sorted by their 64-bit id hash ``h`` (``tokenizer.shards.id_hash``).
A token shard is a range of ``h`` (``tokenizer.shards.token_shard_of``), so its documents
are one contiguous slice of every spill. Each spill's hashes are read once, to route its
slices to their shards (:func:`shard_slices`); a shard's writer then reads only its slices:
their part of the index (:func:`read_index_slice`) and of the tokens, by seeking.

Files of a spill ``NAME``:
  * ``NAME.tok``: the documents' tokens (eos included), concatenated in ``h`` order, little-endian;
  * ``NAME.idx``: the index, laid out so any part of it is one seek and one read::

        magic (8 bytes) | count n, id-blob bytes (int64 × 2)
        | hashes (uint64 × n) | token offsets (int64 × n+1) | id offsets (int64 × n+1) | ids (UTF-8)

Beam-free; the stage (``stages/tokenize.py``) moves the bytes through Beam's filesystems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

TOKENS_SUFFIX = ".tok"
INDEX_SUFFIX = ".idx"
MAGIC = b"PSTSPL1\x00"
_HEADER = len(MAGIC) + 16
_U64 = np.dtype("<u8")
_I64 = np.dtype("<i8")


class SpillFormatError(ValueError):
    """A spill index that is not one (truncated, or written by something else)."""


@dataclass(frozen=True)
class SpillSlice:
    """Documents ``[a, b)`` of one spill, with where their tokens lie in its ``.tok`` (in tokens)."""

    path: str
    a: int
    b: int
    token_start: int
    token_stop: int


def encode_spill(documents: Sequence[tuple[int, str, np.ndarray]], dtype: np.dtype) -> tuple[bytes, bytes]:
    """``(tokens bytes, index bytes)`` of documents ``(h, id, tokens)`` (any order; sorted here).

    Equal hashes (equal ids) keep a deterministic order: by id, then content.
    """
    ordered = sorted(documents, key=lambda d: (d[0], d[1], np.asarray(d[2]).tobytes()))
    dt = np.dtype(dtype).newbyteorder("<")
    n = len(ordered)
    offsets = np.zeros(n + 1, dtype=_I64)
    np.cumsum([len(d[2]) for d in ordered], out=offsets[1:])
    tokens = b"".join(np.asarray(d[2]).astype(dt, copy=False).tobytes() for d in ordered)
    encoded_ids = [d[1].encode("utf-8") for d in ordered]
    id_offsets = np.zeros(n + 1, dtype=_I64)
    np.cumsum([len(i) for i in encoded_ids], out=id_offsets[1:])
    id_blob = b"".join(encoded_ids)
    header = MAGIC + np.asarray([n, len(id_blob)], dtype=_I64).tobytes()
    hashes = np.asarray([d[0] for d in ordered], dtype=_U64)
    return tokens, b"".join([header, hashes.tobytes(), offsets.tobytes(), id_offsets.tobytes(), id_blob])


def _count(header: bytes, where: str) -> tuple[int, int]:
    if len(header) < _HEADER or header[: len(MAGIC)] != MAGIC:
        raise SpillFormatError(f"{where}: not a spill index (bad or missing header)")
    n, id_bytes = np.frombuffer(header[len(MAGIC):_HEADER], dtype=_I64)
    return int(n), int(id_bytes)


def _layout(n: int) -> tuple[int, int, int]:
    """Byte positions of the token offsets, the id offsets and the ids of an index of ``n`` documents."""
    offsets_at = _HEADER + 8 * n
    id_offsets_at = offsets_at + 8 * (n + 1)
    return offsets_at, id_offsets_at, id_offsets_at + 8 * (n + 1)


def _read_exactly(fh: BinaryIO, at: int, size: int, where: str) -> bytes:
    fh.seek(at)
    data = fh.read(size) if size else b""
    if len(data) != size:
        raise SpillFormatError(f"{where}: truncated spill index ({len(data)} of {size} bytes at {at})")
    return data


def read_index_hashes(fh: BinaryIO, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(hashes, token offsets)`` of a spill index, without its ids (what routing needs)."""
    n, _ = _count(_read_exactly(fh, 0, _HEADER, where), where)
    raw = _read_exactly(fh, _HEADER, 8 * n + 8 * (n + 1), where)
    return (np.frombuffer(raw, dtype=_U64, count=n).astype(np.uint64),
            np.frombuffer(raw, dtype=_I64, count=n + 1, offset=8 * n).astype(np.int64))


def read_index_slice(fh: BinaryIO, a: int, b: int, where: str) -> tuple[np.ndarray, list[str]]:
    """Token offsets ``[a, b]`` (``b - a + 1`` values) and ids of documents ``[a, b)``: three reads."""
    n, id_bytes = _count(_read_exactly(fh, 0, _HEADER, where), where)
    if not 0 <= a <= b <= n:
        raise SpillFormatError(f"{where}: slice [{a}, {b}) outside the {n} documents of the spill")
    offsets_at, id_offsets_at, ids_at = _layout(n)
    offsets = np.frombuffer(_read_exactly(fh, offsets_at + 8 * a, 8 * (b - a + 1), where), dtype=_I64)
    id_offsets = np.frombuffer(_read_exactly(fh, id_offsets_at + 8 * a, 8 * (b - a + 1), where), dtype=_I64)
    if int(id_offsets[-1]) > id_bytes:
        raise SpillFormatError(f"{where}: id offsets run past the id blob")
    blob = _read_exactly(fh, ids_at + int(id_offsets[0]), int(id_offsets[-1] - id_offsets[0]), where)
    base = int(id_offsets[0])
    ids = [blob[int(id_offsets[i]) - base:int(id_offsets[i + 1]) - base].decode("utf-8") for i in range(b - a)]
    return offsets.astype(np.int64), ids


def shard_lower_bounds(n: int) -> np.ndarray:
    """The first hash of each of ``n`` token shards (``tokenizer.shards.shard_hash_range``'s ``lo``)."""
    space = 1 << 64
    return np.asarray([-((-k * space) // n) for k in range(n)], dtype=np.uint64)


def shard_slices(path: str, hashes: np.ndarray, offsets: np.ndarray,
                 lower_bounds: np.ndarray) -> list[tuple[int, SpillSlice]]:
    """``(shard, slice)`` for every shard that has documents in this spill (hashes sorted).

    ``lower_bounds`` from :func:`shard_lower_bounds`: shard ``k`` is ``[lo_k, lo_{k+1})``.
    """
    if not len(hashes):
        return []
    starts = np.searchsorted(hashes, lower_bounds, side="left")
    stops = np.append(starts[1:], len(hashes))
    out = []
    for k in np.flatnonzero(stops > starts).tolist():
        a, b = int(starts[k]), int(stops[k])
        out.append((k, SpillSlice(path, a, b, int(offsets[a]), int(offsets[b]))))
    return out


def split_slice(offsets: np.ndarray, ids: Sequence[str], tokens: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``(id, tokens)`` of consecutive documents, from their ``len(ids) + 1`` token offsets and tokens."""
    base = int(offsets[0])
    return [(ids[i], tokens[int(offsets[i]) - base: int(offsets[i + 1]) - base]) for i in range(len(ids))]
