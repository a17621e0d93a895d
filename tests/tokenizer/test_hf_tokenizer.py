"""The Hugging Face tokenizer folder gives SentencePiece's ids on real text of every kind."""

from __future__ import annotations

import json

import pytest
import sentencepiece as spm

from tests.tokenizer.corpus_texts import corpus_documents
from tests.tokenizer.fixtures import small_tokenizer  # noqa: F401  (session fixture)
from tokenizer.hf import write_hf_tokenizer

transformers = pytest.importorskip("transformers", reason="the dev extra installs transformers")


# The tokenizers BPE runs ~13x slower than SentencePiece here (no pre-tokeniser: long "words"),
# so each document is compared on its first ~3k characters (cut at a line break, as the
# shards' chunked encoding cuts them).
DOC_CHARS = 3_000


def _head(text: str) -> str:
    if len(text) <= DOC_CHARS:
        return text
    cut = text.rfind("\n", 0, DOC_CHARS)
    return text[: cut if cut > 0 else DOC_CHARS]


@pytest.fixture(scope="module")
def documents(corpus) -> list[str]:
    docs = corpus_documents(corpus)
    return [_head(text) for kind in sorted(docs) for _, text in docs[kind]]


def test_auto_tokenizer_ids_equal_sentencepiece_ids_plus_eos(small_tokenizer, documents, tmp_path):  # noqa: F811
    folder = write_hf_tokenizer(small_tokenizer, tmp_path / "tok", add_bos=False, add_eos=True)
    sp = spm.SentencePieceProcessor(model_file=str(small_tokenizer))
    fast = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert len(fast) == sp.get_piece_size()
    # Documents may contain "<s>" as text: the shards encode it as text, so must the tokenizer.
    mismatched = [i for i, text in enumerate(documents)
                  if fast(text, split_special_tokens=True)["input_ids"] != sp.encode(text) + [sp.eos_id()]]
    assert len(documents) > 100 and mismatched == []
    # Asking for the slow tokenizer gives the same ids (transformers 4.x and 5.x both load
    # tokenizer.json for this tokenizer class).
    slow = transformers.AutoTokenizer.from_pretrained(str(folder), use_fast=False)
    for text in documents[::25]:
        assert slow(text, split_special_tokens=True)["input_ids"] == sp.encode(text) + [sp.eos_id()]


def test_bos_eos_policy_is_recorded_and_applied(small_tokenizer, tmp_path):  # noqa: F811
    folder = write_hf_tokenizer(small_tokenizer, tmp_path / "tok", add_bos=True, add_eos=False)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert (config["add_bos_token"], config["add_eos_token"]) == (True, False)
    sp = spm.SentencePieceProcessor(model_file=str(small_tokenizer))
    hf = transformers.AutoTokenizer.from_pretrained(str(folder))
    text = " Leading space, digits 2024 and ünïcödé."
    assert hf(text)["input_ids"] == [sp.bos_id()] + sp.encode(text)
    assert hf.decode(sp.encode(text)) == sp.decode(sp.encode(text))
    assert (folder / "tokenizer.model").read_bytes() == small_tokenizer.read_bytes()


def test_tokenizer_json_is_deterministic(small_tokenizer, tmp_path):  # noqa: F811
    first = write_hf_tokenizer(small_tokenizer, tmp_path / "a", add_bos=False, add_eos=True)
    second = write_hf_tokenizer(small_tokenizer, tmp_path / "b", add_bos=False, add_eos=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
