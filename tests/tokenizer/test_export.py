"""The single-file blend (``tokenizer.export.export_blend``): greedy-deficit blend → Megatron + Parquet + manifest.

``pasture export`` writes the same blend cut into shards on Beam (tests/pipeline/test_export_beam.py
checks that the shards concatenate to this file); this writer stays as the reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mixtures.blend import blending_indices
from mixtures.plan import SourceTokens, plan_mixture
from mixtures.provenance import sha256_file
from mixtures.spec import load_mixture
from tests.tokenizer.fixtures import small_tokenizer, tiny_run, tokenized_run  # noqa: F401
from tokenizer.blend import BlendError, SourceStream
from tokenizer.export import SHARE_TOLERANCE_PP, export_blend
from tokenizer.indexed import IndexedDataset
from tokenizer.manifest import token_shard_prefixes

REPO = Path(__file__).resolve().parents[2]
SEQ_LEN = 64
TOKENS = 200_000  # 3125 sequences: enough for ±0.1 pp
SEQUENCES = TOKENS // SEQ_LEN


def _export(run, out, fmt="both", seed=1234, tokens=TOKENS):
    formats = ("megatron", "parquet") if fmt == "both" else (fmt,)
    try:
        export_blend(run, out, load_mixture("llama1"), tokens, formats, SEQ_LEN, seed)
    except BlendError as exc:
        print(f"pasture export: error: {exc}", file=sys.stderr)
        return 2
    return 0


@pytest.fixture(scope="module")
def exported(tokenized_run, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("export")
    assert _export(tokenized_run, out) == 0
    return out


def test_manifest_shares_match_weights(exported):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["sequences"] == SEQUENCES and manifest["tokens"] == SEQUENCES * SEQ_LEN
    assert manifest["config"]["sample_tokens"] == SEQ_LEN + 1 and manifest["config"]["seed"] == 1234
    assert manifest["shares_within_tolerance"] is True
    assert manifest["max_share_error_pp"] <= SHARE_TOLERANCE_PP
    spec = load_mixture("llama1")
    assert manifest["source_order"] == list(spec.kinds) and set(manifest["sources"]) == set(spec.kinds)
    for name, s in manifest["sources"].items():
        assert s["weight"] == pytest.approx(spec.source(name).weight)
        assert abs(s["share"] - s["weight"]) <= SHARE_TOLERANCE_PP, name
        assert s["epochs"] == pytest.approx((s["sequences"] * SEQ_LEN + 1) / s["available_tokens"])
    assert sum(s["sequences"] for s in manifest["sources"].values()) == SEQUENCES
    assert manifest["mixture"]["name"] == "llama1"
    for name, digest in manifest["files"].items():
        assert sha256_file(exported / name) == digest
    assert set(manifest["files"]) == {"blend.bin", "blend.idx", "blend.parquet"}


def test_megatron_and_parquet_hold_the_same_sequences_in_blend_order(exported):
    ds = IndexedDataset(exported / "blend")
    assert (exported / "blend.idx").stat().st_size == 42 + 20 * SEQUENCES
    assert len(ds) == SEQUENCES and set(ds.sizes.tolist()) == {SEQ_LEN + 1}
    table = pq.read_table(exported / "blend.parquet")
    assert table.schema.field("input_ids").type.value_type.bit_width == 32
    assert str(table.schema.field("source").type) == "string"
    ids = table.column("input_ids").to_pylist()
    assert all(ids[i] == ds[i].tolist() for i in range(0, SEQUENCES, 97))
    sources = table.column("source").to_pylist()
    manifest = json.loads((exported / "manifest.json").read_text())
    names = manifest["source_order"]
    # The exact weights export used: ties in the greedy deficit depend on the last float bit.
    counts_in = [SourceTokens(n, manifest["sources"][n]["kind"], manifest["sources"][n]["available_tokens"])
                 for n in names]
    plan = plan_mixture(load_mixture("llama1"), counts_in, TOKENS)
    order, _ = blending_indices([p.fraction for p in plan.sources], SEQUENCES)
    weights = [manifest["sources"][n]["weight"] for n in names]
    assert sources == [names[d] for d in order]
    counts = Counter(sources)
    for name, weight in zip(names, weights):
        assert abs(counts[name] / SEQUENCES * 100 - weight) <= SHARE_TOLERANCE_PP


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_sequences_are_windows_of_documents_joined_by_eos(exported, tokenized_run):  # noqa: F811
    table = pq.read_table(exported / "blend.parquet")
    blobs, whole = {}, {}
    for name in json.loads((exported / "manifest.json").read_text())["source_order"]:
        docs = [d.astype("<u2").tobytes() for p in token_shard_prefixes(tokenized_run / name)
                for d in IndexedDataset(p).documents()]
        blobs[name], whole[name] = b"|".join(docs), set(docs)
    inner = checked = 0
    for seq, source in zip(table.column("input_ids").to_pylist(), table.column("source").to_pylist()):
        cuts = [i + 1 for i, t in enumerate(seq) if t == 2]
        pieces = [seq[a:b] for a, b in zip([0, *cuts], [*cuts, len(seq)]) if b > a]
        for k, piece in enumerate(pieces):
            raw = np.asarray(piece, dtype="<u2").tobytes()
            assert raw in blobs[source]  # each piece lies inside one document of its own source
            checked += 1
            if 0 < k and piece[-1] == 2:  # starts after an eos and ends with one: a whole document
                assert raw in whole[source]
                inner += 1
    assert checked > SEQUENCES and inner >= 1


def test_epochs_reshuffle_documents(tokenized_run):  # noqa: F811
    stream = SourceStream("stackexchange", token_shard_prefixes(tokenized_run / "stackexchange"), SEQ_LEN, 1234)
    t = stream.num_tokens
    first, second = stream.tokens(0, t), stream.tokens(t, t)
    assert not np.array_equal(first, second)  # a new order ...
    assert np.array_equal(np.sort(first), np.sort(second))  # ... of the same tokens
    assert np.array_equal(stream.window(3), stream.tokens(3 * SEQ_LEN, SEQ_LEN + 1))
    assert np.array_equal(stream.window(5)[0:1], stream.window(4)[-1:])  # windows overlap by the target token
    order = stream.window_order(100)
    assert sorted(order.tolist()) == list(range(100))


def test_rerun_is_byte_identical_and_seed_matters(exported, tokenized_run, tmp_path):  # noqa: F811
    assert _export(tokenized_run, tmp_path / "again") == 0
    for name in ("blend.bin", "blend.idx", "blend.parquet", "manifest.json"):
        assert (tmp_path / "again" / name).read_bytes() == (exported / name).read_bytes(), name
    assert _export(tokenized_run, tmp_path / "seed", fmt="megatron", seed=99) == 0
    assert sorted(p.name for p in (tmp_path / "seed").iterdir()) == ["blend.bin", "blend.idx", "manifest.json"]
    assert (tmp_path / "seed" / "blend.bin").read_bytes() != (exported / "blend.bin").read_bytes()
    # Same seed, other format: the Megatron files do not depend on whether Parquet is written.
    assert _export(tokenized_run, tmp_path / "meg", fmt="megatron") == 0
    assert (tmp_path / "meg" / "blend.bin").read_bytes() == (exported / "blend.bin").read_bytes()


def test_too_few_sequences_for_the_tolerance(tokenized_run, tmp_path, capsys):  # noqa: F811
    assert _export(tokenized_run, tmp_path / "small", tokens=SEQ_LEN * 300) == 2
    assert "cannot hold the mixture within ±0.1 pp" in capsys.readouterr().err
    with pytest.raises(BlendError, match="formats"):
        export_blend(tokenized_run, tmp_path / "x", load_mixture("llama1"), TOKENS, ("csv",))


def test_parquet_loads_with_hugging_face_datasets(exported, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ds = datasets.Dataset.from_parquet(str(exported / "blend.parquet"), cache_dir=str(tmp_path / "hf"))
    assert len(ds) == SEQUENCES and ds.column_names == ["input_ids", "source"]
    ours = IndexedDataset(exported / "blend")
    assert ds[0]["input_ids"] == ours[0].tolist() and ds[SEQUENCES - 1]["input_ids"] == ours[-1].tolist()


def test_megatron_core_reads_our_files(exported, tokenized_run):  # noqa: F811
    home = Path.home() / ".cache" / "pasture" / "megatron-core-0.16.1"
    if not (home / "megatron" / "core" / "datasets" / "indexed_dataset.py").is_file():
        pytest.skip("megatron-core not unpacked; run `python tools/check_megatron.py --install` once")
    shard = token_shard_prefixes(tokenized_run / "books")[0]
    # A subprocess: megatron-core imports torch and patches warnings; keep that out of this process.
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "check_megatron.py"), str(exported / "blend"),
                           str(shard)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count(": OK") == 2
