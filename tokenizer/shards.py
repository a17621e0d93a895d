"""Per-source token shards: which document goes to which shard, and writing one shard.

Beam-free so the stage (``stages/tokenize.py``), the benchmark and tests share it.
Documents are ordered by id and packed greedily: a shard is closed when the next document
would take it past ``shard_tokens`` (a document larger than that gets a shard of its own).
The assignment therefore depends only on the set of (id, token count) pairs, never on
bundling or worker count.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenizer.indexed import IndexedDatasetWriter, bin_path, idx_path
from tokenizer.manifest import sha256_file


def shard_name(index: int, num_shards: int) -> str:
    """``part-00003-of-00010`` (no extension: it is a Megatron prefix)."""
    return f"part-{index:05d}-of-{num_shards:05d}"


@dataclass(frozen=True)
class ShardPlan:
    """Document id → shard index, for the documents that have tokens."""

    assignment: dict[str, int]
    num_shards: int
    empty_documents: int


def assign_shards(sizes: Iterable[tuple[str, int]], shard_tokens: int) -> ShardPlan:
    """Packs documents, in id order, into shards of at most ``shard_tokens`` tokens.

    Args:
        sizes: ``(doc_id, token_count)`` pairs; count 0 means an empty document (skipped,
            as Megatron's ``preprocess_data.py`` skips them).
        shard_tokens: Upper bound of tokens per shard.

    Returns:
        The plan.
    """
    if shard_tokens <= 0:
        raise ValueError("shard_tokens must be > 0")
    assignment: dict[str, int] = {}
    empty = 0
    shard, filled = 0, 0
    for doc_id, count in sorted(sizes):
        if count == 0:
            empty += 1
            continue
        if filled and filled + count > shard_tokens:
            shard, filled = shard + 1, 0
        assignment[doc_id] = shard
        filled += count
    return ShardPlan(assignment, shard + 1 if assignment else 0, empty)


def write_shard(prefix: str | os.PathLike, documents: Iterable[tuple[str, np.ndarray]], dtype: np.dtype) -> dict:
    """Writes one shard (documents sorted by id) atomically and describes it.

    Returns:
        ``{"name", "documents", "tokens", "bin_sha256", "idx_sha256"}``.
    """
    ordered = sorted(documents, key=lambda kv: kv[0])
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
