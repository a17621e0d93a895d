"""One recipe per source kind: reader + cleaners + filters, wired as Beam stages.

Each module ``pipeline/recipes/<kind>.py`` exposes
``build(p, cfg: PipelineConfig, spec: SourceSpec, paths: list[str]) -> SourceStreams``.
"""

from __future__ import annotations

import importlib
from typing import Any

RECIPES = {
    "cc": "pipeline.recipes.cc",
    "c4": "pipeline.recipes.c4",
    "github": "pipeline.recipes.github",
    "wikipedia": "pipeline.recipes.wikipedia",
    "books": "pipeline.recipes.books",
    "arxiv": "pipeline.recipes.arxiv",
    "stackexchange": "pipeline.recipes.stackexchange",
}

# What a recipe reads when an input is a folder (explicit files and globs are always read).
FOLDER_SUFFIXES: dict[str, tuple[str, ...]] = {
    "cc": (".warc", ".warc.gz", ".wet", ".wet.gz", ".arc.gz"),
    "c4": (".warc", ".warc.gz", ".wet", ".wet.gz", ".arc.gz"),
    "wikipedia": (".xml", ".xml.bz2"),
    "arxiv": (".tar.gz", ".tgz", ".tar", ".gz"),
}


def recipe_for(kind: str) -> Any:
    try:
        return importlib.import_module(RECIPES[kind])
    except KeyError:
        raise ValueError(f"no recipe for source kind {kind!r}; known: {sorted(RECIPES)}") from None
