"""Mixture specs: which source kinds, at what sampling weight, and how often LLaMA repeated them.

A mixture is one YAML file, ``mixtures/<name>.yaml`` (see ``llama1.yaml``)::

    name: llama1
    reference: "arXiv:2302.13971, Table 1"
    total_tokens: 1.4e12
    sources:
      cc: {label: CommonCrawl, weight: 67.0, epochs: 1.10, disk: 3.3 TB}
      ...

Weights are percentages and must sum to 100. ``load_mixture`` returns a frozen
``MixtureSpec``; nothing here reads documents or tokens.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mixtures.config import ConfigError, known_kinds

MIXTURES_DIR = Path(__file__).resolve().parent

# Floating point slack on "weights sum to 100" (the YAML holds 1-decimal percentages).
_WEIGHT_SUM_TOLERANCE = 1e-6

_SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_size(text: str) -> int:
    """Parses a decimal size such as ``"3.3 TB"`` into bytes (the paper uses decimal units)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?B)\s*", str(text))
    if not match:
        raise ConfigError(f"bad size {text!r}; expected e.g. '83 GB'")
    return int(round(float(match.group(1)) * _SIZE_UNITS[match.group(2)]))


@dataclass(frozen=True)
class MixtureSource:
    """One source kind of a mixture.

    Attributes:
        kind: Our source kind (one of ``mixtures.config.known_kinds()``).
        label: The paper's name for it.
        weight: Sampling proportion in percent.
        epochs: Passes over the source in the reference training run.
        disk_bytes: Size on disk in the reference (decimal bytes).
    """

    kind: str
    label: str
    weight: float
    epochs: float
    disk_bytes: int

    @property
    def fraction(self) -> float:
        """Weight as a fraction of 1."""
        return self.weight / 100.0


@dataclass(frozen=True)
class MixtureSpec:
    """A whole mixture, sources in file order (that order is the blending order)."""

    name: str
    reference: str
    total_tokens: float
    sources: tuple[MixtureSource, ...]

    def __post_init__(self) -> None:
        kinds = [s.kind for s in self.sources]
        if not kinds:
            raise ConfigError(f"mixture {self.name}: no sources")
        if len(set(kinds)) != len(kinds):
            raise ConfigError(f"mixture {self.name}: duplicate source kinds {kinds}")
        for s in self.sources:
            if s.kind not in known_kinds():
                raise ConfigError(f"mixture {self.name}: unknown source kind {s.kind!r}; known {known_kinds()}")
            if not (s.weight > 0 and math.isfinite(s.weight)):
                raise ConfigError(f"mixture {self.name}: sources.{s.kind}.weight must be > 0")
            if not (s.epochs > 0 and math.isfinite(s.epochs)):
                raise ConfigError(f"mixture {self.name}: sources.{s.kind}.epochs must be > 0")
        total = sum(s.weight for s in self.sources)
        if abs(total - 100.0) > _WEIGHT_SUM_TOLERANCE:
            raise ConfigError(f"mixture {self.name}: weights sum to {total}, expected 100")
        if not self.total_tokens > 0:
            raise ConfigError(f"mixture {self.name}: total_tokens must be > 0")

    @property
    def kinds(self) -> tuple[str, ...]:
        """Source kinds in blending order."""
        return tuple(s.kind for s in self.sources)

    def source(self, kind: str) -> MixtureSource:
        """The entry for ``kind``; raises ``ConfigError`` if the mixture has none."""
        for s in self.sources:
            if s.kind == kind:
                return s
        raise ConfigError(f"mixture {self.name} has no source kind {kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for manifests."""
        return {
            "name": self.name,
            "reference": self.reference,
            "total_tokens": self.total_tokens,
            "sources": {
                s.kind: {"label": s.label, "weight": s.weight, "epochs": s.epochs, "disk_bytes": s.disk_bytes}
                for s in self.sources
            },
        }


def mixture_from_dict(data: dict[str, Any], default_name: str = "mixture") -> MixtureSpec:
    """Builds and validates a ``MixtureSpec`` from the YAML layout."""
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        raise ConfigError("mixture: expected a mapping with a 'sources' mapping")
    sources = []
    for kind, entry in data["sources"].items():
        if not isinstance(entry, dict):
            raise ConfigError(f"mixture: sources.{kind} must be a mapping")
        unknown = set(entry) - {"label", "weight", "epochs", "disk"}
        if unknown:
            raise ConfigError(f"mixture: sources.{kind}: unknown keys {sorted(unknown)}")
        try:
            sources.append(
                MixtureSource(
                    kind=str(kind),
                    label=str(entry.get("label", kind)),
                    weight=float(entry["weight"]),
                    epochs=float(entry["epochs"]),
                    disk_bytes=parse_size(entry["disk"]) if "disk" in entry else 0,
                )
            )
        except KeyError as err:
            raise ConfigError(f"mixture: sources.{kind}: missing {err.args[0]!r}") from err
    return MixtureSpec(
        name=str(data.get("name", default_name)),
        reference=str(data.get("reference", "")),
        total_tokens=float(data.get("total_tokens", 1.4e12)),
        sources=tuple(sources),
    )


def mixture_path(name_or_path: str) -> Path:
    """``llama1`` → ``mixtures/llama1.yaml``; an existing path is returned as is."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return MIXTURES_DIR / f"{name_or_path}.yaml"


def load_mixture(name_or_path: str = "llama1") -> MixtureSpec:
    """Loads a mixture by name (``mixtures/<name>.yaml``) or by path."""
    path = mixture_path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"mixture {name_or_path!r} not found (looked for {path})")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"mixture {path}: cannot be read: {err}") from err
    return mixture_from_dict(data, default_name=path.stem)
