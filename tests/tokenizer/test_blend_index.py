"""The cached blend index (issue 14): arrays built once per source, memory-mapped by every shard writer.

``tokenizer.blend.write_source_index`` saves a source's document table, the document order of
every epoch a blend reaches and its window order as ``.npy`` files; they must be exactly the
numbers ``SourceStream`` draws in memory, so the export's bytes do not change.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from mixtures.spec import load_mixture
from tokenizer.blend import (
    DOC_LEN,
    DOC_SHARD,
    DOC_START,
    EPOCH_ENDS,
    EPOCH_ORDER,
    INDEX_META,
    WINDOW_ORDER,
    BlendError,
    SourceStream,
    document_table,
    write_source_index,
)
from tokenizer.indexed import IndexedDataset, IndexedDatasetWriter
from tokenizer.manifest import MANIFEST, TOKENS_DIR
from tokenizer.shards import tokens_manifest, write_shard

SEQ_LEN = 16
SEED = 1234


def _odd_shards(folder: Path) -> list[Path]:
    """Three shards with every document shape the index meets: several sequences per document,
    documents without sequences, empty sequences, an empty shard."""
    rng = np.random.default_rng(7)
    prefixes = []
    for k, n_docs in enumerate((23, 0, 31)):
        prefix = folder / f"part-{k:05d}-of-00003"
        with IndexedDatasetWriter(prefix, np.uint16) as writer:
            for i in range(n_docs):
                if i % 7 == 3:
                    writer.add_document([], lengths=[])  # no sequence at all
                elif i % 5 == 1:
                    writer.add_document([])  # one empty sequence
                else:
                    lengths = [int(x) for x in rng.integers(0, 9, size=int(rng.integers(1, 4)))]
                    writer.add_document(rng.integers(3, 500, size=sum(lengths)), lengths=lengths)
        prefixes.append(prefix)
    return prefixes


def _table_by_loop(datasets: list[IndexedDataset]) -> list[tuple[int, int, int]]:
    """The per-document loop the vectorised table replaced (the reference)."""
    rows = []
    for k, ds in enumerate(datasets):
        bounds = ds.document_indices
        for a, b in zip(bounds[:-1], bounds[1:]):
            length = int(ds.sizes[a:b].sum())
            if b > a and length:
                rows.append((k, int(ds.pointers[a]) // ds.dtype.itemsize, length))
    return rows


def test_vectorised_document_table_equals_the_loop_over_documents(tmp_path):
    datasets = [IndexedDataset(p) for p in _odd_shards(tmp_path)]
    shard, start, length = document_table(datasets)
    assert list(zip(shard.tolist(), start.tolist(), length.tolist())) == _table_by_loop(datasets)
    assert shard.dtype == start.dtype == length.dtype == np.int64
    assert 0 < len(length) < sum(ds.num_documents for ds in datasets)  # the empty ones are left out


def test_cached_arrays_are_the_in_memory_ones_over_several_epochs(tmp_path, monkeypatch):
    import tokenizer.blend

    monkeypatch.setattr(tokenizer.blend, "_CHUNK", 7)  # the builder's chunked fills and sums cross chunks
    prefixes = _odd_shards(tmp_path)
    memory = SourceStream("books", prefixes, SEQ_LEN, SEED)
    count = 3 * memory.num_tokens // SEQ_LEN + 5  # just over three passes: four epochs touched
    names = write_source_index(tmp_path / "idx", "books", prefixes, SEQ_LEN, SEED, count)
    assert names[-1] == INDEX_META and sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted(names)
    meta = json.loads((tmp_path / "idx" / INDEX_META).read_text())
    assert meta["epochs"] == 4 == -(-(count * SEQ_LEN + 1) // memory.num_tokens)
    saved = {name: np.load(tmp_path / "idx" / name) for name in names if name.endswith(".npy")}
    for name, array in zip((DOC_SHARD, DOC_START, DOC_LEN), document_table([IndexedDataset(p) for p in prefixes])):
        assert np.array_equal(saved[name], array), name
    # Exactly the generator calls the export has always made: (seed, crc32(name), tag, epoch | count).
    seeds = [SEED, zlib.crc32(b"books")]
    for e in range(4):
        order = np.random.default_rng([*seeds, 0, e]).permutation(memory.num_documents)
        assert np.array_equal(saved[EPOCH_ORDER][e], order)
        assert np.array_equal(saved[EPOCH_ENDS][e], np.cumsum(saved[DOC_LEN][order]))
    assert np.array_equal(saved[WINDOW_ORDER], np.random.default_rng([*seeds, 1, count]).permutation(count))

    cached = SourceStream("books", prefixes, SEQ_LEN, SEED, tmp_path / "idx")
    assert (cached.num_tokens, cached.num_documents, cached.dtype) == (memory.num_tokens, memory.num_documents,
                                                                      memory.dtype)
    assert np.array_equal(cached.window_order(count), memory.window_order(count))
    assert all(np.array_equal(cached.window(j), memory.window(j)) for j in range(count))
    with pytest.raises(BlendError, match="holds 4 epochs"):
        cached.window(4 * memory.num_tokens // SEQ_LEN + 1)
    with pytest.raises(BlendError, match="not of"):
        SourceStream("books", prefixes, SEQ_LEN, SEED + 1, tmp_path / "idx")


def _synthetic_run(root: Path) -> Path:
    """A run of token shards only: a large ``cc`` source and a small ``books`` one repeated ~7 times."""
    rng = np.random.default_rng(3)
    tokenizer = {"model": "synthetic.model", "sha256": "0" * 64, "vocab_size": 500, "eos_id": 2}
    for name, shards, docs in (("cc", 2, 400), ("books", 1, 12)):
        folder = root / name / TOKENS_DIR
        folder.mkdir(parents=True)
        descs = []
        for k in range(shards):
            documents = [(f"{name}/{k}/{i}", np.append(rng.integers(3, 500, size=int(rng.integers(4, 60))), 2))
                         for i in range(docs)]
            descs.append(write_shard(folder / f"part-{k:05d}-of-{shards:05d}", documents, np.dtype(np.uint16)))
        manifest = tokens_manifest(source=name, kind=name, tokenizer=tokenizer, dtype="uint16", shard_tokens=10_000,
                                   empty_documents=0, shards=descs)
        (folder / MANIFEST).write_text(json.dumps(manifest))
    return root


def test_sharded_export_reads_the_cached_index_and_leaves_no_scratch(tmp_path):
    from stages.export import export_sharded
    from tokenizer.export import export_blend

    run = _synthetic_run(tmp_path / "run")
    tokens = 2000 * SEQ_LEN
    manifest = export_sharded(str(run), str(tmp_path / "out"), load_mixture("llama1"), tokens, ("megatron",),
                              SEQ_LEN, SEED, 700)
    assert manifest["sources"]["books"]["epochs"] > 5 and manifest["sources"]["cc"]["epochs"] > 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "blend-00000-of-00003.bin", "blend-00000-of-00003.idx", "blend-00001-of-00003.bin",
        "blend-00001-of-00003.idx", "blend-00002-of-00003.bin", "blend-00002-of-00003.idx",
        "data_path.txt", "manifest.json"]
    export_blend(run, tmp_path / "single", load_mixture("llama1"), tokens, ("megatron",), SEQ_LEN, SEED)
    ours = np.concatenate([IndexedDataset(tmp_path / "out" / s["name"]).tokens() for s in manifest["shards"]])
    assert np.array_equal(ours, IndexedDataset(tmp_path / "single" / "blend").tokens())
