"""The blend cut into output shards that each worker writes on its own (no global loop over data).

The blend is the same sequence of ``seq_len + 1``-token samples as ``tokenizer.export``'s
single ``blend.bin`` (Megatron's greedy-deficit order across sources, seeded window order
within a source, see ``tokenizer.blend``); here its index space ``[0, S)`` is cut into
shards of ``shard_sequences`` samples: shard ``k`` holds samples
``[k·shard_sequences, min(S, (k+1)·shard_sequences))`` and is written as the Megatron
prefix ``blend-<k>-of-<n>`` (and ``.parquet`` with the same rows). Concatenating the shards
in name order gives the single-file blend exactly.

What a shard needs to be written alone (``BlendLayout``, small JSON, built by the launcher
from the tokens manifests only):
  * the weights, seq_len and seed;
  * per source, its total samples in the whole blend (the window permutation is of that
    size) and, per shard, the samples drawn from each source before the shard starts.
The per-shard counts come from ``mixtures.blend.blend_counts_at``: a scalar replay of the
greedy-deficit recurrence over counts only (no data, ~0.7 µs per sample in Python, i.e.
about 8 minutes for LLaMA's 7×10⁸ samples), the one sequential part; every sample's
tokens are read and written by the worker of its shard, from its start counts, with
``blending_indices_range``. The same inputs give the same bytes for any number of workers.

What a source's stream needs (its document table, per-epoch document orders, window
order: O(documents + samples)) is built once per source, not per worker: one worker runs
``build_source_index`` into ``OUTPUT/.blend-index/<source>-<key>/`` (``.npy`` files, as
Megatron's ``GPTDataset`` caches its indexes), and every shard writer memory-maps them
(``ShardWriterState(index_dirs=...)``), so a writer's own memory does not grow with the
corpus. The folder is scratch: the manifest step deletes it.

Beam-free: ``stages/export.py`` runs one ``build_source_index`` per source and one
``write_blend_shard`` per shard on workers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixtures.blend import blend_counts_at, blending_indices_range, share_errors_pp
from mixtures.plan import MixturePlan, SourceTokens, plan_mixture
from mixtures.spec import MixtureSpec
from tokenizer.blend import BlendError, SourceStream, write_source_index
from tokenizer.sequence_writer import write_sequences

SHARDED_EXPORT_FORMAT = "pasture-blend-v1"  # same reader contract as the single file (trainer/data.py)
PREFIX = "blend"
FORMATS = ("megatron", "parquet")
SHARE_TOLERANCE_PP = 0.1
DATA_PATH_FILE = "data_path.txt"
INDEX_DIR = ".blend-index"  # scratch under the output: per-source cached stream arrays


def shard_prefix_name(k: int, n: int) -> str:
    """``blend-00003-of-00010``: name order is blend order."""
    return f"{PREFIX}-{k:05d}-of-{n:05d}"


@dataclass(frozen=True)
class LayoutSource:
    """One source of the blend: its shards, weight and how many samples it gives in total."""

    name: str
    kind: str
    weight: float  # fraction of 1, exactly the float the greedy deficit uses
    prefixes: tuple[str, ...]
    available_tokens: int
    total_samples: int


@dataclass(frozen=True)
class BlendLayout:
    """Everything a worker needs to write shard ``k`` (JSON-serialisable, O(shards × sources))."""

    sources: tuple[LayoutSource, ...]
    seq_len: int
    seed: int
    num_sequences: int
    shard_sequences: int
    start_counts: tuple[tuple[int, ...], ...]  # per shard: samples drawn from each source before it
    dtype: str

    @property
    def num_shards(self) -> int:
        return len(self.start_counts)

    @property
    def weights(self) -> list[float]:
        return [s.weight for s in self.sources]

    def shard_range(self, k: int) -> tuple[int, int]:
        start = k * self.shard_sequences
        return start, min(self.num_sequences, start + self.shard_sequences)

    def shard_name(self, k: int) -> str:
        return shard_prefix_name(k, self.num_shards)

    def counts(self) -> np.ndarray:
        return np.asarray([s.total_samples for s in self.sources], dtype=np.int64)

    def share_errors_pp(self) -> np.ndarray:
        return share_errors_pp(self.counts(), self.weights)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlendLayout:
        sources = tuple(LayoutSource(**{**s, "prefixes": tuple(s["prefixes"])}) for s in data["sources"])
        starts = tuple(tuple(int(c) for c in row) for row in data["start_counts"])
        return cls(sources, int(data["seq_len"]), int(data["seed"]), int(data["num_sequences"]),
                   int(data["shard_sequences"]), starts, str(data["dtype"]))


def plan_layout(
    manifests: Sequence[dict[str, Any]],
    prefixes: dict[str, Sequence[str]],
    mixture: MixtureSpec,
    tokens: int,
    seq_len: int,
    seed: int,
    shard_sequences: int,
) -> tuple[BlendLayout, MixturePlan]:
    """The shard layout of a blend of ``tokens`` training tokens.

    Args:
        manifests: Tokens manifests of the run's sources (``tokenizer.shards.tokens_manifest``).
        prefixes: Per source name, its ``.bin/.idx`` prefixes (any filesystem), manifest order.
        mixture: Weights (renormalised over the tokenized sources, see ``mixtures.plan``).
        tokens: Training tokens wanted; the blend has ``ceil(tokens / seq_len)`` samples.
        seq_len: Predictions per sample.
        seed: Blend seed.
        shard_sequences: Samples per output shard (the last may hold fewer).

    Raises:
        BlendError: Mixed tokenizers, nothing to blend, or too few samples for the tolerance.
    """
    if shard_sequences <= 0:
        raise BlendError("shard_sequences must be > 0")
    if not manifests:
        raise BlendError("no tokenized sources: run `pasture tokenizer encode` first")
    tokenizers = {m["tokenizer"]["sha256"] for m in manifests}
    if len(tokenizers) != 1:
        raise BlendError(f"sources were tokenized with different tokenizers: {sorted(tokenizers)}")
    by_name = {m["source"]: m for m in manifests}
    plan = plan_mixture(mixture, [SourceTokens(m["source"], m["kind"], int(m["tokens"])) for m in manifests], tokens)
    num_sequences = math.ceil(tokens / seq_len)
    if num_sequences <= 0:
        raise BlendError("the blend needs at least one sequence")
    weights = [p.fraction for p in plan.sources]
    n_shards = math.ceil(num_sequences / shard_sequences)
    positions = [k * shard_sequences for k in range(n_shards)] + [num_sequences]
    counts = blend_counts_at(weights, positions)
    totals = counts[-1]
    sources = tuple(
        LayoutSource(p.name, p.kind, float(p.fraction), tuple(str(x) for x in prefixes[p.name]),
                     int(by_name[p.name]["tokens"]), int(n))
        for p, n in zip(plan.sources, totals)
    )
    layout = BlendLayout(sources, seq_len, seed, num_sequences, shard_sequences,
                         tuple(tuple(int(c) for c in row) for row in counts[:-1]), str(manifests[0]["dtype"]))
    errors = layout.share_errors_pp()
    if float(errors.max()) > SHARE_TOLERANCE_PP:
        need = math.ceil(200.0 / SHARE_TOLERANCE_PP) * seq_len
        raise BlendError(f"{num_sequences} sequences cannot hold the mixture within ±{SHARE_TOLERANCE_PP} pp "
                         f"(off by {float(errors.max()):.3f} pp); ask for at least {need:,} tokens")
    return layout, plan


def indexed_sources(layout: BlendLayout) -> list[int]:
    """Sources whose stream is read (they give at least one sample): each gets a cached index."""
    return [d for d, s in enumerate(layout.sources) if s.total_samples > 0]


def index_folder_name(layout: BlendLayout, d: int, salt: str = "") -> str:
    """``<source>-<key>``: the key digests everything the arrays depend on (``salt``: the tokens
    manifest's sha256), so a copy cached on a worker from another export is never reused."""
    src = layout.sources[d]
    what = {"source": asdict(src), "seq_len": layout.seq_len, "seed": layout.seed, "salt": salt}
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return f"{src.name}-{key}"


def build_source_index(layout: BlendLayout, d: int, folder: str | os.PathLike,
                       local_prefixes: Sequence[str] | None = None) -> list[str]:
    """Writes source ``d``'s stream arrays into the local ``folder``; returns the file names."""
    src = layout.sources[d]
    return write_source_index(folder, src.name, local_prefixes or src.prefixes, layout.seq_len, layout.seed,
                              src.total_samples)


class ShardWriterState:
    """Per-worker state: the source streams and their window orders, opened once per worker.

    With ``index_dirs`` (source name → local folder of ``build_source_index`` files) the
    streams memory-map their arrays; without, each builds them in memory (O(documents)).
    """

    def __init__(self, layout: BlendLayout, local_prefixes: dict[str, Sequence[str]] | None = None,
                 index_dirs: dict[str, str] | None = None) -> None:
        self.layout = layout
        self._local = local_prefixes or {}
        self._index_dirs = index_dirs
        self._streams: dict[int, SourceStream] = {}
        self._orders: dict[int, np.ndarray] = {}

    def stream(self, d: int) -> SourceStream:
        if d not in self._streams:
            src = self.layout.sources[d]
            prefixes = self._local.get(src.name, src.prefixes)
            index_dir = None
            if self._index_dirs is not None:
                index_dir = self._index_dirs.get(src.name)
                if index_dir is None:
                    raise BlendError(f"no blend index for source {src.name} (indexed: {sorted(self._index_dirs)})")
            stream = SourceStream(src.name, prefixes, self.layout.seq_len, self.layout.seed, index_dir)
            self._streams[d] = stream
            self._orders[d] = stream.window_order(src.total_samples)
        return self._streams[d]

    def window(self, d: int, j: int) -> np.ndarray:
        stream = self.stream(d)
        return stream.window(int(self._orders[d][j]))


def write_blend_shard(state: ShardWriterState, k: int, out_dir: str | os.PathLike,
                      formats: Sequence[str]) -> dict[str, Any]:
    """Writes shard ``k`` into the local folder ``out_dir`` and describes it.

    Returns:
        ``{"name", "index", "sequences", "source_sequences": [per source], "files": {file: sha256}}``;
        checksums are computed here, by the writer, so nobody re-reads the shard.
    """
    layout = state.layout
    bad = set(formats) - set(FORMATS)
    if bad or not formats:
        raise BlendError(f"formats must be among {FORMATS}, got {list(formats)}")
    start, stop = layout.shard_range(k)
    dataset_index, sample_index = blending_indices_range(layout.weights, start, stop, layout.start_counts[k])
    name = layout.shard_name(k)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / name
    names = [s.name for s in layout.sources]
    sequences = ((names[d], state.window(d, j)) for d, j in zip(dataset_index.tolist(), sample_index.tolist()))
    files = write_sequences(prefix, sequences, formats, np.dtype(layout.dtype))
    per_source = np.bincount(dataset_index.astype(np.int64), minlength=len(names))
    return {"name": name, "index": k, "sequences": stop - start,
            "source_sequences": [int(x) for x in per_source], "files": files}


def source_epochs(layout: BlendLayout) -> list[float]:
    """Passes over each source (tokens read / tokens held), from the manifests' token counts."""
    return [(s.total_samples * layout.seq_len + (1 if s.total_samples else 0)) / s.available_tokens
            for s in layout.sources]


def data_path_argument(layout: BlendLayout, output: str) -> str:
    """Megatron's ``--data-path``: ``weight prefix`` pairs, one per shard.

    Each shard's weight is its share of the samples; Megatron's own blending then draws
    the shards in proportion to their sizes (the order inside each shard is ours).
    """
    parts = []
    root = output.rstrip("/")
    for k in range(layout.num_shards):
        start, stop = layout.shard_range(k)
        parts.append(f"{(stop - start) / layout.num_sequences:.9g} {root}/{layout.shard_name(k)}")
    return " ".join(parts)


def manifest_context(plan: MixturePlan, mixture: MixtureSpec, tokenizer: dict[str, Any], formats: Sequence[str],
                     tokens_requested: int, input_digests: dict[str, str]) -> dict[str, Any]:
    """What the manifest records beside the shards, as plain JSON (the launcher hands it to a worker)."""
    return {
        "missing": list(plan.missing),
        "warnings": [w.message for w in plan.warnings],
        "mixture": mixture.to_dict(),
        "llama_epochs": {k: mixture.source(k).epochs for k in mixture.kinds},
        "tokenizer": dict(tokenizer),
        "formats": sorted(formats),
        "tokens": int(tokens_requested),
        "inputs": dict(sorted(input_digests.items())),
    }


def sharded_manifest(layout: BlendLayout, context: dict[str, Any], shards: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``manifest.json`` of a sharded export: the single-file manifest's fields plus a shard list.

    Raises:
        BlendError: A shard is missing or the shards' per-source counts differ from the layout.
    """
    ordered = sorted(shards, key=lambda s: s["index"])
    if [s["index"] for s in ordered] != list(range(layout.num_shards)):
        raise BlendError(f"expected {layout.num_shards} shard descriptions, got {[s['index'] for s in ordered]}")
    counts = layout.counts()
    summed = np.sum([s["source_sequences"] for s in ordered], axis=0)
    if not np.array_equal(summed, counts):
        raise BlendError(f"shards hold {summed.tolist()} samples per source, the layout planned {counts.tolist()}")
    errors = layout.share_errors_pp()
    epochs = source_epochs(layout)
    n = layout.num_sequences
    files: dict[str, str] = {}
    for s in ordered:
        files.update(s["files"])
    return {
        "format": SHARDED_EXPORT_FORMAT,
        "mixture": context["mixture"],
        "config": {
            "formats": context["formats"],
            "seq_len": layout.seq_len,
            "sample_tokens": layout.seq_len + 1,
            "seed": layout.seed,
            "tokens_requested": context["tokens"],
            "share_tolerance_pp": SHARE_TOLERANCE_PP,
            "shard_sequences": layout.shard_sequences,
        },
        "tokenizer": context["tokenizer"],
        "dtype": layout.dtype,
        "sequences": n,
        "tokens": n * layout.seq_len,
        "source_order": [s.name for s in layout.sources],
        "sources": {
            s.name: {
                "kind": s.kind,
                "weight": round(s.weight * 100.0, 9),
                "sequences": int(c),
                "tokens": int(c) * layout.seq_len,
                "share": round(float(c) / n * 100.0, 9),
                "share_error_pp": round(float(e), 9),
                "available_tokens": s.available_tokens,
                "epochs": round(ep, 9),
                "llama_epochs": context["llama_epochs"][s.kind],
            }
            for s, c, e, ep in zip(layout.sources, counts, errors, epochs)
        },
        "max_share_error_pp": round(float(errors.max()), 9),
        "shares_within_tolerance": bool(errors.max() <= SHARE_TOLERANCE_PP),
        "missing_sources": context["missing"],
        "warnings": context["warnings"],
        "inputs": context["inputs"],
        "shards": [{"name": s["name"], "sequences": s["sequences"], "source_sequences": s["source_sequences"]}
                   for s in ordered],
        "data_path_file": DATA_PATH_FILE,
        "files": dict(sorted(files.items())),
    }
