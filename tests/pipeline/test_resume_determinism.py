"""Resume after a kill, and determinism across runs and worker counts (issue: nothing lost).

Every output file (documents, dropped, quarantine, stats.json) must be byte-identical:
- between two runs of the same config;
- between 1 and 2 local workers;
- between an uninterrupted run and a run SIGKILLed part-way and resumed with --resume.
Runs use the same output path (moved aside in between) because stats.json records the config.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from mixtures.config import config_from_dict
from pipeline.runner import run_sources


def _tree(root: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "timing.json" and ".tmp" not in path.name:
            files[str(path.relative_to(root))] = path.read_bytes()
    return files


def _config(corpus: Path, output: Path, sources: list[str]) -> dict:
    inputs = {
        "github": {"kind": "github", "inputs": [str(corpus / "github")]},
        "books": {"kind": "books", "inputs": [str(corpus / "books")]},
        "arxiv": {"kind": "arxiv", "inputs": [str(corpus / "arxiv")]},
        "stackexchange": {"kind": "stackexchange", "inputs": [str(corpus / "stackexchange")]},
        "cc": {"kind": "cc", "inputs": [str(corpus / "cc" / "dolma-sample-0000.warc.gz"),
                                        str(corpus / "cc" / "resiliparse-CC-MAIN-2020-34-sample.warc.gz"),
                                        str(corpus / "cc" / "whirlwind.warc.wet.gz")]},
    }
    return {
        "output": str(output),
        "sources": {name: inputs[name] for name in sources},
        "perplexity": {"enabled": False},
        "shards": {"num_shards": 3},
    }


def _assert_same_tree(a: Path, b: Path) -> None:
    tree_a, tree_b = _tree(a), _tree(b)
    assert sorted(tree_a) == sorted(tree_b)
    different = [name for name in tree_a if tree_a[name] != tree_b[name]]
    assert not different, f"files differ: {different}"


def test_two_runs_and_two_workers_are_byte_identical(tmp_path, corpus):
    out = tmp_path / "run"
    cfg = config_from_dict(_config(corpus, out, ["cc", "github"]))
    run_sources(cfg, ["cc", "github"])
    first = tmp_path / "first"
    out.rename(first)

    run_sources(cfg, ["cc", "github"])
    _assert_same_tree(first, out)
    shutil.rmtree(out)

    run_sources(cfg, ["cc", "github"], ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    _assert_same_tree(first, out)


def _pasture(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


def test_killed_run_resumes_to_identical_output(tmp_path, corpus):
    sources = ["github", "books", "arxiv", "stackexchange"]
    out = tmp_path / "run"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(_config(corpus, out, sources)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    subprocess.run(_pasture("run", "--config", str(config_file)), check=True, env=env, capture_output=True)
    reference = tmp_path / "reference"
    out.rename(reference)

    proc = subprocess.Popen(_pasture("run", "--config", str(config_file)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    first_done = out / sources[0] / "stats.json"
    while not first_done.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; the test needs a slower input"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / sources[-1] / "stats.json").exists()

    resumed = subprocess.run(_pasture("run", "--config", str(config_file), "--resume"), env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "skipped (--resume)" in resumed.stderr
    _assert_same_tree(reference, out)
