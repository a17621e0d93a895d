"""A Hugging Face tokenizer folder for a pasture SentencePiece model.

``write_hf_tokenizer`` writes, next to ``tokenizer.model``:

- ``tokenizer.json``: the same BPE for the ``tokenizers`` library (the "fast" tokenizer),
  built from the model's pieces, so no conversion runs at load time (conversions in
  transformers differ between releases: built from ``tokenizer.model`` alone, 5.x guessed a
  3-piece vocabulary and 4.x's fast tokenizer dropped the leading ``▁``);
- ``tokenizer_config.json`` and ``special_tokens_map.json``: the special tokens and the
  BOS/EOS policy, which is the one the token shards were written with (the post-processor
  of ``tokenizer.json`` adds them, so ``tokenizer(text)`` returns a shard's ids).

How the BPE carries over. Our model is LLaMA's: identity normalisation, whitespace kept,
a ``▁`` dummy prefix, digits split, byte fallback. In ``tokenizers`` terms that is a
normaliser that prepends ``▁`` and turns spaces into ``▁``, no pre-tokeniser, and a BPE model
with ``byte_fallback``. SentencePiece's BPE merges, at each step, the adjacent pair whose
merged piece scores highest; a ``tokenizers`` BPE merges the pair of lowest rank. Ranking
each pair by its merged piece's score (piece id order, for SentencePiece BPE) gives the same
merges, hence the same ids (checked on every document of ``samples/`` in
``tests/tokenizer/test_hf_tokenizer.py``).

Nothing here imports transformers or tokenizers: the files are plain JSON.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import sentencepiece as spm

from mixtures.provenance import write_json_atomically

SPACE = "\u2581"


def _pieces(sp: spm.SentencePieceProcessor) -> tuple[dict[str, int], list[str]]:
    """``(vocab, normal pieces)``: every piece → id, and the mergeable pieces in id order."""
    vocab: dict[str, int] = {}
    normal: list[str] = []
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        vocab[piece] = i
        if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i) or sp.is_unused(i)):
            normal.append(piece)
    return vocab, normal


def bpe_merges(vocab: dict[str, int], normal: list[str], scores: dict[str, float]) -> list[list[str]]:
    """Every ``(left, right)`` pair whose concatenation is a piece, ranked by that piece's score.

    Ties (one piece reachable by several splits) keep a fixed order: by the ids of left, then
    right, so the file is deterministic.
    """
    ranked: list[tuple[float, int, int, str, str]] = []
    for piece in normal:
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[piece], vocab[left], vocab[right], left, right))
    ranked.sort()
    return [[left, right] for _, _, _, left, right in ranked]


def _special(content: str, token_id: int) -> dict[str, Any]:
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def _post_processor(bos: tuple[str, int] | None, eos: tuple[str, int] | None) -> dict[str, Any]:
    """Adds BOS/EOS around each sequence as the policy says (nothing when both are off)."""
    def template(*sequences: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for type_id, name in enumerate(sequences):
            if bos:
                items.append({"SpecialToken": {"id": bos[0], "type_id": type_id}})
            items.append({"Sequence": {"id": name, "type_id": type_id}})
            if eos:
                items.append({"SpecialToken": {"id": eos[0], "type_id": type_id}})
        return items

    specials = {token[0]: {"id": token[0], "ids": [token[1]], "tokens": [token[0]]} for token in (bos, eos) if token}
    return {"type": "TemplateProcessing", "single": template("A"), "pair": template("A", "B"),
            "special_tokens": specials}


def tokenizer_json(model_path: str | Path, add_bos: bool, add_eos: bool) -> dict[str, Any]:
    """The ``tokenizers`` description of the SentencePiece BPE model at ``model_path``."""
    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    vocab, normal = _pieces(sp)
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())}
    unk, bos, eos = sp.unk_id(), sp.bos_id(), sp.eos_id()
    specials = [(sp.id_to_piece(i), i) for i in (unk, bos, eos) if i >= 0]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_special(content, token_id) for content, token_id in specials],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
        ]},
        "pre_tokenizer": None,
        "post_processor": _post_processor((sp.id_to_piece(bos), bos) if add_bos and bos >= 0 else None,
                                          (sp.id_to_piece(eos), eos) if add_eos and eos >= 0 else None),
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": sp.id_to_piece(unk), "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
            "vocab": vocab, "merges": bpe_merges(vocab, normal, scores),
        },
    }


def write_hf_tokenizer(model_path: str | Path, out_dir: str | Path, *, add_bos: bool, add_eos: bool,
                       model_max_length: int | None = None) -> Path:
    """Writes a folder that ``AutoTokenizer.from_pretrained`` loads with our ids.

    Args:
        model_path: The SentencePiece ``.model`` (copied as ``tokenizer.model``).
        out_dir: The folder to write.
        add_bos, add_eos: The BOS/EOS policy of the token shards: a transformers tokenizer
            called on a document then returns exactly the ids the shards hold for it.
        model_max_length: The context length to record (None: unbounded).

    Returns:
        ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if Path(model_path).resolve() != (out / "tokenizer.model").resolve():
        shutil.copyfile(model_path, out / "tokenizer.model")
    described = tokenizer_json(model_path, add_bos, add_eos)
    write_json_atomically(out / "tokenizer.json", described)
    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    unk, bos, eos = (sp.id_to_piece(i) for i in (sp.unk_id(), sp.bos_id(), sp.eos_id()))
    specials = {"bos_token": bos, "eos_token": eos, "unk_token": unk}
    write_json_atomically(out / "special_tokens_map.json", specials)
    write_json_atomically(out / "tokenizer_config.json", {
        **specials,
        # The generic class loads tokenizer.json as written. LlamaTokenizer would not: in
        # transformers 5 it rebuilds the pipeline with a Metaspace pre-tokenizer, which adds
        # no "▁" to a text that starts with a space (SentencePiece does), so ids differ there.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": add_bos,
        "add_eos_token": add_eos,
        "pad_token": None,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length or 1_000_000_000_000_000_019_884_624_838_656,
        "added_tokens_decoder": {str(tok["id"]): {k: v for k, v in tok.items() if k != "id"}
                                 for tok in described["added_tokens"]},
    })
    return out
