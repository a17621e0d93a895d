"""The runner's plumbing: read → steps → sorted shards + stats that reconcile."""

from __future__ import annotations

import gzip
import json

from mixtures.config import config_from_dict
from pipeline import runner


def test_run_writes_sorted_shards_and_reconciled_stats(tmp_path, toy_source):
    # The toy kind (tests/toy_source): BAD is quarantined by the reader, SKIP dropped by it,
    # a line that is not UTF-8 is quarantined by lines_filter, short lines drop there.
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_bytes(b"hello world\nno\nBAD\nSKIP\ncaf\xe9\n")
    b.write_text("another line\nxy\n")
    cfg = config_from_dict({"output": str(tmp_path / "out"), "shards": {"num_shards": 2},
                            "lines": {"min_chars": 4}, "minhash": {"enabled": False},
                            "quarantine": {"max_step_share": 0.5},
                            "sources": {"toy": {"kind": "lines", "inputs": [str(tmp_path / "*.txt")]}}})
    [result] = runner.run_sources(cfg, ["toy"])
    stats = result.stats
    assert stats["documents_in"] == 7
    assert stats["documents_out"] == 2
    assert stats["dropped"] == {"skipped": 1, "short_line": 2}
    assert stats["quarantined"] == 2
    docs = []
    for shard in sorted((tmp_path / "out/toy/docs").iterdir()):
        lines = gzip.decompress(shard.read_bytes()).decode().splitlines()
        ids = [json.loads(line)["id"] for line in lines]
        assert ids == sorted(ids)
        docs += [json.loads(line) for line in lines]
    assert sorted(d["text"] for d in docs) == ["another line", "hello world"]
    assert all(d["annotations"]["lines_filter"]["chars"] > 3 for d in docs)
    quarantine = gzip.decompress(next((tmp_path / "out/toy/quarantine").iterdir()).read_bytes()).decode()
    assert "unreadable line" in quarantine and "BadRecord: line is not UTF-8" in quarantine
    assert json.loads((tmp_path / "out/toy/stats.json").read_text())["reconciled"] is True
