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
    w = normalize(weights)
    if len(w) >= MAX_DATASETS:
        raise ValueError(f"at most {MAX_DATASETS - 1} datasets")
    if size < 0:
        raise ValueError("size must be >= 0")
    dataset_index = np.zeros(size, dtype=np.int16)
    dataset_sample_index = np.zeros(size, dtype=np.int64)
    counts = np.zeros(len(w), dtype=np.int64)
    for i in range(size):
        errors = w * max(i, 1) - counts
        d = int(np.argmax(errors))  # argmax returns the first maximum: ties go to the lowest index
        dataset_index[i] = d
        dataset_sample_index[i] = counts[d]
        counts[d] += 1
    return dataset_index, dataset_sample_index


def sample_counts(dataset_index: np.ndarray, num_datasets: int) -> np.ndarray:
    """Samples drawn per dataset."""
    return np.bincount(dataset_index.astype(np.int64), minlength=num_datasets)


def share_errors_pp(counts: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """``|share - weight|`` per dataset, in percentage points."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    shares = c / total if total else np.zeros_like(c)
    return np.abs(shares - normalize(weights)) * 100.0
