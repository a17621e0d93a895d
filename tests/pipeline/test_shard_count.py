"""Shard counts derived from input size when ``shards.num_shards`` is not set (issue 14.6)."""

from __future__ import annotations

from pathlib import Path

from mixtures.config import MAX_NUM_SHARDS, config_from_dict
from pipeline.run_manifest import shard_count
from pipeline.runner import group_manifests, source_shard_count

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "github" / "github_sample.jsonl.gz"


def _cfg(tmp_path: Path, **shards) -> object:
    return config_from_dict({"output": str(tmp_path / "out"), "shards": shards,
                             "sources": {"github": {"kind": "github", "inputs": [str(SAMPLE)]}}})


def test_one_shard_per_input_bytes_per_shard(tmp_path):
    size = SAMPLE.stat().st_size  # 1,774,862 bytes
    assert source_shard_count(_cfg(tmp_path), "github") == 1  # default: 256 MiB of input per shard
    per_shard = 500_000
    expected = -(-size // per_shard)
    assert expected == 4
    cfg = _cfg(tmp_path, input_bytes_per_shard=per_shard)
    assert source_shard_count(cfg, "github") == expected
    assert group_manifests(cfg, ["github"])["github"]["layout"]["num_shards"] == expected


def test_an_explicit_num_shards_wins_and_the_count_is_bounded(tmp_path):
    assert source_shard_count(_cfg(tmp_path, num_shards=7, input_bytes_per_shard=1), "github") == 7
    assert shard_count(_cfg(tmp_path, input_bytes_per_shard=1), 10**12) == MAX_NUM_SHARDS
    assert shard_count(_cfg(tmp_path), 0) == 1
