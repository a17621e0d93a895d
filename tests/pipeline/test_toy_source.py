"""Adding a source is one folder, one recipe and one config class (tests/toy_source)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import yaml

from mixtures.config import ConfigError, config_from_dict, known_kinds, resolved
from pipeline.cli import main as cli_main
from pipeline.recipes import cost_stages, recipe_steps


def _docs(folder: Path) -> list[dict]:
    return [json.loads(line) for shard in sorted(folder.glob("part-*.jsonl.gz"))
            for line in gzip.decompress(shard.read_bytes()).decode().splitlines()]


def test_a_toy_source_runs_through_the_cli_with_its_own_settings(tmp_path, toy_source):
    assert toy_source in known_kinds()
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_bytes(b"a line long enough\nshort\n" + b"caf\xe9 is not utf-8\n")
    (inputs / "ignored.csv").write_text("not read: folders give the kind's suffixes only\n")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"lines": {"min_chars": 8}, "minhash": {"enabled": False},
                                      "quarantine": {"max_step_share": 0.5}}))
    out = tmp_path / "out"
    assert cli_main(["rebuild", "lines", "--input", str(inputs), "--output", str(out), "--config", str(config)]) == 0
    stats = json.loads((out / "lines" / "stats.json").read_text())
    assert (stats["documents_in"], stats["documents_out"], stats["quarantined"]) == (3, 1, 1)
    assert stats["dropped"] == {"short_line": 1}
    assert stats["config"]["lines"] == {"min_chars": 8}
    assert stats["steps"] == ["read", "lines_filter_v1"]
    assert [d["text"] for d in _docs(out / "lines" / "docs")] == ["a line long enough"]
    quarantined = _docs(out / "lines" / "quarantine")
    assert [(q["stage"], q["error"]) for q in quarantined] == [("lines_filter", "BadRecord: line is not UTF-8")]


def test_the_toy_kind_has_a_settings_key_a_recipe_and_a_cost_row(toy_source):
    cfg = config_from_dict({"lines": {"min_chars": 3}, "sources": {"t": {"kind": "lines"}}})
    assert cfg.settings("lines").min_chars == 3
    assert resolved(cfg)["lines"] == {"min_chars": 3}
    steps = recipe_steps(cfg, cfg.source("t"))
    assert [getattr(s, "name", None) or s.label for s in steps] == ["read", "lines_filter", "Near dedup"]
    assert cost_stages("lines", steps) == ("lines", "minhash", "tokenize")
    with pytest.raises(ConfigError, match="lines.min_chars"):
        config_from_dict({"lines": {"min_chars": -1}})


def test_without_the_folder_the_kind_is_unknown():
    assert "lines" not in known_kinds()
    with pytest.raises(ConfigError, match="kind must be one of"):
        config_from_dict({"sources": {"t": {"kind": "lines"}}})


def _rebuild_lines(tmp_path: Path, settings: dict) -> int:
    inputs = tmp_path / "in"
    inputs.mkdir(exist_ok=True)
    (inputs / "a.txt").write_bytes(b"first line of text\nsecond line of text\ncaf\xe9 is not utf-8\n")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"minhash": {"enabled": False}, **settings}))
    return cli_main(["rebuild", "lines", "--input", str(inputs), "--output", str(tmp_path / "out"),
                     "--config", str(config)])


def test_a_step_that_raises_an_undeclared_error_fails_the_run_naming_the_step(tmp_path, toy_source, monkeypatch,
                                                                             capsys):
    from filters.sources.lines import rules

    def broken(self, doc):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(rules.LinesFilter, "__call__", broken)
    # A bug, not a user error: exit 1 and one line naming the step and the document (-v: traceback).
    assert _rebuild_lines(tmp_path, {"quarantine": {"max_step_share": 1.0}}) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert re.search(r"internal error: StepFailed: step lines_filter failed on document lines/\w+ .*TypeError", err[0])
    assert not (tmp_path / "out" / "lines" / "stats.json").exists()
    with pytest.raises(Exception, match=r"step lines_filter failed on document lines/\w+ .*TypeError"):
        cli_main(["-v", "rebuild", "lines", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                  "--config", str(tmp_path / "run.yaml")])


def test_a_quarantine_share_above_the_limit_fails_the_run_with_sample_errors(tmp_path, toy_source, capsys):
    # One of three lines is not UTF-8: 33% quarantined by lines_filter, above the default 1%.
    assert _rebuild_lines(tmp_path, {}) == 1
    err = capsys.readouterr().err
    assert re.search(r"step lines_filter quarantined 1 of 3 records \(33\.3%\)", err)
    assert "a.txt record 2: BadRecord: line is not UTF-8" in err
    assert not (tmp_path / "out" / "lines" / "stats.json").exists()


def test_under_the_limit_the_bad_record_is_quarantined_and_the_run_succeeds(tmp_path, toy_source):
    assert _rebuild_lines(tmp_path, {"quarantine": {"max_step_share": 0.5}}) == 0
    stats = json.loads((tmp_path / "out" / "lines" / "stats.json").read_text())
    assert stats["quarantined_by_step"] == {"lines_filter": 1}
    assert stats["seen_by_step"] == {"lines_filter": 3}
    assert stats["documents_out"] == 2
