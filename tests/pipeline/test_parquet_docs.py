"""Documents as Parquet beside JSONL (shards.formats): one schema, every source in one load_dataset call."""

from __future__ import annotations

import gzip
import json

import pytest

from mixtures.config import ConfigError, config_from_dict
from pipeline.runner import run_sources


def test_every_source_loads_in_one_load_dataset_call(tmp_path, corpus):
    datasets = pytest.importorskip("datasets", reason="the dev extra installs datasets")
    cfg = config_from_dict({
        "output": str(tmp_path / "out"), "progress": {"enabled": False},
        "shards": {"formats": ["jsonl", "parquet"], "num_shards": 2},
        "sources": {"github": {"kind": "github", "inputs": [str(corpus / "github")]},
                    "wikipedia": {"kind": "wikipedia", "inputs": [str(corpus / "wikipedia")]},
                    "stackexchange": {"kind": "stackexchange", "inputs": [str(corpus / "stackexchange")]}}})
    results = run_sources(cfg, ["github", "wikipedia", "stackexchange"])
    files = sorted(str(p) for p in (tmp_path / "out").glob("*/docs/part-*.parquet"))
    assert len(files) == 6
    loaded = datasets.load_dataset("parquet", data_files=files, split="train",
                                   cache_dir=str(tmp_path / "hf-cache"))
    assert loaded.column_names == ["id", "text", "source", "url", "meta", "annotations"]
    assert len(loaded) == sum(r.stats["documents_out"] for r in results)
    assert set(loaded["source"]) == {"github", "wikipedia", "stackexchange"}
    # The Parquet rows are the JSONL documents, field for field.
    jsonl = {}
    for path in (tmp_path / "out").glob("*/docs/part-*.jsonl.gz"):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            doc = json.loads(line)
            jsonl[doc["id"]] = doc
    for row in loaded.select(range(0, len(loaded), 97)):
        doc = jsonl[row["id"]]
        assert (row["text"], row["source"]) == (doc["text"], doc["source"])
        assert json.loads(row["meta"]) == doc["meta"] and json.loads(row["annotations"]) == doc["annotations"]
    # The checksums of the Parquet shards are recorded like every other output.
    stats = results[0].stats
    assert {k for k in stats["outputs"] if k.endswith(".parquet")} == {
        "docs/part-00000-of-00002.parquet", "docs/part-00001-of-00002.parquet"}


def test_formats_are_checked():
    with pytest.raises(ConfigError, match="unknown format"):
        config_from_dict({"shards": {"formats": ["jsonl", "orc"]}})
    with pytest.raises(ConfigError, match="must include jsonl"):
        config_from_dict({"shards": {"formats": ["parquet"]}})
