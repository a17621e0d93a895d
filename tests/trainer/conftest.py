"""An export folder for the trainer tests, made from real corpus text by the real tools.

Two sources of the sample corpus (two Gutenberg books as ``books``, the first source files
of the GitHub sample as ``github``) go through the project's own path, minus Beam: a
512-piece SentencePiece BPE with LLaMA's settings (``tokenizer.spm``), per-source token
shards written as ``pasture tokenizer encode`` writes them (``tokenizer.shards.write_shard``
plus its ``tokens/manifest.json``), then ``tokenizer.export.export_blend`` at the LLaMA
mixture weights into 65-token samples (``blend.bin/.idx`` + ``manifest.json``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mixtures.provenance import write_json_atomically
from mixtures.spec import load_mixture
from tokenizer.export import export_blend
from tokenizer.manifest import MANIFEST, TOKENS_DIR, TOKENS_FORMAT
from tokenizer.shards import write_shard
from tokenizer.spm import Tokenizer, train_sentencepiece

SEQ_LEN = 64
VOCAB = 512
BLEND_TOKENS = 2048 * SEQ_LEN  # 2048 sequences: enough for the export's ±0.1 pp share check
BOOKS = ("books/16-0-peter-pan.txt", "books/84-0-frankenstein-body-only.txt")
GITHUB = "github/github_sample.jsonl.gz"
GITHUB_CHARS = 400_000


def _book_documents(corpus: Path) -> list[str]:
    docs = []
    for book in BOOKS:
        text = (corpus / book).read_text(encoding="utf-8", errors="replace")
        docs += [p.strip() for p in text.split("\n\n") if len(p.strip()) > 40]
    return docs


def _code_documents(corpus: Path) -> list[str]:
    docs, total = [], 0
    with gzip.open(corpus / GITHUB, "rt", encoding="utf-8") as fh:
        for line in fh:
            content = json.loads(line)["content"]
            if 200 < len(content) < 20_000:
                docs.append(content)
                total += len(content)
                if total > GITHUB_CHARS:
                    break
    return docs


def _write_source(run: Path, name: str, kind: str, tokenizer: Tokenizer, documents: list[str]) -> None:
    folder = run / name / TOKENS_DIR
    encoded = [(f"{name}-{i:06d}", tokenizer.encode_with_eos(d)) for i, d in enumerate(documents)]
    shard = write_shard(folder / "part-00000-of-00001", encoded, tokenizer.dtype)
    write_json_atomically(folder / MANIFEST, {
        "format": TOKENS_FORMAT, "source": name, "kind": kind,
        "tokenizer": {"model": "books.model", "sha256": tokenizer.sha256, "vocab_size": tokenizer.vocab_size,
                      "eos_id": tokenizer.eos_id},
        "dtype": tokenizer.dtype.name, "documents": len(encoded), "empty_documents": 0,
        "tokens": shard["tokens"], "shards": [shard],
    })


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine two spinning threads run ~20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus_documents(corpus: Path) -> dict[str, list[str]]:
    return {"books": _book_documents(corpus), "github": _code_documents(corpus)}


@pytest.fixture(scope="session")
def book_tokenizer(corpus_documents, tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    lines = [line for docs in corpus_documents.values() for d in docs for line in d.splitlines() if line.strip()]
    model = train_sentencepiece(lines, tmp_path_factory.mktemp("spm") / "books", vocab_size=VOCAB, num_threads=2)
    return Tokenizer.load(model)


@pytest.fixture(scope="session")
def book_shards(corpus_documents, book_tokenizer: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `pasture export` folder: 2048 blended samples of 65 tokens, half books, half code."""
    run = tmp_path_factory.mktemp("run")
    for name, docs in corpus_documents.items():
        _write_source(run, name, name, book_tokenizer, docs)
    out = tmp_path_factory.mktemp("export")
    export_blend(run, out, load_mixture("llama1"), BLEND_TOKENS, formats=("megatron",), seq_len=SEQ_LEN, seed=1234)
    return out


def write_small_export(folder: Path, samples: list[np.ndarray], seq_len: int | None = None) -> Path:
    """A hand-made export (one ``blend`` pair) for edge cases the real export never produces."""
    from mixtures.provenance import sha256_file
    from tokenizer.indexed import bin_path, idx_path, write_indexed_dataset

    write_indexed_dataset(folder / "blend", samples, dtype=np.uint16)
    config = {} if seq_len is None else {"seq_len": seq_len, "sample_tokens": seq_len + 1}
    files = {p.name: sha256_file(p) for p in (bin_path(folder / "blend"), idx_path(folder / "blend"))}
    (folder / MANIFEST).write_text(json.dumps({"format": "pasture-blend-v1", "config": config, "files": files}))
    return folder
