"""Shared fixtures: the real sample corpus (beside the checkout, or its copy in ``samples/``), and small helpers.

``corpus`` is ``../shared/corpus`` (or ``$PASTURE_CORPUS``) when it exists. A fresh clone has no
``../shared``: ``corpus`` is then the same layout built from ``samples/`` (see ``samples/README.md``),
which holds byte-identical copies of every shared file the behaviour tests read but one large
WARC; the tests that need it are marked ``shared_corpus`` and skip without ``../shared``.
"""

from __future__ import annotations

import lzma
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
# Test-only copies of shared corpus files, in the corpus layout. Kept apart from the folders the
# demo reads (samples/cc, samples/wikipedia, ...) so that the demo's outputs do not change.
SAMPLES_CORPUS = SAMPLES / "corpus"
DEMO_KINDS = ("arxiv", "books", "cc", "github", "stackexchange", "wikipedia")


def samples_corpus_view(root: Path) -> Path:
    """Lays out ``samples/`` like ``../shared/corpus`` under ``root``, as symlinks to the files.

    Files of ``samples/corpus/<kind>/`` and of the demo's ``samples/<kind>/`` keep their relative
    paths, except the demo's ``cc/cc-pages-*.warc.gz``: they belong in ``cc-pages/`` as in the corpus.
    A ``samples/corpus`` file stored xz-compressed (``NAME.xz``) is decompressed to ``NAME``.

    Returns:
        ``root``.
    """
    links: dict[Path, Path] = {}
    for kind in DEMO_KINDS:
        for path in sorted((SAMPLES / kind).rglob("*")):
            if path.is_file():
                rel = path.relative_to(SAMPLES)
                links[Path("cc-pages", path.name) if kind == "cc" and path.name.startswith("cc-pages-") else rel] = path
    for path in sorted(SAMPLES_CORPUS.rglob("*")):
        if path.is_file() and path.name != "README.md":
            links[path.relative_to(SAMPLES_CORPUS)] = path
    for rel, target in links.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel.suffix == ".xz":
            (root / rel.with_suffix("")).write_bytes(lzma.decompress(target.read_bytes()))
        else:
            (root / rel).symlink_to(target)
    return root


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.shared_corpus("FILE", ...)``: the test reads a corpus file too large for
    ``samples/``, so it runs only where ``../shared/corpus`` exists."""
    if CORPUS.is_dir():
        return
    for item in items:
        marker = item.get_closest_marker("shared_corpus")
        if marker:
            item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(marker.args) or 'files'} of the full "
                                             f"sample corpus (not in samples/); not found at {CORPUS}"))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``../shared/corpus`` (real public data for every source, see its README), or its layout
    built from ``samples/`` when it is missing."""
    if CORPUS.is_dir():
        return CORPUS
    return samples_corpus_view(tmp_path_factory.mktemp("samples-corpus"))


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def kenlm_tools() -> tuple[Path, Path]:
    """KenLM's ``lmplz`` and ``build_binary``, found as ``pasture models lm`` finds them (the venv's
    ``.kenlm-bin``, ``~/.cache/pasture/kenlm-bin``, PATH); the test skips when ./install.sh has not built them."""
    from pipeline.training.lm import LMTrainingError, find_kenlm_binary

    try:
        return tuple(find_kenlm_binary(name, venv=Path(sys.prefix)) for name in ("lmplz", "build_binary"))
    except LMTrainingError as exc:
        pytest.skip(str(exc))


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
