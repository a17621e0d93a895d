"""A run manifest that resume trusts (issue 17.1).

Kill-and-resume on the GitHub sample (every third file of samples/github): a killed run is simulated by
running with one setting and then deleting ``stats.json`` (and a shard, leaving a temporary
file), and the run is resumed with another config, other inputs or another ``num_shards``.
The resumed folder must equal, byte for byte, a clean run with the new settings. Runs share
one output path (the reference is moved aside) because stats.json records the config.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from mixtures.config import ConfigError, config_from_dict
from pipeline import run_manifest
from pipeline.cli import main as cli_main
from pipeline.run_manifest import IncompleteRunError, require_complete_run
from pipeline.runner import group_manifests, run_sources

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "github" / "github_sample.jsonl.gz"


def _config(inputs: Path, out: Path, **overrides) -> dict:
    cfg = {"output": str(out), "shards": {"num_shards": 3},
           "sources": {"github": {"kind": "github", "inputs": [str(inputs)]}}}
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def _run(cfg: dict, resume: bool = False):
    [result] = run_sources(config_from_dict(cfg), ["github"], resume=resume)
    return result


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "timing.json"}


def _assert_same_tree(reference: Path, out: Path) -> None:
    a, b = _tree(reference), _tree(out)
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []


def _clean_reference(cfg: dict, out: Path, tmp_path: Path) -> Path:
    _run(cfg)
    reference = tmp_path / "reference"
    out.rename(reference)
    return reference


def _kill(out: Path) -> None:
    """What a SIGKILL after some shards leaves: no stats.json, one shard missing, a temporary file."""
    source = out / "github"
    (source / "stats.json").unlink()
    (source / "_counts.json").unlink()
    (source / "docs" / "part-00001-of-00003.jsonl.gz").rename(source / "docs" / "part-00001-of-00003.jsonl.gz.tmp-0")


@pytest.fixture(autouse=True)
def fixed_revision(monkeypatch):
    """The checkout's HEAD may move while the tests run (others commit); the code version must not."""
    from pipeline import run_manifest, runner

    monkeypatch.setattr(run_manifest, "git_revision", lambda: "0" * 40)
    monkeypatch.setattr(runner, "git_revision", lambda: "0" * 40)


@pytest.fixture
def inputs(tmp_path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    # Every third file of the sample (241 of 723, of every license) runs fast.
    lines = gzip.decompress(SAMPLE.read_bytes()).splitlines(keepends=True)[::3]
    (folder / SAMPLE.name).write_bytes(gzip.compress(b"".join(lines), mtime=0))
    return folder


def _licenses(out: Path) -> set[str]:
    found = set()
    for shard in (out / "github" / "docs").glob("part-*"):
        for line in gzip.decompress(shard.read_bytes()).decode().splitlines():
            found.add(json.loads(line)["meta"].get("license"))
    return found


def test_killed_run_resumed_with_another_config_equals_a_clean_run(tmp_path, inputs, caplog):
    out = tmp_path / "run"
    mit_only = _config(inputs, out, github={"licenses": ["mit"]})
    reference = _clean_reference(mit_only, out, tmp_path)
    assert _licenses(reference) == {"mit"}

    _run(_config(inputs, out))  # every permissive license
    _kill(out)
    with caplog.at_level(logging.INFO, logger="pasture"):
        resumed = _run(mit_only, resume=True)
    assert "github: not reusing earlier outputs (changed since the earlier run: config); 9 file(s) removed" \
        in caplog.text
    assert _licenses(out) == {"mit"}
    assert resumed.stats["documents_out"] == json.loads((reference / "github/stats.json").read_text())["documents_out"]
    _assert_same_tree(reference, out)


def test_finished_source_is_rerun_when_its_inputs_change(tmp_path, inputs, caplog):
    out = tmp_path / "run"
    cfg = _config(inputs, out)
    _run(cfg)
    # The same export, republished without its last 100 files (same path, new content).
    lines = gzip.decompress((inputs / SAMPLE.name).read_bytes()).splitlines(keepends=True)
    (inputs / SAMPLE.name).write_bytes(gzip.compress(b"".join(lines[:-100]), mtime=0))
    with caplog.at_level(logging.INFO, logger="pasture"):
        resumed = _run(cfg, resume=True)
    assert "changed since the earlier run: inputs)" in caplog.text
    assert resumed.stats["documents_in"] == len(lines) - 100
    out.rename(tmp_path / "resumed")
    _run(cfg)
    _assert_same_tree(out, tmp_path / "resumed")


def test_num_shards_change_leaves_no_shard_of_the_old_layout(tmp_path, inputs):
    out = tmp_path / "run"
    two = _config(inputs, out, shards={"num_shards": 2})
    reference = _clean_reference(two, out, tmp_path)
    _run(_config(inputs, out))  # three shards
    _kill(out)
    _run(two, resume=True)
    _assert_same_tree(reference, out)
    # Without --resume too: the two-shard outputs of a finished run are removed first.
    _run(_config(inputs, out))
    assert sorted(p.name for p in (out / "github" / "docs").iterdir()) == [
        "part-00000-of-00003.jsonl.gz", "part-00001-of-00003.jsonl.gz", "part-00002-of-00003.jsonl.gz"]


def test_reuse_continue_refusal_and_a_failed_check(tmp_path, inputs, caplog, capsys, monkeypatch):
    out = tmp_path / "run"
    cfg = _config(inputs, out)
    first = _run(cfg)
    before = _tree(out)
    require_complete_run(str(out))  # a finished run passes
    with caplog.at_level(logging.INFO, logger="pasture"):
        again = _run(cfg, resume=True)
    assert "github: reusing finished outputs (--resume): inputs, config and code unchanged" in caplog.text
    assert again.stats == first.stats and _tree(out) == before
    monkeypatch.setattr(run_manifest, "git_revision", lambda: "1" * 40)  # a new commit
    assert run_manifest.decide(str(out / "github"), group_manifests(config_from_dict(cfg), ["github"])["github"],
                               resume=True).why == "changed since the earlier run: code"
    monkeypatch.setattr(run_manifest, "git_revision", lambda: "0" * 40)

    # A rerun that fails its up-front model check removes nothing.
    cc = {**cfg, "sources": {**cfg["sources"], "cc": {"kind": "cc", "inputs": [str(SAMPLE.parents[1] / "cc")]}},
          "perplexity": {"enabled": True, "model_dir": str(tmp_path / "no-models")}}
    with pytest.raises(ConfigError):
        run_sources(config_from_dict(cc), ["github", "cc"], resume=True)
    assert _tree(out) == before

    # Stats of another run, or shards stats does not list, are refused downstream.
    stats_file = out / "github" / "stats.json"
    stats_file.write_text(json.dumps({**first.stats, "fingerprint": "0" * 64}))
    with pytest.raises(IncompleteRunError, match="stats.json does not match the run manifest"):
        require_complete_run(str(out))
    stats_file.write_bytes(before["github/stats.json"])
    (out / "github" / "docs" / "part-00007-of-00008.jsonl.gz").write_bytes(b"")
    with pytest.raises(IncompleteRunError, match="docs/ holds 4 shard\\(s\\) but stats.json lists 3"):
        require_complete_run(str(out))
    (out / "github" / "docs" / "part-00007-of-00008.jsonl.gz").unlink()

    # A killed run: every downstream verb refuses it in one line.
    _kill(out)
    message = (f"{out / 'github'}: incomplete run (2 document shard(s), no stats.json): "
               "finish it with `pasture run --resume` first")
    capsys.readouterr()
    for argv in (["tokenizer", "encode", "--run", str(out), "--model", str(tmp_path / "t.model")],
                 ["tokenizer", "train", "--input", str(out), "--output", str(tmp_path / "t")],
                 ["tokenizer", "train", "--input", str(out / "github" / "docs"), "--output", str(tmp_path / "t")],
                 ["export", "--run", str(out), "--tokens", "1000", "--output", str(tmp_path / "export")],
                 ["mixture", "plan", "--run", str(out)],
                 ["report", str(out)]):
        assert cli_main(argv) == 2, argv
        assert capsys.readouterr().err.strip() == f"pasture: error: {message}", argv

    # Resumed with the same config, it keeps its finished shards and ends like the clean run.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pasture"):
        _run(cfg, resume=True)
    assert "github: continuing a killed run (--resume): keeping 6 finished shard(s)" in caplog.text
    assert _tree(out) == before
