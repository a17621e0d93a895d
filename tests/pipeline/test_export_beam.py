"""Sharded blended export on Beam: byte-identical for 1 and 2 workers, equal to the single-file blend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.io.localfilesystem import LocalFileSystem

from mixtures.spec import load_mixture
from pipeline.cli import main
from tests.tokenizer.fixtures import small_tokenizer, tiny_run, tokenized_run  # noqa: F401
from tokenizer.blend_shards import BlendLayout
from tokenizer.export import export_blend
from tokenizer.indexed import IndexedDataset

SEQ_LEN = 64
TOKENS = 200_000  # 3125 sequences
SEQUENCES = TOKENS // SEQ_LEN
SHARD_SEQUENCES = 1000  # 4 shards, the last one short


def _export(run, out, *beam_args, fmt="both"):
    return main(["export", "--run", str(run), "--format", fmt, "--tokens", str(TOKENS), "--output", str(out),
                 "--seq-len", str(SEQ_LEN), "--shard-sequences", str(SHARD_SEQUENCES), *beam_args])


@pytest.fixture(scope="module")
def sharded(tokenized_run, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("sharded")
    assert _export(tokenized_run, out) == 0
    return out


@pytest.fixture(scope="module")
def single_file(tokenized_run, tmp_path_factory):  # noqa: F811
    """Today's one-process writer (tokenizer.export.export_blend), kept as the reference."""
    out = tmp_path_factory.mktemp("single")
    export_blend(tokenized_run, out, load_mixture("llama1"), TOKENS, ("megatron", "parquet"), SEQ_LEN, 1234)
    return out


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_shards_concatenate_to_the_single_file_blend(sharded, single_file):
    manifest = json.loads((sharded / "manifest.json").read_text())
    names = [s["name"] for s in manifest["shards"]]
    assert names == [f"blend-{k:05d}-of-00004" for k in range(4)]
    assert [s["sequences"] for s in manifest["shards"]] == [1000, 1000, 1000, 125]
    ours = np.concatenate([IndexedDataset(sharded / n).tokens() for n in names])
    reference = IndexedDataset(single_file / "blend")
    assert np.array_equal(ours, reference.tokens())
    assert [int(x) for ds in names for x in IndexedDataset(sharded / ds).sizes] == reference.sizes.tolist()
    rows = [r for n in names for r in pq.read_table(sharded / f"{n}.parquet").to_pylist()]
    assert rows == pq.read_table(single_file / "blend.parquet").to_pylist()
    old = json.loads((single_file / "manifest.json").read_text())
    for key in ("sequences", "tokens", "source_order", "sources", "max_share_error_pp", "inputs", "tokenizer"):
        assert manifest[key] == old[key], key
    # Each shard's per-source counts sum to the blend's.
    for i, name in enumerate(manifest["source_order"]):
        assert sum(s["source_sequences"][i] for s in manifest["shards"]) == manifest["sources"][name]["sequences"]


def test_two_workers_write_the_same_bytes(sharded, tokenized_run, tmp_path):  # noqa: F811
    out = tmp_path / "two"
    assert _export(tokenized_run, out, "--direct_num_workers", "2") == 0
    ours, theirs = _files(out), _files(sharded)
    # data_path.txt names the output folder itself; everything else is byte-identical.
    assert ours.pop("data_path.txt").replace(bytes(out), bytes(sharded)) == theirs.pop("data_path.txt")
    assert ours == theirs and len(ours) == 13


def test_data_path_and_checksums(sharded):
    from mixtures.provenance import sha256_file

    manifest = json.loads((sharded / "manifest.json").read_text())
    parts = (sharded / "data_path.txt").read_text().split()
    assert parts[1::2] == [f"{sharded}/blend-{k:05d}-of-00004" for k in range(4)]
    assert [float(w) for w in parts[0::2]] == pytest.approx([0.32, 0.32, 0.32, 0.04])
    assert len(manifest["files"]) == 12
    for name, digest in manifest["files"].items():
        assert sha256_file(sharded / name) == digest


def test_trainer_reads_the_shards_in_blend_order(sharded, single_file):
    from trainer.data import ShardDataset

    ds, ref = ShardDataset(sharded, verify_checksums=True), IndexedDataset(single_file / "blend")
    assert len(ds) == SEQUENCES
    assert all(np.array_equal(ds[i], ref[i].astype(np.int64)) for i in (0, 999, 1000, 2999, 3124))


def test_layout_round_trips_and_shards_start_from_their_counts(sharded, tokenized_run):  # noqa: F811
    from stages.export import prepare_export

    layout, _ = prepare_export(str(tokenized_run), load_mixture("llama1"), TOKENS, SEQ_LEN, 1234,
                               SHARD_SEQUENCES, ("megatron",))
    assert BlendLayout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout
    assert [sum(c) for c in layout.start_counts] == [0, 1000, 2000, 3000]


class _FakeBucket(LocalFileSystem):
    """``fakebkt://`` mapped onto a local folder: a remote filesystem for Beam's FileSystems."""

    root = Path("/nonexistent")

    @classmethod
    def scheme(cls):
        return "fakebkt"

    def _local(self, path):
        return str(self.root / path[len("fakebkt://"):]) if path.startswith("fakebkt://") else path

    def _remote(self, path):
        return "fakebkt://" + str(Path(path).relative_to(self.root))

    def match(self, patterns, limits=None):
        results = super().match([self._local(p) for p in patterns], limits)
        for result in results:
            result.pattern = result.pattern.replace(str(self.root) + "/", "fakebkt://")
            for m in result.metadata_list:
                m.path = self._remote(m.path)
        return results

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def exists(self, path):
        return super().exists(self._local(path))

    def delete(self, paths):
        for p in paths:
            Path(self._local(p)).unlink()

    def size(self, path):
        return super().size(self._local(path))

    def metadata(self, path):
        return super().metadata(self._local(path))

    def rename(self, sources, destinations):
        return super().rename([self._local(p) for p in sources], [self._local(p) for p in destinations])

    def mkdirs(self, path):
        return super().mkdirs(self._local(path))


def test_encode_and_export_on_a_remote_filesystem_write_the_same_bytes(sharded, tokenized_run, small_tokenizer,  # noqa: F811
                                                                      tmp_path, monkeypatch):
    from tests.tokenizer.fixtures import SHARD_TOKENS

    bucket = tmp_path / "bucket"
    monkeypatch.setattr(_FakeBucket, "root", bucket)
    for src in sorted(p for p in tokenized_run.iterdir() if p.is_dir()):
        shutil.copytree(src / "docs", bucket / "run" / src.name / "docs")
        shutil.copy(src / "stats.json", bucket / "run" / src.name / "stats.json")
    shutil.copy(small_tokenizer, bucket / "small.model")
    assert main(["tokenizer", "encode", "--run", "fakebkt://run", "--model", "fakebkt://small.model",
                 "--shard-tokens", str(SHARD_TOKENS)]) == 0
    for src in sorted(p for p in tokenized_run.iterdir() if p.is_dir()):
        ours, local = bucket / "run" / src.name / "tokens", src / "tokens"
        # Spill files are gone (an object store has no folders; this local-backed fake keeps an empty one).
        assert sorted(p.name for p in ours.iterdir() if p.is_file()) == sorted(p.name for p in local.iterdir())
        for f in local.iterdir():
            mine = (ours / f.name).read_bytes()
            if f.name == "data_path.txt":  # names the shards by their full path: the one thing that differs
                mine = mine.replace(f"fakebkt://run/{src.name}/tokens".encode(), str(local).encode())
            assert mine == f.read_bytes(), f
    assert main(["export", "--run", "fakebkt://run", "--format", "both", "--tokens", str(TOKENS), "--output",
                 "fakebkt://export", "--seq-len", str(SEQ_LEN), "--shard-sequences", str(SHARD_SEQUENCES)]) == 0
    ours, theirs = _files(bucket / "export"), _files(sharded)
    assert ours.pop("data_path.txt").replace(b"fakebkt://export", bytes(sharded)) == theirs.pop("data_path.txt")
    assert ours == theirs
