"""stats.json's funnel: per step of the recipe, documents in and out, drops keyed by step."""

from __future__ import annotations

import gzip
from collections import Counter

from mixtures.config import config_from_dict
from pipeline.runner import run_sources


def test_the_funnel_adds_up_step_by_step(tmp_path, corpus):
    sample = corpus / "github" / "github_sample.jsonl.gz"
    lines = gzip.decompress(sample.read_bytes()).splitlines(keepends=True)
    inputs = tmp_path / "in"
    inputs.mkdir()
    # Every file twice: exact dedup (a composite step) has work to do besides the filters.
    (inputs / "export.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[::4] + lines[::8]), mtime=0))
    cfg = config_from_dict({"output": str(tmp_path / "out"), "progress": {"enabled": False},
                            "sources": {"github": {"kind": "github", "inputs": [str(inputs)]}}})
    [result] = run_sources(cfg, ["github"])
    stats = result.stats
    funnel = stats["funnel"]
    assert [row["step"] for row in funnel] == stats["steps"]
    assert funnel[0]["in"] == stats["documents_in"]
    for before, after in zip(funnel, funnel[1:]):
        assert before["out"] == after["in"], (before, after)
    assert funnel[-1]["out"] == stats["documents_out"]
    for row in funnel:
        assert row["out"] == row["in"] - sum(row["dropped"].values()) - row["quarantined"]
        assert "in_counted" not in row  # what the pipeline counted entering each filter agrees
    # Reasons stay with the step that dropped: their sum is the run's drop table.
    by_reason: Counter = Counter()
    for row in funnel:
        by_reason.update(row["dropped"])
    assert dict(by_reason) == stats["dropped"]
    dedup = next(row for row in funnel if row["step"] == "File dedup")
    assert dedup["dropped"]["duplicate_file"] >= len(lines[::8]) // 2
    license_step = next(row for row in funnel if row["step"].startswith("github_license"))
    assert license_step["chars_in"] > 0
    assert 0 < license_step["length_in"]["p10"] <= license_step["length_in"]["p50"] <= license_step["length_in"]["p90"]
