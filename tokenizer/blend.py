"""A deterministic blend of fixed-length training sequences from per-source token shards.

Sequence layout. Every sequence holds ``seq_len + 1`` tokens: the model reads ``s[:-1]``
and predicts ``s[1:]``, so each sequence gives exactly ``seq_len`` predictions. Windows of a
source start every ``seq_len`` tokens and overlap by that one extra token, as Megatron's
``GPTDataset`` samples do, so every token of a source's stream is a target exactly once.

Within a source (``SourceStream``):
  1. Epoch ``e`` is the source's documents (each already ends with ``</s>``) concatenated in
     the order of a permutation seeded by ``(seed, crc32(source), e)``: every repeat of a
     small source sees its documents in a new order, and adding a source does not change
     any other source's stream.
  2. Epochs follow each other into one endless stream, cut into windows as above.
  3. The ``n`` windows a blend needs are taken in the order of a seeded permutation of
     ``range(n)`` (Megatron's ``shuffle_index``), so one long book is not served in order.

Across sources, ``mixtures.blend.blending_indices`` (Megatron's greedy deficit) decides
which source each next sequence comes from, so shares equal the weights to within two
sequences at every prefix.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixtures.blend import blending_indices, sample_counts, share_errors_pp
from tokenizer.indexed import IndexedDataset

# Seed stream tags, so the document and window permutations never share a generator state.
_DOC_ORDER = 0
_WINDOW_ORDER = 1


class BlendError(ValueError):
    """The requested blend cannot be built as asked (too small, empty source, mixed tokenizers)."""


def source_seed(seed: int, name: str) -> list[int]:
    """Per-source seed: independent of the other sources and of their order."""
    return [int(seed), zlib.crc32(name.encode("utf-8"))]


class SourceStream:
    """Windows of ``seq_len + 1`` tokens over a seeded, per-epoch shuffle of one source."""

    def __init__(self, name: str, prefixes: Sequence[str | os.PathLike], seq_len: int, seed: int) -> None:
        """Maps the source's shards and builds its document table.

        Args:
            name: Source name (part of the seed).
            prefixes: Its ``.bin/.idx`` prefixes, in manifest order.
            seq_len: Predictions per sequence.
            seed: Blend seed.
        """
        if seq_len <= 0:
            raise BlendError("seq_len must be > 0")
        self.name = name
        self.seq_len = seq_len
        self._seed = source_seed(seed, name)
        self._datasets = [IndexedDataset(p) for p in prefixes]
        shard_of, starts, lengths = [], [], []
        for k, ds in enumerate(self._datasets):
            bounds = ds.document_indices
            for a, b in zip(bounds[:-1], bounds[1:]):
                if b == a:
                    continue
                start = int(ds.pointers[a]) // ds.dtype.itemsize
                length = int(ds.sizes[a:b].sum())
                if length:
                    shard_of.append(k)
                    starts.append(start)
                    lengths.append(length)
        self._doc_shard = np.asarray(shard_of, dtype=np.int64)
        self._doc_start = np.asarray(starts, dtype=np.int64)
        self._doc_len = np.asarray(lengths, dtype=np.int64)
        self.num_documents = len(lengths)
        self.num_tokens = int(self._doc_len.sum())
        if self.num_tokens == 0:
            raise BlendError(f"source {name} has no tokens")
        self.dtype = self._datasets[0].dtype
        self._epochs: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(document order, cumulative end offsets) of one epoch."""
        cached = self._epochs.get(epoch)
        if cached is None:
            rng = np.random.default_rng([*self._seed, _DOC_ORDER, epoch])
            order = rng.permutation(self.num_documents)
            cached = (order, np.cumsum(self._doc_len[order]))
            # Kept for every epoch touched: windows come in shuffled order, so they jump between
            # epochs, and a blend touches only ceil(epochs) + 1 of them.
            self._epochs[epoch] = cached
        return cached

    def tokens(self, start: int, length: int) -> np.ndarray:
        """``length`` tokens of the endless stream from position ``start``."""
        out = np.empty(length, dtype=self.dtype)
        filled = 0
        pos = start
        while filled < length:
            epoch, offset = divmod(pos, self.num_tokens)
            order, ends = self._epoch(epoch)
            i = int(np.searchsorted(ends, offset, side="right"))
            doc = int(order[i])
            within = offset - (int(ends[i]) - int(self._doc_len[doc]))
            take = min(int(self._doc_len[doc]) - within, length - filled)
            begin = int(self._doc_start[doc]) + within
            out[filled : filled + take] = self._datasets[int(self._doc_shard[doc])].tokens()[begin : begin + take]
            filled += take
            pos += take
        return out

    def window(self, index: int) -> np.ndarray:
        """Window ``index``: tokens ``[index·seq_len, index·seq_len + seq_len + 1)``."""
        return self.tokens(index * self.seq_len, self.seq_len + 1)

    def window_order(self, count: int) -> np.ndarray:
        """The seeded order in which a blend needing ``count`` windows takes them."""
        return np.random.default_rng([*self._seed, _WINDOW_ORDER, count]).permutation(count)

    def epochs_for(self, count: int) -> float:
        """Passes over the source that ``count`` windows make (tokens read / tokens held)."""
        return (count * self.seq_len + (1 if count else 0)) / self.num_tokens


@dataclass(frozen=True)
class BlendSource:
    """One source of a blend and its effective weight (fraction of 1)."""

    name: str
    kind: str
    weight: float
    prefixes: tuple[Path, ...]


@dataclass(frozen=True)
class BlendPlan:
    """Which source and which window each sequence of the blend is."""

    sources: tuple[BlendSource, ...]
    seq_len: int
    seed: int
    dataset_index: np.ndarray
    dataset_sample_index: np.ndarray

    @property
    def num_sequences(self) -> int:
        return len(self.dataset_index)

    def counts(self) -> np.ndarray:
        return sample_counts(self.dataset_index, len(self.sources))

    def share_errors_pp(self) -> np.ndarray:
        return share_errors_pp(self.counts(), [s.weight for s in self.sources])


def plan_blend(sources: Sequence[BlendSource], num_sequences: int, seq_len: int, seed: int) -> BlendPlan:
    """Greedy-deficit assignment of ``num_sequences`` sequences to sources."""
    if num_sequences <= 0:
        raise BlendError("the blend needs at least one sequence")
    dataset_index, sample_index = blending_indices([s.weight for s in sources], num_sequences)
    return BlendPlan(tuple(sources), seq_len, seed, dataset_index, sample_index)


def iter_sequences(plan: BlendPlan) -> Iterator[tuple[int, np.ndarray]]:
    """Yields ``(source index, seq_len + 1 tokens)`` for every sequence of the blend, in order."""
    streams = [SourceStream(s.name, s.prefixes, plan.seq_len, plan.seed) for s in plan.sources]
    counts = plan.counts()
    orders = [stream.window_order(int(n)) for stream, n in zip(streams, counts)]
    for d, j in zip(plan.dataset_index.tolist(), plan.dataset_sample_index.tolist()):
        yield d, streams[d].window(int(orders[d][j]))


def source_epochs(plan: BlendPlan) -> list[float]:
    """Epochs each source goes through in the blend."""
    out = []
    for s, n in zip(plan.sources, plan.counts()):
        stream = SourceStream(s.name, s.prefixes, plan.seq_len, plan.seed)
        out.append(stream.epochs_for(int(n)))
    return out
