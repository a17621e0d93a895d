"""One recipe per source kind: every step of the source, in order, as one readable list.

``pipeline/recipes/<kind>.py`` defines ``steps(cfg, spec, paths=()) -> list``: first a
:class:`Read` (the kind's reader and the files it reads), then filters and cleaners from
``filters/`` and Beam composites from ``stages/`` (dedup, grouping), in the order they run.
The same list is built into the Beam pipeline (``stages.source.BuildSource``), measured by
the benches and priced by the cost model (:func:`cost_stages`), so the three cannot drift.

The kind itself (settings class, folder suffixes) is declared in ``filters/sources/<kind>``;
the recipe module is found by the kind's name.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from filters.sources import source_kinds


@dataclass(frozen=True)
class Read:
    """The first step of a recipe: ``reader(path, fh)`` over each of ``files``.

    ``files`` are the inputs the reader takes (a recipe may leave out or expand what the
    user gave; GitHub expands license maps into repository files).
    """

    reader: Any
    files: tuple[str, ...] = field(default_factory=tuple)
    # The benchmarked stage that reading is part of (None: the kind's own chain).
    cost_stage: str | None = None
    name: str = "read"


def recipe_for(kind: str) -> ModuleType:
    """The recipe module of ``kind`` (``pipeline.recipes.<kind>``)."""
    if kind not in source_kinds():
        raise ValueError(f"no source kind {kind!r}; known: {sorted(source_kinds())}")
    try:
        module = importlib.import_module(f"{__name__}.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{kind}":
            raise
        raise ValueError(f"source kind {kind!r} has no recipe: add pipeline/recipes/{kind}.py") from None
    if not callable(getattr(module, "steps", None)):
        raise TypeError(f"{module.__name__} must define steps(cfg, spec, paths=())")
    return module


def folder_suffixes(kind: str) -> tuple[str, ...] | None:
    """What the kind reads when an input is a folder (``None``: every file)."""
    return source_kinds()[kind].folder_suffixes


def recipe_steps(cfg: Any, spec: Any, paths: Sequence[str] = ()) -> list[Any]:
    """The steps of ``spec``'s recipe under ``cfg``; the first is always a :class:`Read`."""
    steps = list(recipe_for(spec.kind).steps(cfg, spec, tuple(paths)))
    if not steps or not isinstance(steps[0], Read):
        raise TypeError(f"the {spec.kind} recipe must start with Read(...)")
    if any(isinstance(step, Read) for step in steps[1:]):
        raise TypeError(f"the {spec.kind} recipe reads twice; only its first step may be Read(...)")
    return steps


def cost_stages(kind: str, steps: Sequence[Any]) -> tuple[str, ...]:
    """The cost model's stage names for a recipe's steps, in order, each once.

    A step names its own stage with ``cost_stage`` (shared filters: ``lang_id``,
    ``perplexity``...); the reader and the kind's own steps, which name none, are
    benchmarked together as one chain named after the kind. Tokenizing the kept documents
    comes last for every source.
    """
    names: list[str] = []
    for step in steps:
        stage = getattr(step, "cost_stage", None) or kind
        if stage and stage not in names:
            names.append(stage)
    return (*names, "tokenize")
