"""Training batches from the shards that ``pasture export`` writes, through ``tokenizer.indexed``.

An export folder (``tokenizer/export.py``) holds ``manifest.json`` and Megatron ``.bin/.idx``
pairs (today one, ``blend``) in which every sequence is one fixed-length training sample,
already blended across sources in the mixture's order. So this module does not mix
anything: ``ShardDataset`` concatenates the pairs the manifest lists (by file name) into
one random-access list of samples, and ``BatchLoader`` walks
that list in order (or in a seeded per-epoch permutation), cutting micro-batches and
giving each DDP rank its own slice. The loader's position is its whole state, so a
checkpoint resumes on exactly the next sample.

A sample of L tokens trains on ``seq_len + 1 <= L`` of them: inputs ``s[:seq_len]``,
targets ``s[1:seq_len+1]``. By default ``seq_len = L - 1``, which is the export's
``seq_len`` when it writes ``seq_len + 1``-token samples (Megatron's ``GPTDataset``
convention).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixtures.provenance import sha256_file
from tokenizer.indexed import IndexedDataset, bin_path, idx_path

MANIFEST = "manifest.json"


class ShardError(ValueError):
    """An export folder is missing, inconsistent with its manifest, or unusable for this config."""


# tokenizer.export.EXPORT_FORMAT; repeated here so reading shards does not import pyarrow.
EXPORT_FORMAT = "pasture-blend-v1"


@dataclass(frozen=True)
class ShardFile:
    """One ``.bin/.idx`` pair named by the manifest, with its recorded checksums."""

    prefix: Path
    sha256: dict[str, str]  # {"bin": hex, "idx": hex}


def _shard_files(manifest: dict[str, Any], root: Path) -> list[ShardFile]:
    """The Megatron pairs among the manifest's ``files`` ({file name: sha256}), by name.

    Other outputs of the export (``blend.parquet``) are ignored.
    """
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ShardError(f"{root / MANIFEST}: 'files' must map file names to sha256")
    pairs: dict[str, dict[str, str]] = {}
    for name, digest in files.items():
        for kind in ("bin", "idx"):
            if name.endswith(f".{kind}"):
                pairs.setdefault(name[: -len(kind) - 1], {})[kind] = str(digest)
    if not pairs:
        raise ShardError(f"{root / MANIFEST}: no Megatron .bin/.idx files; export with --format megatron")
    for prefix, sums in pairs.items():
        if set(sums) != {"bin", "idx"}:
            raise ShardError(f"{root / MANIFEST}: {prefix} lacks its {'.idx' if 'bin' in sums else '.bin'} file")
    return [ShardFile(root / prefix, pairs[prefix]) for prefix in sorted(pairs)]


class ShardDataset:
    """All samples of an export folder, in blend order, memory-mapped.

    ``ds[i]`` is sample ``i``'s first ``seq_len + 1`` tokens as int64 numpy. Samples shorter
    than that (a ragged tail) are skipped, so every item has the same length.
    """

    def __init__(self, path: str | os.PathLike, seq_len: int | None = None, verify_checksums: bool = False) -> None:
        """Opens every shard named in ``PATH/manifest.json``.

        Args:
            path: The export folder.
            seq_len: Model context; None takes the samples' length minus one.
            verify_checksums: Re-hash each file against the manifest's sha256.

        Raises:
            ShardError: Missing manifest or file, checksum mismatch, or no usable sample.
        """
        self.root = Path(path)
        manifest_file = self.root / MANIFEST
        if not manifest_file.is_file():
            raise ShardError(f"no {MANIFEST} in {self.root}: is this a `pasture export` folder?")
        with manifest_file.open(encoding="utf-8") as fh:
            self.manifest: dict[str, Any] = json.load(fh)
        if self.manifest.get("format") != EXPORT_FORMAT:
            raise ShardError(f"{manifest_file}: format {self.manifest.get('format')!r}, expected {EXPORT_FORMAT}")
        self.files = _shard_files(self.manifest, self.root)
        self.datasets: list[IndexedDataset] = []
        for shard in self.files:
            if not IndexedDataset.exists(shard.prefix):
                raise ShardError(f"{shard.prefix}.bin/.idx named in {manifest_file} not found")
            if verify_checksums:
                for kind, file in (("bin", bin_path(shard.prefix)), ("idx", idx_path(shard.prefix))):
                    want = shard.sha256.get(kind)
                    if want and sha256_file(file) != want:
                        raise ShardError(f"{file}: sha256 differs from {manifest_file}")
            self.datasets.append(IndexedDataset(shard.prefix))
        if not any(len(ds) for ds in self.datasets):
            raise ShardError(f"{self.root}: the shards hold no samples")
        # The export's fixed length; only a ragged tail could be shorter.
        self.sample_len = max(int(ds.sizes.max()) for ds in self.datasets if len(ds))
        declared = self.manifest.get("config", {}).get("sample_tokens")
        if declared is not None and declared != self.sample_len:
            raise ShardError(f"{manifest_file}: declares {declared}-token samples, the shards hold {self.sample_len}")
        self.seq_len = self.sample_len - 1 if seq_len is None else int(seq_len)
        need = self.seq_len + 1
        if self.seq_len < 1 or need > self.sample_len:
            raise ShardError(f"seq_len {self.seq_len} needs {need}-token samples; the export's are {self.sample_len}")
        # Per file: ids of long-enough samples, or None when all are (the normal case: no array).
        self._valid: list[np.ndarray | None] = []
        counts = []
        for ds in self.datasets:
            if len(ds) == 0 or int(ds.sizes.min()) >= need:
                self._valid.append(None)
                counts.append(len(ds))
            else:
                ids = np.flatnonzero(ds.sizes >= need)
                self._valid.append(ids)
                counts.append(len(ids))
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        if self._offsets[-1] == 0:
            raise ShardError(f"{self.root}: no sample has {need} tokens")

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def vocab_size(self) -> int | None:
        """The tokenizer's vocabulary size if the manifest records it."""
        tokenizer = self.manifest.get("tokenizer")
        value = tokenizer.get("vocab_size") if isinstance(tokenizer, dict) else None
        return value if isinstance(value, int) else None

    def max_token_id(self) -> int:
        """Largest token id in the shards (reads every token: for small exports and checks)."""
        return max(int(ds.tokens().max()) for ds in self.datasets if ds.num_tokens)

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        f = int(np.searchsorted(self._offsets, i, side="right")) - 1
        local = i - int(self._offsets[f])
        valid = self._valid[f]
        if valid is not None:
            local = int(valid[local])
        return self.datasets[f].get(local, 0, self.seq_len + 1).astype(np.int64)


class SampleRange:
    """Samples ``[start, stop)`` of a dataset, seen as a dataset of their own.

    Used to hold out the end of an export for validation: the loader trains on one range,
    the evaluation reads the other, and neither sees the other's samples.
    """

    def __init__(self, dataset: ShardDataset | SampleRange, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= len(dataset):
            raise ValueError(f"sample range [{start}, {stop}) outside {len(dataset)} samples")
        self.dataset = dataset
        self.start = start
        self.stop = stop
        self.seq_len = dataset.seq_len

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        return self.dataset[self.start + i]


def split_validation(dataset: ShardDataset, val_samples: int) -> tuple[SampleRange, SampleRange]:
    """``(train, validation)``: the last ``val_samples`` samples are held out.

    The export is already blended across sources in the mixture's order, so its tail is a
    sample of the same mixture; taking it from the end keeps the training order unchanged.
    """
    if val_samples < 0 or val_samples >= len(dataset):
        raise ShardError(f"cannot hold out {val_samples} of the export's {len(dataset)} samples for validation")
    cut = len(dataset) - val_samples
    return SampleRange(dataset, 0, cut), SampleRange(dataset, cut, len(dataset))


class BatchLoader:
    """Endless micro-batches ``(micro_batch_size, seq_len + 1)`` for one DDP rank.

    Every call to ``next_batch`` consumes ``micro_batch_size · world_size`` consecutive
    samples of the epoch order, of which this rank takes the ``rank``-th slice, so ranks
    never overlap and the union over ranks is the single-process order. An epoch ends
    when fewer than that many samples remain (the tail is dropped, as Megatron does);
    ``epoch`` then advances and, with ``shuffle``, a fresh permutation seeded by
    ``(seed, epoch)`` is drawn.
    """

    def __init__(self, dataset: ShardDataset | SampleRange, micro_batch_size: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = False, seed: int = 0) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of {world_size}")
        self.dataset = dataset
        self.micro_batch_size = micro_batch_size
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.seed = seed
        self.global_batch = micro_batch_size * world_size
        if self.global_batch > len(dataset):
            raise ShardError(f"a global micro-batch of {self.global_batch} samples exceeds "
                             f"the {len(dataset)} in the export")
        self.epoch = 0
        self.position = 0  # samples of the current epoch consumed by all ranks together
        self._order: np.ndarray | None = None
        self._order_epoch = -1

    def _epoch_order(self) -> np.ndarray | None:
        if not self.shuffle:
            return None
        if self._order_epoch != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            self._order = rng.permutation(len(self.dataset))
            self._order_epoch = self.epoch
        return self._order

    def next_batch(self) -> torch.Tensor:
        """The next micro-batch for this rank as an int64 CPU tensor."""
        if self.position + self.global_batch > len(self.dataset):
            self.epoch += 1
            self.position = 0
        start = self.position + self.rank * self.micro_batch_size
        order = self._epoch_order()
        ids = range(start, start + self.micro_batch_size)
        rows = [self.dataset[int(order[i]) if order is not None else i] for i in ids]
        self.position += self.global_batch
        return torch.from_numpy(np.stack(rows))

    def state_dict(self) -> dict[str, int | bool]:
        """Where the next batch starts; global, so a run may resume on another world size."""
        return {"epoch": self.epoch, "position": self.position, "num_samples": len(self.dataset),
                "seq_len": self.dataset.seq_len, "shuffle": self.shuffle, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues from ``state``; refuses a state taken on different data or sampling."""
        checks = [("num_samples", len(self.dataset)), ("seq_len", self.dataset.seq_len), ("shuffle", self.shuffle)]
        if self.shuffle:  # the seed only matters when it draws the order
            checks.append(("seed", self.seed))
        for key, mine in checks:
            if state.get(key) != mine:
                raise ShardError(f"data state was saved with {key}={state.get(key)!r}, this run has {mine!r}")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
