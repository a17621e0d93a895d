"""SentencePiece BPE with LLaMA-1's settings: train, load, encode whole documents.

Settings are those of LLaMA's released ``tokenizer.model`` trainer_spec (karpathy/llama2.c
``doc/train_llama_tokenizer.md``): BPE, 32000 pieces, digits
split, byte fallback for unseen UTF-8, identity normalisation, whitespace kept as is,
unk/bos/eos = 0/1/2, no pad.

Encoding documents: SentencePiece slows to ~1.3 MB/s on multi-megabyte strings (measured),
so long documents are encoded in chunks of whole lines and the ids concatenated. That gives
exactly the ids of encoding the whole string, because ``\\n`` is never inside a piece (it is
not in the training lines, so it is always byte-fallback ``<0x0A>``) and so no piece can
span a line break. Each chunk after the first starts with its ``\\n`` and the ``▁`` the dummy
prefix adds in front of it is dropped (see ``encode_document``).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm

from mixtures.provenance import sha256_bytes, write_bytes_atomically
from tokenizer.indexed import dtype_for_vocab

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
DUMMY_PREFIX = "\u2581"  # "▁", SentencePiece's whitespace symbol

# LLaMA's trainer_spec, except the fields that depend on the data (vocab size, threads).
LLAMA_TRAINER_OPTIONS: dict[str, Any] = {
    "model_type": "bpe",
    "character_coverage": 0.99995,
    "split_digits": True,
    "byte_fallback": True,
    "normalization_rule_name": "identity",
    "remove_extra_whitespaces": False,
    "allow_whitespace_only_pieces": True,
    "add_dummy_prefix": True,
    "max_sentencepiece_length": 16,
    "split_by_unicode_script": True,
    "split_by_whitespace": True,
    "split_by_number": True,
    # LLaMA's value; longer lines (minified JS, source maps) are skipped by the trainer,
    # which is what we want: they are not language.
    "max_sentence_length": 4192,
    "unk_id": UNK_ID,
    "bos_id": BOS_ID,
    "eos_id": EOS_ID,
    "pad_id": -1,
    "unk_surface": " \u2047 ",
    # We draw the sample ourselves, deterministically; SentencePiece must use all of it, in order.
    "input_sentence_size": 0,
    "shuffle_input_sentence": False,
}

# Documents longer than this are encoded in line chunks of about this size.
CHUNK_CHARS = 32_768

_VOCAB_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_VOCAB_TOO_LOW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


class TokenizerTrainingError(RuntimeError):
    """Training failed for a reason the user can fix (e.g. a vocabulary too large for the sample)."""


# Training threads. A fixed number, not os.cpu_count(): the pieces do not depend on it, but
# the .model file records it in its trainer_spec, so a machine-dependent value would make
# the model bytes (and its sha256 in every manifest) differ between machines.
DEFAULT_TRAIN_THREADS = 2


def trainer_options(vocab_size: int, num_threads: int | None = None) -> dict[str, Any]:
    """LLaMA's options with our vocab size and a bounded thread count."""
    threads = max(1, min(int(num_threads or DEFAULT_TRAIN_THREADS), 16))
    return {**LLAMA_TRAINER_OPTIONS, "vocab_size": int(vocab_size), "num_threads": threads}


def train_sentencepiece(
    sentences: Iterable[str],
    model_prefix: str | os.PathLike,
    vocab_size: int = 32000,
    num_threads: int | None = None,
    seed: int = 1234,
) -> Path:
    """Trains a BPE model on ``sentences`` (lines) and writes ``PREFIX.model`` and ``PREFIX.vocab``.

    Args:
        sentences: Training lines, in a deterministic order.
        model_prefix: Output path without extension.
        vocab_size: Number of pieces.
        num_threads: Trainer threads (default ``DEFAULT_TRAIN_THREADS``; recorded in the model).
        seed: Seeds SentencePiece's global generator (BPE does not sample, but be sure).

    Returns:
        Path of the ``.model`` file.

    Raises:
        TokenizerTrainingError: The vocabulary is larger than the sample supports, or the
            sample is empty.
    """
    prefix = Path(model_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.set_random_generator_seed(int(seed))
    model = io.BytesIO()
    lines = (s for s in sentences if s)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines,
            model_writer=model,
            minloglevel=2,
            **trainer_options(vocab_size, num_threads),
        )
    except RuntimeError as err:
        match = _VOCAB_TOO_HIGH.search(str(err))
        if match:
            raise TokenizerTrainingError(
                f"vocab size {match.group(1)} is too large for the training sample: it supports at most "
                f"{match.group(2)} pieces. Pass --vocab-size {match.group(2)} or less, or give more text "
                f"(--sample-chars / more documents)."
            ) from err
        match = _VOCAB_TOO_LOW.search(str(err))
        if match:
            raise TokenizerTrainingError(
                f"vocab size {match.group(1)} is too small: the characters that character_coverage="
                f"{LLAMA_TRAINER_OPTIONS['character_coverage']} keeps, plus the special and 256 byte pieces, "
                f"already need {match.group(2)}. Pass --vocab-size {match.group(2)} or more."
            ) from err
        if "empty" in str(err).lower() or "no sentence" in str(err).lower():
            raise TokenizerTrainingError(f"the training sample is empty: {err}") from err
        raise
    model_bytes = model.getvalue()
    model_path = Path(f"{prefix}.model")
    write_bytes_atomically(model_path, model_bytes)
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    vocab = "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.get_piece_size()))
    write_bytes_atomically(Path(f"{prefix}.vocab"), vocab.encode("utf-8"))
    return model_path


@dataclass(frozen=True)
class TokenizerInfo:
    """What every shard/export manifest records about the tokenizer."""

    path: str
    sha256: str
    vocab_size: int
    eos_id: int
    dtype: str


class Tokenizer:
    """A loaded SentencePiece model with document-level encoding.

    Construct with ``Tokenizer.load(path)``; the processor itself is not picklable, so Beam
    DoFns keep the path and call ``load`` in ``setup()``.
    """

    def __init__(self, model_bytes: bytes, path: str = "") -> None:
        self.path = path
        self.sha256 = sha256_bytes(model_bytes)
        self.sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        self.vocab_size = int(self.sp.get_piece_size())
        self.eos_id = int(self.sp.eos_id())
        self.dtype = dtype_for_vocab(self.vocab_size)
        self._prefix_id = self.sp.piece_to_id(DUMMY_PREFIX)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        """Reads a ``.model`` file."""
        with open(path, "rb") as fh:
            return cls(fh.read(), os.fspath(path))

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(self.path, self.sha256, self.vocab_size, self.eos_id, self.dtype.name)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` exactly as ``SentencePieceProcessor.encode`` gives them, chunked if long."""
        return encode_document(self.sp, text, prefix_id=self._prefix_id)

    def encode_with_eos(self, text: str) -> np.ndarray:
        """Ids of a document followed by ``</s>``, in the shard dtype."""
        return self.encode_document(text, add_bos=False, add_eos=True)

    def encode_document(self, text: str, add_bos: bool, add_eos: bool) -> np.ndarray:
        """Ids of a document wrapped as the BOS/EOS policy says (``tokenizer.add_bos|add_eos``)."""
        ids = self.encode(text)
        if add_bos:
            ids.insert(0, BOS_ID)
        if add_eos:
            ids.append(self.eos_id)
        return np.asarray(ids, dtype=self.dtype)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids])

    def pieces(self, text: str) -> list[str]:
        return self.sp.encode(text, out_type=str)


def line_chunks(text: str, chunk_chars: int = CHUNK_CHARS) -> Iterator[str]:
    """Splits ``text`` into chunks of whole lines; every chunk after the first starts with ``\\n``.

    A single line longer than ``chunk_chars`` stays whole (it cannot be cut without changing
    the ids).
    """
    start = 0
    n = len(text)
    while start < n:
        if n - start <= chunk_chars:
            yield text[start:]
            return
        # Cut at the last newline inside the window (but after the chunk's own leading \n).
        cut = text.rfind("\n", start + 1, start + chunk_chars)
        if cut == -1:
            cut = text.find("\n", start + chunk_chars)
            if cut == -1:
                yield text[start:]
                return
        yield text[start:cut]
        start = cut


def encode_document(
    sp: spm.SentencePieceProcessor,
    text: str,
    chunk_chars: int = CHUNK_CHARS,
    prefix_id: int | None = None,
) -> list[int]:
    """Encodes a document, chunked at line breaks when it is long.

    Args:
        sp: The processor.
        text: The document.
        chunk_chars: Chunk size; documents up to twice this are encoded in one call.
        prefix_id: Id of the ``▁`` piece (looked up when None).

    Returns:
        The same ids as ``sp.encode(text)``.
    """
    if len(text) <= 2 * chunk_chars or sp.piece_to_id("\n") != sp.unk_id():
        # Short, or a model (not ours) with "\n" in its vocabulary: chunking would not be exact.
        return sp.encode(text)
    if prefix_id is None:
        prefix_id = sp.piece_to_id(DUMMY_PREFIX)
    chunks = list(line_chunks(text, chunk_chars))
    encoded = sp.encode(chunks)
    ids: list[int] = list(encoded[0])
    for chunk_ids in encoded[1:]:
        # The dummy prefix put a lone "▁" before the chunk's leading "\n"; the whole-string
        # encoding has no such piece there. If the model lacks a lone "▁" piece the
        # assumption fails, and we fall back to one call on the whole string.
        if not chunk_ids or chunk_ids[0] != prefix_id:
            return sp.encode(text)
        ids.extend(chunk_ids[1:])
    return ids
