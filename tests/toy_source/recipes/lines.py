"""The toy ``lines`` kind: read → short-line filter → near dedup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filters.sources.lines.rules import LinesFilter, LinesReader
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes import Read
from stages.dedup import NearDedup


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    lines = cfg.settings("lines")
    recipe = [Read(LinesReader(spec.name, lines), tuple(paths)), LinesFilter(lines)]
    if cfg.minhash.enabled:
        recipe.append(NearDedup(cfg.minhash))
    return recipe
