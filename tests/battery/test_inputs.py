"""Bad-input battery, input specs: a missing path fails before any work starts (case 18)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mixtures.config import ConfigError, config_from_dict
from pipeline import cli, runner
from tests.battery.harness import changed_outside, snapshot


def _setup(tmp_path: Path, corpus: Path) -> tuple[Path, Path]:
    good = tmp_path / "in" / "peter-pan.txt"
    good.parent.mkdir()
    shutil.copyfile(corpus / "books" / "16-0-peter-pan.txt", good)
    return good, tmp_path / "in" / "no-such-dump.xml.bz2"


def test_missing_input_raises_config_error_before_any_output(tmp_path, corpus):
    good, missing = _setup(tmp_path, corpus)
    out = tmp_path / "out"
    cfg = config_from_dict({"output": str(out), "sources": {
        "books": {"kind": "books", "inputs": [str(good)]},
        "wikipedia": {"kind": "wikipedia", "inputs": [str(missing)]},
    }})
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as raised:
        runner.run_sources(cfg, ["books", "wikipedia"])
    assert str(raised.value) == f"wikipedia: input not found: {missing}"
    # Not even the good source started: no output folder at all, nothing else touched.
    assert not out.exists()
    assert changed_outside(before, snapshot(tmp_path), out) == []


def test_cli_rebuild_with_a_missing_input_exits_2_naming_the_path(tmp_path, corpus, capsys):
    _, missing = _setup(tmp_path, corpus)
    out = tmp_path / "out"
    code = cli.main(["rebuild", "wikipedia", "--input", str(missing), "--output", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"pasture: error: wikipedia: input not found: {missing}" in err
    assert not out.exists()


def test_cli_run_with_one_missing_source_starts_no_source(tmp_path, corpus, capsys):
    good, _ = _setup(tmp_path, corpus)
    out = tmp_path / "out"
    pattern = tmp_path / "in" / "*.warc.gz"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"output": str(out), "sources": {
        "books": {"kind": "books", "inputs": [str(good)]},
        "cc": {"kind": "cc", "inputs": [str(pattern)]},
    }}))
    code = cli.main(["run", "--config", str(config)])
    assert code == 2
    assert f"pasture: error: cc: input matched no files: {pattern}" in capsys.readouterr().err
    assert not out.exists()
