"""tokenizer.shards: shard count from one scalar, shard from the id alone, deterministic shard bytes."""

from __future__ import annotations

import numpy as np
import pytest

from filters.document import shard_name, shard_of, stable_id
from tokenizer.indexed import IndexedDataset
from tokenizer.manifest import TOKENS_FORMAT
from tokenizer.shards import SHARDING, num_shards, remove_stale_shards, tokens_manifest, write_shard


@pytest.mark.parametrize(("total", "target", "expected"), [
    (0, 100, 1),  # never 0: no division by zero for a source of empty documents
    (1, 100, 1),
    (100, 100, 1),
    (101, 100, 2),
    (1_400_000_000_000, 50_000_000, 28_000),  # LLaMA's 1.4T tokens at the default target
])
def test_num_shards_is_the_ceiling_of_total_over_target(total, target, expected):
    assert num_shards(total, target) == expected


def test_num_shards_rejects_bad_arguments():
    with pytest.raises(ValueError, match="shard_tokens"):
        num_shards(10, 0)
    with pytest.raises(ValueError, match="total_tokens"):
        num_shards(-1, 10)


@pytest.mark.parametrize(("key", "shards", "expected"), [
    # Computed with the sha1 shard hash that wrote every run so far: a change moves documents.
    ("books/0abbcd72aee7e5d934e9", 4, 1),
    ("cc/00000000000000000000", 10, 2),
    ("", 3, 2),
    ("wikipedia/ü-ß", 1000, 362),
    ("x", 1, 0),
])
def test_shard_of_keeps_the_shards_of_earlier_runs(key, shards, expected):
    assert shard_of(key, shards) == expected


def test_shard_names_sort_in_index_order():
    assert shard_name(3, 10) == "part-00003-of-00010"
    assert shard_name(3, 10, ".jsonl.gz") == "part-00003-of-00010.jsonl.gz"


def test_shard_of_balances_shards():
    ids = [stable_id("cc", "crawl/segment-00042.warc.gz", i) for i in range(20_000)]
    counts = np.bincount([shard_of(i, 10) for i in ids], minlength=10)
    # 2,000 ids per shard on average: binomial sd ≈ 42, so ±10 % is > 4.5 sd.
    assert counts.min() > 1800 and counts.max() < 2200


def test_write_shard_orders_by_id_then_content_whatever_the_input_order(tmp_path):
    docs = [("b", np.array([5, 6, 2], np.uint16)), ("a", np.array([7, 2], np.uint16)),
            ("b", np.array([3, 2], np.uint16))]  # the same id twice: ordered by content
    one = write_shard(tmp_path / "x" / "part-00000-of-00001", docs, np.dtype(np.uint16))
    two = write_shard(tmp_path / "y" / "part-00000-of-00001", list(reversed(docs)), np.dtype(np.uint16))
    assert one == two and one["documents"] == 3 and one["tokens"] == 7
    ds = IndexedDataset(tmp_path / "x" / "part-00000-of-00001")
    assert [ds[i].tolist() for i in range(len(ds))] == [[7, 2], [3, 2], [5, 6, 2]]


def test_empty_shard_is_a_readable_dataset(tmp_path):
    desc = write_shard(tmp_path / "part-00001-of-00002", [], np.dtype(np.uint16))
    assert (desc["documents"], desc["tokens"]) == (0, 0)
    ds = IndexedDataset(tmp_path / "part-00001-of-00002")
    assert len(ds) == 0 and ds.num_documents == 0


def test_manifest_sums_shards_and_lists_them_by_name(tmp_path):
    b = write_shard(tmp_path / "part-00001-of-00002", [("z", np.array([4, 2], np.uint16))], np.dtype(np.uint16))
    a = write_shard(tmp_path / "part-00000-of-00002", [("y", np.array([9, 9, 2], np.uint16))], np.dtype(np.uint16))
    tok = {"model": "t.model", "sha256": "0" * 64, "vocab_size": 4000, "eos_id": 2}
    m = tokens_manifest(source="wiki", kind="wikipedia", tokenizer=tok, dtype="uint16", shard_tokens=3,
                        empty_documents=4, shards=[b, a])
    assert m["format"] == TOKENS_FORMAT and m["sharding"] == SHARDING
    assert [s["name"] for s in m["shards"]] == ["part-00000-of-00002", "part-00001-of-00002"]
    assert (m["documents"], m["tokens"], m["empty_documents"]) == (2, 5, 4)
    # A later run with one shard: the old pair goes, the kept one stays.
    assert remove_stale_shards(tmp_path, {"part-00000-of-00002"}) == ["part-00001-of-00002.bin",
                                                                       "part-00001-of-00002.idx"]
