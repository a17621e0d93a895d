"""``TokenizeToShards``: documents → per-source Megatron ``.bin/.idx`` shards + a tokens manifest.

Graph (labels in quotes; N = number of shards)::

    docs ─"Encode"─> (id, ids+eos | None) ─┬─"Sizes"─"Token totals"─> (documents, tokens, empty)
                                           │                           │ one scalar triple, side input
                                           └─"Key by shard" <──────────┤
                                               (part-<sha1(id) mod N>-of-N, (id, ids))
                                               ─"Group shards"─"Write"─> one description per shard
                                               ─"Shard descriptions" (<= N small dicts)
                                               ─"Manifest" (totals as side input)

No step holds per-document state of the whole source, so it scales to Common Crawl
(~1e9 documents): pass 1 reduces the source to one scalar triple with a combiner-lifted
global sum; ``N = max(1, ceil(tokens / shard_tokens))`` follows from it; each document's
shard is a stable hash of its id modulo ``N`` (``filters.document.shard_of``); each shard's
documents meet on one worker, are sorted by id and written. The only list collected in one
place is the shard descriptions (one small dict per shard). Output is byte-identical
whatever the input order, bundling or worker count.

``shard_tokens`` is the target *average* shard size, not a cap: hash assignment balances
shards to within a small statistical spread (see ``tokenizer/shards.py``), and a shard is
sorted in one worker's memory, so it must fit there. A shard no document hashes to (only
likely when a source has about as few documents as shards) is not written, since Megatron
cannot map an empty ``.bin``: the manifest lists the shards that exist, so names may skip
an index (``part-00002-of-00006`` without ``part-00001-of-00006``).

Each document is encoded on its own (long ones in line chunks, see ``tokenizer.spm``) and
followed by ``</s>``; empty documents are skipped and counted. Shards are written to
temporary names then renamed; the manifest is written last (after stale shards of an
earlier run are removed), so a manifest on disk means every shard it lists is complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from filters.document import shard_name, shard_of
from mixtures.provenance import write_json_atomically
from tokenizer.manifest import MANIFEST
from tokenizer.shards import num_shards, remove_stale_shards, tokens_manifest, write_shard
from tokenizer.spm import Tokenizer

# Labels pipeline/dataflow.py recognises as small global combines / side inputs.
TOKEN_TOTALS = "Token totals"
SHARD_DESCRIPTIONS = "Shard descriptions"


class _EncodeDoFn(beam.DoFn):
    """Document → ``(id, np.ndarray | None)``; None marks an empty document."""

    def __init__(self, model_path: str, source: str) -> None:
        self._model_path = model_path
        self._documents = Metrics.counter(f"tokenize.{source}", "documents")
        self._tokens = Metrics.counter(f"tokenize.{source}", "tokens")
        self._empty = Metrics.counter(f"tokenize.{source}", "empty_documents")
        self._tokenizer: Tokenizer | None = None

    def setup(self) -> None:
        self._tokenizer = Tokenizer.load(self._model_path)

    def process(self, doc: Any) -> Iterable[tuple[str, np.ndarray | None]]:
        self._documents.inc()
        if not doc.text:
            self._empty.inc()
            yield doc.id, None
            return
        ids = self._tokenizer.encode_with_eos(doc.text)
        self._tokens.inc(len(ids))
        yield doc.id, ids


def _sizes(kv: tuple[str, np.ndarray | None]) -> tuple[int, int, int]:
    """``(documents with tokens, tokens, empty documents)`` of one encoded document."""
    return (0, 0, 1) if kv[1] is None else (1, len(kv[1]), 0)


class _SumTriplesFn(beam.CombineFn):
    """Element-wise sum of ``(documents, tokens, empty)``; lifted, so each worker pre-sums."""

    def create_accumulator(self) -> tuple[int, int, int]:
        return 0, 0, 0

    def add_input(self, acc: tuple[int, int, int], value: tuple[int, int, int]) -> tuple[int, int, int]:
        return acc[0] + value[0], acc[1] + value[1], acc[2] + value[2]

    def merge_accumulators(self, accs: Iterable[tuple[int, int, int]]) -> tuple[int, int, int]:
        docs = tokens = empty = 0
        for a in accs:
            docs, tokens, empty = docs + a[0], tokens + a[1], empty + a[2]
        return docs, tokens, empty

    def extract_output(self, acc: tuple[int, int, int]) -> tuple[int, int, int]:
        return acc


def _key_by_shard(kv: tuple[str, np.ndarray | None], totals: tuple[int, int, int],
                  shard_tokens: int) -> Iterable[tuple[str, tuple[str, np.ndarray]]]:
    """``(shard name, (id, ids))``; empty documents go nowhere (they are only counted)."""
    if kv[1] is not None:
        n = num_shards(totals[1], shard_tokens)
        yield shard_name(shard_of(kv[0], n), n), kv


class _WriteShardDoFn(beam.DoFn):
    """One shard's documents (never none) → sorted by id → ``.bin/.idx`` → its description."""

    def __init__(self, model_path: str, out_dir: str) -> None:
        self._model_path = model_path
        self._out_dir = out_dir
        self._dtype: np.dtype | None = None

    def setup(self) -> None:
        # The dtype follows the vocabulary (as the manifest records it), not whatever arrays arrive.
        self._dtype = np.dtype(Tokenizer.load(self._model_path).info.dtype)

    def process(self, keyed: tuple[str, Iterable[tuple[str, np.ndarray]]]) -> Iterable[dict]:
        name, docs = keyed
        yield write_shard(os.path.join(self._out_dir, name), docs, self._dtype)


class _WriteManifestDoFn(beam.DoFn):
    """All shard descriptions + the totals → stale shards removed → ``manifest.json``."""

    def __init__(self, model_path: str, out_dir: str, source: str, kind: str, shard_tokens: int) -> None:
        self._model_path = model_path
        self._out_dir = out_dir
        self._source = source
        self._kind = kind
        self._shard_tokens = shard_tokens
        self._tokenizer: dict[str, Any] | None = None
        self._dtype = ""

    def setup(self) -> None:
        info = Tokenizer.load(self._model_path).info
        self._tokenizer = {"model": os.path.basename(info.path), "sha256": info.sha256,
                           "vocab_size": info.vocab_size, "eos_id": info.eos_id}
        self._dtype = info.dtype

    def process(self, shards: list[dict], totals: tuple[int, int, int]) -> Iterable[dict[str, Any]]:
        manifest = tokens_manifest(source=self._source, kind=self._kind, tokenizer=self._tokenizer,
                                   dtype=self._dtype, shard_tokens=self._shard_tokens,
                                   empty_documents=totals[2], shards=shards)
        # The shards were counted in a separate pass: a difference means lost or doubled data.
        if (manifest["documents"], manifest["tokens"]) != (totals[0], totals[1]):
            raise RuntimeError(f"tokenize {self._source}: shards hold {manifest['documents']} documents / "
                               f"{manifest['tokens']} tokens, the totals pass counted {totals[0]} / {totals[1]}")
        os.makedirs(self._out_dir, exist_ok=True)
        remove_stale_shards(self._out_dir, {s["name"] for s in manifest["shards"]})
        write_json_atomically(os.path.join(self._out_dir, MANIFEST), manifest)
        yield manifest


class TokenizeToShards(beam.PTransform):
    """Encodes a source's documents into Megatron shards under ``out_dir``.

    Returns a PCollection with one element: the tokens manifest (also written to
    ``out_dir/manifest.json``) with per-source document and token counts.
    """

    def __init__(self, model_path: str, out_dir: str, source: str, shard_tokens: int,
                 kind: str | None = None, label: str | None = None) -> None:
        """Stores config only; the tokenizer loads in each worker's ``setup()``.

        Args:
            model_path: SentencePiece ``.model``.
            out_dir: Folder for ``part-*.bin/.idx`` and ``manifest.json``.
            source: Source name (manifest, counters).
            shard_tokens: Target average tokens per shard; the shard count is
                ``max(1, ceil(total tokens / shard_tokens))``. A shard is sorted in one
                worker's memory, so this bounds (on average) what a worker holds.
            kind: Source kind (default: the name).
            label: Beam label.
        """
        super().__init__(label=label or f"Tokenize/{source}")
        if shard_tokens <= 0:
            raise ValueError("shard_tokens must be > 0")
        if not os.path.isfile(model_path):
            raise FileNotFoundError(f"tokenizer model {model_path} not found")
        self._model_path = os.fspath(model_path)
        self._out_dir = os.fspath(out_dir)
        self._source = source
        self._kind = kind or source
        self._shard_tokens = int(shard_tokens)

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        shard_tokens = self._shard_tokens
        encoded = docs | "Encode" >> beam.ParDo(_EncodeDoFn(self._model_path, self._source))
        totals = (
            encoded
            | "Sizes" >> beam.Map(_sizes)
            | TOKEN_TOTALS >> beam.CombineGlobally(_SumTriplesFn())
        )
        totals_side = beam.pvalue.AsSingleton(totals)
        shards = (
            encoded
            | "Key by shard" >> beam.FlatMap(_key_by_shard, totals_side, shard_tokens)
            | "Group shards" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShardDoFn(self._model_path, self._out_dir))
        )
        return (
            shards
            | SHARD_DESCRIPTIONS >> beam.combiners.ToList()
            | "Manifest" >> beam.ParDo(
                _WriteManifestDoFn(self._model_path, self._out_dir, self._source, self._kind, shard_tokens),
                totals_side,
            )
        )
