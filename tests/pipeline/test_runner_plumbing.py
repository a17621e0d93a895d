"""The runner's plumbing: read → steps → sorted shards + stats that reconcile."""

from __future__ import annotations

import gzip
import json
import sys
import types

import pytest

from filters.base import Dropped, QuarantineRecord, Verdict
from filters.document import Document, stable_id
from mixtures.config import config_from_dict
from pipeline import recipes, runner
from stages.steps import ReadSource
from stages.streams import SourceStreams


def _lines_reader(path, fh):
    for i, raw in enumerate(fh.read().decode("utf-8").splitlines()):
        if raw == "BAD":
            yield QuarantineRecord("toy", path, str(i), "read", "unreadable line")
        elif raw == "SKIP":
            yield Dropped(Document(stable_id("toy", path, i), raw, "toy", {"file": path, "record": i}), "skipped")
        else:
            yield Document(stable_id("toy", path, i), raw, "toy", {"file": path, "record": i})


class _ShortFilter:
    name = "short"

    def load(self):
        pass

    def __call__(self, doc):
        if doc.text == "EXPLODE":
            raise ValueError("boom")
        return Verdict.kept(chars=len(doc.text)) if len(doc.text) > 3 else Verdict.dropped("too_short")


def _build(p, cfg, spec, paths):
    read = p | ReadSource(spec.name, paths, _lines_reader)
    return SourceStreams.from_read(spec.name, read).then(_ShortFilter())


@pytest.fixture()
def toy_recipe(monkeypatch):
    module = types.ModuleType("toy_recipe")
    module.build = _build
    monkeypatch.setitem(sys.modules, "toy_recipe", module)
    monkeypatch.setitem(recipes.RECIPES, "books", "toy_recipe")


def test_run_writes_sorted_shards_and_reconciled_stats(tmp_path, toy_recipe):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("hello world\nno\nBAD\nSKIP\nEXPLODE\n")
    b.write_text("another line\nxy\n")
    cfg = config_from_dict({"output": str(tmp_path / "out"), "shards": {"num_shards": 2},
                            "sources": {"toy": {"kind": "books", "inputs": [str(tmp_path / "*.txt")]}}})
    [result] = runner.run_sources(cfg, ["toy"])
    stats = result.stats
    assert stats["documents_in"] == 7
    assert stats["documents_out"] == 2
    assert stats["dropped"] == {"skipped": 1, "too_short": 2}
    assert stats["quarantined"] == 2
    docs = []
    for shard in sorted((tmp_path / "out/toy/docs").iterdir()):
        lines = gzip.decompress(shard.read_bytes()).decode().splitlines()
        ids = [json.loads(line)["id"] for line in lines]
        assert ids == sorted(ids)
        docs += [json.loads(line) for line in lines]
    assert sorted(d["text"] for d in docs) == ["another line", "hello world"]
    assert all(d["annotations"]["short"]["chars"] > 3 for d in docs)
    quarantine = gzip.decompress(next((tmp_path / "out/toy/quarantine").iterdir()).read_bytes()).decode()
    assert "unreadable line" in quarantine and "ValueError: boom" in quarantine
    assert json.loads((tmp_path / "out/toy/stats.json").read_text())["reconciled"] is True
