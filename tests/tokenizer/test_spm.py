"""The tokenizer: LLaMA's settings, exact round trips on every real document, digits, bytes."""

from __future__ import annotations

import pytest

from tests.tokenizer.corpus_texts import corpus_documents
from tests.tokenizer.fixtures import SMALL_VOCAB, small_tokenizer  # noqa: F401  (fixture)
from tokenizer.spm import (
    CHUNK_CHARS,
    DUMMY_PREFIX,
    Tokenizer,
    TokenizerTrainingError,
    encode_document,
    line_chunks,
    train_sentencepiece,
)


def test_model_behaves_like_llamas_settings(small_tokenizer):  # noqa: F811
    # The protobuf runtime here is older than sentencepiece_model_pb2 needs, so the
    # trainer_spec is checked through behaviour rather than by reading the proto.
    tok = Tokenizer.load(small_tokenizer)
    sp = tok.sp
    assert tok.vocab_size == SMALL_VOCAB and tok.dtype.name == "uint16"
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    assert tok.eos_id == 2
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    assert pieces[3:3 + 256] == [f"<0x{b:02X}>" for b in range(256)]  # byte_fallback
    assert max(len(p) for p in pieces) <= 16  # max_sentencepiece_length
    assert any(set(p) == {DUMMY_PREFIX} and len(p) > 1 for p in pieces)  # allow_whitespace_only_pieces
    # identity normalisation: full-width letters are not folded to ASCII (NFKC would);
    # remove_extra_whitespaces false: runs of spaces survive; add_dummy_prefix: leading ▁.
    assert tok.decode(tok.encode("ｆｕｌｌ  width")) == "ｆｕｌｌ  width"
    assert "f" not in "".join(tok.pieces("ｆｕｌｌ"))
    assert tok.pieces("  x")[0].startswith(DUMMY_PREFIX * 2) or tok.pieces("  x")[:2] == [DUMMY_PREFIX * 2, "x"]


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_every_corpus_document_round_trips(corpus, small_tokenizer):  # noqa: F811
    """decode(encode(text)) == text for every document of every source of the corpus.

    The one exception is SentencePiece's own meta symbol U+2581 ("▁"), which stands for a
    space inside the model: a text containing it decodes with a space there (LLaMA's
    tokenizer does the same). Such documents must come back with exactly that change.
    """
    tok = Tokenizer.load(small_tokenizer)
    seen = {}
    with_meta_symbol = 0
    for kind, docs in corpus_documents(corpus).items():
        assert docs, kind
        for doc_id, text in docs:
            ids = tok.encode(text)
            if len(text) > 2 * CHUNK_CHARS:  # took the chunked path: must equal one whole call
                assert ids == tok.sp.encode(text), doc_id
            expected = text.replace(DUMMY_PREFIX, " ")
            with_meta_symbol += expected != text
            assert tok.decode(ids) == expected, (kind, doc_id)
            assert tok.sp.unk_id() not in ids, (kind, doc_id)  # byte fallback: nothing is unknown
        seen[kind] = len(docs)
    assert set(seen) == {"cc", "c4", "wikipedia", "books", "github", "arxiv", "stackexchange"}
    assert sum(seen.values()) > 4500
    assert with_meta_symbol == 1


def test_small_chunks_give_the_same_ids_as_one_call(corpus, small_tokenizer):  # noqa: F811
    tok = Tokenizer.load(small_tokenizer)
    docs = corpus_documents(corpus)
    texts = [t for _, t in docs["wikipedia"][:40]] + [t for _, t in docs["github"][:40]] + \
            [docs["books"][0][1][:200_000], "\n\nleading newlines\n\n\ntrailing\n\n"]
    for text in texts:
        assert "".join(line_chunks(text, 300)) == text
        assert encode_document(tok.sp, text, chunk_chars=300) == tok.sp.encode(text)


def test_digits_are_single_pieces(small_tokenizer):  # noqa: F811
    tok = Tokenizer.load(small_tokenizer)
    pieces = tok.pieces("In 2024 it cost 31415 yen, v3.10 and 1e-9")
    with_digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert with_digits == list("2024314153101") + ["9"]
    assert pieces[:6] == ["▁In", "▁", "2", "0", "2", "4"]


def test_unseen_character_becomes_utf8_bytes(small_tokenizer):  # noqa: F811
    tok = Tokenizer.load(small_tokenizer)
    snowman = "\u2603"  # not in the corpus sample
    assert tok.sp.piece_to_id(snowman) == tok.sp.unk_id()
    assert tok.pieces(snowman)[1:] == ["<0xE2>", "<0x98>", "<0x83>"]
    assert tok.decode(tok.encode(f"a{snowman}b")) == f"a{snowman}b"
    assert tok.pieces("\n") == ["▁", "<0x0A>"]  # newlines are bytes too, so chunking at them is exact


def test_encode_with_eos_appends_eos_id(small_tokenizer):  # noqa: F811
    tok = Tokenizer.load(small_tokenizer)
    ids = tok.encode_with_eos("Hello world")
    assert ids.dtype.name == "uint16" and ids[-1] == 2 and ids[:-1].tolist() == tok.encode("Hello world")


def test_training_is_deterministic(corpus, tmp_path):
    docs = corpus_documents(corpus)
    lines = [line for _, t in docs["stackexchange"][:200] for line in t.split("\n") if line.strip()]
    a = train_sentencepiece(lines, tmp_path / "a", 600)
    b = train_sentencepiece(lines, tmp_path / "b", 600)
    assert a.read_bytes() == b.read_bytes()
    # Thread count changes nothing but the trainer_spec field that records it.
    c = Tokenizer.load(train_sentencepiece(lines, tmp_path / "c", 600, num_threads=1))
    ta = Tokenizer.load(a)
    assert [ta.sp.id_to_piece(i) for i in range(600)] == [c.sp.id_to_piece(i) for i in range(600)]
    assert (tmp_path / "a.vocab").read_text(encoding="utf-8").splitlines()[:3] == ["<unk>\t0", "<s>\t0", "</s>\t0"]


def test_vocab_too_large_for_the_data_says_so(tmp_path):
    lines = ["the cat sat on the mat", "a dog ate the hat"] * 20
    with pytest.raises(TokenizerTrainingError, match=r"too large for the training sample: it supports at most \d+"):
        train_sentencepiece(lines, tmp_path / "m", 5000)
    assert not (tmp_path / "m.model").exists()
