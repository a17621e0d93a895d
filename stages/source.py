"""A recipe's step list, built into Beam: read, then every step in order.

Each element of the list becomes one labelled stage: the :class:`~pipeline.recipes.Read`
becomes :class:`~stages.steps.ReadSource`, a filter or cleaner (anything with ``name`` and
``__call__``) becomes :class:`~stages.steps.ApplyStep`, and a ``beam.PTransform`` is applied
as a composite step (it returns :func:`~stages.streams.step_outputs`).

A composite marked ``joint`` (global near-dedup) looks across several sources at once: it
has ``joint = True`` and ``apply_jointly({source: streams})``. Building stops in front of
it; the runner applies it once to every source of the pipeline that has it, then builds
the steps after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apache_beam as beam

from mixtures.config import HttpSettings
from stages.steps import ReadSource
from stages.streams import SourceStreams


def is_joint(step: Any) -> bool:
    """True for a composite that must see every source of its group at once."""
    return bool(getattr(step, "joint", False))


def build_source(p: beam.Pipeline, name: str, steps: Sequence[Any], inputs: Any = None,
                 http: HttpSettings | None = None) -> tuple[SourceStreams, list[Any]]:
    """Build ``steps`` (a recipe's list, starting with Read) for source ``name``.

    ``inputs`` (a :class:`pipeline.inputs.ResolvedInputs`) names the files the recipe reads,
    so ReadSource hands readers :class:`~filters.base.InputFile` items; recipes keep returning
    path strings. ``http`` configures ``http(s)://`` inputs.

    Returns the streams and the steps not built: the first joint step and all after it.
    """
    read, *rest = steps
    files = inputs.input_files(read.files) if inputs is not None else list(read.files)
    streams = SourceStreams.from_read(name, p | f"{name}/Read" >> ReadSource(name, files, read.reader, http=http))
    joint = next((index for index, step in enumerate(rest) if is_joint(step)), len(rest))
    apply_steps(streams, rest[:joint])
    return streams, list(rest[joint:])


def apply_steps(streams: SourceStreams, steps: Sequence[Any]) -> SourceStreams:
    """Each step in order: a composite by its label, a filter or cleaner through ApplyStep."""
    for step in steps:
        if isinstance(step, beam.PTransform):
            # A composite's label is the one it was built with, else its class name.
            streams.then_transform(step, f"{streams.name}/{step.label}")
        else:
            streams.then(step)
    return streams
