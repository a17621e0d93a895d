"""The LLaMA-1 mixture spec (Table 1) loads, and bad specs fail with the field named."""

from __future__ import annotations

import dataclasses

import pytest

from mixtures.config import ConfigError
from mixtures.spec import load_mixture, mixture_from_dict, parse_size

TABLE_1 = {  # kind: (weight %, epochs, disk)
    "cc": (67.0, 1.10, 3.3e12),
    "c4": (15.0, 1.06, 783e9),
    "github": (4.5, 0.64, 328e9),
    "wikipedia": (4.5, 2.45, 83e9),
    "books": (4.5, 2.23, 85e9),
    "arxiv": (2.5, 1.06, 92e9),
    "stackexchange": (2.0, 1.03, 78e9),
}


def test_llama1_is_table_1():
    spec = load_mixture("llama1")
    assert spec.name == "llama1" and spec.total_tokens == 1.4e12
    assert spec.kinds == tuple(TABLE_1)
    for kind, (weight, epochs, disk) in TABLE_1.items():
        s = spec.source(kind)
        assert (s.weight, s.epochs, s.disk_bytes) == (weight, epochs, int(disk))
    assert sum(s.weight for s in spec.sources) == pytest.approx(100.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sources[0].weight = 1.0  # type: ignore[misc]


def _spec(**overrides):
    data = {"name": "t", "sources": {"cc": {"weight": 60, "epochs": 1}, "books": {"weight": 40, "epochs": 2}}}
    data["sources"].update(overrides)
    return data


@pytest.mark.parametrize(
    "data, message",
    [
        (_spec(books={"weight": 39, "epochs": 2}), "weights sum to 99"),
        (_spec(novels={"weight": 0.0001, "epochs": 1}), "unknown source kind 'novels'"),
        (_spec(books={"weight": 40, "epochs": 0}), "books.epochs must be > 0"),
        (_spec(books={"weight": 40}), "missing 'epochs'"),
        (_spec(books={"weight": 40, "epochs": 1, "colour": "red"}), "unknown keys"),
        ({"name": "t"}, "'sources' mapping"),
    ],
)
def test_bad_specs_are_rejected(data, message):
    with pytest.raises(ConfigError, match=message):
        mixture_from_dict(data)


def test_unknown_mixture_name():
    with pytest.raises(ConfigError, match="not found"):
        load_mixture("llama9")


def test_parse_size_is_decimal():
    assert parse_size("3.3 TB") == 3_300_000_000_000 and parse_size("83 GB") == 83_000_000_000
    with pytest.raises(ConfigError):
        parse_size("lots")


def test_unreadable_mixture_file_is_a_config_error(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: {cc: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_mixture(str(broken))
