"""Megatron's greedy-deficit blending arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from mixtures.blend import blending_indices, sample_counts, share_errors_pp
from mixtures.spec import load_mixture


def test_small_blend_by_hand():
    # err_d = w_d·max(i,1) - counts_d with w = [.5, .3, .2]:
    # i=0 [.5,.3,.2] → 0; i=1 [-.5,.3,.2] → 1; i=2 [0,-.4,.4] → 2; i=3 [.5,-.1,-.4] → 0;
    # i=4 [0,.2,-.2] → 1; i=5 [.5,-.5,0] → 0; i=6 [0,-.2,.2] → 2; i=7 [.5,.1,-.6] → 0;
    # i=8 [0,.4,-.4] → 1; i=9 [.5,-.3,-.2] → 0.
    index, sample = blending_indices([5, 3, 2], 10)
    assert index.tolist() == [0, 1, 2, 0, 1, 0, 2, 0, 1, 0]
    assert sample.tolist() == [0, 0, 0, 1, 1, 2, 1, 3, 2, 4]
    assert index.dtype == np.int16 and sample.dtype == np.int64


def test_ties_go_to_the_lowest_index():
    index, _ = blending_indices([1, 1, 1], 6)
    assert index.tolist() == [0, 1, 2, 0, 1, 2]


def test_every_prefix_holds_the_weights_within_two_samples():
    weights = np.array([s.weight for s in load_mixture("llama1").sources]) / 100
    index, sample = blending_indices(weights, 5000)
    onehot = np.eye(len(weights))[index]
    prefix_counts = np.cumsum(onehot, axis=0)
    expected = np.outer(np.arange(1, 5001), weights)
    # A source is never a whole sample ahead of its weight, and falls behind by less than two
    # (1.42 samples at worst for LLaMA's weights: several sources can be due at once).
    assert (prefix_counts - expected).max() < 1.0
    assert (prefix_counts - expected).min() > -2.0
    counts = sample_counts(index, len(weights))
    assert counts.sum() == 5000
    assert share_errors_pp(counts, weights).max() <= 2 * 100 / 5000
    # dataset_sample_index counts each dataset's samples 0, 1, 2, ... in order
    for d in range(len(weights)):
        assert sample[index == d].tolist() == list(range(counts[d]))


def test_bad_weights():
    with pytest.raises(ValueError):
        blending_indices([1, 0], 3)
