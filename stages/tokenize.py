"""``TokenizeToShards``: documents → per-source Megatron ``.bin/.idx`` shards + a tokens manifest.

Graph (labels in quotes)::

    docs ─"Encode"─> (id, ids+eos) ─┬─"Sizes"─> [(id, n)] ─"Plan"─> ShardPlan (singleton)
                                    └─"Key by shard" (plan as side input) ─"Group"─> "Write"
                                         ─> shard descriptions ─"Manifest"─> manifest dict

Each document is encoded on its own (long ones in line chunks, see ``tokenizer.spm``) and
followed by ``</s>``. Shards hold documents in id order, at most ``shard_tokens`` tokens each,
and are written to temporary names then renamed; the manifest is written last, so a
manifest on disk means every shard it lists is complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from filters.document import Document
from tokenizer.manifest import MANIFEST, TOKENS_FORMAT, write_json_atomically
from tokenizer.shards import ShardPlan, assign_shards, remove_stale_shards, shard_name, write_shard
from tokenizer.spm import Tokenizer


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

    def process(self, doc: Document) -> Iterable[tuple[str, Any]]:
        self._documents.inc()
        if not doc.text:
            self._empty.inc()
            yield doc.id, None
            return
        ids = self._tokenizer.encode_with_eos(doc.text)
        self._tokens.inc(len(ids))
        yield doc.id, ids


def _size(kv: tuple[str, Any]) -> tuple[str, int]:
    return kv[0], 0 if kv[1] is None else len(kv[1])


def _key_by_shard(kv: tuple[str, Any], plan: ShardPlan) -> Iterable[tuple[int, tuple[str, Any]]]:
    if kv[1] is not None:
        yield plan.assignment[kv[0]], kv


class _WriteShardDoFn(beam.DoFn):
    def __init__(self, out_dir: str) -> None:
        self._out_dir = out_dir

    def process(self, keyed: tuple[int, Iterable[tuple[str, Any]]], plan: ShardPlan) -> Iterable[dict]:
        index, docs = keyed
        docs = list(docs)
        prefix = os.path.join(self._out_dir, shard_name(index, plan.num_shards))
        yield write_shard(prefix, docs, docs[0][1].dtype)


class _WriteManifestDoFn(beam.DoFn):
    def __init__(self, model_path: str, out_dir: str, source: str, kind: str, shard_tokens: int) -> None:
        self._model_path = model_path
        self._out_dir = out_dir
        self._source = source
        self._kind = kind
        self._shard_tokens = shard_tokens

    def process(self, shards: list[dict], plan: ShardPlan) -> Iterable[dict[str, Any]]:
        shards = sorted(shards, key=lambda s: s["name"])
        info = Tokenizer.load(self._model_path).info
        manifest = {
            "format": TOKENS_FORMAT,
            "source": self._source,
            "kind": self._kind,
            "tokenizer": {"model": os.path.basename(info.path), "sha256": info.sha256,
                          "vocab_size": info.vocab_size, "eos_id": info.eos_id},
            "dtype": info.dtype,
            "shard_tokens": self._shard_tokens,
            "documents": sum(s["documents"] for s in shards),
            "empty_documents": plan.empty_documents,
            "tokens": sum(s["tokens"] for s in shards),
            "shards": shards,
        }
        os.makedirs(self._out_dir, exist_ok=True)
        remove_stale_shards(self._out_dir, {s["name"] for s in shards})
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
            shard_tokens: Upper bound of tokens per shard.
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
        plan = (
            encoded
            | "Sizes" >> beam.Map(_size)
            | "Collect sizes" >> beam.combiners.ToList()
            | "Plan" >> beam.Map(lambda sizes: assign_shards(sizes, shard_tokens))
        )
        plan_side = beam.pvalue.AsSingleton(plan)
        shards = (
            encoded
            | "Key by shard" >> beam.FlatMap(_key_by_shard, plan_side)
            | "Group" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShardDoFn(self._out_dir), plan_side)
        )
        return (
            shards
            | "Collect shards" >> beam.combiners.ToList()
            | "Manifest" >> beam.ParDo(
                _WriteManifestDoFn(self._model_path, self._out_dir, self._source, self._kind, shard_tokens),
                plan_side,
            )
        )
