"""The cost model's arithmetic, on a small synthetic rates file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from mixtures.cost import CostModelError, plan, plan_sources, rates_from_results
from mixtures.spec import load_mixture
from pipeline.cli import main as cli_main
from pipeline.commands.plan_cost import recipe_stages

REPO = Path(__file__).resolve().parents[2]
LLAMA = load_mixture("llama1")
# A small stage table for the arithmetic (the command takes the real one from the recipes).
STAGES = {
    "cc": ("extract", "lang_id", "perplexity", "minhash", "tokenize"),
    "c4": ("c4_rules", "lang_id", "minhash", "tokenize"),
    "github": ("github", "tokenize"),
    "wikipedia": ("wikipedia", "tokenize"),
    "books": ("books", "minhash", "tokenize"),
    "arxiv": ("arxiv", "tokenize"),
    "stackexchange": ("stackexchange", "tokenize"),
}


def _results_module():
    spec = importlib.util.spec_from_file_location("bench_results", REPO / "bench" / "_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table1_reproduces_published_sizes_and_bytes_per_token():
    sources = {s.kind: s for s in plan_sources(LLAMA.total_tokens)}
    # At 1.4T tokens the model gives back Table 1's disk sizes (it is derived from them).
    for table_row in LLAMA.sources:
        assert sources[table_row.kind].output_bytes == pytest.approx(table_row.disk_bytes)
    # Implied bytes/token and unique tokens of Table 1.
    assert sources["cc"].bytes_per_token == pytest.approx(3.87, abs=0.005)
    assert sources["arxiv"].bytes_per_token == pytest.approx(2.79, abs=0.005)
    assert sources["cc"].tokens == pytest.approx(938e9)
    assert sources["wikipedia"].unique_tokens == pytest.approx(25.7e9, rel=1e-3)
    assert sum(s.weight for s in sources.values()) == pytest.approx(1.0)
    assert LLAMA.total_tokens == 1.4e12


def test_stages_come_from_the_recipes_under_the_llama_configuration():
    stages = recipe_stages(LLAMA)
    assert set(stages) == set(LLAMA.kinds)
    assert stages["cc"] == ("extract", "line_dedup", "lang_id", "perplexity", "quality", "minhash", "tokenize")
    # C4 is read from WARC/WET like CC, so it pays for extraction too.
    # TFDS's order: length and clean rules, URL dedup, line dedup, then language.
    assert stages["c4"][:5] == ("extract", "c4_rules", "c4_url_dedup", "c4_line_dedup", "lang_id")
    assert "minhash" in stages["c4"]
    assert stages["books"] == ("books", "minhash", "tokenize")
    assert all(s[-1] == "tokenize" for s in stages.values())


def test_every_source_needs_its_stages():
    with pytest.raises(CostModelError, match="github"):
        plan(1.4e12, {}, {k: v for k, v in STAGES.items() if k != "github"})


def test_core_hours_per_stage_totals_and_cluster():
    rates = rates_from_results({
        # 1 MB/s/core over CC's 3.3 TB → 3.3e6 s = 916.67 core-hours.
        "extract": {"mb_per_s_per_core": 1.0, "measured": "2026-11-22", "command": "python bench/x.py"},
        # 2000 docs/s × 5000 B = 10 MB/s over CC + C4 (4.083 TB) → 113.4 core-hours.
        "lang_id": {"docs_per_s_per_core": 2000, "text_bytes_per_doc": 5000},
    })
    cost = plan(1.4e12, rates, STAGES, workers=10, cores_per_worker=4, target_hours=10)
    stages = {s.stage: s for s in cost.stages}
    assert stages["extract"].sources == ("cc",)
    assert stages["extract"].core_hours == pytest.approx(3.3e12 / 1e6 / 3600)
    assert stages["lang_id"].sources == ("cc", "c4")
    assert stages["lang_id"].core_hours == pytest.approx((3.3e12 + 783e9) / 10e6 / 3600)
    assert stages["tokenize"].core_hours is None
    assert "tokenize" in cost.missing_stages and "extract" not in cost.missing_stages
    assert not cost.complete
    total = 3.3e12 / 1e6 / 3600 + (3.3e12 + 783e9) / 10e6 / 3600
    assert cost.total_core_hours == pytest.approx(total)
    assert cost.wall_hours == pytest.approx(total / 40)
    assert cost.workers_for_target == 26  # ceil(1030.1 / (10 h × 4 cores))
    assert [s.stage for s in cost.stages][-1] == "tokenize"


def test_tokens_and_retention_scale_the_input():
    rates = rates_from_results({"tokenize": {"mb_per_s_per_core": 5.0}})
    full = plan(1.4e12, rates, STAGES)
    half = plan(0.7e12, rates, STAGES, retention={"cc": 0.1})
    cc_full = next(s for s in full.sources if s.kind == "cc")
    cc_half = next(s for s in half.sources if s.kind == "cc")
    assert cc_half.output_bytes == pytest.approx(cc_full.output_bytes / 2)
    assert cc_half.input_bytes == pytest.approx(cc_full.output_bytes / 2 / 0.1)
    assert cc_half.retention_known and not cc_full.retention_known
    # Tokenizing reads only the kept output, whatever the retention.
    kept_bytes = sum(s.output_bytes for s in half.sources)
    [tok] = [s for s in half.stages if s.stage == "tokenize"]
    assert tok.input_bytes == pytest.approx(kept_bytes)
    assert tok.core_hours == pytest.approx(kept_bytes / 5e6 / 3600)
    [minhash] = [s for s in half.stages if s.stage == "minhash"]
    assert minhash.input_bytes == pytest.approx(sum(s.input_bytes for s in half.sources
                                                    if s.kind in ("cc", "c4", "books")))


def test_rates_file_overrides_sources_and_flags_unusable_entries():
    rates = rates_from_results({
        "custom": {"mb_per_s_per_core": 2.0, "sources": ["github"]},
        "orphan": {"mb_per_s_per_core": 2.0},
        "perplexity": {"docs_per_s_per_core": 3200},  # no doc size: cannot become bytes
    })
    cost = plan(1.4e12, rates, STAGES)
    stages = {s.stage: s for s in cost.stages}
    assert stages["custom"].sources == ("github",)
    assert stages["custom"].core_hours == pytest.approx(328e9 / 2e6 / 3600)
    assert cost.unused_rates == ("orphan",)
    assert stages["perplexity"].core_hours is None
    assert stages["perplexity"].rate.note == "docs/s without text_bytes_per_doc"


@pytest.mark.parametrize("results, message", [
    ({"x": {"mb_per_s_per_core": -1}}, "positive"),
    ({"x": {"mb_per_s_per_core": "fast"}}, "positive"),
    ({"x": [1, 2]}, "mapping"),
    ({"x": {"mb_per_s_per_core": 1, "sources": ["moon"]}}, "unknown kind"),
])
def test_bad_rates_are_rejected_with_the_field(results, message):
    with pytest.raises(CostModelError, match=message):
        plan(1.4e12, rates_from_results(results), STAGES)


def test_record_merges_sorted_and_deterministic(tmp_path):
    results = _results_module()
    path = tmp_path / "results.json"
    results.record("lang_id", path=path, mb_per_s_per_core=8.0, measured="2026-11-22", command="c1", machine="2 cores")
    results.record("extract", path=path, docs_per_s_per_core=90, measured="2026-11-22", command="c2", machine="2 cores")
    results.record("lang_id", path=path, docs_per_s_per_core=4000, measured="2026-11-22", command="c1",
                   machine="2 cores")
    first = path.read_bytes()
    data = json.loads(first)
    assert list(data) == ["extract", "lang_id"]
    assert data["lang_id"] == {"command": "c1", "docs_per_s_per_core": 4000, "machine": "2 cores",
                               "mb_per_s_per_core": 8.0, "measured": "2026-11-22"}
    results.record("lang_id", path=path, docs_per_s_per_core=4000, measured="2026-11-22", command="c1",
                   machine="2 cores")
    assert path.read_bytes() == first
    with pytest.raises(ValueError, match="not finite"):
        results.record("x", path=path, mb_per_s_per_core=float("nan"))


def test_plan_cost_command_prints_and_writes_markdown(tmp_path, capsys):
    bench = tmp_path / "results.json"
    bench.write_text(json.dumps({"extract": {"mb_per_s_per_core": 1.0, "measured": "2026-11-22",
                                             "command": "python bench/bench_extract.py"}}))
    out = tmp_path / "plan.md"
    rc = cli_main(["plan-cost", "--tokens", "1.4e12", "--bench-file", str(bench), "--workers", "10",
                   "--cores-per-worker", "4", "--markdown-out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    # The recipes' stages: C4 is extracted from WARC/WET like CC (3.3 TB + 783 GB at 1 MB/s).
    assert "| extract | cc, c4 | 4.1 TB | 1.00 | 1,134 |" in printed
    assert "| tokenize | cc, c4, github, wikipedia, books, arxiv, stackexchange |" in printed
    assert "**missing** (no rate in the bench file)" in printed
    assert "| total core-hours (lower bound) | 1,134 |" in printed
    assert "| wall time on 10 workers × 4 cores (lower bound) | 28.4 h |" in printed
    stages = set().union(*recipe_stages(LLAMA).values())
    assert f"no measured rate for {len(stages) - 1} of {len(stages)} stages" in printed
    stage_rows = [line.split(" | ")[0][2:] for line in printed.split("## Stages")[1].split("## Totals")[0].splitlines()
                  if line.startswith("| ") and not line.startswith("| stage")]
    assert stage_rows[:2] == ["extract", "line_dedup"] and stage_rows[-1] == "tokenize"


def test_plan_cost_rejects_bad_retention(tmp_path, capsys):
    rc = cli_main(["plan-cost", "--bench-file", str(tmp_path / "none.json"), "--retention", "cc"])
    assert rc == 2
    assert "SOURCE=FRACTION" in capsys.readouterr().err
