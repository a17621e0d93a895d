"""``pasture report RUN_DIR``: one self-contained HTML page about a finished run.

Sections: per-source summary, the stage funnel (documents in and out of every step),
mixture (documents, bytes and tokens per source against the mixture target), drop reasons
per stage, document lengths before and after filtering, language distribution and
language-ID scores, perplexity histogram with the bucket cutoffs, quality-classifier scores
with the threshold, near-duplicate cluster sizes, a fixed sample of kept and dropped
documents per reason, quarantine records, timings, the export's epochs and warnings, and
the run config. Plots are drawn with matplotlib's Agg canvas
and embedded as base64 PNG data URIs, so the page is one file with no external requests.
A section without data says so instead of showing an empty plot.

The figures come from ``pipeline.report_data``, which streams the shards.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from pipeline.report_data import (
    LENGTH_BINS_PER_DECADE,
    LID_BINS,
    QUALITY_BINS,
    QUARANTINE_SHOWN,
    SourceFigures,
    load_cutoffs,
    mixture_weights,
    read_export,
    read_run,
)

NO_DATA = "no data in this run"
TOP_LANGUAGES = 15
PERPLEXITY_LANGUAGES = 4  # one histogram per language, the most frequent ones
DROP_ROWS = 12  # bars per source in the drop-reason plot
COLORS = {"kept": "#3a7d44", "dropped": "#c0504d", "target": "#4f6d9a"}
SECTIONS = ("Sources", "Stage funnel", "Mixture", "Drop reasons per stage", "Document lengths",
            "Language distribution", "Language ID scores", "Perplexity", "Quality classifier",
            "Near-duplicate clusters", "Sample documents", "Quarantine", "Timings", "Export", "Run config")


# ---------------------------------------------------------------------------------------
# Plots: each returns PNG bytes, or None when there is nothing to draw.


def _png(fig: Any) -> bytes:
    for ax in fig.axes:  # document counts are whole numbers
        if ax.get_yscale() == "linear" and ax.get_ylabel() in ("documents", "duplicates removed"):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    buffer = io.BytesIO()
    # No "Software"/date metadata, so the same run gives the same bytes.
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # Agg canvas by default; no pyplot global state

    # constrained layout keeps stacked panels' titles and tick labels from overlapping
    return Figure(figsize=(width, height), layout="constrained")


def plot_mixture(figs: list[SourceFigures], weights: dict[str, float]) -> bytes | None:
    """Share per source kind of kept documents, kept bytes, tokens and the target weight."""
    kinds = sorted({f.kind for f in figs}, key=lambda k: (-weights.get(k, 0.0), k))
    if not kinds or not any(f.kept_docs or f.stats.get("documents_out") for f in figs):
        return None
    series: dict[str, dict[str, float]] = {"documents": Counter(), "bytes": Counter(), "tokens": Counter()}
    for f in figs:
        series["documents"][f.kind] += f.stats.get("documents_out") or f.kept_docs
        series["bytes"][f.kind] += f.kept_bytes
        if f.tokens is not None:
            series["tokens"][f.kind] += f.tokens
    present = sum(weights.get(k, 0.0) for k in kinds)
    bars = {"target (renormalised)": {k: weights.get(k, 0.0) / present if present else 0.0 for k in kinds}}
    for label, values in series.items():
        total = sum(values.values())
        if total:
            bars[label] = {k: values.get(k, 0) / total for k in kinds}
    fig = _figure(max(6.0, 1.2 * len(kinds) + 3), 3.6)
    ax = fig.add_subplot()
    width = 0.8 / len(bars)
    palette = [COLORS["target"], "#8064a2", "#4bacc6", "#f79646"]
    for i, (label, values) in enumerate(bars.items()):
        xs = [j + (i - (len(bars) - 1) / 2) * width for j in range(len(kinds))]
        ax.bar(xs, [100 * values[k] for k in kinds], width, label=label, color=palette[i % len(palette)])
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set_ylabel("share of run (%)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def plot_drops(figs: list[SourceFigures]) -> bytes | None:
    """Dropped documents by stage and reason, one panel per source."""
    with_drops = [f for f in figs if f.drops]
    if not with_drops:
        return None
    rows = [min(len(f.drops), DROP_ROWS) for f in with_drops]
    fig = _figure(8.0, 0.9 + 0.32 * sum(rows) + 0.9 * len(rows))
    axes = fig.subplots(len(with_drops), 1, squeeze=False, gridspec_kw={"height_ratios": rows})[:, 0]
    for ax, f in zip(axes, with_drops):
        top = sorted(f.drops.items(), key=lambda kv: (-kv[1], kv[0]))[:DROP_ROWS]
        labels = [f"{stage}: {reason}" for (stage, reason), _ in top][::-1]
        ax.barh(labels, [n for _, n in top][::-1], color=COLORS["dropped"])
        ax.set_title(f"{f.name} ({sum(f.drops.values()):,} dropped)", fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("documents")
    return _png(fig)


def plot_languages(figs: list[SourceFigures]) -> bytes | None:
    """Kept and dropped documents per language, one panel per source with language data."""
    with_lang = [f for f in figs if f.lang_kept or f.lang_dropped]
    if not with_lang:
        return None
    fig = _figure(8.0, 2.8 * len(with_lang) + 0.4)
    axes = fig.subplots(len(with_lang), 1, squeeze=False)[:, 0]
    for ax, f in zip(axes, with_lang):
        both = f.lang_kept + f.lang_dropped
        langs = [lang for lang, _ in sorted(both.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_LANGUAGES]]
        kept = [f.lang_kept.get(lang, 0) for lang in langs]
        dropped = [f.lang_dropped.get(lang, 0) for lang in langs]
        ax.bar(langs, kept, color=COLORS["kept"], label="kept")
        if any(dropped):
            ax.bar(langs, dropped, bottom=kept, color=COLORS["dropped"], label="dropped")
        other = len(both) - len(langs)
        ax.set_title(f"{f.name}" + (f" (+{other} more languages)" if other > 0 else ""), fontsize=9, loc="left")
        ax.set_ylabel("documents")
        ax.legend(fontsize=8)
        ax.tick_params(labelsize=8)
    return _png(fig)


def plot_perplexity(figs: list[SourceFigures], roots: list[Path]) -> tuple[bytes | None, list[str]]:
    """Histograms of sampled perplexities (kept vs dropped) for the most frequent languages, with cutoffs."""
    import numpy as np

    merged: dict[tuple[str, str], list[float]] = {}
    seen: Counter = Counter()
    model_dir = ""
    ppl_cfg: dict[str, Any] = {}
    for f in figs:
        if not model_dir and (f.config.get("perplexity") or {}).get("model_dir"):
            ppl_cfg = f.config["perplexity"]
            model_dir = str(ppl_cfg["model_dir"])
        for (lang, status), reservoir in f.perplexity.items():
            merged.setdefault((lang, status), []).extend(reservoir.values)
            seen[lang] += reservoir.seen
    if not merged:
        return None, []
    langs = [lang for lang, _ in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))[:PERPLEXITY_LANGUAGES]]
    notes = []
    fig = _figure(8.0, 2.6 * len(langs) + 0.4)
    axes = fig.subplots(len(langs), 1, squeeze=False)[:, 0]
    for ax, lang in zip(axes, langs):
        groups = [(status, np.asarray(merged.get((lang, status), []))) for status in ("kept", "dropped")]
        groups = [(status, values) for status, values in groups if len(values)]
        low = min(values.min() for _, values in groups)
        high = max(values.max() for _, values in groups)
        bins = np.logspace(np.log10(low), np.log10(high * 1.0001 + 1e-9), 40)
        ax.hist([values for _, values in groups], bins=bins, stacked=True, label=[s for s, _ in groups],
                color=[COLORS[s] for s, _ in groups])
        ax.set_xscale("log")
        cutoffs = load_cutoffs(model_dir, lang, roots, int(ppl_cfg.get("percentile_head", 30)),
                               int(ppl_cfg.get("percentile_tail", 60))) if model_dir else {}
        for name, value in sorted(cutoffs.items(), key=lambda kv: kv[1]):
            ax.axvline(value, color="black", linestyle="--", linewidth=1)
            ax.text(value, 0.97, f" {name} = {value:g}", transform=ax.get_xaxis_transform(), fontsize=8,
                    ha="left", va="top")
        if not cutoffs:
            notes.append(f"{lang}: no cutoffs file found ({model_dir or 'no perplexity.model_dir'}/"
                         f"{lang}.cutoffs.json)")
        sampled = sum(len(values) for _, values in groups)
        suffix = "" if sampled == seen[lang] else f", {sampled:,} sampled"
        ax.set_title(f"{lang}: {seen[lang]:,} documents{suffix}", fontsize=9, loc="left")
        ax.set_ylabel("documents")
        ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("perplexity (log scale)")
    return _png(fig), notes


def plot_quality(figs: list[SourceFigures], threshold: float | None) -> bytes | None:
    """Histogram of the Wikipedia-reference classifier's probability, kept vs dropped."""
    kept = [sum(f.quality_kept[i] for f in figs) for i in range(QUALITY_BINS)]
    dropped = [sum(f.quality_dropped[i] for f in figs) for i in range(QUALITY_BINS)]
    if not any(kept) and not any(dropped):
        return None
    fig = _figure(8.0, 3.2)
    ax = fig.add_subplot()
    edges = [i / QUALITY_BINS for i in range(QUALITY_BINS)]
    ax.bar(edges, kept, width=1 / QUALITY_BINS, align="edge", color=COLORS["kept"], label="kept")
    ax.bar(edges, dropped, width=1 / QUALITY_BINS, align="edge", bottom=kept, color=COLORS["dropped"],
           label="dropped")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("wiki_prob")
    ax.set_ylabel("documents")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_clusters(figs: list[SourceFigures]) -> bytes | None:
    """Duplicates removed, by the size of the near-duplicate cluster they belonged to."""
    sizes: Counter = Counter()
    for f in figs:
        sizes.update(f.cluster_sizes)
    if not sizes:
        return None
    fig = _figure(8.0, 3.2)
    ax = fig.add_subplot()
    xs = sorted(sizes)
    ax.bar([str(x) for x in xs], [sizes[x] for x in xs], color="#8064a2")
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("duplicates removed")
    if max(sizes.values()) > 50 * max(1, min(sizes.values())):
        ax.set_yscale("log")
    ax.tick_params(axis="x", labelsize=8, rotation=90 if len(xs) > 20 else 0)
    return _png(fig)


def funnel_rows(f: SourceFigures) -> list[dict[str, Any]]:
    """One row per step, in recipe order: documents in, out, dropped and quarantined there.

    ``stats.json``'s ``funnel`` (per-step counts made in the pipeline) is used when present;
    older runs are reconstructed from ``steps``, ``seen_by_step`` and the dropped shards.
    """
    funnel = f.stats.get("funnel")
    if isinstance(funnel, list) and funnel:
        return [row for row in funnel if isinstance(row, dict)]
    seen = f.stats.get("seen_by_step")
    steps = f.stats.get("steps")
    if not isinstance(seen, dict) or not isinstance(steps, list) or not seen:
        return []
    quarantined = f.stats.get("quarantined_by_step") if isinstance(f.stats.get("quarantined_by_step"), dict) else {}
    dropped_by_stage: Counter = Counter()
    for (stage, _), n in f.drops.items():
        dropped_by_stage[stage] += n
    rows = []
    for step in steps:
        name = str(step)
        base = name.rsplit("_v", 1)[0] if name.rsplit("_v", 1)[-1].isdigit() else name
        key = name if name in seen else base if base in seen else None
        if key is None:
            continue
        rows.append({"step": name, "in": int(seen[key]), "dropped": dropped_by_stage.get(base, 0),
                     "quarantined": int(quarantined.get(key, 0) or 0)})
    for i, row in enumerate(rows):
        nxt = rows[i + 1]["in"] if i + 1 < len(rows) else f.stats.get("documents_out")
        row["out"] = nxt if isinstance(nxt, int) else None
    return rows


def _dropped_total(row: dict[str, Any]) -> int:
    dropped = row.get("dropped")
    return sum(dropped.values()) if isinstance(dropped, dict) else int(dropped or 0)


def plot_funnel(figs: list[SourceFigures]) -> bytes | None:
    """Documents entering each step of each source's recipe, with what the step removed."""
    panels = [(f, funnel_rows(f)) for f in figs]
    panels = [(f, rows) for f, rows in panels if rows]
    if not panels:
        return None
    heights = [len(rows) for _, rows in panels]
    fig = _figure(8.0, 0.8 + 0.34 * sum(heights) + 0.8 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (f, rows) in zip(axes, panels):
        labels = [str(r.get("step")) for r in rows][::-1]
        entering = [int(r.get("in") or 0) for r in rows][::-1]
        removed = [_dropped_total(r) + int(r.get("quarantined") or 0) for r in rows][::-1]
        ax.barh(labels, [max(n - d, 0) for n, d in zip(entering, removed)], color=COLORS["kept"], label="passed on")
        ax.barh(labels, removed, left=[max(n - d, 0) for n, d in zip(entering, removed)], color=COLORS["dropped"],
                label="dropped or quarantined")
        ax.set_title(f"{f.name}: {rows[0].get('in', 0):,} in, {f.stats.get('documents_out', '?')} out",
                     fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    axes[-1].set_xlabel("documents")
    return _png(fig)


def plot_lengths(figs: list[SourceFigures]) -> bytes | None:
    """Document length (characters, log scale) before the filters (kept + dropped) and after (kept)."""
    panels = [f for f in figs if any(f.length_kept) or any(f.length_dropped)]
    if not panels:
        return None
    fig = _figure(8.0, 2.4 * len(panels) + 0.4)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, f in zip(axes, panels):
        edges = [10 ** (i / LENGTH_BINS_PER_DECADE) for i in range(len(f.length_kept) + 1)]
        widths = [b - a for a, b in zip(edges, edges[1:])]
        before = [k + d for k, d in zip(f.length_kept, f.length_dropped)]
        ax.bar(edges[:-1], before, width=widths, align="edge", color="#bbbbbb", label="before (kept + dropped)")
        ax.bar(edges[:-1], f.length_kept, width=widths, align="edge", color=COLORS["kept"], alpha=0.9,
               label="after (kept)")
        used = [i for i, n in enumerate(before) if n]
        ax.set_xscale("log")
        ax.set_xlim(edges[used[0]], edges[used[-1] + 1])
        ax.set_title(f.name, fontsize=9, loc="left")
        ax.set_ylabel("documents")
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("characters per document (log scale)")
    return _png(fig)


def plot_lid(figs: list[SourceFigures]) -> bytes | None:
    """Language-ID confidence of the top language, kept vs dropped, per source that runs LID."""
    panels = [f for f in figs if any(f.lid_kept) or any(f.lid_dropped)]
    if not panels:
        return None
    fig = _figure(8.0, 2.4 * len(panels) + 0.4)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    edges = [i / LID_BINS for i in range(LID_BINS)]
    for ax, f in zip(axes, panels):
        ax.bar(edges, f.lid_kept, width=1 / LID_BINS, align="edge", color=COLORS["kept"], label="kept")
        ax.bar(edges, f.lid_dropped, width=1 / LID_BINS, align="edge", bottom=f.lid_kept, color=COLORS["dropped"],
               label="dropped")
        threshold = (f.config.get("lang_id") or {}).get("threshold") if isinstance(f.config.get("lang_id"),
                                                                                    dict) else None
        if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
            ax.axvline(float(threshold), color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        ax.set_xlim(0, 1)
        ax.set_title(f.name, fontsize=9, loc="left")
        ax.set_ylabel("documents")
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("lang_score (fastText probability of the top language)")
    return _png(fig)


# ---------------------------------------------------------------------------------------
# HTML


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{_e(anchor)}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _plot_or_empty(png: bytes | None, alt: str, caption: str = "") -> str:
    if png is None:
        return f'<p class="empty">{NO_DATA}</p>'
    note = f"<p class=\"caption\">{caption}</p>" if caption else ""
    return f"{_img(png, alt)}{note}"


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] | None = None, css_class: str = "") -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "\n".join(
        "<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{_e(c)}</td>' for i, c in enumerate(row))
        + "</tr>" for row in rows)
    opening = f'<table class="{_e(css_class)}">' if css_class else "<table>"
    return f"{opening}<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _sources_section(figs: list[SourceFigures]) -> str:
    rows = []
    for f in figs:
        s = f.stats
        n_in, n_out = s.get("documents_in"), s.get("documents_out")
        kept = f"{100 * n_out / n_in:.1f}%" if isinstance(n_in, int) and isinstance(n_out, int) and n_in else "—"
        dropped = s.get("dropped") if isinstance(s.get("dropped"), dict) else {}
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))) or "—"
        rows.append([f.name, f.kind, n_in if n_in is not None else "—", n_out if n_out is not None else "—", kept,
                     s.get("quarantined", "—"), reasons, f"{f.kept_bytes / 1e6:,.2f}",
                     f"{f.tokens:,}" if f.tokens is not None else "—"])
    body = _table(["source", "kind", "in", "out", "kept", "quarantined", "dropped by reason", "kept MB", "tokens"],
                  rows, numeric={2, 3, 4, 5, 7, 8})
    problems = [f"<li>{_e(f.name)}: {_e(p)}</li>" for f in figs for p in f.problems]
    if problems:
        body += "<h3>Inconsistencies</h3><ul class=\"problems\">" + "".join(problems) + "</ul>"
    sampled = [f for f in figs if f.shards_read < f.shards_total]
    if sampled:
        body += "<p class=\"caption\">Plots read a sample of the shards: " + ", ".join(
            f"{_e(f.name)} {f.shards_read} of {f.shards_total}" for f in sampled) + ".</p>"
    return body


def _funnel_table(figs: list[SourceFigures]) -> str:
    rows = []
    for f in figs:
        for r in funnel_rows(f):
            dropped = r.get("dropped")
            reasons = (", ".join(f"{k}={v}" for k, v in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])))
                       if isinstance(dropped, dict) else dropped)
            length = r.get("length_in") if isinstance(r.get("length_in"), dict) else {}
            rows.append([f.name, r.get("step"), r.get("in", "—"), r.get("out", "—"), reasons or 0,
                         r.get("quarantined", 0), f"{r['chars_in'] / 1e6:,.2f}" if "chars_in" in r else "—",
                         length.get("p50", "—")])
    if not rows:
        return ""
    return _table(["source", "step", "in", "out", "dropped", "quarantined", "MB of text in", "median chars in"],
                  rows, numeric={2, 3, 5, 6, 7})


def _examples_section(figs: list[SourceFigures]) -> str:
    parts = []
    for f in figs:
        blocks = [("kept", f.examples_kept.items())]
        blocks += [(f"dropped by {stage}: {reason}", sample.items())
                   for (stage, reason), sample in sorted(f.examples_dropped.items())]
        rows = [[label, e["id"], e["where"], e["chars"], e["excerpt"]] for label, examples in blocks
                for e in examples]
        if rows:
            parts.append(f"<h3>{_e(f.name)}</h3>" + _table(["", "id", "url / title / file", "chars", "excerpt"],
                                                         rows, numeric={3}, css_class="examples"))
    if not parts:
        return f'<p class="empty">{NO_DATA}</p>'
    return ("<p class=\"caption\">A fixed sample: the documents with the lowest hash of their id, so the same "
            "run shows the same examples. Text is escaped and cut to its first characters.</p>" + "".join(parts))


def _timings_section(figs: list[SourceFigures]) -> str:
    rows = []
    for f in figs:
        for key, value in sorted(f.timing.items()):
            rows.append([f.name, key, value])
    if not rows:
        return f'<p class="empty">{NO_DATA}</p>'
    return _table(["source", "measure", "value"], rows, numeric={2})


def _export_section(export: dict[str, Any], where: Path | None) -> str:
    if not export:
        return f'<p class="empty">no export found{f" at {_e(where)}" if where else ""}</p>'
    sources = export.get("sources")
    if isinstance(sources, dict):  # the export manifest keys its sources by name
        sources = [{"name": name, **entry} for name, entry in sources.items() if isinstance(entry, dict)]
    rows = []
    if isinstance(sources, list):
        for s in sources:
            if isinstance(s, dict):
                epochs = s.get("epochs")
                rows.append([s.get("name", s.get("source", "?")), s.get("kind", ""), s.get("sequences", "—"),
                             s.get("tokens", "—"), f"{epochs:.2f}" if isinstance(epochs, float) else epochs or "—",
                             s.get("llama_epochs", "—")])
    warnings = export.get("warnings") if isinstance(export.get("warnings"), list) else []
    body = f"<p>{_e(where)}</p>" if where else ""
    if rows:
        body += _table(["source", "kind", "sequences", "tokens", "epochs", "LLaMA epochs"], rows,
                       numeric={2, 3, 4, 5})
    if warnings:
        body += "<h3>Warnings</h3><ul class=\"problems\">" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>"
    return body or f'<p class="empty">{NO_DATA}</p>'


def _find_export(run_dir: Path, figs: list[SourceFigures], export_dir: str | Path | None) -> Path | None:
    """The export to show: the one given, else the run config's export.output, else RUN_DIR/export."""
    candidates = [Path(export_dir)] if export_dir else []
    for f in figs:
        output = (f.config.get("export") or {}).get("output") if isinstance(f.config.get("export"), dict) else None
        if output:
            candidates.append(Path(output) if Path(output).is_absolute() else run_dir / output)
    candidates.append(run_dir / "export")
    return next((c for c in candidates if (c / "manifest.json").is_file()), candidates[0] if export_dir else None)


def _drops_table(figs: list[SourceFigures]) -> str:
    rows = [[f.name, stage, reason, n] for f in figs
            for (stage, reason), n in sorted(f.drops.items(), key=lambda kv: (-kv[1], kv[0]))]
    return _table(["source", "stage", "reason", "documents"], rows, numeric={3}) if rows else ""


def _quarantine_section(figs: list[SourceFigures], shown: int) -> str:
    total = sum(f.quarantine_total for f in figs)
    if not total:
        return f'<p class="empty">{NO_DATA}</p>'
    rows = []
    for f in figs:
        for r in f.quarantine_shown:
            if len(rows) >= shown:
                break
            rows.append([f.name] + [r.get(key, "—") for key in ("file", "record", "stage", "error")])
    return (f"<p>{total:,} quarantined record(s); the first {len(rows)} shown.</p>"
            + _table(["source", "file", "record", "stage", "error"], rows))


def _config_section(figs: list[SourceFigures]) -> str:
    groups: dict[str, list[str]] = {}
    for f in figs:
        if f.config:
            groups.setdefault(json.dumps(f.config, indent=2, sort_keys=True, ensure_ascii=False), []).append(f.name)
    if not groups:
        return f'<p class="empty">{NO_DATA}</p>'
    parts = []
    for text, names in groups.items():
        label = "all sources" if len(groups) == 1 else ", ".join(names)
        parts.append(f"<h3>{_e(label)}</h3><pre>{_e(text)}</pre>")
    versions = next((f.stats.get("versions") for f in figs if isinstance(f.stats.get("versions"), dict)), None)
    revision = next((f.stats.get("git_revision") for f in figs if f.stats.get("git_revision")), None)
    if versions or revision:
        parts.append("<h3>Code and library versions</h3><pre>" + _e(json.dumps(
            {"git_revision": revision, **(versions or {})}, indent=2, sort_keys=True)) + "</pre>")
    return "\n".join(parts)


def _threshold(figs: list[SourceFigures]) -> float | None:
    for f in figs:
        value = (f.config.get("quality") or {}).get("threshold")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;display:block;margin:.5em 0}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:12px;max-height:40em}
.empty{color:#777;font-style:italic}.caption{color:#555;font-size:12px}
.problems li{color:#a33}nav a{margin-right:1em}
table.examples{table-layout:fixed;width:100%}
.examples td{font-size:12px;overflow-wrap:anywhere}
.examples th:nth-child(1){width:11%}.examples th:nth-child(2){width:14%}.examples th:nth-child(3){width:17%}
.examples th:nth-child(4){width:6%}
"""


def build_html(run_dir: Path, figs: list[SourceFigures], mixture: str | None = None,
               quarantine_shown: int = QUARANTINE_SHOWN, export_dir: str | Path | None = None) -> str:
    """The whole page as a string; ``mixture`` defaults to the run config's, else llama1."""
    mixture = mixture or next((str(f.config["mixture"]) for f in figs if f.config.get("mixture")), "llama1")
    weights, weights_from = mixture_weights(mixture)
    roots = [Path.cwd(), run_dir, Path(__file__).resolve().parent.parent]
    ppl_png, ppl_notes = plot_perplexity(figs, roots)
    threshold = _threshold(figs)
    has_tokens = any(f.tokens is not None for f in figs)
    export_at = _find_export(run_dir, figs, export_dir)
    export = read_export(export_at) if export_at else {}
    builders: dict[str, Callable[[], str]] = {
        "Sources": lambda: _sources_section(figs),
        "Stage funnel": lambda: _plot_or_empty(
            plot_funnel(figs), "documents entering each step",
            "Each bar is a step of the source's recipe, in order: documents it passed on, and those it "
            "dropped or quarantined.") + _funnel_table(figs),
        "Document lengths": lambda: _plot_or_empty(
            plot_lengths(figs), "document length before and after filtering",
            "Before: every document that reached a filter (kept and dropped shards); after: the kept ones."),
        "Language ID scores": lambda: _plot_or_empty(
            plot_lid(figs), "language-ID score histogram", "annotations.lang_id.lang_score"),
        "Sample documents": lambda: _examples_section(figs),
        "Timings": lambda: _timings_section(figs),
        "Export": lambda: _export_section(export, export_at),
        "Mixture": lambda: _plot_or_empty(
            plot_mixture(figs, weights), "share per source vs target",
            f"Target weights from {_e(weights_from)}, renormalised over the source kinds in this run. "
            + ("Tokens from each source's tokens/manifest.json." if has_tokens
               else "No tokens manifest yet: documents and UTF-8 bytes only.")),
        "Drop reasons per stage": lambda: _plot_or_empty(plot_drops(figs), "drops by stage and reason")
        + _drops_table(figs),
        "Language distribution": lambda: _plot_or_empty(
            plot_languages(figs), "documents per language",
            "Language from annotations.lang_id (or meta.lang for Wikipedia)."),
        "Perplexity": lambda: _plot_or_empty(
            ppl_png, "perplexity histogram", "<br>".join(_e(n) for n in ppl_notes)),
        "Quality classifier": lambda: _plot_or_empty(
            plot_quality(figs, threshold), "wiki_prob histogram",
            "annotations.quality.wiki_prob" + (f"; threshold {threshold:g} from config.quality" if threshold
                                               is not None else "")),
        "Near-duplicate clusters": lambda: _plot_or_empty(
            plot_clusters(figs), "duplicates by cluster size",
            "Dropped documents by annotations.minhash.cluster_size (each cluster of size k keeps one "
            "document and drops k − 1)."),
        "Quarantine": lambda: _quarantine_section(figs, quarantine_shown),
        "Run config": lambda: _config_section(figs),
    }
    nav = "<nav>" + "".join(f'<a href="#{_e(t.lower().replace(" ", "-"))}">{_e(t)}</a>' for t in SECTIONS) + "</nav>"
    body = "\n".join(_section(title, builders[title]()) for title in SECTIONS)
    title = f"pasture run report: {run_dir.name}"
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{_e(title)}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n<h1>{_e(title)}</h1>\n<p>{_e(run_dir.resolve())} — "
            f"{len(figs)} source(s)</p>\n{nav}\n{body}\n</body>\n</html>\n")


def write_report(run_dir: str | Path, output: str | Path | None = None, *, mixture: str | None = None,
                 sample_shards: int | None = None, quarantine_shown: int = QUARANTINE_SHOWN,
                 export_dir: str | Path | None = None) -> Path:
    """Read ``run_dir`` and write its report (default ``RUN_DIR/report.html``).

    Raises:
        FileNotFoundError: ``run_dir`` has no ``<source>/stats.json``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    figs = read_run(run_dir, sample_shards=sample_shards, quarantine_shown=quarantine_shown)
    if not figs:
        raise FileNotFoundError(f"{run_dir}: no <source>/stats.json found; is this a finished run directory?")
    out = Path(output) if output else run_dir / "report.html"
    text = build_html(run_dir, figs, mixture=mixture, quarantine_shown=quarantine_shown, export_dir=export_dir)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
