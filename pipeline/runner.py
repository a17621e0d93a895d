"""Build and run the pipeline for the configured sources, then write stats.json.

Wiring only: each source's recipe builds its stages; this module adds the sinks, the
in-graph counts, runs Beam, checks that every document is accounted for and writes
``DIR/<source>/stats.json`` with the resolved config, versions and output checksums.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from mixtures.config import PipelineConfig, resolved
from mixtures.provenance import git_revision, json_text, package_versions
from pipeline import run_manifest
from pipeline.inputs import resolve_source, skipped_inputs
from pipeline.options import make_options, runner_name
from pipeline.progress import ProgressReporter
from pipeline.recipes import recipe_for, recipe_steps
from stages.counts import (
    DOCUMENTS_IN,
    QUARANTINED_BY_STEP,
    SEEN_BY_STEP,
    CountStreams,
    checksums_of,
    counts_to_stats,
    length_percentiles,
)
from stages.progress import tap as progress_tap
from stages.sinks import SampleDropped, WriteDocuments, WriteQuarantine, write_atomically
from stages.source import apply_steps, build_source, is_joint
from stages.spill import DEFAULT_FOLDER, SpillOptions, remove_spill_dir
from stages.streams import SourceStreams

log = logging.getLogger("pasture")


class ReconciliationError(RuntimeError):
    """documents_in != documents_out + dropped + quarantined: something was lost silently."""


class QuarantineLimitError(RuntimeError):
    """A step set aside more of its records than ``quarantine.max_step_share``: likely a bug."""


@dataclass(frozen=True)
class SourceResult:
    name: str
    stats: dict[str, Any]
    stats_path: str


def join_path(base: str, *parts: str) -> str:
    """Join without resolving the filesystem, so a job can be built where gs:// is not installed."""
    if "://" in base:
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(base, *parts)


def source_dir(cfg: PipelineConfig, name: str) -> str:
    return join_path(cfg.output, name)


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _read_json(path: str) -> Any:
    with FileSystems.open(path) as fh:
        return json.loads(fh.read().decode("utf-8"))


def _write_json(path: str, data: Any) -> None:
    write_atomically(path, json_text(data).encode("utf-8"))


def _make_dirs(path: str) -> None:
    if not _is_remote(path):  # object stores have no folders
        os.makedirs(path, exist_ok=True)


def inputs_of(cfg: PipelineConfig, name: str) -> list[str]:
    return resolve_source(cfg, name).paths


def check_recipe(cfg: PipelineConfig, name: str) -> None:
    """What a source's recipe checks before any work starts (models on disk)."""
    check = getattr(recipe_for(cfg.source(name).kind), "check", None)
    if check is not None:
        check(cfg)


def build_sources(p: beam.Pipeline, cfg: PipelineConfig, names: list[str], resume: bool = False,
                  num_shards: dict[str, int] | None = None) -> None:
    """Add every named source's recipe and sinks to ``p``.

    Each recipe is built up to its first joint step (near-dedup across sources); the
    sources sharing that step are then deduplicated together and their remaining steps
    built. A joint step with a single source is applied to it alone. ``num_shards`` gives
    each source's shard count (default: :func:`source_shard_count`).
    """
    streams: dict[str, SourceStreams] = {}
    pending: dict[str, list] = {}
    for name in names:
        inputs = resolve_source(cfg, name)
        steps = recipe_steps(cfg, cfg.source(name), inputs.paths)
        streams[name], pending[name] = build_source(p, name, steps, inputs, cfg.http)
    joint = sorted(name for name in names if pending[name])
    if len(joint) == 1:
        apply_steps(streams[joint[0]], pending[joint[0]])
    elif joint:
        pending[joint[0]][0].apply_jointly({name: streams[name] for name in joint})
        for name in joint:
            apply_steps(streams[name], pending[name][1:])
    for name, s in streams.items():
        out_dir = source_dir(cfg, name)
        shards = (num_shards or {}).get(name) or source_shard_count(cfg, name)
        # A second document with an id already written is quarantined with both locations (stages.sinks).
        # One sorted pass writes every format (JSON lines, and Parquet when asked for); a second
        # document with an id already written is quarantined with both locations (stages.sinks).
        docs = s.docs | f"{name}/Write docs" >> WriteDocuments(
            join_path(out_dir, "docs"), shards, skip_existing=resume, quarantine_collisions=True,
            formats=tuple(cfg.shards.formats))
        # Drops and quarantine records come from every step: each stream is sampled, written
        # and counted where it is produced, never flattened whole (a Flatten across stages is
        # a buffer in the local runner's memory).
        dropped = tuple(s.dropped)
        quarantine = (*s.quarantine, docs.collisions)
        written = [docs.written]
        if cfg.shards.write_dropped:
            kept_dropped: Any = dropped
            if cfg.shards.max_dropped_per_reason is not None:  # a sample is written; every drop is counted below
                kept_dropped = dropped | f"{name}/Sample dropped" >> SampleDropped(cfg.shards.max_dropped_per_reason)
            written.append((kept_dropped | f"{name}/Write dropped" >> WriteDocuments(
                join_path(out_dir, "dropped"), shards, skip_existing=resume)).written)
        written.append(quarantine | f"{name}/Write quarantine" >> WriteQuarantine(join_path(out_dir, "quarantine")))
        # Side branches that only count, for the launcher's progress lines (pipeline/progress.py).
        s.docs | f"{name}/Progress kept" >> beam.Map(progress_tap(name, "kept"))
        for i, stream in enumerate(dropped):
            stream | f"{name}/Progress dropped {i}" >> beam.Map(progress_tap(name, "dropped"))
        for i, stream in enumerate(quarantine):
            stream | f"{name}/Progress quarantined {i}" >> beam.Map(progress_tap(name, "quarantined"))
        p | f"{name}/Count" >> CountStreams(
            join_path(out_dir, "_counts.json"),
            {"inputs": s.inputs, "out": [s.docs], "withdrawn": [docs.collisions], "dropped": list(dropped),
             "quarantine": list(quarantine), "checksums": written},
            seen=s.seen,
        )


def source_shard_count(cfg: PipelineConfig, name: str) -> int:
    """``shards.num_shards``, or the count derived from the size of the source's inputs."""
    if cfg.shards.num_shards is not None:
        return cfg.shards.num_shards
    files = run_manifest.file_fingerprints([str(path) for path in inputs_of(cfg, name)])
    return run_manifest.shard_count(cfg, sum(entry.get("size") or 0 for entry in files))


def has_joint_step(cfg: PipelineConfig, name: str) -> bool:
    """True when the source's recipe has a step that must see other sources (global near-dedup)."""
    return any(is_joint(step) for step in recipe_steps(cfg, cfg.source(name)))


def plan_pipelines(cfg: PipelineConfig, names: list[str]) -> list[list[str]]:
    """Group sources into Beam pipelines: one per source, so a finished source survives a kill.

    Sources whose recipes share a joint step (``minhash.scope: global``: CC and C4) must
    share one pipeline.
    """
    joint = [n for n in names if has_joint_step(cfg, n)]
    groups = [joint] if joint else []
    groups += [[n] for n in names if n not in joint]
    return groups


def run_sources(cfg: PipelineConfig, names: list[str], beam_args: list[str] | None = None,
                resume: bool = False) -> list[SourceResult]:
    """Run the pipeline for ``names`` and return each source's stats (also written to disk).

    With ``resume``, a source whose finished outputs carry the current fingerprint (inputs,
    config, code: ``pipeline.run_manifest``) is skipped, and a killed run's finished shards
    are kept when made under the same fingerprint; any other output is removed before the
    source runs, with or without ``resume``.
    """
    if not names:
        raise ValueError("no sources to run: add sources to the config or name one")
    for name in names:
        cfg.source(name)  # fail on unknown names before any work starts
        inputs_of(cfg, name)
        check_recipe(cfg, name)
    results: dict[str, SourceResult] = {}
    groups = plan_pipelines(cfg, names)
    for index, group in enumerate(groups, start=1):
        # Decided only now, after every up-front check passed: nothing is removed before that.
        manifests = group_manifests(cfg, group)
        decisions = {n: run_manifest.decide(source_dir(cfg, n), manifests[n], resume) for n in group}
        if all(d.action == "reuse" for d in decisions.values()):
            for name in group:
                log.info("%s", run_manifest.announce(decisions[name]))
            log.info("[%d/%d] %s: complete in an earlier run, skipped (--resume)", index, len(groups), ", ".join(group))
            results.update({n: _load_result(cfg, n) for n in group})
            continue
        for name in group:
            decision = decisions[name]
            if decision.action == "reuse":  # a joint step reruns the group; its shards are kept
                decision = run_manifest.Decision(name, "continue", decision.why)
            kept, removed = run_manifest.prepare(source_dir(cfg, name), manifests[name], decision)
            log.info("%s", run_manifest.announce(decision, kept, removed))
        log.info("[%d/%d] %s: running", index, len(groups), ", ".join(group))
        options = make_options(beam_args)
        spill = spill_folder(cfg, options, index, beam_args or [])
        started = time.time()
        remove_spill_dir(spill)  # what a killed run left: runs are scratch, never resumed from
        try:
            with ProgressReporter(group, cfg.progress.interval_seconds, enabled=cfg.progress.enabled) as progress:
                p = beam.Pipeline(options=options)
                build_sources(p, cfg, group, resume=resume,
                              num_shards={n: manifests[n]["layout"]["num_shards"] for n in group})
                result = p.run()
                progress.watch(result)  # a remote job reports through its metrics while it runs
                result.wait_until_finish()
        finally:
            remove_spill_dir(spill)
        elapsed = time.time() - started
        for name in group:
            results[name] = _finish_source(cfg, name, runner_name(options), elapsed)
            s = results[name].stats
            log.info("[%d/%d] %s: %d in, %d out, %d dropped, %d quarantined in %.1fs", index, len(groups), name,
                     s["documents_in"], s["documents_out"], sum(s["dropped"].values()), s["quarantined"], elapsed)
    return [results[n] for n in names]


def spill_folder(cfg: PipelineConfig, options: Any, index: int, beam_args: list[str]) -> str:
    """Where this pipeline's shuffles on disk write (``stages.spill``): ``--spill_dir`` if given,
    else ``OUTPUT/.spill``; one subfolder per pipeline, set on ``options``. On Dataflow both must
    be remote (workers cannot see the launcher's disk): refused before anything is submitted."""
    from pipeline.dataflow import require_remote_paths

    settings = options.view_as(SpillOptions)
    require_remote_paths("run", beam_args, {"output": cfg.output, "--spill_dir": settings.spill_dir or ""})
    folder = join_path(settings.spill_dir or join_path(cfg.output, DEFAULT_FOLDER), f"pipeline-{index:02d}")
    settings.spill_dir = folder
    return folder


def group_manifests(cfg: PipelineConfig, group: list[str]) -> dict[str, dict[str, Any]]:
    """Each source's run manifest (pipeline.run_manifest); one fingerprint covers a pipeline's sources."""
    parts = {}
    for name in group:
        inputs = inputs_of(cfg, name)
        parts[name] = run_manifest.describe_source(cfg, name, inputs, recipe_steps(cfg, cfg.source(name), inputs))
    fingerprint = run_manifest.fingerprint_of(list(parts.values()))
    return {name: {**part, "group": sorted(group), "fingerprint": fingerprint} for name, part in parts.items()}


def _load_result(cfg: PipelineConfig, name: str) -> SourceResult:
    path = join_path(source_dir(cfg, name), "stats.json")
    return SourceResult(name, _read_json(path), path)


def reconcile(name: str, stats: dict[str, Any]) -> None:
    accounted = stats["documents_out"] + sum(stats["dropped"].values()) + stats["quarantined"]
    if accounted != stats["documents_in"]:
        raise ReconciliationError(
            f"{name}: documents_in={stats['documents_in']} but out+dropped+quarantined={accounted} "
            f"(out={stats['documents_out']}, dropped={stats['dropped']}, quarantined={stats['quarantined']})"
        )


def check_quarantine_shares(cfg: PipelineConfig, name: str, stats: dict[str, Any]) -> None:
    """Fail when one step quarantined more than ``quarantine.max_step_share`` of what it saw.

    A filter or cleaner is measured against the documents it was given; the reader and the
    composite steps (dedup, assembly) against the source's ``documents_in``.
    """
    limit = cfg.quarantine.max_step_share
    for step, quarantined in sorted(stats["quarantined_by_step"].items()):
        seen = stats["seen_by_step"].get(step) or stats["documents_in"]
        if seen and quarantined / seen > limit:
            samples = _sample_errors(join_path(source_dir(cfg, name), "quarantine"), step)
            raise QuarantineLimitError(
                f"{name}: step {step} quarantined {quarantined} of {seen} records ({quarantined / seen:.1%}), "
                f"above quarantine.max_step_share = {limit:.1%}. A share this high usually means a bug or "
                f"inputs of the wrong kind, not bad data. Sample errors:\n" + "\n".join(samples)
                + "\nRaise quarantine.max_step_share if these records really are bad.")


def _sample_errors(directory: str, step: str, limit: int = 3) -> list[str]:
    samples: list[str] = []
    matched = [m.path for r in FileSystems.match([join_path(directory, "part-*")]) for m in r.metadata_list]
    for path in sorted(p for p in matched if ".tmp-" not in p):
        with FileSystems.open(path) as fh:  # .jsonl.gz: Beam decompresses by suffix
            for line in fh.read().decode("utf-8").splitlines():
                record = json.loads(line)
                if record.get("stage") == step:
                    samples.append(f"  {record.get('file')} record {record.get('record')}: {record.get('error')}")
                    if len(samples) == limit:
                        return samples
    return samples


def step_names(steps: list[Any]) -> list[str]:
    """The recipe's steps in order, as stats.json records them: a filter or cleaner by its
    versioned name (``quality_v1``), the reader and each composite by its name or label."""
    return [getattr(step, "versioned_name", None) or getattr(step, "name", None) or step.label for step in steps]


def build_funnel(steps: list[Any], stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Per step of the recipe, in order: documents in, out, dropped by reason, quarantined, text
    characters and length percentiles of what it was given.

    ``in`` of the reader is ``documents_in``; of every later step, what the step before passed
    on (``out``). The pipeline counted what each filter was given (``seen_by_step``); a
    difference from the step before's ``out`` would mean lost documents, so it is recorded
    as ``in_counted`` where it differs (never, in a correct run).
    """
    dropped_by_step = stats.get("dropped_by_step", {})
    quarantined_by_step = stats.get(QUARANTINED_BY_STEP, {})
    seen = stats.get(SEEN_BY_STEP, {})
    rows: list[dict[str, Any]] = []
    entering = stats[DOCUMENTS_IN]
    for step, label in zip(steps, step_names(steps)):
        # A filter drops under its name; a composite under its drop_stage (line_dedup, minhash...).
        key = "read" if step is steps[0] else (getattr(step, "drop_stage", None) or getattr(step, "name", None)
                                               or getattr(step, "label", label))
        dropped = dict(sorted(dropped_by_step.get(key, {}).items()))
        quarantined = int(quarantined_by_step.get(key, 0))
        row: dict[str, Any] = {"step": label, "in": entering, "dropped": dropped, "quarantined": quarantined,
                               "out": entering - sum(dropped.values()) - quarantined}
        if key in seen and seen[key] != entering:
            row["in_counted"] = seen[key]
        if key in stats.get("chars_by_step", {}):
            row["chars_in"] = stats["chars_by_step"][key]
            row["length_in"] = length_percentiles(stats.get("length_bins_by_step", {}).get(key, {}))
        rows.append(row)
        entering = row["out"]
    return rows


def _finish_source(cfg: PipelineConfig, name: str, runner: str, elapsed: float) -> SourceResult:
    out_dir = source_dir(cfg, name)
    manifest = _read_json(join_path(out_dir, run_manifest.MANIFEST))
    counts = _read_json(join_path(out_dir, "_counts.json"))
    stats = counts_to_stats(counts)
    reconcile(name, stats)
    check_quarantine_shares(cfg, name, stats)
    spec = cfg.source(name)
    steps = recipe_steps(cfg, spec)
    stats.update({
        "source": name,
        "kind": spec.kind,
        "steps": step_names(steps),
        "funnel": build_funnel(steps, stats),
        "reconciled": True,
        "outputs": checksums_of(counts),  # hashed by the workers that wrote the shards
        "config": resolved(cfg),
        "versions": package_versions(),
        "git_revision": git_revision(),
        "runner": runner,
        "skipped_inputs": skipped_inputs(cfg, name),
        "fingerprint": manifest["fingerprint"],
    })
    path = join_path(out_dir, "stats.json")
    # Timing varies run to run; it goes to a side file so stats.json stays byte-identical.
    _write_json(join_path(out_dir, "timing.json"), {"pipeline_seconds": round(elapsed, 3)})
    _write_json(path, stats)
    return SourceResult(name, stats, path)


def summary_table(results: list[SourceResult]) -> str:
    """A table a person can read: per source in/out/quarantined and every drop reason."""
    lines = []
    header = f"{'source':<16}{'in':>9}{'out':>9}{'kept %':>8}{'quarant.':>10}  dropped by reason"
    lines.append(header)
    lines.append("-" * max(len(header), 72))
    for r in results:
        s = r.stats
        kept = 100.0 * s["documents_out"] / s["documents_in"] if s["documents_in"] else 0.0
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(s["dropped"].items(), key=lambda kv: -kv[1])) or "-"
        lines.append(f"{r.name:<16}{s['documents_in']:>9}{s['documents_out']:>9}{kept:>7.1f}%"
                     f"{s['quarantined']:>10}  {reasons}")
    for r in results:
        if r.stats.get("skipped_inputs"):
            lines.append(f"{r.name}: {len(r.stats['skipped_inputs'])} file(s) under its input folders not read "
                         f"(reasons in stats.json skipped_inputs)")
    return "\n".join(lines)
