"""TokenizeToShards: per-document encoding + eos, id-ordered shards within the token bound."""

from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters.document import Document
from stages.tokenize import TokenizeToShards
from tests.tokenizer.corpus_texts import corpus_documents
from tests.tokenizer.fixtures import SHARD_TOKENS, read_docs, small_tokenizer, tokenized_run, tiny_run  # noqa: F401
from tokenizer.indexed import IndexedDataset
from tokenizer.manifest import read_tokens_manifest, sha256_file
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


def _run(docs, model, out_dir, shard_tokens):
    p = _pipeline()
    manifest = p | beam.Create(docs) | TokenizeToShards(str(model), str(out_dir), "mixed", shard_tokens,
                                                        kind="wikipedia")
    summary = manifest | beam.Map(lambda m: (m["documents"], m["empty_documents"], m["source"], m["kind"]))
    assert_that(summary, equal_to([(len(docs) - 1, 1, "mixed", "wikipedia")]))
    return p.run()


def test_shards_hold_each_document_with_eos_in_id_order(docs, small_tokenizer, tmp_path):  # noqa: F811
    result = _run(docs, small_tokenizer, tmp_path, 8000)
    tok = Tokenizer.load(small_tokenizer)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    expected = {d.id: tok.encode(d.text) + [2] for d in docs if d.text}
    names = [s["name"] for s in manifest["shards"]]
    assert names == [f"part-{i:05d}-of-{len(names):05d}" for i in range(len(names))] and len(names) > 1
    got_tokens = []
    for shard in manifest["shards"]:
        ds = IndexedDataset(tmp_path / shard["name"])
        assert ds.num_tokens == shard["tokens"] and len(ds) == shard["documents"] == ds.num_documents
        assert shard["tokens"] <= 8000 or shard["documents"] == 1  # an oversized document sits alone
        assert shard["bin_sha256"] == sha256_file(tmp_path / f"{shard['name']}.bin")
        got_tokens += [ds[i].tolist() for i in range(len(ds))]
    got_ids = sorted(expected)
    assert got_tokens == [expected[i] for i in got_ids]  # id order across and within shards
    assert manifest["tokens"] == sum(map(len, expected.values()))
    assert manifest["tokenizer"]["sha256"] == tok.sha256 and manifest["dtype"] == "uint16"
    counters = {r.key.metric.name: r.committed
                for r in result.metrics().query(MetricsFilter().with_namespace("tokenize.mixed"))["counters"]}
    assert counters == {"documents": len(docs), "empty_documents": 1, "tokens": manifest["tokens"]}


def test_output_is_byte_identical_whatever_the_input_order(docs, small_tokenizer, tmp_path):  # noqa: F811
    _run(docs, small_tokenizer, tmp_path / "a", 5000)
    _run(list(reversed(docs)), small_tokenizer, tmp_path / "b", 5000)
    a = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert a == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # Re-running into the same folder with fewer, larger shards removes the stale ones.
    _run(docs, small_tokenizer, tmp_path / "a", 10**9)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == \
        ["manifest.json", "part-00000-of-00001.bin", "part-00000-of-00001.idx"]


def test_encode_command_tokenizes_every_source_of_a_run(tokenized_run, small_tokenizer):  # noqa: F811
    tok = Tokenizer.load(small_tokenizer)
    kinds = set()
    for source_dir in sorted(p for p in tokenized_run.iterdir() if p.is_dir()):
        manifest = read_tokens_manifest(source_dir)
        kinds.add(manifest["kind"])
        docs = sorted(read_docs(tokenized_run, source_dir.name), key=lambda d: d.id)
        assert manifest["documents"] == len(docs)
        assert all(s["tokens"] <= SHARD_TOKENS or s["documents"] == 1 for s in manifest["shards"])
        first = IndexedDataset(source_dir / "tokens" / manifest["shards"][0]["name"])
        assert first[0].tolist() == tok.encode(docs[0].text) + [2]
        assert tok.decode(first[0][:-1]) == docs[0].text
    assert kinds == {"cc", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange"}
