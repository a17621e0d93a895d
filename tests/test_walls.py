"""The walls between packages, checked on every import statement (function-level ones too).

- ``filters/`` is pure document logic: no Beam, no ``stages``, no ``pipeline`` (so runtime
  scoring, ``filters/perplexity.py`` and ``filters/quality.py``, never reaches the
  model-training code in ``pipeline/training``);
- only ``stages/`` and ``pipeline/`` import ``apache_beam``;
- ``trainer/`` reads shards through ``tokenizer/`` and knows nothing of Beam or filters;
- ``mixtures/`` is specs and arithmetic: no ``stages``, no ``pipeline``, no Beam.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "filters": ("apache_beam", "stages", "pipeline"),
    "tokenizer": ("apache_beam", "stages", "pipeline"),
    "trainer": ("apache_beam", "stages", "filters", "pipeline"),
    "mixtures": ("apache_beam", "stages", "pipeline"),
}


def imported_modules(path: Path, root: Path = REPO) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in the file, relative imports resolved to absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def violations(package: str, root: Path = REPO) -> list[str]:
    banned = FORBIDDEN[package]
    found = []
    for path in sorted((root / package).rglob("*.py")):
        for line, module in imported_modules(path, root):
            if module.split(".")[0] in banned:
                found.append(f"{path.relative_to(root)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_its_walls(package):
    assert violations(package) == []


def test_the_wall_check_sees_function_level_and_relative_imports(tmp_path):
    probe = tmp_path / "filters" / "sources" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("import os\n\ndef f():\n    import apache_beam\n    from ...pipeline import runner\n"
                     "    from .. import document\n", encoding="utf-8")
    assert violations("filters", tmp_path) == [
        "filters/sources/probe.py:4 imports apache_beam",
        "filters/sources/probe.py:5 imports pipeline",
    ]
