"""The README stays true: its config example loads, and its layout table names real places."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from filters.sources import source_kinds
from mixtures.config import config_from_dict

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_configuration_example_loads_as_written():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Configuration.*?```yaml\n(.*?)```", text, re.S).group(1)
    cfg = config_from_dict(yaml.safe_load(block))
    assert {spec.kind for spec in cfg.sources} == set(source_kinds())
    assert cfg.export.tokens == 1.4e12  # written 1.4e12, which YAML 1.1 reads as a string
    assert cfg.settings("github").licenses == ("mit", "apache-2.0", "bsd-2-clause", "bsd-3-clause")


def test_every_path_in_the_layout_table_exists():
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Code layout"):text.index("### Where does a change go")]
    paths = re.findall(r"^\| `([^`]+)` \|", table, re.M)
    assert paths
    root = README.parent
    for path in paths:
        assert (root / path.replace("<kind>", "cc")).exists(), path
