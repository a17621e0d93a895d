"""Materialise a blend in one process, one file: the reference for the sharded export.

``pasture export`` writes the same blend cut into shards, one Beam worker each
(``tokenizer/blend_shards.py``, ``stages/export.py``); concatenated in name order those
shards are exactly this writer's ``blend.bin`` (tests/pipeline/test_export_beam.py). This
module stays for that comparison and for small in-process uses (tests, trainer fixtures).

Outputs in ``DIR``:
  * ``blend.bin`` / ``blend.idx``: one Megatron "document" per sequence of ``seq_len + 1``
    tokens (see ``tokenizer.blend`` for why +1);
  * ``blend.parquet``: columns ``input_ids`` (list<int32>) and ``source`` (string), one row per
    sequence, same order;
  * ``manifest.json``: per-source sequences, tokens, shares and epochs, the tokenizer's
    sha256, the mixture, config, seed, and each output file's sha256.

No timestamps or output paths are recorded, so the same run, config and seed give
byte-identical files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from mixtures.plan import SourceTokens, plan_mixture
from mixtures.provenance import sha256_file, write_json_atomically
from mixtures.spec import MixtureSpec
from tokenizer.blend import BlendError, BlendPlan, BlendSource, iter_sequences, plan_blend, source_epochs
from tokenizer.manifest import (
    MANIFEST,
    list_run_sources,
    read_tokens_manifest,
    token_shard_prefixes,
)
from tokenizer.sequence_writer import write_sequences

EXPORT_FORMAT = "pasture-blend-v1"
FORMATS = ("megatron", "parquet")
PREFIX = "blend"
# Shares must match the mixture weights this closely (percentage points).
SHARE_TOLERANCE_PP = 0.1


def _run_inputs(run_dir: str | os.PathLike) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Tokens manifests of the run, and their sha256 (provenance by content)."""
    manifests, digests = [], {}
    for src in list_run_sources(run_dir):
        path = src.tokens_dir / MANIFEST
        if path.is_file():
            m = read_tokens_manifest(src.path)
            m["_prefixes"] = tuple(token_shard_prefixes(src.path))
            manifests.append(m)
            digests[src.name] = sha256_file(path)
    if not manifests:
        raise BlendError(f"no tokenized sources under {run_dir}: run `pasture tokenizer encode` first")
    return manifests, digests


def export_blend(
    run_dir: str | os.PathLike,
    output: str | os.PathLike,
    mixture: MixtureSpec,
    tokens: int,
    formats: tuple[str, ...] = FORMATS,
    seq_len: int = 2048,
    seed: int = 1234,
) -> dict[str, Any]:
    """Builds the blend of ``tokens`` training tokens and writes it under ``output``.

    Args:
        run_dir: Run with ``<source>/tokens/manifest.json``.
        output: Output folder.
        mixture: Weights (renormalised over the tokenized sources, see ``mixtures.plan``).
        tokens: Training tokens wanted; the blend has ``ceil(tokens / seq_len)`` sequences.
        formats: Any of ``"megatron"``, ``"parquet"``.
        seq_len: Predictions per sequence (each sequence stores ``seq_len + 1`` tokens).
        seed: Blend seed.

    Returns:
        The manifest written to ``output/manifest.json``.

    Raises:
        BlendError: Unknown format, mixed tokenizers, or too few sequences for the share
            tolerance.
    """
    bad = set(formats) - set(FORMATS)
    if bad or not formats:
        raise BlendError(f"formats must be among {FORMATS}, got {list(formats)}")
    manifests, input_digests = _run_inputs(run_dir)
    tokenizers = {m["tokenizer"]["sha256"] for m in manifests}
    if len(tokenizers) != 1:
        raise BlendError(f"sources were tokenized with different tokenizers: {sorted(tokenizers)}")
    by_name = {m["source"]: m for m in manifests}
    plan = plan_mixture(mixture, [SourceTokens(m["source"], m["kind"], int(m["tokens"])) for m in manifests], tokens)
    sources = [BlendSource(p.name, p.kind, p.fraction, by_name[p.name]["_prefixes"]) for p in plan.sources]
    num_sequences = math.ceil(tokens / seq_len)
    # Greedy deficit keeps every count within two samples of w·S: shares within 200/S pp.
    blend = plan_blend(sources, num_sequences, seq_len, seed)
    errors = blend.share_errors_pp()
    if float(errors.max()) > SHARE_TOLERANCE_PP:
        need = math.ceil(200.0 / SHARE_TOLERANCE_PP) * seq_len
        raise BlendError(f"{num_sequences} sequences cannot hold the mixture within ±{SHARE_TOLERANCE_PP} pp "
                         f"(off by {float(errors.max()):.3f} pp); ask for at least {need:,} tokens")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(manifests[0]["dtype"])
    files = _write_outputs(blend, out, formats, dtype)
    counts = blend.counts()
    epochs = source_epochs(blend)
    manifest = {
        "format": EXPORT_FORMAT,
        "mixture": mixture.to_dict(),
        "config": {
            "formats": sorted(formats),
            "seq_len": seq_len,
            "sample_tokens": seq_len + 1,
            "seed": seed,
            "tokens_requested": int(tokens),
            "share_tolerance_pp": SHARE_TOLERANCE_PP,
        },
        "tokenizer": manifests[0]["tokenizer"],
        "dtype": dtype.name,
        "sequences": num_sequences,
        "tokens": num_sequences * seq_len,
        "source_order": [s.name for s in blend.sources],  # dataset index order of the blend
        "sources": {
            s.name: {
                "kind": s.kind,
                "weight": round(s.weight * 100.0, 9),
                "sequences": int(n),
                "tokens": int(n) * seq_len,
                "share": round(float(n) / num_sequences * 100.0, 9),
                "share_error_pp": round(float(e), 9),
                "available_tokens": int(by_name[s.name]["tokens"]),
                "epochs": round(ep, 9),
                "llama_epochs": mixture.source(s.kind).epochs,
            }
            for s, n, e, ep in zip(blend.sources, counts, errors, epochs)
        },
        "max_share_error_pp": round(float(errors.max()), 9),
        "shares_within_tolerance": bool(errors.max() <= SHARE_TOLERANCE_PP),
        "missing_sources": list(plan.missing),
        "warnings": [w.message for w in plan.warnings],
        "inputs": dict(sorted(input_digests.items())),
        "files": files,
    }
    write_json_atomically(out / MANIFEST, manifest)
    return manifest


def _write_outputs(blend: BlendPlan, out: Path, formats: tuple[str, ...], dtype: np.dtype) -> dict[str, str]:
    names = [s.name for s in blend.sources]
    return write_sequences(out / PREFIX, ((names[d], seq) for d, seq in iter_sequences(blend)), formats, dtype)
