"""Shuffles on disk (stages.spill, filters.sorted_runs): the same groups and bytes as an in-memory sort.

Real documents (the GitHub sample's files) with buffers small enough that every worker writes
many runs, so the k-way merge, its passes over more than ``MAX_FAN_IN`` runs and the shard
writers are all exercised.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from filters.document import Document, shard_name, shard_of
from filters.sorted_runs import CorruptRun, read_run, write_run
from stages import spill
from stages.sinks import WriteDocuments, encode_jsonl, gzip_bytes, split_id_collisions
from stages.spill import CoGroupOnDisk, GroupByKeyOnDisk, merged, write_run_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files() -> list[dict]:
    with gzip.open(REPO / "samples" / "github" / "github_sample.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _options(tmp_path: Path, workers: int, buffer_mb: float = 0.02, on_disk: str = "auto") -> PipelineOptions:
    args = ["--runner=FnApiRunner", f"--spill_dir={tmp_path / 'spill'}", f"--spill_buffer_mb={buffer_mb}",
            f"--shuffle_on_disk={on_disk}"]
    if workers > 1:
        args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    return PipelineOptions(args)


def test_merge_of_more_runs_than_the_fan_in_gives_the_sorted_records(tmp_path, files, monkeypatch):
    monkeypatch.setattr(spill, "MAX_FAN_IN", 8)
    records = [((f["repo_name"], f["path"], i), line.encode("utf-8"))
               for f in files for i, line in enumerate(f["content"].splitlines()[:20])]
    random.Random(0).shuffle(records)
    runs = [write_run_file(str(tmp_path), 0, records[i::70]) for i in range(70)]  # 70 runs: two merge passes
    with merged(runs) as stream:
        assert list(stream) == sorted(records)


def test_a_truncated_run_is_an_error_naming_it(tmp_path):
    path = tmp_path / "r.run"
    with open(path, "wb") as fh:
        write_run(fh, [(("a",), b"x" * 100)])
    path.write_bytes(path.read_bytes()[:-10])
    with open(path, "rb") as fh, pytest.raises(CorruptRun, match="r.run: truncated record"):
        list(read_run(fh, "r.run"))


@pytest.mark.parametrize(("workers", "on_disk"), [(2, "auto"), (1, "never")])
def test_group_and_cogroup_on_disk_equal_beams_own(tmp_path, files, workers, on_disk):
    # key: the file's extension; values: its path and its number of lines (real, uneven groups).
    pairs = [(Path(f["path"]).suffix or "(none)", f["path"]) for f in files]
    sizes = [(Path(f["path"]).suffix or "(none)", len(f["content"].splitlines())) for f in files]
    expected_groups = {}
    for key, value in pairs:
        expected_groups.setdefault(key, []).append(value)
    expected_sizes = {}
    for key, value in sizes:
        expected_sizes.setdefault(key, []).append(value)
    with beam.Pipeline(options=_options(tmp_path, workers, on_disk=on_disk)) as p:
        paths = p | "Paths" >> beam.Create(pairs)
        counts = p | "Sizes" >> beam.Create(sizes)
        grouped = (paths | "On disk" >> GroupByKeyOnDisk(partitions=5)
                   | "Sort group" >> beam.MapTuple(lambda k, v: (k, sorted(v))))
        assert_that(grouped, equal_to([(k, sorted(v)) for k, v in expected_groups.items()]), label="groups")
        joined = ({"path": paths, "lines": counts} | "Join" >> CoGroupOnDisk(partitions=3)
                  | "Sort join" >> beam.MapTuple(lambda k, v: (k, sorted(v["path"]), sorted(v["lines"]))))
        assert_that(joined, equal_to([(k, sorted(expected_groups[k]), sorted(expected_sizes[k]))
                                      for k in expected_groups]), label="join")
    runs = list((tmp_path / "spill").rglob("*.run"))
    if on_disk == "never":
        assert runs == []
    else:
        assert len(runs) > 10  # small buffers: many runs per worker, not one sorted list in memory


def _documents(files: list[dict]) -> list[Document]:
    docs = [Document(f"github/{i:04d}", f["content"], "github", {"file": f["path"], "record": i})
            for i, f in enumerate(files)]
    # Two more copies of two ids, read from other places: the sink keeps one of each.
    docs.append(Document("github/0003", "another text", "github", {"file": "b/other.jsonl", "record": 9}))
    docs.append(Document("github/0100", "a third text", "github", {"file": "a/first.jsonl", "record": 1}))
    return docs


@pytest.mark.parametrize(("workers", "on_disk"), [(1, "auto"), (2, "auto"), (1, "never")])
def test_document_shards_from_disk_runs_are_the_bytes_of_an_in_memory_sort(tmp_path, files, workers, on_disk):
    """On disk (the local runner) or through the runner's own GroupByKey (a distributed runner's
    path, forced here with --shuffle_on_disk never): the same bytes."""
    docs = _documents(files)
    random.Random(workers).shuffle(docs)
    out = tmp_path / "docs"
    kept, quarantined = split_id_collisions(docs)
    # The copy read from the smaller location stays: a/first.jsonl beats the sample's own path.
    assert sorted((q["file"], q["record"]) for q in quarantined) == [
        ("b/other.jsonl", "9"), (files[100]["path"], "100")]
    with beam.Pipeline(options=_options(tmp_path, workers, on_disk=on_disk)) as p:
        written = p | beam.Create(docs) | WriteDocuments(str(out), 3, quarantine_collisions=True)
        assert_that(written.collisions, equal_to(quarantined), label="collisions")
    for index in range(3):
        shard = sorted((d for d in kept if shard_of(d.id, 3) == index), key=lambda d: d.id)
        expected = gzip_bytes(encode_jsonl(shard, lambda d: d.to_json()))
        assert (out / shard_name(index, 3, ".jsonl.gz")).read_bytes() == expected
    assert not list(out.glob("*.tmp-*"))


def test_a_run_spills_where_told_leaves_no_scratch_and_writes_the_same_shards(tmp_path):
    from pipeline.cli import main as cli_main

    sample = REPO / "samples" / "github" / "github_sample.jsonl.gz"
    config = tmp_path / "run.yaml"
    config.write_text("shards:\n  num_shards: 2\n")
    plain, small = tmp_path / "plain", tmp_path / "small"
    assert cli_main(["rebuild", "github", "--input", str(sample), "--output", str(plain),
                     "--config", str(config)]) == 0
    scratch = tmp_path / "scratch"
    assert cli_main(["rebuild", "github", "--input", str(sample), "--output", str(small), "--config", str(config),
                     "--spill_dir", str(scratch), "--spill_buffer_mb", "0.05"]) == 0
    for name in ("docs", "dropped", "quarantine"):
        shards = sorted(p.name for p in (plain / "github" / name).iterdir())
        assert shards and shards == sorted(p.name for p in (small / "github" / name).iterdir())
        for shard in shards:
            assert (plain / "github" / name / shard).read_bytes() == (small / "github" / name / shard).read_bytes()
    assert not (plain / ".spill").exists() and not (small / ".spill").exists()
    assert not list(scratch.rglob("*"))  # scratch emptied when the pipeline ended
