"""Reading exported shards: manifest order, rank slices, resumable position, checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.trainer.conftest import SEQ_LEN, VOCAB, write_small_export
from tokenizer.export import EXPORT_FORMAT
from tokenizer.indexed import IndexedDataset
from trainer.data import EXPORT_FORMAT as READ_FORMAT
from trainer.data import BatchLoader, ShardDataset, ShardError


def _all_samples(export: Path) -> np.ndarray:
    return np.stack([np.asarray(s, dtype=np.int64) for s in IndexedDataset(export / "blend")])


def test_reads_the_real_export_in_blend_order(book_shards):
    assert READ_FORMAT == EXPORT_FORMAT
    manifest = json.loads((book_shards / "manifest.json").read_text())
    ds = ShardDataset(book_shards)
    expected = _all_samples(book_shards)
    assert len(ds) == len(expected) == manifest["sequences"] == 2048
    assert sorted(manifest["sources"]) == ["books", "github"]
    assert ds.seq_len == SEQ_LEN and ds.sample_len == SEQ_LEN + 1
    assert ds.vocab_size == VOCAB and ds.max_token_id() < VOCAB
    for i in (0, 1, 1023, 1024, len(ds) - 1):
        assert np.array_equal(ds[i], expected[i])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_shorter_seq_len_takes_each_samples_prefix(book_shards):
    ds = ShardDataset(book_shards, seq_len=16)
    assert ds[5].shape == (17,)
    assert np.array_equal(ds[5], _all_samples(book_shards)[5][:17])
    with pytest.raises(ShardError, match="needs 66-token samples"):
        ShardDataset(book_shards, seq_len=SEQ_LEN + 1)


def test_ranks_take_disjoint_slices_whose_union_is_the_single_process_order(book_shards):
    ds = ShardDataset(book_shards)
    single = BatchLoader(ds, micro_batch_size=4)
    ranks = [BatchLoader(ds, micro_batch_size=2, rank=r, world_size=2) for r in range(2)]
    for _ in range(5):
        whole = single.next_batch()
        parts = [loader.next_batch() for loader in ranks]
        assert np.array_equal(whole.numpy(), np.concatenate([p.numpy() for p in parts]))
    assert ranks[0].state_dict()["position"] == single.state_dict()["position"] == 20


def test_position_resumes_on_the_next_sample(book_shards):
    ds = ShardDataset(book_shards)
    straight = BatchLoader(ds, micro_batch_size=8, shuffle=True, seed=3)
    first = BatchLoader(ds, micro_batch_size=8, shuffle=True, seed=3)
    for _ in range(7):
        straight.next_batch()
        first.next_batch()
    state = first.state_dict()
    resumed = BatchLoader(ds, micro_batch_size=8, shuffle=True, seed=3)
    resumed.load_state_dict(json.loads(json.dumps(state)))  # survives plain-data round trips
    for _ in range(3):
        assert np.array_equal(straight.next_batch().numpy(), resumed.next_batch().numpy())
    with pytest.raises(ShardError, match="seed"):
        BatchLoader(ds, micro_batch_size=8, shuffle=True, seed=4).load_state_dict(state)


def test_epochs_wrap_and_shuffle_draws_a_seeded_permutation(tmp_path):
    ds = ShardDataset(write_small_export(tmp_path, [np.arange(i * 10, i * 10 + 5) for i in range(10)], seq_len=4))

    def firsts(loader: BatchLoader, n: int) -> list[int]:
        return [int(row[0]) // 10 for _ in range(n) for row in loader.next_batch()]

    plain = BatchLoader(ds, micro_batch_size=3)
    # 10 samples, batches of 3: the 10th sample is the dropped tail of each epoch.
    assert firsts(plain, 4) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2]
    assert plain.epoch == 1
    shuffled = firsts(BatchLoader(ds, micro_batch_size=5, shuffle=True, seed=11), 4)
    again = firsts(BatchLoader(ds, micro_batch_size=5, shuffle=True, seed=11), 4)
    assert shuffled == again
    assert sorted(shuffled[:10]) == list(range(10)) and sorted(shuffled[10:]) == list(range(10))
    assert shuffled[:10] != shuffled[10:] and shuffled[:10] != list(range(10))


def test_short_tail_samples_are_skipped(tmp_path):
    ds = ShardDataset(write_small_export(tmp_path, [np.full(9, 1), np.full(9, 2), np.full(4, 3), np.full(9, 4)]))
    assert ds.seq_len == 8 and len(ds) == 3
    assert [int(ds[i][0]) for i in range(3)] == [1, 2, 4]


def test_checksums_and_missing_files_are_reported(book_shards, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(book_shards, copy)
    ShardDataset(copy, verify_checksums=True)
    data = bytearray((copy / "blend.bin").read_bytes())
    data[100] ^= 0xFF
    (copy / "blend.bin").write_bytes(bytes(data))
    ShardDataset(copy)  # no verification asked: same size, opens
    with pytest.raises(ShardError, match="blend.bin: sha256 differs"):
        ShardDataset(copy, verify_checksums=True)
    (copy / "blend.idx").unlink()
    with pytest.raises(ShardError, match="blend.bin/.idx named in"):
        ShardDataset(copy)
    with pytest.raises(ShardError, match="no manifest.json"):
        ShardDataset(tmp_path)


def test_manifest_problems_are_named(tmp_path):
    write_small_export(tmp_path, [np.arange(9)] * 3, seq_len=8)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for change, message in (
        ({"format": "other"}, "format 'other', expected pasture-blend-v1"),
        ({"files": {"blend.parquet": "00"}}, "no Megatron .bin/.idx files"),
        ({"files": {"blend.bin": "00"}}, "blend lacks its .idx file"),
        ({"config": {"sample_tokens": 2049}}, "declares 2049-token samples, the shards hold 9"),
    ):
        (tmp_path / "manifest.json").write_text(json.dumps({**manifest, **change}))
        with pytest.raises(ShardError, match=message):
            ShardDataset(tmp_path)


def test_batch_larger_than_the_export_is_refused(book_shards):
    ds = ShardDataset(book_shards)
    with pytest.raises(ShardError, match="exceeds"):
        BatchLoader(ds, micro_batch_size=len(ds), world_size=2, rank=1)
