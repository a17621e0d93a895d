"""Per-source token shards: how many, which document goes where, writing one, the manifest.

Beam-free so the stage (``stages/tokenize.py``), the benchmark and tests share it.

Sharding scales to Common Crawl (~1e9 documents) because nothing here needs the list of
documents: the number of shards follows from one scalar, the source's total token count
(``num_shards``), and a document's shard from its id alone: the 64-bit hash ``h`` of the id
(``id_hash``: the first 8 bytes of ``sha1(id)``, little-endian, as ``filters.document.shard_of``
uses) cut into ``N`` equal ranges, ``shard = floor(h · N / 2^64)`` (``token_shard_of``).
Ranges rather than ``h mod N`` because an encoding worker can then sort what it encoded by
``h`` once (``tokenizer.spill``) and every shard is one contiguous slice of it, whatever
``N`` turns out to be. Inside a shard, documents are written in id order. The layout
therefore depends only on the set of ``(id, tokens)`` pairs, never on input order, bundling
or worker count.

``shard_tokens`` is the *target average* shard size, not a cap: hashing spreads documents
evenly, so a shard holds about ``total / num_shards <= shard_tokens`` tokens, give or take
the statistical spread (relative standard deviation about ``1 / sqrt(documents per shard)``
for documents of similar length, e.g. ~0.5 % for 50M-token shards of 1k-token web pages).
A shard is sorted and written by one worker, in memory: keep ``shard_tokens`` well within a
worker's RAM (the default 50M tokens is 100 MB of ``uint16`` plus per-document overhead).
A shard that no document hashes to is not written; the manifest lists the shards that exist.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mixtures.provenance import sha256_file
from tokenizer.indexed import IndexedDatasetWriter, bin_path, idx_path
from tokenizer.manifest import TOKENS_FORMAT

# Recorded in the manifest so a reader can tell how documents were spread over shards.
SHARDING = ("h = first 8 bytes of sha1(id), little-endian; shard = floor(h * num_shards / 2^64); "
            "id order within a shard; shards without documents not written")

_HASH_SPACE = 1 << 64


def id_hash(doc_id: str) -> int:
    """The 64-bit hash of a document id that places it (``filters.document.shard_of``'s hash)."""
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "little")


def token_shard_of(doc_id: str, n: int) -> int:
    """The token shard of a document: its hash's range among ``n`` equal ranges."""
    return (id_hash(doc_id) * n) >> 64


def shard_hash_range(k: int, n: int) -> tuple[int, int | None]:
    """Hashes ``[lo, hi)`` of shard ``k`` of ``n`` (``hi`` None for the last shard)."""
    lo = -((-k * _HASH_SPACE) // n)  # ceil(k · 2^64 / n)
    hi = None if k + 1 == n else -((-(k + 1) * _HASH_SPACE) // n)
    return lo, hi


def num_shards(total_tokens: int, shard_tokens: int) -> int:
    """Shards for a source of ``total_tokens`` tokens: ``max(1, ceil(total / shard_tokens))``.

    Args:
        total_tokens: Tokens of every non-empty document of the source (eos included).
        shard_tokens: Target average tokens per shard.

    Returns:
        At least 1 (a source without tokens then simply has no document in its one shard).
    """
    if shard_tokens <= 0:
        raise ValueError("shard_tokens must be > 0")
    if total_tokens < 0:
        raise ValueError("total_tokens must be >= 0")
    return max(1, math.ceil(total_tokens / shard_tokens))


def _ordered(documents: Iterable[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """Documents by id; the rare equal ids (the same document given twice) by content too,
    so their order does not depend on the order they arrived in."""
    ordered = sorted(documents, key=lambda kv: kv[0])
    if any(a[0] == b[0] for a, b in zip(ordered, ordered[1:])):
        ordered.sort(key=lambda kv: (kv[0], np.asarray(kv[1]).tobytes()))
    return ordered


def write_shard(prefix: str | os.PathLike, documents: Iterable[tuple[str, np.ndarray]], dtype: np.dtype) -> dict:
    """Writes one shard (documents sorted by id) atomically and describes it.

    An empty ``documents`` gives an empty shard that ``IndexedDataset`` reads but Megatron
    cannot (it maps the ``.bin``, and an empty file cannot be mapped): the stage writes
    only shards that received documents.

    Returns:
        ``{"name", "documents", "tokens", "bin_sha256", "idx_sha256"}``.
    """
    ordered = _ordered(documents)
    with IndexedDatasetWriter(prefix, dtype) as writer:
        for _, tokens in ordered:
            writer.add_document(tokens)
        tokens_total = writer.num_tokens
    return {
        "name": Path(prefix).name,
        "documents": len(ordered),
        "tokens": tokens_total,
        "bin_sha256": sha256_file(bin_path(prefix)),
        "idx_sha256": sha256_file(idx_path(prefix)),
    }


def tokens_manifest(
    *,
    source: str,
    kind: str,
    tokenizer: Mapping[str, Any],
    dtype: str,
    shard_tokens: int,
    empty_documents: int,
    shards: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``tokens/manifest.json`` of one source (format ``TOKENS_FORMAT``).

    Args:
        source: Source name.
        kind: Source kind.
        tokenizer: ``{"model", "sha256", "vocab_size", "eos_id"}``.
        dtype: Token dtype name (``uint16`` or ``int32``).
        shard_tokens: Target average tokens per shard.
        empty_documents: Documents skipped for having no text.
        shards: ``write_shard`` descriptions, any order (listed by name).

    Returns:
        The manifest; document and token counts are the sums over the shards.
    """
    ordered = sorted(shards, key=lambda s: s["name"])
    return {
        "format": TOKENS_FORMAT,
        "source": source,
        "kind": kind,
        "tokenizer": dict(tokenizer),
        "dtype": dtype,
        "shard_tokens": int(shard_tokens),
        "sharding": SHARDING,
        "documents": sum(int(s["documents"]) for s in ordered),
        "empty_documents": int(empty_documents),
        "tokens": sum(int(s["tokens"]) for s in ordered),
        "shards": [dict(s) for s in ordered],
    }


def remove_stale_shards(folder: str | os.PathLike, keep: set[str]) -> list[str]:
    """Deletes ``part-*.bin/.idx`` files of an earlier run with another shard count."""
    removed = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for path in sorted(root.iterdir()):
        if path.name.startswith("part-") and path.suffix in (".bin", ".idx") and path.stem not in keep:
            path.unlink()
            removed.append(path.name)
    return removed
