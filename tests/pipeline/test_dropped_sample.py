"""``shards.max_dropped_per_reason`` (issue 14.6): dropped documents kept as counts plus a
bounded, fixed sample per reason; the counts still cover every drop."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from mixtures.config import config_from_dict
from pipeline.runner import run_sources

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "github" / "github_sample.jsonl.gz"


def _dropped_ids(folder: Path) -> dict[str, list[str]]:
    by_reason: dict[str, list[str]] = {}
    for shard in sorted(folder.glob("part-*")):
        for line in gzip.decompress(shard.read_bytes()).decode().splitlines():
            doc = json.loads(line)
            by_reason.setdefault(doc["annotations"]["dropped"]["reason"], []).append(doc["id"])
    return by_reason


def _smallest_hashes(ids: list[str], n: int) -> list[str]:
    return sorted(ids, key=lambda i: hashlib.sha1(i.encode()).hexdigest())[:n]


def test_dropped_documents_are_a_bounded_sample_of_smallest_id_hashes(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    lines = gzip.decompress(SAMPLE.read_bytes()).splitlines(keepends=True)[::3]  # 241 files, every license
    (inputs / SAMPLE.name).write_bytes(gzip.compress(b"".join(lines), mtime=0))
    results = {}
    for cap in (None, 2):
        cfg = config_from_dict({"output": str(tmp_path / f"out-{cap}"),
                                "shards": {"num_shards": 2, "max_dropped_per_reason": cap},
                                "sources": {"github": {"kind": "github", "inputs": [str(inputs)]}}})
        [result] = run_sources(cfg, ["github"])
        results[cap] = (result.stats, _dropped_ids(tmp_path / f"out-{cap}" / "github" / "dropped"))
    (full_stats, every_drop), (stats, sample) = results[None], results[2]
    # Counts cover every drop; the documents kept and their shards are those of the full run.
    assert stats["dropped"] == full_stats["dropped"] and sum(stats["dropped"].values()) == 89
    assert stats["documents_out"] == full_stats["documents_out"] and stats["reconciled"] is True
    assert {k: v for k, v in stats["outputs"].items() if k.startswith("docs/")} == \
        {k: v for k, v in full_stats["outputs"].items() if k.startswith("docs/")}
    assert {r: len(ids) for r, ids in sample.items()} == {r: min(2, n) for r, n in stats["dropped"].items()}
    for reason, ids in sample.items():
        assert sorted(ids) == sorted(_smallest_hashes(every_drop[reason], 2)), reason
