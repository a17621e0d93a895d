"""Cost model: measured per-stage rates × LLaMA-1 source sizes → core-hours and wall time.

Pure arithmetic, no I/O. The inputs are:

* a token target (LLaMA-1: 1.4T tokens) and a mixture spec (``mixtures/llama1.yaml``: Table 1
  of the LLaMA paper, arXiv 2302.13971): sampling proportion, epochs and disk size per
  source. Tokens per source are ``weight × total``; unique tokens are ``tokens / epochs``;
  bytes per token are derived from the table itself (``disk size / unique tokens`` at the
  mixture's own total), so at 1.4T tokens the model
  reproduces the published disk sizes;
* the stages each source kind runs, in order (``pasture plan-cost`` takes them from the
  recipes, ``pipeline.recipes.cost_stages``; this module cannot import them);
* per-stage throughput measured by the ``bench/`` scripts, in MB of document text per
  second per core (``bench/results.json``, written by ``bench/_results.py``);
* the fraction of each source's input text that survives the pipeline (``retention``).
  Table 1 gives *output* sizes; what a stage reads is ``output / retention``. Unknown
  retention is taken as 1.0, which makes every figure a lower bound, and says so.

Without measurements every cleaning/filtering stage is charged for the whole input of its
source (no credit for documents an earlier stage dropped), an upper bound given its rate.
With a finished run's ``stats.json`` (``measured_retention``), each stage is charged for the
share of the input documents that reach it, and the run's retention turns Table 1's output
sizes into input sizes; an input size can also be given directly (``input_bytes``: e.g. the
WET text of the snapshots to read). Tokenizing is charged for the kept output only. Wall
time assumes perfect scaling over ``workers × cores_per_worker`` cores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mixtures.spec import MixtureSource, MixtureSpec, load_mixture

MB = 1e6

# Stages that read only what the filters kept (tokenizing the final documents).
STAGES_ON_OUTPUT: frozenset[str] = frozenset({"tokenize"})


class CostModelError(ValueError):
    """A rates file or a parameter cannot be used; the message says which."""


@dataclass(frozen=True)
class StageRate:
    """Measured throughput of one stage (MB of document text per second per core)."""

    stage: str
    mb_per_s_per_core: float | None
    measured: str | None = None
    command: str | None = None
    sources: tuple[str, ...] | None = None  # overrides the stages per source when given
    note: str | None = None  # why the rate is unusable, when it is


def rate_from_entry(stage: str, entry: Mapping[str, Any]) -> StageRate:
    """One ``results.json`` entry → a StageRate.

    ``mb_per_s_per_core`` is used as is. Otherwise ``docs_per_s_per_core`` is converted with
    the entry's ``text_bytes_per_doc`` (mean text size of the benchmark's documents); a
    document rate without a document size cannot be turned into bytes and is reported as
    unusable rather than guessed.
    """
    if not isinstance(entry, Mapping):
        raise CostModelError(f"bench results: entry for {stage!r} must be a mapping, got {type(entry).__name__}")
    sources = entry.get("sources")
    if sources is not None:
        if isinstance(sources, str) or not all(isinstance(s, str) for s in sources):
            raise CostModelError(f"bench results: {stage}.sources must be a list of source kinds")
        sources = tuple(sources)
    common = {"measured": _opt_str(entry.get("measured")), "command": _opt_str(entry.get("command")),
              "sources": sources}
    mb = _positive(entry.get("mb_per_s_per_core"), f"{stage}.mb_per_s_per_core")
    if mb is not None:
        return StageRate(stage, mb, **common)
    docs = _positive(entry.get("docs_per_s_per_core"), f"{stage}.docs_per_s_per_core")
    doc_bytes = _positive(entry.get("text_bytes_per_doc"), f"{stage}.text_bytes_per_doc")
    if docs is not None and doc_bytes is not None:
        return StageRate(stage, docs * doc_bytes / MB, **common)
    if docs is not None:
        return StageRate(stage, None, note="docs/s without text_bytes_per_doc", **common)
    return StageRate(stage, None, note="no rate recorded", **common)


def rates_from_results(results: Mapping[str, Any]) -> dict[str, StageRate]:
    """The whole ``bench/results.json`` mapping → StageRate per stage."""
    if not isinstance(results, Mapping):
        raise CostModelError("bench results: the top level must be a mapping of stage → figures")
    return {stage: rate_from_entry(stage, entry) for stage, entry in sorted(results.items())}


def _positive(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CostModelError(f"bench results: {field} must be a positive number, got {value!r}")
    return float(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class SourcePlan:
    kind: str
    weight: float
    tokens: float  # sampled tokens: weight × total
    epochs: float
    unique_tokens: float  # tokens / epochs: what has to exist on disk
    bytes_per_token: float
    output_bytes: float  # unique tokens × bytes per token
    retention: float  # output bytes / input bytes
    retention_known: bool
    input_bytes: float  # what the pipeline reads for this source
    input_given: bool = False  # input_bytes given by the user (e.g. a snapshot's WET size), not derived
    reach: tuple[tuple[str, float], ...] = ()  # (stage, fraction of input documents reaching it), measured


@dataclass(frozen=True)
class MeasuredRetention:
    """What a finished run measured for one source kind (its ``stats.json``).

    ``reach[stage]`` is the fraction of the input documents that reach the stage (documents
    in, minus those every earlier step dropped); ``retention`` the fraction kept at the end.
    Both count documents: a stage is charged for ``input bytes × reach``, which assumes the
    dropped documents are of average size (short pages are dropped more often, so this
    overcharges the later stages a little).
    """

    kind: str
    documents_in: int
    documents_out: int
    reach: tuple[tuple[str, float], ...]

    @property
    def retention(self) -> float:
        return self.documents_out / self.documents_in if self.documents_in else 1.0


def measured_retention(kind: str, stats: Mapping[str, Any],
                       steps: Sequence[tuple[str, Sequence[str]]]) -> MeasuredRetention:
    """Per-stage reach of one source from its ``stats.json`` and its recipe's steps.

    Args:
        kind: Source kind.
        stats: The run's ``stats.json`` of the source (``documents_in``, ``documents_out``,
            ``dropped`` by reason).
        steps: The recipe's steps in order, as ``(cost stage, reasons the step drops for)``.
            A drop reason no step declares is counted after the last stage (so it lowers no
            stage's charge: the estimate stays an upper bound).
    """
    docs_in = int(stats.get("documents_in") or 0)
    docs_out = int(stats.get("documents_out") or 0)
    if docs_in <= 0:
        raise CostModelError(f"stats of {kind}: documents_in must be > 0")
    dropped = {str(k): int(v) for k, v in (stats.get("dropped") or {}).items()}
    reach: list[tuple[str, float]] = []
    left = docs_in
    for stage, reasons in steps:
        if stage not in dict(reach):
            reach.append((stage, left / docs_in))
        left -= sum(dropped.get(r, 0) for r in reasons)
    return MeasuredRetention(kind, docs_in, docs_out, tuple(reach))


@dataclass(frozen=True)
class StagePlan:
    stage: str
    sources: tuple[str, ...]
    input_bytes: float
    rate: StageRate | None

    @property
    def core_hours(self) -> float | None:
        if self.rate is None or self.rate.mb_per_s_per_core is None:
            return None
        return self.input_bytes / (self.rate.mb_per_s_per_core * MB) / 3600.0


@dataclass(frozen=True)
class CostPlan:
    total_tokens: float
    sources: tuple[SourcePlan, ...]
    stages: tuple[StagePlan, ...]
    unused_rates: tuple[str, ...]  # stages in the rates file that no source runs
    workers: int
    cores_per_worker: int
    target_hours: float

    @property
    def missing_stages(self) -> tuple[str, ...]:
        return tuple(s.stage for s in self.stages if s.core_hours is None)

    @property
    def complete(self) -> bool:
        return not self.missing_stages

    @property
    def total_core_hours(self) -> float:
        """Sum over the stages with a usable rate; a lower bound while any is missing."""
        return sum(s.core_hours for s in self.stages if s.core_hours is not None)

    @property
    def cores(self) -> int:
        return self.workers * self.cores_per_worker

    @property
    def wall_hours(self) -> float:
        """Wall time on ``workers × cores_per_worker`` cores, assuming perfect scaling."""
        return self.total_core_hours / self.cores

    @property
    def workers_for_target(self) -> int:
        """Workers of ``cores_per_worker`` cores needed to finish within ``target_hours``."""
        return max(1, math.ceil(self.total_core_hours / (self.target_hours * self.cores_per_worker)))


def bytes_per_token(mixture: MixtureSpec, source: MixtureSource) -> float:
    """Disk bytes per unique token of a source, derived from the mixture's own table."""
    unique_tokens = source.fraction * mixture.total_tokens / source.epochs
    return source.disk_bytes / unique_tokens


def plan_sources(total_tokens: float, retention: Mapping[str, float] | None = None,
                 mixture: MixtureSpec | None = None, measured: Mapping[str, MeasuredRetention] | None = None,
                 input_bytes: Mapping[str, float] | None = None) -> tuple[SourcePlan, ...]:
    """Tokens, bytes to keep and bytes to read per source for a token target.

    Args:
        total_tokens: Tokens of the training mixture.
        retention: Output/input text fraction per source kind; missing → 1.0 (lower bound).
        mixture: Weights, epochs and disk sizes (default: ``mixtures/llama1.yaml``).
        measured: Retention and per-stage reach measured by a finished run; its retention is
            used where ``retention`` gives none.
        input_bytes: Input size per kind (e.g. WET text of the snapshots to read); it
            replaces ``output / retention`` for that kind.
    """
    measured = dict(measured or {})
    given = dict(input_bytes or {})
    retention = {**{k: m.retention for k, m in measured.items() if m.retention > 0}, **dict(retention or {})}
    if not (total_tokens > 0 and math.isfinite(total_tokens)):
        raise CostModelError(f"tokens must be a positive number, got {total_tokens!r}")
    mixture = mixture or load_mixture("llama1")
    unknown = sorted((set(retention) | set(given)) - set(mixture.kinds))
    if unknown:
        raise CostModelError(f"retention given for unknown source(s) {unknown}")
    plans = []
    for source in mixture.sources:
        if not source.disk_bytes:
            raise CostModelError(f"mixture {mixture.name}: sources.{source.kind} has no disk size")
        kept = retention.get(source.kind)
        if kept is not None and not 0 < kept <= 1:
            raise CostModelError(f"retention of {source.kind} must be in (0, 1], got {kept!r}")
        tokens = source.fraction * total_tokens
        unique = tokens / source.epochs
        per_token = bytes_per_token(mixture, source)
        output = unique * per_token
        fraction = 1.0 if kept is None else float(kept)
        read = given.get(source.kind)
        if read is not None:
            output = read * fraction  # what that input yields; the token target may need more or less
        m = measured.get(source.kind)
        plans.append(SourcePlan(
            kind=source.kind, weight=source.fraction, tokens=tokens, epochs=source.epochs, unique_tokens=unique,
            bytes_per_token=per_token, output_bytes=output, retention=fraction,
            retention_known=kept is not None, input_bytes=output / fraction if read is None else read,
            input_given=read is not None, reach=m.reach if m else (),
        ))
    return tuple(plans)


def plan(total_tokens: float, rates: Mapping[str, StageRate], stages_by_source: Mapping[str, Sequence[str]], *,
         retention: Mapping[str, float] | None = None, workers: int = 100, cores_per_worker: int = 4,
         target_hours: float = 24.0, mixture: MixtureSpec | None = None,
         measured: Mapping[str, MeasuredRetention] | None = None,
         input_bytes: Mapping[str, float] | None = None, skip_stages: Mapping[str, Sequence[str]] | None = None,
         ) -> CostPlan:
    """Core-hours per stage, total, and the cluster figures for one token target.

    Args:
        total_tokens: Tokens of the training mixture (LLaMA-1: 1.4e12).
        rates: Measured stage rates (``rates_from_results``); stages without one are
            listed as missing and left out of the totals.
        stages_by_source: The stages each source kind of the mixture runs, in order (its
            recipe's, ``pipeline.recipes.cost_stages``). A rate's ``sources`` overrides them.
        retention: Output/input text fraction per source kind; missing → 1.0 (lower bound).
        workers: Cluster size for the wall-time estimate.
        cores_per_worker: Cores per worker.
        target_hours: Wall time for the worker-count estimate.
        mixture: Source sizes (default: ``mixtures/llama1.yaml``, LLaMA-1 Table 1).
        measured: Per-kind retention and stage reach from a finished run's stats
            (``measured_retention``): each stage is charged for the share of the input that
            reaches it, and the retention sets the input size.
        input_bytes: Input size per kind (WET or WARC text), replacing ``output / retention``.
        skip_stages: Stages a kind does not run on this input (e.g. ``extract`` on WET text).

    Returns:
        The CostPlan; its ``missing_stages`` name every stage without a usable rate. Stages
        are listed in the order the mixture's sources first run them (the first source's
        chain, then the stages the others add), rate-only stages next, tokenizing last.
    """
    if workers < 1 or cores_per_worker < 1:
        raise CostModelError("workers and cores_per_worker must be >= 1")
    if not target_hours > 0:
        raise CostModelError("target_hours must be > 0")
    sources = plan_sources(total_tokens, retention, mixture, measured, input_bytes)
    by_kind = {s.kind: s for s in sources}
    skip = {k: set(v) for k, v in (skip_stages or {}).items()}
    stages_by_source = {k: tuple(st for st in v if st not in skip.get(k, ())) for k, v in stages_by_source.items()}
    missing = sorted(set(by_kind) - set(stages_by_source))
    if missing:
        raise CostModelError(f"no stages given for source kind(s) {missing}")
    stage_sources: dict[str, list[str]] = {}
    for kind in by_kind:
        for stage in stages_by_source[kind]:
            stage_sources.setdefault(stage, []).append(kind)
    unused = []
    for name, rate in sorted(rates.items()):
        if rate.sources is not None:
            unknown = sorted(set(rate.sources) - set(by_kind))
            if unknown:
                raise CostModelError(f"bench results: {name}.sources names unknown kind(s) {unknown}")
            stage_sources[name] = [k for k in by_kind if k in rate.sources]
        elif name not in stage_sources:
            unused.append(name)
    # Insertion order: the sources' stages first, then stages only a rate names; tokenizing last.
    names = sorted(stage_sources, key=lambda n: n in STAGES_ON_OUTPUT)
    stages = tuple(
        StagePlan(stage=name, sources=tuple(stage_sources[name]),
                  input_bytes=sum(by_kind[k].output_bytes if name in STAGES_ON_OUTPUT
                                  else by_kind[k].input_bytes * dict(by_kind[k].reach).get(name, 1.0)
                                  for k in stage_sources[name]),
                  rate=rates.get(name))
        for name in names
    )
    return CostPlan(total_tokens=total_tokens, sources=sources, stages=stages, unused_rates=tuple(sorted(unused)),
                    workers=workers, cores_per_worker=cores_per_worker, target_hours=target_hours)
