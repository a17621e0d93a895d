"""``pasture plan-cost --tokens 1.4e12``: core-hours, workers and wall time for a token target.

Reads the measured stage rates from ``bench/results.json`` (see ``bench/_results.py``), takes
the stages of each source from its recipe (``pipeline/recipes/<kind>.py``, under the LLaMA
configuration) and prints the cost model of ``mixtures/cost.py`` as Markdown tables. Stages
without a measured rate are listed as missing and the totals say they are a lower bound:
nothing is guessed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mixtures.config import ConfigError, PipelineConfig, QualityConfig, SourceSpec
from mixtures.cost import (
    CostModelError,
    CostPlan,
    MeasuredRetention,
    measured_retention,
    plan,
    rates_from_results,
)
from mixtures.spec import MixtureSpec, load_mixture
from pipeline.recipes import cost_stages, recipe_steps

DEFAULT_BENCH_FILE = Path(__file__).resolve().parents[2] / "bench" / "results.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan-cost",
        help="estimate core-hours and wall time for a token target from measured stage rates",
        description="Turn the per-stage rates measured by bench/ (bench/results.json) and the LLaMA-1 "
        "source sizes (Table 1) into core-hours per stage, total core-hours, a worker count and a "
        "wall time, printed as Markdown.",
    )
    parser.add_argument("--tokens", type=float, help="tokens in the mixture (default: its total, 1.4e12 for LLaMA-1)")
    parser.add_argument("--bench-file", default=str(DEFAULT_BENCH_FILE), help="stage rates (bench/results.json)")
    parser.add_argument("--workers", type=int, default=100, help="cluster size for the wall time (default 100)")
    parser.add_argument("--cores-per-worker", type=int, default=4, help="cores per worker (default 4)")
    parser.add_argument("--target-hours", type=float, default=24.0,
                        help="wall time for the worker-count estimate (default 24)")
    parser.add_argument("--retention", action="append", default=[], metavar="SOURCE=FRACTION",
                        help="fraction of a source's input text that is kept (repeatable); "
                        "unset sources count as 1.0, a lower bound")
    parser.add_argument("--stats", metavar="RUN_DIR",
                        help="a finished run: each source's stats.json gives its retention and the share of "
                        "documents reaching each stage (replaces the assumed 1.00)")
    parser.add_argument("--input-size", action="append", default=[], metavar="SOURCE=SIZE",
                        help="input text to read for a source, e.g. cc=7.62TB (one CC snapshot's WET, cc_net #2); "
                        "repeatable; replaces output / retention")
    parser.add_argument("--input-format", choices=["warc", "wet"], default="warc",
                        help="CC/C4 input: warc (HTML, extraction charged) or wet (text already: no extract stage)")
    parser.add_argument("--markdown-out", help="also write the tables to this file")
    parser.add_argument("--update-readme", metavar="README",
                        help="replace the table between the cost-table markers of this Markdown file")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    rates_path = Path(args.bench_file)
    results = {}
    if rates_path.exists():
        with rates_path.open(encoding="utf-8") as fh:
            results = json.load(fh)
    mixture = load_mixture("llama1")
    try:
        tokens = mixture.total_tokens if args.tokens is None else args.tokens
        measured = read_measured(args.stats, mixture) if args.stats else {}
        skip = {k: ("extract",) for k in ("cc", "c4")} if args.input_format == "wet" else {}
        cost = plan(tokens, rates_from_results(results), recipe_stages(mixture),
                    retention=_parse_retention(args.retention), workers=args.workers,
                    cores_per_worker=args.cores_per_worker, target_hours=args.target_hours, mixture=mixture,
                    measured=measured, input_bytes=_parse_sizes(args.input_size), skip_stages=skip)
    except CostModelError as exc:
        raise ConfigError(str(exc)) from None
    text = to_markdown(cost, rates_path if rates_path.exists() else None, measured, args.stats)
    print(text, end="")
    if args.markdown_out:
        Path(args.markdown_out).write_text(text, encoding="utf-8")
    if args.update_readme:
        update_between_markers(Path(args.update_readme), text)
    return 0


def recipe_stages(mixture: MixtureSpec) -> dict[str, tuple[str, ...]]:
    """The cost stages of each source kind's recipe, as LLaMA runs it.

    The LLaMA configuration: the defaults, plus the quality classifier (off by default
    because its model must be trained first). No inputs are needed to list the steps.
    """
    cfg = PipelineConfig(mixture=mixture.name, quality=QualityConfig(enabled=True),
                         sources=tuple(SourceSpec(kind, kind) for kind in mixture.kinds))
    return {spec.kind: cost_stages(spec.kind, recipe_steps(cfg, spec)) for spec in cfg.sources}


def recipe_step_reasons(mixture: MixtureSpec) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Per kind, its recipe's steps as ``(cost stage, drop reasons)`` in run order."""
    cfg = PipelineConfig(mixture=mixture.name, quality=QualityConfig(enabled=True),
                         sources=tuple(SourceSpec(kind, kind) for kind in mixture.kinds))
    out = {}
    for spec in cfg.sources:
        out[spec.kind] = [(getattr(step, "cost_stage", None) or spec.kind, tuple(getattr(step, "reasons", ()) or ()))
                          for step in recipe_steps(cfg, spec)]
    return out


def read_measured(run_dir: str, mixture: MixtureSpec) -> dict[str, MeasuredRetention]:
    """Retention and stage reach of every source kind of a finished run (``RUN_DIR/<source>/stats.json``).

    Several sources of one kind are pooled (their document counts add up).
    """
    steps = recipe_step_reasons(mixture)
    pooled: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(run_dir).glob("*/stats.json")):
        stats = json.loads(path.read_text(encoding="utf-8"))
        kind = stats.get("kind") or path.parent.name
        if kind not in steps or not stats.get("documents_in"):
            continue
        acc = pooled.setdefault(kind, {"documents_in": 0, "documents_out": 0, "dropped": {}})
        acc["documents_in"] += int(stats["documents_in"])
        acc["documents_out"] += int(stats.get("documents_out") or 0)
        for reason, n in (stats.get("dropped") or {}).items():
            acc["dropped"][reason] = acc["dropped"].get(reason, 0) + int(n)
    if not pooled:
        raise CostModelError(f"--stats {run_dir}: no <source>/stats.json with documents_in")
    return {kind: measured_retention(kind, acc, steps[kind]) for kind, acc in pooled.items()}


_UNITS = {"TB": 1e12, "GB": 1e9, "MB": 1e6, "KB": 1e3, "B": 1.0}


def _parse_sizes(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        kind, _, value = item.partition("=")
        text = value.strip().upper()
        unit = next((u for u in _UNITS if text.endswith(u)), "B")
        try:
            out[kind.strip()] = float(text[: len(text) - len(unit)] if text.endswith(unit) else text) * _UNITS[unit]
        except ValueError:
            raise ConfigError(f"--input-size expects SOURCE=SIZE (e.g. cc=7.62TB), got {item!r}") from None
    return out


def _display_path(path: Path) -> str:
    """Relative to the working directory when inside it, so generated docs carry no machine paths."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parse_retention(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        kind, sep, value = item.partition("=")
        try:
            out[kind.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(f"--retention expects SOURCE=FRACTION, got {item!r}")
    return out


def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def _tokens(n: float) -> str:
    return f"{n / 1e12:,.2f}T" if n >= 1e12 else f"{n / 1e9:,.1f}B"


def _hours(h: float | None) -> str:
    return "—" if h is None else f"{h:,.0f}" if h >= 100 else f"{h:,.1f}"


# One CC snapshot's WET files (2019-09: 7.62 TB, measured by a cc_net user, facebookresearch/cc_net#2),
# and cc_net's own cost per snapshot: its README gives no figure; its execution settings (1600
# mining jobs × 17 CPUs, ≤5 h timeout) put a ceiling of ≈136k core-hours on it
# (../shared/notes/anchors.md §2.1, "Reported cost").
CC_SNAPSHOT_WET_BYTES = 7.62e12
CCNET_CEILING_CORE_HOURS = 1600 * 17 * 5


def snapshot_core_hours(cost: CostPlan, kind: str = "cc", wet_bytes: float = CC_SNAPSHOT_WET_BYTES) -> float | None:
    """Core-hours to run ``kind``'s stages over one snapshot's WET text (no extraction: WET is text).

    Each stage is charged for the share of documents that reaches it (measured), tokenizing
    for the kept share. None when a stage has no rate.
    """
    source = next(s for s in cost.sources if s.kind == kind)
    reach = dict(source.reach)
    hours = 0.0
    for st in cost.stages:
        if kind not in st.sources or st.stage == "extract":
            continue
        if st.core_hours is None:
            return None
        share = source.retention if st.stage == "tokenize" else reach.get(st.stage, 1.0)
        hours += wet_bytes * share / (st.rate.mb_per_s_per_core * 1e6) / 3600.0
    return hours


def to_markdown(cost: CostPlan, rates_path: Path | None, retention_runs: dict[str, MeasuredRetention] | None = None,
                stats_dir: str | None = None) -> str:
    """The plan as Markdown: sources, stages, totals, the cluster estimate and the cc_net comparison."""
    runs = retention_runs or {}
    lines = [f"# Cost plan: {_tokens(cost.total_tokens)} tokens", ""]
    lines.append(f"Rates: `{_display_path(rates_path)}`" if rates_path else "Rates: none (no bench results file found)")
    if runs:
        lines.append("")
        lines.append(f"Retention: measured by the run in `{_display_path(Path(stats_dir))}` (documents kept / "
                     "documents read, per source and per stage)" if stats_dir else "Retention: measured")
    lines += ["", "## Sources (LLaMA-1 Table 1)", "",
              "| source | weight | tokens | epochs | unique tokens | bytes/token | output | retention | input |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in cost.sources:
        m = runs.get(s.kind)
        retention = (f"{s.retention:.3f} ({m.documents_out:,}/{m.documents_in:,} docs)" if m
                     else f"{s.retention:.2f}" if s.retention_known else "1.00 (assumed)")
        lines.append(f"| {s.kind} | {s.weight:.1%} | {_tokens(s.tokens)} | {s.epochs:.2f} | {_tokens(s.unique_tokens)} "
                     f"| {s.bytes_per_token:.2f} | {_bytes(s.output_bytes)} | {retention} | {_bytes(s.input_bytes)} |")
    total = cost.total_core_hours
    lines += ["", "## Stages", "",
              "| stage | sources | text read | rate (MB/s/core) | core-hours | share | measured | command |",
              "|---|---|---:|---:|---:|---:|---|---|"]
    for st in cost.stages:
        hours = st.core_hours
        if hours is None:
            why = st.rate.note if st.rate else "no rate in the bench file"
            lines.append(f"| {st.stage} | {', '.join(st.sources)} | {_bytes(st.input_bytes)} | **missing** ({why}) "
                         f"| — | — | — | — |")
            continue
        share = f"{hours / total:.1%}" if total else "—"
        lines.append(f"| {st.stage} | {', '.join(st.sources)} | {_bytes(st.input_bytes)} "
                     f"| {st.rate.mb_per_s_per_core:,.2f} | {_hours(hours)} | {share} | {st.rate.measured or '—'} "
                     f"| `{st.rate.command or '—'}` |")
    if runs:
        lines += ["", "## Measured reach (share of a source's input documents that reach each stage)", "",
                  "| source | stage: reach |", "|---|---|"]
        for kind, m in runs.items():
            lines.append(f"| {kind} | " + ", ".join(f"{st} {r:.2f}" for st, r in m.reach) + " |")
    bound = "" if cost.complete else " (lower bound)"
    measured = bool(total)
    lines += ["", "## Totals", "",
              "| figure | value |", "|---|---:|",
              f"| total core-hours{bound} | {_hours(total) if measured else '—'} |",
              f"| wall time on {cost.workers} workers × {cost.cores_per_worker} cores{bound} "
              f"| {_hours(cost.wall_hours) + ' h' if measured else '—'} |",
              f"| workers of {cost.cores_per_worker} cores to finish in {cost.target_hours:g} h{bound} "
              f"| {cost.workers_for_target if measured else '—'} |", ""]
    notes = ["Wall time assumes perfect scaling. " + (
        "Each stage is charged for the share of its source's input documents that reach it (measured), "
        "tokenizing for the kept output." if runs else
        "Cleaning and filtering stages are charged for their source's whole input, tokenizing for the kept output.")]
    if not cost.complete:
        notes.append(f"Lower bound: no measured rate for {len(cost.missing_stages)} of {len(cost.stages)} stages "
                     f"({', '.join(cost.missing_stages)}); their bench/ scripts record rates into the bench file.")
    if any(not s.retention_known for s in cost.sources):
        notes.append("Retention 1.00 means input = output size: set --retention SOURCE=FRACTION for real input sizes.")
    if cost.unused_rates:
        notes.append("Rates recorded but used by no source: " + ", ".join(cost.unused_rates) + ".")
    snap = snapshot_core_hours(cost) if "cc" in runs else None
    if snap is not None:
        notes.append(f"One CC snapshot (WET text, {CC_SNAPSHOT_WET_BYTES / 1e12:.2f} TB, cc_net #2) through the CC "
                     f"stages at the measured reach: {_hours(snap)} core-hours. cc_net publishes no cost per "
                     f"snapshot (its README only says the pipeline needs a cluster); its execution settings cap it "
                     f"at {CCNET_CEILING_CORE_HOURS:,} core-hours (1600 jobs × 17 CPUs × ≤5 h, an upper bound, "
                     f"not a measurement): ours is {snap / CCNET_CEILING_CORE_HOURS:.1%} of that ceiling.")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


COST_TABLE_START = "<!-- cost-table:start (generated by `pasture plan-cost --update-readme README.md`) -->"
COST_TABLE_END = "<!-- cost-table:end -->"


def update_between_markers(path: Path, text: str) -> None:
    """Put ``text`` between the cost-table markers of ``path``, so the README is never hand-typed."""
    content = path.read_text(encoding="utf-8")
    start = content.find(COST_TABLE_START.split(" (")[0])
    end = content.find(COST_TABLE_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: no '{COST_TABLE_START}' ... '{COST_TABLE_END}' markers")
    line_end = content.index("\n", start) + 1
    # The plan's own headings sit below the README's section heading.
    demoted = "\n".join("##" + line if line.startswith("#") else line for line in text.rstrip().splitlines())
    path.write_text(content[:line_end] + demoted + "\n" + content[end:], encoding="utf-8")
