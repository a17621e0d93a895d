"""Shared fixtures: the real sample corpus beside the checkout, and small helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _corpus_dir() -> Path:
    env = os.environ.get("PASTURE_CORPUS")
    if env:
        return Path(env)
    return (REPO.parent / "shared" / "corpus").resolve()


CORPUS = _corpus_dir()
SAMPLES = REPO / "samples"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """``../shared/corpus``: real public data for every source (see its README)."""
    if not CORPUS.is_dir():
        pytest.skip(f"sample corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


TOY_SOURCE = Path(__file__).resolve().parent / "toy_source"


@pytest.fixture()
def toy_source(monkeypatch):
    """The toy ``lines`` kind of ``tests/toy_source``, found as if its folder and recipe were
    in ``filters/sources/`` and ``pipeline/recipes/`` (see its README)."""
    import filters.sources
    import pipeline.recipes

    monkeypatch.setattr(filters.sources, "__path__", [*filters.sources.__path__, str(TOY_SOURCE / "sources")])
    monkeypatch.setattr(pipeline.recipes, "__path__", [*pipeline.recipes.__path__, str(TOY_SOURCE / "recipes")])
    filters.sources.source_kinds.cache_clear()
    yield "lines"
    filters.sources.source_kinds.cache_clear()
    for module in [m for m in sys.modules if m.startswith(("filters.sources.lines", "pipeline.recipes.lines"))]:
        del sys.modules[module]
