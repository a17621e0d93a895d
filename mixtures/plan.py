"""Mixture plan: how many tokens to draw from each source, and how often that repeats it.

Pure arithmetic over a ``MixtureSpec`` and the token counts a run actually produced
(``tokenizer.manifest.read_run_token_counts`` reads those). Rules:

* A source kind of the mixture with no tokens in the run is *missing*; its weight is spread
  over the present kinds in proportion to their own weights (renormalisation), and a
  ``missing_source`` warning names it.
* Several sources of one kind (e.g. two CC dumps under different names) share the kind's
  weight in proportion to their token counts.
* ``epochs = tokens drawn / tokens available``. Where that is more than
  ``REPEAT_WARN_FACTOR`` times the epochs LLaMA used for the kind (Table 1), a
  ``repeated_far_more_than_llama`` warning says so: the plan would overfit that source.

Warning codes (stable):
    missing_source, repeated_far_more_than_llama, not_in_mixture
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mixtures.spec import MixtureSpec

WARN_MISSING = "missing_source"
WARN_REPEATED = "repeated_far_more_than_llama"
WARN_NOT_IN_MIXTURE = "not_in_mixture"

# LLaMA repeated Wikipedia 2.45x and Books 2.23x; twice its own figure is where a small
# run starts memorising a source rather than sampling it.
REPEAT_WARN_FACTOR = 2.0


@dataclass(frozen=True)
class SourceTokens:
    """Tokens a run holds for one source (from its tokens manifest)."""

    name: str
    kind: str
    tokens: int


@dataclass(frozen=True)
class PlanWarning:
    code: str
    source: str
    message: str


@dataclass(frozen=True)
class PlannedSource:
    """One source's line of the plan.

    Attributes:
        name: Source name in the run directory.
        kind: Source kind (key of the mixture).
        nominal_weight: The mixture's weight for the kind, percent.
        weight: Effective weight of this source after renormalisation, percent.
        available_tokens: Unique tokens the run holds for it.
        tokens: Tokens to draw.
        epochs: ``tokens / available_tokens``.
        llama_epochs: Epochs LLaMA used for this kind.
    """

    name: str
    kind: str
    nominal_weight: float
    weight: float
    available_tokens: int
    tokens: int
    epochs: float
    llama_epochs: float

    @property
    def fraction(self) -> float:
        return self.weight / 100.0


@dataclass(frozen=True)
class MixturePlan:
    mixture: str
    total_tokens: int
    sources: tuple[PlannedSource, ...]
    missing: tuple[str, ...]
    warnings: tuple[PlanWarning, ...] = field(default_factory=tuple)

    def source(self, name: str) -> PlannedSource:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mixture": self.mixture,
            "total_tokens": self.total_tokens,
            "sources": [asdict(s) for s in self.sources],
            "missing": list(self.missing),
            "warnings": [asdict(w) for w in self.warnings],
        }


def plan_mixture(spec: MixtureSpec, available: list[SourceTokens], total_tokens: int) -> MixturePlan:
    """Plans how many tokens to draw from each source.

    Args:
        spec: The mixture (weights, LLaMA epochs).
        available: Token counts per source of the run.
        total_tokens: Tokens the blend should hold.

    Returns:
        A ``MixturePlan`` whose sources follow the mixture's kind order, then name.

    Raises:
        ValueError: No source of the mixture has any token, or total_tokens <= 0.
    """
    if total_tokens <= 0:
        raise ValueError("total_tokens must be > 0")
    warnings: list[PlanWarning] = []
    by_kind: dict[str, list[SourceTokens]] = {}
    for src in sorted(available, key=lambda s: s.name):
        if src.kind not in spec.kinds:
            warnings.append(PlanWarning(WARN_NOT_IN_MIXTURE, src.name,
                                        f"{src.name}: kind {src.kind!r} is not in mixture {spec.name}; left out"))
            continue
        if src.tokens > 0:
            by_kind.setdefault(src.kind, []).append(src)
    missing = tuple(k for k in spec.kinds if k not in by_kind)
    if not by_kind:
        raise ValueError(f"none of the mixture's sources {list(spec.kinds)} has tokens in this run")
    present_weight = sum(spec.source(k).weight for k in by_kind)
    for kind in missing:
        warnings.append(PlanWarning(WARN_MISSING, kind,
                                    f"{kind}: missing from the run; its {spec.source(kind).weight:g}% is spread "
                                    f"over the present sources"))
    planned: list[PlannedSource] = []
    for kind in spec.kinds:
        if kind not in by_kind:
            continue
        entry = spec.source(kind)
        kind_weight = entry.weight * 100.0 / present_weight
        kind_tokens = sum(s.tokens for s in by_kind[kind])
        for src in by_kind[kind]:
            weight = kind_weight * src.tokens / kind_tokens
            drawn = int(round(total_tokens * weight / 100.0))
            epochs = drawn / src.tokens
            planned.append(PlannedSource(src.name, kind, entry.weight, weight, src.tokens, drawn, epochs, entry.epochs))
            if epochs > REPEAT_WARN_FACTOR * entry.epochs:
                warnings.append(PlanWarning(
                    WARN_REPEATED, src.name,
                    f"{src.name}: {epochs:.2f} epochs, {epochs / entry.epochs:.1f}x LLaMA's {entry.epochs:.2f} "
                    f"(more than {REPEAT_WARN_FACTOR:g}x): add data or lower --tokens"))
    return MixturePlan(spec.name, int(total_tokens), tuple(planned), missing, tuple(warnings))


def format_plan(plan: MixturePlan) -> str:
    """A table a person can read, then the warnings."""
    header = f"{'source':<16}{'kind':<15}{'weight %':>9}{'available':>15}{'drawn':>17}{'epochs':>9}{'LLaMA':>7}"
    lines = [f"mixture {plan.mixture}, {plan.total_tokens:,} tokens", header, "-" * len(header)]
    for s in plan.sources:
        lines.append(f"{s.name:<16}{s.kind:<15}{s.weight:>9.2f}{s.available_tokens:>15,}{s.tokens:>17,}"
                     f"{s.epochs:>9.2f}{s.llama_epochs:>7.2f}")
    for w in plan.warnings:
        lines.append(f"WARNING [{w.code}] {w.message}")
    return "\n".join(lines)
