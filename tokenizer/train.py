"""Train the tokenizer on a run's documents: sample → SentencePiece → model + vocab + manifest."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import sentencepiece as spm

from mixtures.provenance import sha256_file, write_json_atomically
from mixtures.spec import MixtureSpec
from tokenizer.manifest import RunSource, tokenizer_manifest_path
from tokenizer.sample import TrainingSample, draw_sample
from tokenizer.spm import TokenizerTrainingError, train_sentencepiece, trainer_options

log = logging.getLogger("pasture.tokenizer")

TOKENIZER_FORMAT = "pasture-tokenizer-v1"


def train_from_sources(
    sources: list[RunSource],
    model_prefix: str | os.PathLike,
    mixture: MixtureSpec,
    vocab_size: int = 32000,
    sample_chars: int = 50_000_000,
    seed: int = 1234,
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Trains on a weighted sample of ``sources`` drawn in this process (small runs, tests).

    ``pasture tokenizer train`` draws the same sample on Beam (``stages/tokenizer_sample.py``)
    and calls ``train_from_sample``.
    """
    sample = draw_sample(sources, mixture, sample_chars, seed)
    return train_from_sample(sample, [s.name for s in sources], model_prefix, mixture, vocab_size, sample_chars,
                             seed, num_threads)


def train_from_sample(
    sample: TrainingSample,
    source_names: list[str],
    model_prefix: str | os.PathLike,
    mixture: MixtureSpec,
    vocab_size: int = 32000,
    sample_chars: int = 50_000_000,
    seed: int = 1234,
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Trains SentencePiece on a drawn sample and writes ``PREFIX.model/.vocab/.manifest.json`` (local).

    Args:
        sample: The training sample (bounded: SentencePiece holds it in memory anyway).
        source_names: The sources asked for (for the error message).
        model_prefix: Output path without extension.
        mixture: Weights the sample was drawn with.
        vocab_size: Pieces in the model.
        sample_chars: Characters requested.
        seed: Sampling seed.
        num_threads: SentencePiece trainer threads.

    Returns:
        The manifest that was written.

    Raises:
        TokenizerTrainingError: Empty sample or a vocabulary too large for it.
    """
    if not sample.texts:
        raise TokenizerTrainingError(f"no documents to train on in {source_names} ({sample.skipped})")
    log.info("tokenizer sample: %d chars from %d sources", sample.chars, len(sample.sources))
    model_path = train_sentencepiece(sample.lines(), model_prefix, vocab_size, num_threads, seed)
    options = trainer_options(vocab_size, num_threads)
    manifest = {
        "format": TOKENIZER_FORMAT,
        "model": model_path.name,
        "vocab": Path(f"{model_prefix}.vocab").name,
        "sha256": sha256_file(model_path),
        "vocab_size": vocab_size,
        "trainer_options": options,
        "sentencepiece_version": spm.__version__,
        "seed": seed,
        "mixture": mixture.name,
        "sample_chars_requested": sample_chars,
        "sample_chars": sample.chars,
        "sample": {name: info.to_dict() for name, info in sorted(sample.sources.items())},
        "skipped_sources": dict(sorted(sample.skipped.items())),
    }
    write_json_atomically(tokenizer_manifest_path(model_path), manifest)
    return manifest
