"""Shared fixtures: the real sample corpus beside the checkout, and small helpers."""

from __future__ import annotations

import os
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
