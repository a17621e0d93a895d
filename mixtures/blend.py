"""Blending arithmetic: Megatron's deterministic greedy-deficit interleaving.

``megatron/core/datasets/helpers.cpp::build_blending_indices``::

    for i in 0..size-1:
        err_d = w_d * max(i, 1) - counts[d]
        d* = argmax_d err_d            # ties go to the lowest index
        dataset_index[i] = d*; dataset_sample_index[i] = counts[d*]; counts[d*] += 1

No random numbers. At every prefix of the blend a source is never a whole sample ahead of
its weight and less than two samples behind it (several sources can fall due at once), so
shares match the weights to within ``2 / size`` (``200 / size`` percentage points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Megatron stores dataset_index as int16.
MAX_DATASETS = 32767


def normalize(weights: Sequence[float]) -> np.ndarray:
    """Weights scaled to sum to 1 (all must be > 0)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) == 0 or np.any(w <= 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be a non-empty list of positive numbers, got {list(weights)}")
    return w / w.sum()


def blending_indices(weights: Sequence[float], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Megatron's greedy-deficit blend.

    Args:
        weights: One positive weight per dataset (normalised here).
        size: Number of samples in the blend.

    Returns:
        ``(dataset_index int16[size], dataset_sample_index int64[size])``: sample ``i`` of
        the blend is sample ``dataset_sample_index[i]`` of dataset ``dataset_index[i]``.
    """
    if size < 0:
        raise ValueError("size must be >= 0")
    return blending_indices_range(weights, 0, size, np.zeros(len(weights), dtype=np.int64))


def _checked(weights: Sequence[float]) -> np.ndarray:
    w = normalize(weights)
    if len(w) >= MAX_DATASETS:
        raise ValueError(f"at most {MAX_DATASETS - 1} datasets")
    return w


def blending_indices_range(
    weights: Sequence[float], start: int, stop: int, counts_at_start: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``[start, stop)`` of the greedy-deficit blend, from the counts before ``start``.

    ``counts_at_start`` is what ``blend_counts_at`` gives for ``start``; with it, any range
    of the blend is computed on its own, and equals the same slice of
    ``blending_indices(weights, stop)`` exactly (same float operations in the same order).
    """
    w = _checked(weights)
    if not 0 <= start <= stop:
        raise ValueError(f"bad range [{start}, {stop})")
    counts = np.array(counts_at_start, dtype=np.int64)
    if counts.shape != w.shape or int(counts.sum()) != start:
        raise ValueError(f"counts_at_start must have one count per dataset summing to {start}")
    size = stop - start
    dataset_index = np.zeros(size, dtype=np.int16)
    dataset_sample_index = np.zeros(size, dtype=np.int64)
    for k, i in enumerate(range(start, stop)):
        errors = w * max(i, 1) - counts
        d = int(np.argmax(errors))  # argmax returns the first maximum: ties go to the lowest index
        dataset_index[k] = d
        dataset_sample_index[k] = counts[d]
        counts[d] += 1
    return dataset_index, dataset_sample_index


def blend_counts_at(weights: Sequence[float], positions: Sequence[int]) -> list[np.ndarray]:
    """Samples drawn per dataset before each of ``positions`` (ascending) in the greedy blend.

    This is the one sequential part of a sharded blend, and it touches no data: a scalar
    loop over counts only (``D`` floats per step, nothing stored but the answers), so a
    launcher or a worker gets every shard's starting counts cheaply. There is no closed
    form that reproduces Megatron's float ties bit for bit, so the recurrence is replayed
    with exactly its operations (``w_d * max(i, 1) - c_d`` in float64, first maximum wins).
    """
    w = [float(x) for x in _checked(weights)]
    wanted = [int(p) for p in positions]
    if any(b < a for a, b in zip(wanted, wanted[1:])) or (wanted and wanted[0] < 0):
        raise ValueError("positions must be ascending and >= 0")
    counts = [0] * len(w)
    out: list[np.ndarray] = []
    idx = range(len(w))
    i = 0
    for target in wanted:
        while i < target:
            scale = i if i > 1 else 1
            best, best_err = 0, w[0] * scale - counts[0]
            for d in idx:
                err = w[d] * scale - counts[d]
                if err > best_err:
                    best, best_err = d, err
            counts[best] += 1
            i += 1
        out.append(np.asarray(counts, dtype=np.int64))
    return out


def sample_counts(dataset_index: np.ndarray, num_datasets: int) -> np.ndarray:
    """Samples drawn per dataset."""
    return np.bincount(dataset_index.astype(np.int64), minlength=num_datasets)


def share_errors_pp(counts: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """``|share - weight|`` per dataset, in percentage points."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    shares = c / total if total else np.zeros_like(c)
    return np.abs(shares - normalize(weights)) * 100.0
