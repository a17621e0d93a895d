"""Every source kind's pure logic, one folder each, found by looking in this folder.

A source kind is a package ``filters/sources/<kind>/`` whose ``__init__`` declares
``KIND = SourceKind(...)``: its name, its settings class (read from the top-level key of the
config file named after the kind) and the files it reads when an input is a folder. Beside
it live the kind's reader, cleaning rules and own filters; the steps it runs, in order, are
its recipe ``pipeline/recipes/<kind>.py``. Adding a source is one folder and one recipe:
nothing else lists the kinds.

A package without ``KIND`` holds code that several kinds share and is not a kind itself.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceKind:
    """What the rest of pasture needs to know about a source kind before running it."""

    name: str
    # The kind's settings dataclass (``None``: the kind has none of its own).
    settings: type | None = None
    # Which files of an input folder the kind reads (``None``: every file). Explicit files
    # and globs are always read.
    folder_suffixes: tuple[str, ...] | None = None


@functools.cache
def source_kinds() -> dict[str, SourceKind]:
    """Every kind in this folder, by name (sorted, so the order never depends on the disk)."""
    kinds = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if kind is None:
            continue
        if not isinstance(kind, SourceKind) or kind.name != info.name:
            raise TypeError(f"{module.__name__}.KIND must be SourceKind(name={info.name!r}, ...)")
        kinds[kind.name] = kind
    return kinds
