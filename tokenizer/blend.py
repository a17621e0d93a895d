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

The arrays behind steps 1 and 3 (document table, per-epoch orders, window order) grow with
the source's documents and samples. In one process ``SourceStream`` builds them in memory;
the sharded export has one worker per source save them once (``write_source_index``, as
Megatron caches its dataset indexes) and every shard writer memory-maps them.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixtures.blend import blending_indices, sample_counts, share_errors_pp
from tokenizer.indexed import IndexedDataset, bin_path

# Seed stream tags, so the document and window permutations never share a generator state.
_DOC_ORDER = 0
_WINDOW_ORDER = 1

# A source's cached stream arrays (``write_source_index``), one ``.npy`` file each, int64.
INDEX_FORMAT = "pasture-blend-index-v1"
INDEX_META = "index.json"
DOC_SHARD, DOC_START, DOC_LEN = "doc_shard.npy", "doc_start.npy", "doc_len.npy"
EPOCH_ORDER, EPOCH_ENDS = "epoch_order.npy", "epoch_ends.npy"  # (epochs, documents): one row per epoch
WINDOW_ORDER = "window_order.npy"
INDEX_ARRAYS = (DOC_SHARD, DOC_START, DOC_LEN, EPOCH_ORDER, EPOCH_ENDS, WINDOW_ORDER)


class BlendError(ValueError):
    """The requested blend cannot be built as asked (too small, empty source, mixed tokenizers)."""


def source_seed(seed: int, name: str) -> list[int]:
    """Per-source seed: independent of the other sources and of their order."""
    return [int(seed), zlib.crc32(name.encode("utf-8"))]


def _shard_table(ds: IndexedDataset, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``document_table`` of one shard (``k``: its position in the source)."""
    bounds = np.asarray(ds.document_indices, dtype=np.int64)
    first = bounds[:-1][bounds[1:] > bounds[:-1]]
    if not len(first):
        return (np.zeros(0, dtype=np.int64),) * 3
    # Empty documents sit between the others' bounds, so each kept document's sequences run
    # from its first to the next kept one's first (the last one's to the end of the shard).
    length = np.add.reduceat(np.asarray(ds.sizes, dtype=np.int64), first)
    start = np.asarray(ds.pointers, dtype=np.int64)[first] // ds.dtype.itemsize
    keep = length > 0
    return np.full(int(keep.sum()), k, dtype=np.int64), start[keep], length[keep]


def document_table(datasets: Sequence[IndexedDataset]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(shard, first token, tokens)`` of every document with tokens, in shard then document order.

    Vectorised over each shard's index: a document's tokens are the sum of its sequences'
    sizes (``np.add.reduceat`` from its first sequence), its start the first one's pointer.
    Documents without sequences, or whose sequences are all empty, are left out.
    """
    parts = [_shard_table(ds, k) for k, ds in enumerate(datasets)]
    if not parts:
        return (np.zeros(0, dtype=np.int64),) * 3
    return tuple(np.concatenate(column) for column in zip(*parts))  # type: ignore[return-value]


def epoch_order(seed: Sequence[int], doc_len: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(document order, cumulative end offsets) of epoch ``epoch`` of a source."""
    order = np.random.default_rng([*seed, _DOC_ORDER, epoch]).permutation(len(doc_len))
    return order, np.cumsum(doc_len[order])


def window_order(seed: Sequence[int], count: int) -> np.ndarray:
    """The seeded order in which a blend needing ``count`` windows of a source takes them."""
    return np.random.default_rng([*seed, _WINDOW_ORDER, count]).permutation(count)


def epochs_touched(count: int, seq_len: int, num_tokens: int) -> int:
    """Epochs that ``count`` windows read: their last token is stream position ``count·seq_len``."""
    return (count * seq_len) // num_tokens + 1 if count > 0 else 0


# Elements per step when filling or summing a memory-mapped array (2 MB of int64): bounds the builder.
_CHUNK = 1 << 18


def _shuffled_range(array: np.ndarray, rng: np.random.Generator) -> None:
    """``array[:] = rng.permutation(len(array))`` without the in-memory copy.

    ``Generator.permutation(n)`` is ``arange(n)`` shuffled in place by ``Generator.shuffle``,
    whose draws depend only on ``n``: shuffling a memory-mapped ``arange`` gives the same numbers.
    """
    for i in range(0, len(array), _CHUNK):
        array[i : i + _CHUNK] = np.arange(i, min(i + _CHUNK, len(array)), dtype=array.dtype)
    if len(array):
        # A plain ndarray view of the map: Generator.shuffle swaps raw buffer items only for an exact
        # ndarray (an np.memmap goes element by element through indexing, ~50x slower; same draws).
        rng.shuffle(np.asarray(array))


def _open_array(folder: Path, name: str, shape: tuple[int, ...]) -> tuple[Path, np.ndarray]:
    """A new int64 ``.npy`` under a temporary name, memory-mapped for writing."""
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    return tmp, np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int64, shape=shape)


def _close_array(tmp: Path, array: np.ndarray, final: Path) -> None:
    array.flush()
    os.replace(tmp, final)


def write_source_index(folder: str | os.PathLike, name: str, prefixes: Sequence[str | os.PathLike], seq_len: int,
                       seed: int, count: int) -> list[str]:
    """Builds once what every reader of a source in a blend of ``count`` windows needs, as ``.npy`` files.

    Megatron's ``GPTDataset`` caches its document, sample and shuffle indexes the same way:
    one process builds them, every rank memory-maps them. Here: the document table, the
    document order and cumulative ends of every epoch the windows reach, and the window
    order, exactly the arrays ``SourceStream`` draws in memory (same seeds, same calls).
    Every array is written through a memory map (shards' tables one at a time, permutations
    shuffled in the file, cumulative sums in chunks), so the builder's own memory is one
    token shard's index, not the source's documents.

    Args:
        folder: Local folder to write into (created).
        name, prefixes, seq_len, seed: As for ``SourceStream``.
        count: Windows the blend takes from the source (``LayoutSource.total_samples``).

    Returns:
        The file names written, ``INDEX_META`` last (written last, so its presence means complete).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    # Token shards are opened one at a time: a source has thousands, and each open dataset is
    # two maps and their Python objects.
    sizes, shard_tokens, num_tokens, dtype = [], [], 0, None
    for k, prefix in enumerate(prefixes):  # pass 1: documents and tokens per shard
        ds = IndexedDataset(prefix)
        length = _shard_table(ds, k)[2]
        sizes.append(len(length))
        shard_tokens.append(ds.num_tokens)
        num_tokens += int(length.sum())
        dtype = dtype or ds.dtype.name
        del ds
    if num_tokens == 0:
        raise BlendError(f"source {name} has no tokens")
    documents = sum(sizes)
    table = [_open_array(out, file, (documents,)) for file in (DOC_SHARD, DOC_START, DOC_LEN)]
    at = 0
    for k, prefix in enumerate(prefixes):  # pass 2: fill the table, one shard at a time
        for (_, array), column in zip(table, _shard_table(IndexedDataset(prefix), k)):
            array[at : at + sizes[k]] = column
        at += sizes[k]
    for (tmp, array), file in zip(table, (DOC_SHARD, DOC_START, DOC_LEN)):
        _close_array(tmp, array, out / file)
    del table
    seeds = source_seed(seed, name)
    epochs = epochs_touched(count, seq_len, num_tokens)
    doc_len = np.load(out / DOC_LEN, mmap_mode="r")
    order_tmp, orders = _open_array(out, EPOCH_ORDER, (epochs, documents))
    ends_tmp, ends = _open_array(out, EPOCH_ENDS, (epochs, documents))
    for e in range(epochs):
        _shuffled_range(orders[e], np.random.default_rng([*seeds, _DOC_ORDER, e]))  # = epoch_order(...)[0]
        carry = 0
        for i in range(0, documents, _CHUNK):
            part = np.cumsum(doc_len[orders[e][i : i + _CHUNK]])
            part += carry
            ends[e][i : i + _CHUNK] = part
            carry = int(part[-1])
    _close_array(order_tmp, orders, out / EPOCH_ORDER)
    _close_array(ends_tmp, ends, out / EPOCH_ENDS)
    del orders, ends, doc_len
    windows_tmp, windows = _open_array(out, WINDOW_ORDER, (count,))
    _shuffled_range(windows, np.random.default_rng([*seeds, _WINDOW_ORDER, count]))  # = window_order(...)
    _close_array(windows_tmp, windows, out / WINDOW_ORDER)
    del windows
    meta = {"format": INDEX_FORMAT, "source": name, "seq_len": seq_len, "seed": int(seed), "windows": int(count),
            "epochs": epochs, "documents": documents, "tokens": num_tokens, "dtype": dtype,
            "shard_tokens": shard_tokens}
    tmp = out / f".{INDEX_META}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(meta, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out / INDEX_META)
    return [*INDEX_ARRAYS, INDEX_META]


def _map_tokens(prefix: str | os.PathLike, dtype: np.dtype, tokens: int) -> np.ndarray:
    """The ``.bin`` of a token shard, memory-mapped, checked against the token count the index recorded."""
    path = bin_path(prefix)
    size = os.path.getsize(path)
    if size != tokens * dtype.itemsize:
        raise BlendError(f"{path}: {size} bytes, the blend index was built for {tokens} {dtype} tokens")
    if not size:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype.newbyteorder("<"), mode="r")


class SourceStream:
    """Windows of ``seq_len + 1`` tokens over a seeded, per-epoch shuffle of one source.

    Its arrays (document table, per-epoch document orders, window order) are either built
    in memory (``index_dir=None``: small in-process uses, the single-file export) or
    memory-mapped from the ``.npy`` files ``write_source_index`` wrote: then nothing
    proportional to the source's documents or windows is built or held by this process.
    """

    def __init__(self, name: str, prefixes: Sequence[str | os.PathLike], seq_len: int, seed: int,
                 index_dir: str | os.PathLike | None = None) -> None:
        """Maps the source's shards and builds (or maps) its document table.

        Args:
            name: Source name (part of the seed).
            prefixes: Its ``.bin/.idx`` prefixes, in manifest order (only the ``.bin`` files
                are read when ``index_dir`` is given).
            seq_len: Predictions per sequence.
            seed: Blend seed.
            index_dir: Local folder of ``write_source_index`` files for these same arguments.
        """
        if seq_len <= 0:
            raise BlendError("seq_len must be > 0")
        self.name = name
        self.seq_len = seq_len
        self._seed = source_seed(seed, name)
        self._epochs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cached_epochs: tuple[np.ndarray, np.ndarray] | None = None
        self._cached_windows: tuple[int, np.ndarray] | None = None
        if index_dir is None:
            datasets = [IndexedDataset(p) for p in prefixes]
            self._doc_shard, self._doc_start, self._doc_len = document_table(datasets)
            self.num_tokens = int(self._doc_len.sum())
            if self.num_tokens == 0:
                raise BlendError(f"source {name} has no tokens")
            self.dtype = datasets[0].dtype
            self._tokens = [ds.tokens() for ds in datasets]
        else:
            self._load_index(Path(index_dir), prefixes, seq_len, seed)
        self.num_documents = len(self._doc_len)

    def _load_index(self, folder: Path, prefixes: Sequence[str | os.PathLike], seq_len: int, seed: int) -> None:
        meta = json.loads((folder / INDEX_META).read_text(encoding="utf-8"))
        asked = {"format": INDEX_FORMAT, "source": self.name, "seq_len": seq_len, "seed": int(seed)}
        found = {key: meta.get(key) for key in asked}
        if found != asked or len(meta["shard_tokens"]) != len(prefixes):
            raise BlendError(f"{folder}: blend index of {found} with {len(meta['shard_tokens'])} shards, "
                             f"not of {asked} with {len(prefixes)}")

        def mapped(file: str) -> np.ndarray:
            return np.asarray(np.load(folder / file, mmap_mode="r"))

        self._doc_shard, self._doc_start, self._doc_len = mapped(DOC_SHARD), mapped(DOC_START), mapped(DOC_LEN)
        self._cached_epochs = (mapped(EPOCH_ORDER), mapped(EPOCH_ENDS))
        self._cached_windows = (int(meta["windows"]), mapped(WINDOW_ORDER))
        self.num_tokens = int(meta["tokens"])
        self.dtype = np.dtype(meta["dtype"])
        self._tokens = [_map_tokens(p, self.dtype, int(n)) for p, n in zip(prefixes, meta["shard_tokens"])]

    def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(document order, cumulative end offsets) of one epoch."""
        cached = self._epochs.get(epoch)
        if cached is None:
            if self._cached_epochs is not None:
                orders, ends = self._cached_epochs
                if epoch >= len(orders):
                    raise BlendError(f"the blend index of {self.name} holds {len(orders)} epochs, "
                                     f"epoch {epoch} was asked for")
                cached = (orders[epoch], ends[epoch])  # views of the mapped files
            else:
                cached = epoch_order(self._seed, self._doc_len, epoch)
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
            doc_len = int(self._doc_len[doc])
            within = offset - (int(ends[i]) - doc_len)
            take = min(doc_len - within, length - filled)
            begin = int(self._doc_start[doc]) + within
            out[filled : filled + take] = self._tokens[int(self._doc_shard[doc])][begin : begin + take]
            filled += take
            pos += take
        return out

    def window(self, index: int) -> np.ndarray:
        """Window ``index``: tokens ``[index·seq_len, index·seq_len + seq_len + 1)``."""
        return self.tokens(index * self.seq_len, self.seq_len + 1)

    def window_order(self, count: int) -> np.ndarray:
        """The seeded order in which a blend needing ``count`` windows takes them (mapped when cached)."""
        if self._cached_windows is not None and self._cached_windows[0] == count:
            return self._cached_windows[1]
        return window_order(self._seed, count)

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
