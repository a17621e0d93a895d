"""A recipe's step list, built into Beam: read, then every step in order.

Each element of the list becomes one labelled stage: the :class:`~pipeline.recipes.Read`
becomes :class:`~stages.steps.ReadSource`, a filter or cleaner (anything with ``name`` and
``__call__``) becomes :class:`~stages.steps.ApplyStep`, and a ``beam.PTransform`` is applied
as a composite step (it returns :func:`~stages.streams.step_outputs`).

A composite marked ``joint`` (global near-dedup) looks across several sources at once; the
runner applies it to all of them together, so building stops in front of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apache_beam as beam

from stages.steps import ReadSource
from stages.streams import SourceStreams


def is_joint(step: Any) -> bool:
    """True for a composite that must see every source of its group at once."""
    return bool(getattr(step, "joint", False))


def build_source(p: beam.Pipeline, name: str, steps: Sequence[Any]) -> tuple[SourceStreams, list[Any]]:
    """Build ``steps`` (a recipe's list, starting with Read) for source ``name``.

    Returns the streams and the steps not built: the first joint step and all after it.
    """
    read, *rest = steps
    streams = SourceStreams.from_read(name, p | f"{name}/Read" >> ReadSource(name, list(read.files), read.reader))
    for index, step in enumerate(rest):
        if is_joint(step):
            return streams, list(rest[index:])
        if isinstance(step, beam.PTransform):
            streams.then_transform(step, f"{name}/{step_label(step)}")
        else:
            streams.then(step)
    return streams, []


def step_label(step: beam.PTransform) -> str:
    """A composite's label: the one it was built with, else its class name."""
    return step.label
