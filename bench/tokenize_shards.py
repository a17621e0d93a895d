"""Tokenize + shard-write throughput against raw ``SentencePieceProcessor.encode``, same text.

Peers, all on the same documents (real corpus text, read by tests/tokenizer/corpus_texts.py)
and the same 32k LLaMA-settings BPE model trained here on a sample of them:

  raw          ``sp.encode(text)`` per document, results discarded (the ceiling)
  library      ``Tokenizer.encode_with_eos`` + ``num_shards``/``token_shard_of`` + ``write_shard`` (.bin/.idx on disk)
  beam         what ``pasture tokenizer encode`` runs: read the documents from ``docs/*.jsonl.gz``
               inside a local FnApiRunner pipeline (1 worker), ``TokenizeToShards`` → shards +
               manifest. (Feeding documents through ``beam.Create`` instead would time Beam
               pickling and bz2-compressing 16 MB into the pipeline proto, not tokenizing.)

MB = UTF-8 megabytes of document text. Run::

    .venv/bin/python bench/tokenize_shards.py [--max-chars 12000000] [--vocab-size 32000] [--record]

``--record`` writes the Beam peer's rate as stage ``tokenize`` of ``bench/results.json``
(read by ``pasture plan-cost``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import apache_beam as beam  # noqa: E402

from filters.document import (  # noqa: E402
    Document,  # noqa: E402
    shard_name,
)
from pipeline.options import make_options  # noqa: E402
from stages.sinks import gzip_bytes  # noqa: E402
from stages.tokenize import TokenizeToShards  # noqa: E402
from tests.tokenizer.corpus_texts import corpus_documents  # noqa: E402
from tokenizer.manifest import iter_documents  # noqa: E402
from tokenizer.shards import num_shards, token_shard_of, write_shard  # noqa: E402
from tokenizer.spm import Tokenizer, train_sentencepiece  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"


def _docs(max_chars: int) -> list[Document]:
    """Round-robin over sources so every kind of text is in the mix, up to max_chars."""
    by_kind = corpus_documents(CORPUS)
    queues = {k: list(v) for k, v in sorted(by_kind.items())}
    out, chars = [], 0
    while chars < max_chars and any(queues.values()):
        for kind, queue in queues.items():
            if queue and chars < max_chars:
                doc_id, text = queue.pop(0)
                out.append(Document(doc_id, text, kind))
                chars += len(text)
    return out


def _library(tok: Tokenizer, docs: list[Document], out: Path, shard_tokens: int) -> int:
    encoded = {d.id: tok.encode_with_eos(d.text) for d in docs if d.text}
    n = num_shards(sum(len(v) for v in encoded.values()), shard_tokens)
    groups: dict[int, list] = {i: [] for i in range(n)}
    for doc_id, ids in encoded.items():
        groups[token_shard_of(doc_id, n)].append((doc_id, ids))
    total = 0
    for index, items in sorted(groups.items()):
        total += write_shard(out / shard_name(index, n), items, tok.dtype)["tokens"]
    return total


def _write_docs(docs: list[Document], folder: Path, num_files: int = 4) -> list[str]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(num_files):
        payload = "".join(d.to_json() + "\n" for d in docs[i::num_files]).encode("utf-8")
        path = folder / f"part-{i:05d}-of-{num_files:05d}.jsonl.gz"
        path.write_bytes(gzip_bytes(payload))
        paths.append(str(path))
    return paths


def _beam(model: Path, paths: list[str], out: Path, shard_tokens: int) -> None:
    with beam.Pipeline(options=make_options([])) as p:
        _ = (
            p
            | beam.Create(paths)
            | beam.FlatMap(iter_documents)
            | TokenizeToShards(str(model), str(out), "bench", shard_tokens)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-chars", type=int, default=12_000_000)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--shard-tokens", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2, help="best of N for each peer")
    parser.add_argument("--record", action="store_true", help="record the beam rate in bench/results.json")
    args = parser.parse_args()

    docs = _docs(args.max_chars)
    mb = sum(len(d.text.encode("utf-8")) for d in docs) / 1e6
    work = Path(tempfile.mkdtemp(prefix="bench-tokenize-"))
    try:
        t = time.perf_counter()
        lines = (line for d in docs for line in d.text.split("\n") if line.strip())
        model = train_sentencepiece(lines, work / "bench", args.vocab_size, num_threads=2)
        train_s = time.perf_counter() - t
        tok = Tokenizer.load(model)
        print(f"{len(docs)} documents, {mb:.1f} MB UTF-8; trained {args.vocab_size}-piece BPE in {train_s:.1f} s")

        def best(fn) -> float:
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return min(times)

        raw_s = best(lambda: [tok.sp.encode(d.text) for d in docs])
        lib_dir = work / "lib"
        lib_dir.mkdir()
        tokens = _library(tok, docs, lib_dir, args.shard_tokens)
        lib_s = best(lambda: _library(tok, docs, lib_dir, args.shard_tokens))
        paths = _write_docs(docs, work / "docs")
        beam_s = best(lambda: _beam(model, paths, work / "beam", args.shard_tokens))
        # Fixed cost of the same pipeline on one small document: graph construction, runner
        # start-up, the totals, side-input and shuffle stages. It does not grow with the data.
        tiny = _write_docs([Document("tiny", "a few words", "bench")], work / "tiny", num_files=1)
        startup_s = best(lambda: _beam(model, tiny, work / "beam-tiny", args.shard_tokens))
        print(f"{tokens:,} tokens ({mb * 1e6 / tokens:.2f} bytes/token)")
        print(f"{'peer':<24}{'seconds':>9}{'MB/s':>8}{'vs raw':>8}")
        rows = (("raw sp.encode", raw_s), ("library (encode+write)", lib_s), ("beam TokenizeToShards", beam_s),
                ("beam minus start-up", beam_s - startup_s))
        for name, sec in rows:
            print(f"{name:<24}{sec:>9.2f}{mb / sec:>8.2f}{raw_s / sec:>8.2f}")
        print(f"beam start-up (1 tiny document): {startup_s:.2f} s")
        if args.record:
            from _results import record  # bench/ is sys.path[0] when this runs as a script

            record("tokenize", mb_per_s_per_core=round(mb / beam_s, 3),
                   docs_per_s_per_core=round(len(docs) / beam_s, 1),
                   text_bytes_per_doc=int(mb * 1e6 / len(docs)),
                   note=f"TokenizeToShards on FnApiRunner, 1 worker, {args.vocab_size}-piece BPE; "
                        f"raw sp.encode {mb / raw_s:.2f} MB/s in the same run",
                   command=".venv/bin/python bench/tokenize_shards.py --record")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
