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
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from mixtures.config import PipelineConfig, resolved
from mixtures.provenance import git_revision, json_text, package_versions, sha256_stream
from pipeline.inputs import resolve_inputs
from pipeline.options import make_options, runner_name
from pipeline.recipes import folder_suffixes, recipe_for, recipe_steps
from stages.counts import CountStreams, counts_to_stats
from stages.sinks import WriteDocuments, WriteQuarantine, write_atomically
from stages.source import apply_steps, build_source, is_joint
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


def _exists(path: str) -> bool:
    return FileSystems.exists(path)


def _read_json(path: str) -> Any:
    with FileSystems.open(path) as fh:
        return json.loads(fh.read().decode("utf-8"))


def _write_json(path: str, data: Any) -> None:
    write_atomically(path, json_text(data).encode("utf-8"))


def _make_dirs(path: str) -> None:
    if not _is_remote(path):  # object stores have no folders
        os.makedirs(path, exist_ok=True)


def inputs_of(cfg: PipelineConfig, name: str) -> list[str]:
    spec = cfg.source(name)
    return resolve_inputs(spec.inputs, name, folder_suffixes(spec.kind))


def check_recipe(cfg: PipelineConfig, name: str) -> None:
    """What a source's recipe checks before any work starts (models on disk)."""
    check = getattr(recipe_for(cfg.source(name).kind), "check", None)
    if check is not None:
        check(cfg)


def build_sources(p: beam.Pipeline, cfg: PipelineConfig, names: list[str], resume: bool = False) -> None:
    """Add every named source's recipe and sinks to ``p``.

    Each recipe is built up to its first joint step (near-dedup across sources); the
    sources sharing that step are then deduplicated together and their remaining steps
    built. A joint step with a single source is applied to it alone.
    """
    streams: dict[str, SourceStreams] = {}
    pending: dict[str, list] = {}
    for name in names:
        steps = recipe_steps(cfg, cfg.source(name), inputs_of(cfg, name))
        streams[name], pending[name] = build_source(p, name, steps)
    joint = sorted(name for name in names if pending[name])
    if len(joint) == 1:
        apply_steps(streams[joint[0]], pending[joint[0]])
    elif joint:
        pending[joint[0]][0].apply_jointly({name: streams[name] for name in joint})
        for name in joint:
            apply_steps(streams[name], pending[name][1:])
    for name, s in streams.items():
        out_dir = source_dir(cfg, name)
        s.docs | f"{name}/Write docs" >> WriteDocuments(join_path(out_dir, "docs"), cfg.shards.num_shards,
                                                          skip_existing=resume)
        dropped = s.dropped | f"{name}/Flatten dropped" >> beam.Flatten()
        quarantine = s.quarantine | f"{name}/Flatten quarantine" >> beam.Flatten()
        if cfg.shards.write_dropped:
            dropped | f"{name}/Write dropped" >> WriteDocuments(join_path(out_dir, "dropped"),
                                                                 cfg.shards.num_shards, skip_existing=resume)
        quarantine | f"{name}/Write quarantine" >> WriteQuarantine(join_path(out_dir, "quarantine"))
        p | f"{name}/Count" >> CountStreams(
            join_path(out_dir, "_counts.json"),
            {"inputs": s.inputs, "out": [s.docs], "dropped": [dropped], "quarantine": [quarantine]},
            seen=s.seen,
        )


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

    With ``resume``, sources whose stats.json exists are skipped, and inside a source every
    output shard that a killed run already renamed into place is kept as it is.
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
        if resume and all(_exists(join_path(source_dir(cfg, n), "stats.json")) for n in group):
            log.info("[%d/%d] %s: complete in an earlier run, skipped (--resume)", index, len(groups), ", ".join(group))
            results.update({n: _load_result(cfg, n) for n in group})
            continue
        for name in group:
            _make_dirs(source_dir(cfg, name))
            stale = join_path(source_dir(cfg, name), "stats.json")
            if _exists(stale):
                FileSystems.delete([stale])  # rewritten below; never left describing older outputs
        log.info("[%d/%d] %s: running", index, len(groups), ", ".join(group))
        options = make_options(beam_args)
        started = time.time()
        with beam.Pipeline(options=options) as p:
            build_sources(p, cfg, group, resume=resume)
        elapsed = time.time() - started
        for name in group:
            results[name] = _finish_source(cfg, name, runner_name(options), elapsed)
            s = results[name].stats
            log.info("[%d/%d] %s: %d in, %d out, %d dropped, %d quarantined in %.1fs", index, len(groups), name,
                     s["documents_in"], s["documents_out"], sum(s["dropped"].values()), s["quarantined"], elapsed)
    return [results[n] for n in names]


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


def output_checksums(directory: str) -> dict[str, str]:
    """sha256 of every finished output shard, keyed by ``sub/name`` (any Beam filesystem)."""
    sums = {}
    for sub in ("docs", "dropped", "quarantine"):
        pattern = join_path(directory, sub, "part-*")
        matched = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
        for path in sorted(matched):
            name = path.rsplit("/", 1)[-1]
            if ".tmp-" in name:
                continue
            # The stored bytes: without UNCOMPRESSED, Beam would hash the gunzipped .jsonl.gz.
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                sums[f"{sub}/{name}"] = sha256_stream(fh)
    return sums


def step_names(steps: list[Any]) -> list[str]:
    """The recipe's steps in order, as stats.json records them: a filter or cleaner by its
    versioned name (``quality_v1``), the reader and each composite by its name or label."""
    return [getattr(step, "versioned_name", None) or getattr(step, "name", None) or step.label for step in steps]


def _finish_source(cfg: PipelineConfig, name: str, runner: str, elapsed: float) -> SourceResult:
    out_dir = source_dir(cfg, name)
    stats = counts_to_stats(_read_json(join_path(out_dir, "_counts.json")))
    reconcile(name, stats)
    check_quarantine_shares(cfg, name, stats)
    spec = cfg.source(name)
    stats.update({
        "source": name,
        "kind": spec.kind,
        "steps": step_names(recipe_steps(cfg, spec)),
        "reconciled": True,
        "outputs": output_checksums(out_dir),
        "config": resolved(cfg),
        "versions": package_versions(),
        "git_revision": git_revision(),
        "runner": runner,
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
    return "\n".join(lines)
