"""Progress lines while a pipeline runs: counts per source, before the end, from the workers."""

from __future__ import annotations

import re

from mixtures.config import config_from_dict
from pipeline.progress import ProgressReporter, format_line, read_counts
from pipeline.runner import run_sources
from stages import progress as counters

LINE = re.compile(r"^\[progress \d+m\d\ds\] github: read ([\d,]+) \([\d,.]+ MB, [\d,.]+ MB/s\) kept ([\d,]+) "
                  r"dropped ([\d,]+) quarantined ([\d,]+)$")


def _numbers(line: str) -> tuple[int, ...]:
    match = LINE.match(line)
    assert match, line
    return tuple(int(g.replace(",", "")) for g in match.groups())


def test_a_rebuild_prints_progress_lines_with_counts_before_its_summary(tmp_path, corpus, capsys):
    cfg = config_from_dict({"output": str(tmp_path / "out"), "progress": {"interval_seconds": 0.05},
                            "sources": {"github": {"kind": "github", "inputs": [str(corpus / "github")]}}})
    [result] = run_sources(cfg, ["github"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[progress")]
    assert len(lines) >= 2, lines  # reports while running, then the final one
    during = [_numbers(line) for line in lines[:-1]]
    assert any(read > 0 for read, *_ in during)  # counts arrived before the end
    final = _numbers(lines[-1])
    stats = result.stats
    # The last report adds up to the run's own counts.
    assert 0 < final[0] <= stats["documents_in"]
    assert final[1] == stats["documents_out"]
    assert final[2] == sum(stats["dropped"].values())
    reads = [n[0] for n in during] + [final[0]]
    assert reads == sorted(reads)  # counts only grow


def test_counts_sum_worker_files_and_the_line_names_every_source(tmp_path, monkeypatch):
    monkeypatch.setenv(counters.ENV, str(tmp_path))
    counters.reset()
    counters.add("cc", "read", 3, nbytes=2_000_000)
    counters.flush(str(tmp_path))
    (tmp_path / "99999.json").write_text('{"cc": {"read": 2, "kept": 1}, "c4": {"dropped": 4}}')
    (tmp_path / "broken.json").write_text("{not json")
    counts = read_counts(tmp_path)
    assert counts["cc"]["read"] == 5 and counts["cc"]["read_bytes"] == 2_000_000 and counts["c4"]["dropped"] == 4
    line = format_line(counts, ["cc", "c4"], elapsed=4.0)
    assert line.startswith("[progress 0m04s] cc: read 5 (2.0 MB, 0.5 MB/s) kept 1 dropped 0 quarantined 0 | c4: read 0")
    counters.reset()


def test_a_disabled_reporter_prints_nothing(capsys):
    with ProgressReporter(["cc"], 0.01, enabled=False):
        pass
    assert capsys.readouterr().err == ""
