"""Cost model: measured per-stage rates × LLaMA-1 source sizes → core-hours and wall time.

Pure arithmetic, no I/O. The inputs are:

* a token target (LLaMA-1: 1.4T tokens) and the mixture of Table 1 of the LLaMA paper
  (arXiv 2302.13971): sampling proportion, epochs and disk size per source. Tokens per
  source are ``weight × total``; unique tokens are ``tokens / epochs``; bytes per token are
  derived from Table 1 itself (``disk size / unique tokens``, /work/shared/notes/anchors.md
  §2.7), so at 1.4T tokens the model reproduces the published disk sizes;
* per-stage throughput measured by the ``bench/`` scripts, in MB of document text per
  second per core (``bench/results.json``, written by ``bench/_results.py``);
* the fraction of each source's input text that survives the pipeline (``retention``).
  Table 1 gives *output* sizes; what a stage reads is ``output / retention``. Unknown
  retention is taken as 1.0, which makes every figure a lower bound, and says so.

Every cleaning/filtering stage is charged for the whole input of its source (no credit
for documents an earlier stage dropped), so its figure is an upper bound given its rate;
tokenizing is charged for the kept output only. Wall time assumes perfect scaling over
``workers × cores_per_worker`` cores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LLAMA_TOTAL_TOKENS = 1.4e12
MB = 1e6
TB = 1e12
GB = 1e9


@dataclass(frozen=True)
class SourceSize:
    """One row of LLaMA-1 Table 1."""

    kind: str
    weight: float  # sampling proportion of the 1.4T-token mixture
    epochs: float
    disk_bytes: float  # size on disk after processing, as printed (decimal units)

    @property
    def bytes_per_token(self) -> float:
        """Disk bytes per unique token, derived from Table 1 (anchors.md §2.7)."""
        unique_tokens = self.weight * LLAMA_TOTAL_TOKENS / self.epochs
        return self.disk_bytes / unique_tokens


# LLaMA-1 Table 1 (arXiv 2302.13971).
LLAMA1_SOURCES: tuple[SourceSize, ...] = (
    SourceSize("cc", 0.670, 1.10, 3.3 * TB),
    SourceSize("c4", 0.150, 1.06, 783 * GB),
    SourceSize("github", 0.045, 0.64, 328 * GB),
    SourceSize("wikipedia", 0.045, 2.45, 83 * GB),
    SourceSize("books", 0.045, 2.23, 85 * GB),
    SourceSize("arxiv", 0.025, 1.06, 92 * GB),
    SourceSize("stackexchange", 0.020, 1.03, 78 * GB),
)

# Which stages read each source's text, in pipeline order. A bench entry may override the
# sources of a stage with a "sources" list (for stages this table does not know).
STAGES_BY_SOURCE: dict[str, tuple[str, ...]] = {
    "cc": ("extract", "line_dedup", "lang_id", "perplexity", "quality", "minhash", "tokenize"),
    "c4": ("c4_rules", "lang_id", "minhash", "tokenize"),
    "github": ("github", "tokenize"),
    "wikipedia": ("wikipedia", "tokenize"),
    "books": ("books", "minhash", "tokenize"),
    "arxiv": ("arxiv", "tokenize"),
    "stackexchange": ("stackexchange", "tokenize"),
}

# Stages that read only what the filters kept (tokenizing the final documents).
STAGES_ON_OUTPUT: frozenset[str] = frozenset({"tokenize"})

# Table order: per-source cleaning first, shared filters in pipeline order, tokenizing last.
STAGE_ORDER: tuple[str, ...] = (
    "extract", "c4_rules", "github", "wikipedia", "books", "arxiv", "stackexchange",
    "line_dedup", "lang_id", "perplexity", "quality", "minhash", "tokenize",
)


class CostModelError(ValueError):
    """A rates file or a parameter cannot be used; the message says which."""


@dataclass(frozen=True)
class StageRate:
    """Measured throughput of one stage (MB of document text per second per core)."""

    stage: str
    mb_per_s_per_core: float | None
    measured: str | None = None
    command: str | None = None
    sources: tuple[str, ...] | None = None  # overrides STAGES_BY_SOURCE when given
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


def plan_sources(total_tokens: float, retention: Mapping[str, float] | None = None,
                 table: tuple[SourceSize, ...] = LLAMA1_SOURCES) -> tuple[SourcePlan, ...]:
    """Tokens, bytes to keep and bytes to read per source for a token target."""
    if not (total_tokens > 0 and math.isfinite(total_tokens)):
        raise CostModelError(f"tokens must be a positive number, got {total_tokens!r}")
    retention = dict(retention or {})
    unknown = sorted(set(retention) - {s.kind for s in table})
    if unknown:
        raise CostModelError(f"retention given for unknown source(s) {unknown}")
    plans = []
    for size in table:
        kept = retention.get(size.kind)
        if kept is not None and not 0 < kept <= 1:
            raise CostModelError(f"retention of {size.kind} must be in (0, 1], got {kept!r}")
        tokens = size.weight * total_tokens
        unique = tokens / size.epochs
        output = unique * size.bytes_per_token
        fraction = 1.0 if kept is None else float(kept)
        plans.append(SourcePlan(
            kind=size.kind, weight=size.weight, tokens=tokens, epochs=size.epochs, unique_tokens=unique,
            bytes_per_token=size.bytes_per_token, output_bytes=output, retention=fraction,
            retention_known=kept is not None, input_bytes=output / fraction,
        ))
    return tuple(plans)


def plan(total_tokens: float, rates: Mapping[str, StageRate], *, retention: Mapping[str, float] | None = None,
         workers: int = 100, cores_per_worker: int = 4, target_hours: float = 24.0,
         table: tuple[SourceSize, ...] = LLAMA1_SOURCES,
         stages_by_source: Mapping[str, tuple[str, ...]] = STAGES_BY_SOURCE) -> CostPlan:
    """Core-hours per stage, total, and the cluster figures for one token target.

    Args:
        total_tokens: Tokens of the training mixture (LLaMA-1: 1.4e12).
        rates: Measured stage rates (``rates_from_results``); stages without one are
            listed as missing and left out of the totals.
        retention: Output/input text fraction per source kind; missing → 1.0 (lower bound).
        workers: Cluster size for the wall-time estimate.
        cores_per_worker: Cores per worker.
        target_hours: Wall time for the worker-count estimate.
        table: Source sizes (default: LLaMA-1 Table 1).
        stages_by_source: Stages run on each source kind.

    Returns:
        The CostPlan; its ``missing_stages`` name every stage without a usable rate.
    """
    if workers < 1 or cores_per_worker < 1:
        raise CostModelError("workers and cores_per_worker must be >= 1")
    if not target_hours > 0:
        raise CostModelError("target_hours must be > 0")
    sources = plan_sources(total_tokens, retention, table)
    by_kind = {s.kind: s for s in sources}
    stage_sources: dict[str, list[str]] = {}
    for kind in by_kind:
        for stage in stages_by_source.get(kind, ()):
            stage_sources.setdefault(stage, []).append(kind)
    unused = []
    for name, rate in rates.items():
        if rate.sources is not None:
            unknown = sorted(set(rate.sources) - set(by_kind))
            if unknown:
                raise CostModelError(f"bench results: {name}.sources names unknown kind(s) {unknown}")
            stage_sources[name] = [k for k in by_kind if k in rate.sources]
        elif name not in stage_sources:
            unused.append(name)
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    names = sorted(stage_sources, key=lambda n: (order.get(n, len(order)), n))
    stages = tuple(
        StagePlan(stage=name, sources=tuple(stage_sources[name]),
                  input_bytes=sum(by_kind[k].output_bytes if name in STAGES_ON_OUTPUT else by_kind[k].input_bytes
                                  for k in stage_sources[name]),
                  rate=rates.get(name))
        for name in names
    )
    return CostPlan(total_tokens=total_tokens, sources=sources, stages=stages, unused_rates=tuple(sorted(unused)),
                    workers=workers, cores_per_worker=cores_per_worker, target_hours=target_hours)
