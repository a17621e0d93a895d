"""TokenizeToShards: per-document encoding + eos, shards by id-hash range, id order inside, no global lists."""

from __future__ import annotations

import json
import math

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters.document import Document
from mixtures.provenance import sha256_file
from pipeline.dataflow import dataflow_args, inspect, problems, shuffle_keys
from pipeline.options import make_options
from stages.tokenize import TokenizeToShards
from tests.tokenizer.corpus_texts import corpus_documents
from tests.tokenizer.fixtures import SHARD_TOKENS, read_docs, small_tokenizer, tiny_run, tokenized_run  # noqa: F401
from tokenizer.indexed import IndexedDataset
from tokenizer.manifest import read_tokens_manifest
from tokenizer.shards import token_shard_of as shard_of
from tokenizer.spm import Tokenizer


def _pipeline() -> TestPipeline:
    return TestPipeline(options=PipelineOptions(["--runner=FnApiRunner"]))


@pytest.fixture(scope="module")
def docs(corpus) -> list[Document]:
    raw = corpus_documents(corpus)
    picked = raw["stackexchange"][:30] + raw["arxiv"][:3] + raw["wikipedia"][:20]
    out = [Document(doc_id, text, "mixed") for doc_id, text in picked]
    out.append(Document("mixed/empty", "", "mixed"))
    return out


def _run(docs, model, out_dir, shard_tokens, runner_flags=()):
    p = TestPipeline(options=PipelineOptions(["--runner=FnApiRunner", *runner_flags]))
    manifest = p | beam.Create(docs) | TokenizeToShards(str(model), str(out_dir), "mixed", shard_tokens,
                                                        kind="wikipedia")
    summary = manifest | beam.Map(lambda m: (m["documents"], m["empty_documents"], m["source"], m["kind"]))
    assert_that(summary, equal_to([(len(docs) - 1, 1, "mixed", "wikipedia")]))
    return p.run()


def test_shards_hold_each_document_with_eos_by_id_hash_in_id_order(docs, small_tokenizer, tmp_path):  # noqa: F811
    result = _run(docs, small_tokenizer, tmp_path, 8000)
    tok = Tokenizer.load(small_tokenizer)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    expected = {d.id: tok.encode(d.text) + [2] for d in docs if d.text}
    total = sum(map(len, expected.values()))
    n = math.ceil(total / 8000)
    assert n > 1 and manifest["shard_tokens"] == 8000 and manifest["tokens"] == total
    names = {f"part-{shard_of(i, n):05d}-of-{n:05d}" for i in expected}  # the shards documents hash to
    assert [s["name"] for s in manifest["shards"]] == sorted(names) and len(names) > 1
    got = set()
    for shard in manifest["shards"]:
        index = int(shard["name"][5:10])
        ds = IndexedDataset(tmp_path / shard["name"])
        assert ds.num_tokens == shard["tokens"] and len(ds) == shard["documents"] == ds.num_documents
        assert shard["bin_sha256"] == sha256_file(tmp_path / f"{shard['name']}.bin")
        ids = sorted(i for i in expected if shard_of(i, n) == index)  # the stable id hash picks the shard
        assert [ds[k].tolist() for k in range(len(ds))] == [expected[i] for i in ids]  # id order inside
        got.update(ids)
    assert sorted(got) == sorted(expected) and manifest["documents"] == len(expected)
    assert manifest["tokenizer"]["sha256"] == tok.sha256 and manifest["dtype"] == "uint16"
    # Megatron's --data-path for this source: "weight prefix" per shard, weights by tokens.
    data_path = (tmp_path / "data_path.txt").read_text().split()
    assert data_path[1::2] == [f"{tmp_path}/{s['name']}" for s in manifest["shards"]]
    assert [float(w) for w in data_path[::2]] == pytest.approx([s["tokens"] / total for s in manifest["shards"]])
    counters = {r.key.metric.name: r.committed
                for r in result.metrics().query(MetricsFilter().with_namespace("tokenize.mixed"))["counters"]}
    assert counters == {"documents": len(docs), "empty_documents": 1, "tokens": manifest["tokens"]}


def test_output_is_byte_identical_whatever_the_input_order_and_worker_count(docs, small_tokenizer,  # noqa: F811
                                                                            tmp_path):
    _run(docs, small_tokenizer, tmp_path / "a", 5000)
    _run(list(reversed(docs)), small_tokenizer, tmp_path / "b", 5000,
         ["--direct_num_workers=2", "--direct_running_mode=multi_threading"])
    a = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert a == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(a) > 3
    for name in a:
        # data_path.txt names the shards by their full path, which is the one thing that differs.
        ours = (tmp_path / "a" / name).read_bytes().replace(str(tmp_path / "a").encode(), b"OUT")
        assert ours == (tmp_path / "b" / name).read_bytes().replace(str(tmp_path / "b").encode(), b"OUT"), name
    # Re-running into the same folder with fewer, larger shards removes the stale ones.
    _run(docs, small_tokenizer, tmp_path / "a", 10**9)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == \
        ["data_path.txt", "manifest.json", "part-00000-of-00001.bin", "part-00000-of-00001.idx"]


def test_shards_without_documents_are_not_written(small_tokenizer, tmp_path):  # noqa: F811
    # Megatron cannot map an empty .bin: with 3 documents over ~N shards some get none.
    texts = ["one short document", "another short document", "and a third one"]
    docs = [Document(f"d/{i}", t, "mixed") for i, t in enumerate(texts)] + [Document("d/empty", "", "mixed")]
    p = _pipeline()
    manifest = p | beam.Create(docs) | TokenizeToShards(str(small_tokenizer), str(tmp_path), "mixed", 2)
    summary = manifest | beam.Map(lambda m: (m["documents"], m["empty_documents"], len(m["shards"])))
    n = math.ceil(sum(len(Tokenizer.load(small_tokenizer).encode(t)) + 1 for t in texts) / 2)
    used = {shard_of(d.id, n) for d in docs[:3]}
    assert len(used) < n
    assert_that(summary, equal_to([(3, 1, len(used))]))
    p.run()
    files = sorted(q.name for q in tmp_path.iterdir())
    written = sorted(f"part-{i:05d}-of-{n:05d}{ext}" for i in used for ext in (".bin", ".idx"))
    assert files == ["data_path.txt", "manifest.json", *written]


def test_a_source_of_empty_documents_has_no_shards(small_tokenizer, tmp_path):  # noqa: F811
    p = _pipeline()
    manifest = (p | beam.Create([Document(f"e/{i}", "", "mixed") for i in range(3)])
                | TokenizeToShards(str(small_tokenizer), str(tmp_path), "mixed", 100))
    summary = manifest | beam.Map(lambda m: (m["documents"], m["empty_documents"], m["tokens"], m["shards"]))
    assert_that(summary, equal_to([(0, 3, 0, [])]))
    p.run()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["data_path.txt", "manifest.json"]


def test_dataflow_check_finds_no_whole_corpus_step(small_tokenizer, tmp_path):  # noqa: F811
    """The job graph holds only scalar / per-shard global combines and side inputs."""
    args = dataflow_args("pasture-test-123", "us-central1", "gs://pasture-test-bucket/tmp", "--no_save_main_session")
    p = beam.Pipeline(options=make_options(args))
    _ = (p | beam.Create([Document("a", "some text", "cc")])
         | TokenizeToShards(str(small_tokenizer), str(tmp_path), "cc", 1000))
    graph = inspect(p.to_runner_api())
    assert graph.global_combines == ["Tokenize/cc/Shard descriptions/Shard descriptions", "Tokenize/cc/Token totals"]
    assert {consumer for consumer, _ in graph.side_inputs} == {"Tokenize/cc/Route", "Tokenize/cc/Manifest"}
    assert problems(graph) == []
    # Encoded documents go through no shuffle: only slice records (path and offsets) are grouped by shard.
    assert [g for g in graph.group_by_keys if "/Group slices/" not in g
            and "/Token totals/" not in g and "/Shard descriptions/" not in g] == []
    assert any("/Group slices/" in g for g in graph.group_by_keys)
    assert all(why != "see the stage's docstring" for why in shuffle_keys(graph).values())


def test_encode_command_tokenizes_every_source_of_a_run(tokenized_run, small_tokenizer):  # noqa: F811
    tok = Tokenizer.load(small_tokenizer)
    kinds = set()
    for source_dir in sorted(p for p in tokenized_run.iterdir() if p.is_dir()):
        manifest = read_tokens_manifest(source_dir)
        kinds.add(manifest["kind"])
        docs = sorted(read_docs(tokenized_run, source_dir.name), key=lambda d: d.id)
        assert manifest["documents"] == len(docs)
        n = max(1, math.ceil(manifest["tokens"] / SHARD_TOKENS))
        used = {f"part-{shard_of(d.id, n):05d}-of-{n:05d}" for d in docs}
        assert {s["name"] for s in manifest["shards"]} == used
        assert all(s["documents"] > 0 for s in manifest["shards"])  # Megatron cannot map an empty .bin
        # The last shard starts with the smallest id that hashes to it.
        last = manifest["shards"][-1]
        head = next(d for d in docs if shard_of(d.id, n) == int(last["name"][5:10]))
        first = IndexedDataset(source_dir / "tokens" / last["name"])
        assert first[0].tolist() == tok.encode(head.text) + [2]
        assert tok.decode(first[0][:-1]) == head.text
    assert kinds == {"cc", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange"}


def test_the_bos_eos_policy_wraps_every_document_and_is_recorded(docs, small_tokenizer, tmp_path):  # noqa: F811
    with TestPipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        _ = p | beam.Create(docs) | TokenizeToShards(str(small_tokenizer), str(tmp_path), "mixed", 10**9,
                                                     add_bos=True, add_eos=False)
    tok = Tokenizer.load(small_tokenizer)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {k: manifest["tokenizer"][k] for k in ("add_bos", "add_eos", "bos_id")} == {
        "add_bos": True, "add_eos": False, "bos_id": 1}
    [shard] = manifest["shards"]
    ds = IndexedDataset(tmp_path / shard["name"])
    expected = sorted((d.id, [1] + tok.encode(d.text)) for d in docs if d.text)
    assert sorted(ds[k].tolist() for k in range(len(ds))) == sorted(ids for _, ids in expected)
