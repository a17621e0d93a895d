"""Spill files of one buffer with a run per partition (issue 14: what crosses the local runner
is one path per buffer and one manifest per partition, not a path per partition and buffer)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from stages.spill import _index_runs, _segments_of, merged, partition_of, read_segment_index, write_segmented_run_file

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "github" / "github_sample.jsonl.gz"
PARTITIONS = 7


def _buffers() -> list[dict[int, list]]:
    """The sample's files as records ``((repo, path), line 1)``, in three buffers of a worker."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        files = [json.loads(line) for line in fh]
    buffers: list[dict[int, list]] = [{}, {}, {}]
    for i, f in enumerate(files):
        key = (f["repo_name"], f["path"])
        record = (key, f["content"].split("\n", 1)[0].encode("utf-8"))
        buffers[i % 3].setdefault(partition_of(key, PARTITIONS), []).append(record)
    return buffers


def test_each_partition_merges_only_its_segments_of_every_buffer_file(tmp_path):
    buffers = _buffers()
    expected = {p: sorted(r for b in buffers for r in b.get(p, [])) for p in range(PARTITIONS)}
    paths = [write_segmented_run_file(str(tmp_path), {p: list(rs) for p, rs in b.items()}) for b in buffers]
    assert len(list(tmp_path.glob("*.run"))) == 3  # one file per buffer, whatever the partitions
    assert [part for part, _, _ in read_segment_index(paths[0])] == sorted(buffers[0])
    # One manifest for all partitions; each partition reads back exactly its records, in order.
    manifests = dict(_index_runs(PARTITIONS)(0, [*reversed(paths), None]))
    assert sorted(manifests) == list(range(PARTITIONS)) and len(set(manifests.values())) == 1
    for partition in range(PARTITIONS):
        refs = _segments_of(partition, [manifests[partition]])
        assert len(refs) == sum(1 for b in buffers if b.get(partition))
        with merged(refs) as stream:
            assert list(stream) == expected[partition]


def test_nothing_spilled_gives_every_partition_no_runs():
    assert list(_index_runs(3)(0, [None])) == [(0, None), (1, None), (2, None)]
    assert _segments_of(1, [None]) == []
