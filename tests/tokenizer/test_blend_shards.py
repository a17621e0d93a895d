"""Pure pieces of the sharded pipeline: greedy-deficit ranges, id-hash shard ranges, spill files."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest

from mixtures.blend import blend_counts_at, blending_indices, blending_indices_range, sample_counts
from tokenizer.shards import id_hash, shard_hash_range, token_shard_of
from tokenizer.spill import (
    SpillFormatError,
    encode_spill,
    read_index_hashes,
    read_index_slice,
    shard_lower_bounds,
    shard_slices,
    split_slice,
)

LLAMA = [67.0, 15.0, 4.5, 4.5, 4.5, 2.5, 2.0]


@pytest.mark.parametrize("weights", [LLAMA, [1.0], [0.5, 0.5], [3.0, 1e-3, 2.0, 0.7]])
def test_any_range_of_the_blend_from_its_start_counts_equals_the_whole_blend(weights):
    size = 7000
    full_d, full_s = blending_indices(weights, size)
    cuts = [0, 1, 2, 999, 1000, 4321, size]
    counts = blend_counts_at(weights, cuts)
    assert counts[-1].tolist() == sample_counts(full_d, len(weights)).tolist()
    for (a, b), c in zip(zip(cuts, cuts[1:]), counts):
        d, s = blending_indices_range(weights, a, b, c)
        assert np.array_equal(d, full_d[a:b]) and np.array_equal(s, full_s[a:b])


def test_random_weights_ties_included():
    rng = random.Random(5)
    for _ in range(10):
        weights = [rng.choice([1.0, 2.0, rng.random()]) for _ in range(rng.randint(2, 6))]
        full_d, _ = blending_indices(weights, 3000)
        start = rng.randrange(3000)
        [c] = blend_counts_at(weights, [start])
        d, _ = blending_indices_range(weights, start, 3000, c)
        assert np.array_equal(d, full_d[start:])
    with pytest.raises(ValueError, match="summing to"):
        blending_indices_range(LLAMA, 10, 20, [0] * 7)


def test_hash_ranges_partition_the_ids():
    ids = [f"cc/{i:06d}" for i in range(5000)]
    for n in (1, 3, 7, 64):
        for k in range(n):
            lo, hi = shard_hash_range(k, n)
            inside = {i for i in ids if lo <= id_hash(i) and (hi is None or id_hash(i) < hi)}
            assert inside == {i for i in ids if token_shard_of(i, n) == k}
    counts = np.bincount([token_shard_of(i, 10) for i in ids], minlength=10)
    assert counts.min() > 400 and counts.max() < 600  # 500 expected, sd ≈ 21


def test_routing_sends_every_document_of_a_spill_to_its_shard_once_and_slices_read_by_seeking():
    docs = [(id_hash(f"doc-{i}"), f"doc-{i}", np.arange(i % 7 + 1, dtype=np.uint16) + i) for i in range(300)]
    tokens, index_bytes = encode_spill(docs, np.dtype(np.uint16))
    flat = np.frombuffer(tokens, dtype="<u2")
    hashes, offsets = read_index_hashes(io.BytesIO(index_bytes), "s.idx")
    assert hashes.tolist() == sorted(h for h, _, _ in docs)  # written in hash order, whatever the input order
    seen = {}
    for n in (1, 3, 64, 1000):  # more shards than documents: most shards get nothing from this spill
        routed = shard_slices("s", hashes, offsets, shard_lower_bounds(n))
        assert len({k for k, _ in routed}) == len(routed)
        seen[n] = {}
        for k, piece in routed:
            lo, hi = shard_hash_range(k, n)
            assert piece.a < piece.b and (piece.a == 0 or hashes[piece.a - 1] < lo)
            offs, ids = read_index_slice(io.BytesIO(index_bytes), piece.a, piece.b, "s.idx")
            assert (int(offs[0]), int(offs[-1])) == (piece.token_start, piece.token_stop)
            for doc_id, toks in split_slice(offs, ids, flat[piece.token_start:piece.token_stop]):
                assert token_shard_of(doc_id, n) == k and doc_id not in seen[n]
                seen[n][doc_id] = toks.tolist()
        assert seen[n] == {i: t.tolist() for _, i, t in docs}
    with pytest.raises(SpillFormatError, match="part-7.idx: truncated"):
        read_index_slice(io.BytesIO(index_bytes[:-5]), 290, 300, "part-7.idx")
    with pytest.raises(SpillFormatError, match="x.idx: not a spill index"):
        read_index_hashes(io.BytesIO(b"PK\x03\x04" + index_bytes[4:]), "x.idx")
