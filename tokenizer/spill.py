"""Spill files: encoded documents parked by the encoding worker until their shard's writer reads them.

Encoding and sharding are two steps (the shard count follows from the total token count,
known only once everything is encoded), and the encoded documents must not travel through a
shuffle (a local runner holds a shuffle in memory; at Common Crawl scale it is terabytes).
So each encoding worker writes what it encoded, at most ``spill_tokens`` tokens at a time,
as one spill: documents sorted by their 64-bit id hash ``h`` (``tokenizer.shards.id_hash``).
A token shard is a range of ``h`` (``tokenizer.shards.token_shard_of``), so its documents
are one contiguous slice of every spill: the shard writer binary-searches each spill's small
index and reads just that slice.

Files of a spill ``NAME``:
  * ``NAME.tok``: the documents' tokens (eos included), concatenated in ``h`` order, little-endian;
  * ``NAME.idx.npy``: one structured-free int64/uint64 table, see ``encode_index``.
Beam-free; the stage (``stages/tokenize.py``) moves the bytes through Beam's filesystems.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOKENS_SUFFIX = ".tok"
INDEX_SUFFIX = ".idx.npz"


@dataclass(frozen=True)
class SpillIndex:
    """Per document of a spill, in ``h`` order: hash, token offsets, id."""

    hashes: np.ndarray  # uint64[n]
    offsets: np.ndarray  # int64[n + 1], in tokens
    ids: list[str]

    def slice_for(self, lo: int, hi: int | None) -> tuple[int, int]:
        """Documents ``[a, b)`` whose hash lies in ``[lo, hi)`` (``hi`` None: no upper bound)."""
        a = int(np.searchsorted(self.hashes, np.uint64(lo), side="left"))
        b = len(self.hashes) if hi is None else int(np.searchsorted(self.hashes, np.uint64(hi), side="left"))
        return a, b


def encode_spill(documents: Sequence[tuple[int, str, np.ndarray]], dtype: np.dtype) -> tuple[bytes, bytes]:
    """``(tokens bytes, index bytes)`` of documents ``(h, id, tokens)`` (any order; sorted here).

    Equal hashes (equal ids) keep a deterministic order: by id, then content.
    """
    ordered = sorted(documents, key=lambda d: (d[0], d[1], np.asarray(d[2]).tobytes()))
    dt = np.dtype(dtype).newbyteorder("<")
    lengths = np.asarray([len(d[2]) for d in ordered], dtype=np.int64)
    offsets = np.zeros(len(ordered) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = b"".join(np.asarray(d[2]).astype(dt, copy=False).tobytes() for d in ordered)
    id_blob = "\n".join(d[1] for d in ordered).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, hashes=np.asarray([d[0] for d in ordered], dtype=np.uint64), offsets=offsets,
             ids=np.frombuffer(id_blob, dtype=np.uint8), count=np.asarray([len(ordered)], dtype=np.int64))
    return tokens, buf.getvalue()


def decode_index(payload: bytes) -> SpillIndex:
    with np.load(io.BytesIO(payload)) as z:
        count = int(z["count"][0])
        ids = bytes(z["ids"]).decode("utf-8").split("\n") if count else []
        return SpillIndex(z["hashes"].astype(np.uint64), z["offsets"].astype(np.int64), ids)


def split_documents(index: SpillIndex, a: int, b: int, tokens: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Documents ``[a, b)`` of a spill as ``(id, tokens)``, from the token slice read for them."""
    base = int(index.offsets[a])
    return [(index.ids[i], tokens[int(index.offsets[i]) - base: int(index.offsets[i + 1]) - base])
            for i in range(a, b)]
