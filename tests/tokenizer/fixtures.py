"""Shared, once-per-session artefacts for tokenizer, stage and mixture tests.

Import the fixtures you need into a test module (``from tests.tokenizer.fixtures import
small_tokenizer``). Building happens once per session whatever module asks first: results
are cached in ``_CACHE`` under one session temp folder.

* ``small_tokenizer``: LLaMA settings, vocab 4000, trained on a seeded sample of the real
  corpus. 4000 rather than ~2000 because character_coverage 0.99995 keeps 3198 distinct
  characters of this multilingual corpus (Japanese, Ukrainian, …) as pieces.
* ``tiny_run``: a run directory in the runner's layout (``<kind>/docs/*.jsonl.gz`` +
  ``stats.json``) holding real corpus documents, capped per source to keep tests fast.
* ``tokenized_run``: ``tiny_run`` copied and tokenized with ``pasture tokenizer encode``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from filters.document import Document
from stages.sinks import gzip_bytes
from tests.tokenizer.corpus_texts import corpus_documents
from tokenizer.spm import train_sentencepiece

SMALL_VOCAB = 4000
RUN_CHARS_PER_SOURCE = 250_000
SHARD_TOKENS = 20_000
_CACHE: dict[str, Path] = {}


def _order(doc_id: str) -> str:
    return hashlib.sha1(doc_id.encode("utf-8")).hexdigest()


def _session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "root" not in _CACHE:
        _CACHE["root"] = tmp_path_factory.mktemp("tokenizer-session")
    return _CACHE["root"]


def write_run_dir(root: Path, docs_by_kind: dict[str, list[tuple[str, str]]], chars_per_source: int) -> Path:
    """Writes documents in the runner's layout, at most ``chars_per_source`` characters each."""
    for kind, docs in sorted(docs_by_kind.items()):
        taken, chars = [], 0
        for doc_id, text in sorted(docs, key=lambda d: _order(d[0])):
            if chars >= chars_per_source:
                break
            text = text[: chars_per_source - chars] if kind == "books" else text
            taken.append(Document(doc_id, text, kind, {"corpus": True}))
            chars += len(text)
        folder = root / kind / "docs"
        folder.mkdir(parents=True)
        payload = "".join(d.to_json() + "\n" for d in sorted(taken, key=lambda d: d.id)).encode("utf-8")
        (folder / "part-00000-of-00001.jsonl.gz").write_bytes(gzip_bytes(payload))
        (root / kind / "stats.json").write_text(json.dumps({"kind": kind, "documents_out": len(taken)}))
    return root


@pytest.fixture(scope="session")
def small_tokenizer(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "tokenizer" not in _CACHE:
        docs = corpus_documents(corpus)
        # 60 documents per source in a seeded order: every script and kind of text is seen.
        texts = [t for kind in sorted(docs) for _, t in sorted(docs[kind], key=lambda d: _order(d[0]))[:60]]
        lines = (line for t in texts for line in t.split("\n") if line.strip())
        _CACHE["tokenizer"] = train_sentencepiece(lines, _session_dir(tmp_path_factory) / "small", SMALL_VOCAB,
                                                  num_threads=2)
    return _CACHE["tokenizer"]


@pytest.fixture(scope="session")
def tiny_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "run" not in _CACHE:
        _CACHE["run"] = write_run_dir(_session_dir(tmp_path_factory) / "run", corpus_documents(corpus),
                                      RUN_CHARS_PER_SOURCE)
    return _CACHE["run"]


@pytest.fixture(scope="session")
def tokenized_run(tiny_run: Path, small_tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "tokenized" not in _CACHE:
        from pipeline.cli import main

        run = _session_dir(tmp_path_factory) / "tokenized"
        shutil.copytree(tiny_run, run)
        rc = main(["tokenizer", "encode", "--run", str(run), "--model", str(small_tokenizer),
                   "--shard-tokens", str(SHARD_TOKENS)])
        assert rc == 0
        _CACHE["tokenized"] = run
    return _CACHE["tokenized"]


def read_docs(run: Path, kind: str) -> list[Document]:
    out = []
    for f in sorted((run / kind / "docs").glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            out += [Document.from_json(line) for line in fh]
    return out
