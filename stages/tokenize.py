"""``TokenizeToShards``: documents → per-source Megatron ``.bin/.idx`` shards + a tokens manifest.

Graph (labels in quotes; N = number of shards)::

    docs ─"Encode and spill"─> one small record per spill file (path, documents, tokens, empty)
         ├─"Token totals" (sum of the records) ─────────────────┐ one scalar triple, side input
         └─"Route" (reads each spill's hashes once) <────────────┘─> (shard, slice) per spill and
           shard it feeds ─"Group slices" (by shard) ─"Write"─> one description per shard
           ─"Shard descriptions" (<= N small dicts) ─"Manifest" (totals as side input)

Encoded documents never go through a shuffle (a local runner keeps a shuffle in memory; at
Common Crawl scale it would be terabytes): each encoding worker writes what it encoded, at
most ``spill_tokens`` tokens at a time, to a spill file under ``out_dir/.spill/`` sorted by
the id hash (``tokenizer.spill``). ``N = max(1, ceil(tokens / shard_tokens))`` follows from
the summed records; shard ``k`` is the id-hash range ``[k, k+1)·2^64/N``
(``tokenizer.shards.token_shard_of``), so its documents are one contiguous slice of every
spill. "Route" reads each spill's hashes once and sends each non-empty slice (path and
offsets, a few numbers) to its shard: what is grouped is at most one record per document,
never tokens, and on the local runner it is grouped on disk (``stages.spill``). A shard's
writer reads just its slices (their part of the index and of the tokens, by seeking), sorts
those documents by id and writes them. Work is linear in the corpus: each spill is routed
once and each document read once. Output is byte-identical whatever the input order,
bundling or worker count. Memory per worker: one spill buffer while encoding, one shard
while writing.

Model, documents and outputs may live on any Beam filesystem (``gs://``...): the model is
copied to each worker once (``stages.model_files.localize``), shards are written to local
scratch and uploaded when ``out_dir`` is remote.

Each document is encoded on its own (long ones in line chunks, see ``tokenizer.spm``) and
followed by ``</s>``; empty documents are skipped and counted. Shards are written to
temporary names then renamed; the manifest is written last (after stale shards of an
earlier run and the spill files are removed), so a manifest on disk means every shard it
lists is complete.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from filters.document import shard_name
from mixtures.provenance import json_text
from stages import fsio
from stages.model_files import localize
from stages.spill import GroupByKeyOnDisk
from tokenizer.manifest import MANIFEST
from tokenizer.shards import id_hash, num_shards, tokens_manifest, write_shard
from tokenizer.spill import (
    INDEX_SUFFIX,
    TOKENS_SUFFIX,
    SpillSlice,
    encode_spill,
    read_index_hashes,
    read_index_slice,
    shard_lower_bounds,
    shard_slices,
    split_slice,
)
from tokenizer.spm import BOS_ID, Tokenizer

# Labels pipeline/dataflow.py recognises as small global combines / side inputs.
TOKEN_TOTALS = "Token totals"
SHARD_DESCRIPTIONS = "Shard descriptions"
SPILL_DIR = ".spill"
ROUTES_DIR = "routes"  # under SPILL_DIR: the slice records, when grouped on disk
# Partitions of the grouping of slice records (each merged by one worker, shard after shard).
ROUTE_PARTITIONS = 16
# Tokens an encoding worker buffers before writing a spill (2 bytes each for uint16 + ids).
DEFAULT_SPILL_TOKENS = 8_000_000


class _EncodeAndSpillDoFn(beam.DoFn):
    """Documents → encoded, buffered, written as sorted spills → one record per spill."""

    def __init__(self, model_path: str, spill_dir: str, source: str, spill_tokens: int,
                 add_bos: bool = False, add_eos: bool = True) -> None:
        self._model_path = model_path
        self._add_bos = add_bos
        self._add_eos = add_eos
        self._spill_dir = spill_dir
        self._spill_tokens = spill_tokens
        self._documents = Metrics.counter(f"tokenize.{source}", "documents")
        self._tokens = Metrics.counter(f"tokenize.{source}", "tokens")
        self._empty = Metrics.counter(f"tokenize.{source}", "empty_documents")
        self._tokenizer: Tokenizer | None = None
        self._buffer: list[tuple[int, str, np.ndarray]] = []
        self._buffered = 0
        self._empties = 0

    def setup(self) -> None:
        self._tokenizer = Tokenizer.load(localize(self._model_path))

    def start_bundle(self) -> None:
        self._buffer, self._buffered, self._empties = [], 0, 0

    def process(self, doc: Any) -> Iterable[dict[str, Any]]:
        self._documents.inc()
        if not doc.text:
            self._empty.inc()
            self._empties += 1
            return
        ids = self._tokenizer.encode_document(doc.text, self._add_bos, self._add_eos)
        self._tokens.inc(len(ids))
        self._buffer.append((id_hash(doc.id), doc.id, ids))
        self._buffered += len(ids)
        if self._buffered >= self._spill_tokens:
            yield self._flush()

    def finish_bundle(self) -> Iterable[Any]:
        if self._buffer or self._empties:
            yield GlobalWindows.windowed_value(self._flush())

    def _flush(self) -> dict[str, Any]:
        record = {"path": "", "documents": len(self._buffer), "tokens": self._buffered, "empty": self._empties}
        if self._buffer:
            # A random name: a retried bundle writes new files and only the successful attempt's
            # records are used; all spills are deleted with the folder at the end.
            path = fsio.join(self._spill_dir, uuid.uuid4().hex)
            tokens, index = encode_spill(self._buffer, self._tokenizer.dtype)
            fsio.write_bytes(path + TOKENS_SUFFIX, tokens)
            fsio.write_bytes(path + INDEX_SUFFIX, index)
            record["path"] = path
        self._buffer, self._buffered, self._empties = [], 0, 0
        return record


class _SumTriplesFn(beam.CombineFn):
    """Element-wise sum of ``(documents, tokens, empty)`` over spill records; lifted."""

    def create_accumulator(self) -> tuple[int, int, int]:
        return 0, 0, 0

    def add_input(self, acc: tuple[int, int, int], rec: dict[str, Any]) -> tuple[int, int, int]:
        return acc[0] + rec["documents"], acc[1] + rec["tokens"], acc[2] + rec["empty"]

    def merge_accumulators(self, accs: Iterable[tuple[int, int, int]]) -> tuple[int, int, int]:
        docs = tokens = empty = 0
        for a in accs:
            docs, tokens, empty = docs + a[0], tokens + a[1], empty + a[2]
        return docs, tokens, empty

    def extract_output(self, acc: tuple[int, int, int]) -> tuple[int, int, int]:
        return acc


def _open(path: str) -> Any:
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class _RouteSpillDoFn(beam.DoFn):
    """A spill record → ``((shard, N), slice)`` for every shard with documents in that spill."""

    def __init__(self, shard_tokens: int) -> None:
        self._shard_tokens = shard_tokens
        self._bounds: tuple[int, np.ndarray] | None = None

    def process(self, rec: dict[str, Any],
                totals: tuple[int, int, int]) -> Iterable[tuple[tuple[int, int], SpillSlice]]:
        if not rec["path"]:
            return
        n = num_shards(totals[1], self._shard_tokens)
        if self._bounds is None or self._bounds[0] != n:
            self._bounds = (n, shard_lower_bounds(n))
        where = rec["path"] + INDEX_SUFFIX
        with _open(where) as fh:
            hashes, offsets = read_index_hashes(fh, where)
        for k, piece in shard_slices(rec["path"], hashes, offsets, self._bounds[1]):
            yield (k, n), piece


class _WriteShardDoFn(beam.DoFn):
    """Shard ``k`` of ``n`` with its slices → their documents sorted by id → ``.bin/.idx`` → its description."""

    def __init__(self, model_path: str, out_dir: str) -> None:
        self._model_path = model_path
        self._out_dir = out_dir
        self._dtype: np.dtype | None = None

    def setup(self) -> None:
        # The dtype follows the vocabulary (as the manifest records it), not whatever arrays arrive.
        self._dtype = np.dtype(Tokenizer.load(localize(self._model_path)).info.dtype)

    def _read(self, piece: SpillSlice) -> list[tuple[str, np.ndarray]]:
        where = piece.path + INDEX_SUFFIX
        with _open(where) as fh:
            offsets, ids = read_index_slice(fh, piece.a, piece.b, where)
        size = self._dtype.itemsize
        with _open(piece.path + TOKENS_SUFFIX) as fh:
            fh.seek(piece.token_start * size)
            raw = fh.read((piece.token_stop - piece.token_start) * size)
        if len(raw) != (piece.token_stop - piece.token_start) * size:
            raise RuntimeError(f"{piece.path}{TOKENS_SUFFIX}: truncated spill (tokens "
                               f"{piece.token_start}..{piece.token_stop} not all there)")
        tokens = np.frombuffer(raw, dtype=self._dtype.newbyteorder("<")).astype(self._dtype, copy=False)
        return split_slice(offsets, ids, tokens)

    def process(self, element: tuple[tuple[int, int], list[SpillSlice]]) -> Iterable[dict]:
        (k, n), pieces = element
        docs: list[tuple[str, np.ndarray]] = []
        for piece in sorted(pieces, key=lambda x: (x.path, x.a)):
            docs.extend(self._read(piece))
        if not docs:
            return  # Megatron cannot map an empty .bin: a shard without documents is not written
        name = shard_name(k, n)
        scratch, remote = fsio.scratch_dir(self._out_dir)
        try:
            desc = write_shard(os.path.join(scratch, name), docs, self._dtype)
            if remote:
                fsio.publish(scratch, [f"{name}.bin", f"{name}.idx"], self._out_dir)
        finally:
            if remote:
                shutil.rmtree(scratch, ignore_errors=True)
        yield desc


DATA_PATH_FILE = "data_path.txt"


def source_data_path(manifest: dict[str, Any], out_dir: str) -> str:
    """Megatron's ``--data-path`` for one source's token shards: ``weight prefix`` per shard,
    weighted by tokens, so Megatron's blend draws the source's documents evenly."""
    total = manifest["tokens"] or 1
    root = out_dir.rstrip("/")
    return " ".join(f"{shard['tokens'] / total:.9g} {root}/{shard['name']}" for shard in manifest["shards"])


class _WriteManifestDoFn(beam.DoFn):
    """All shard descriptions + the totals → stale shards and spills removed → ``manifest.json``."""

    def __init__(self, model_path: str, out_dir: str, source: str, kind: str, shard_tokens: int,
                 add_bos: bool = False, add_eos: bool = True) -> None:
        self._add_bos = add_bos
        self._add_eos = add_eos
        self._model_path = model_path
        self._out_dir = out_dir
        self._source = source
        self._kind = kind
        self._shard_tokens = shard_tokens
        self._tokenizer: dict[str, Any] | None = None
        self._dtype = ""

    def setup(self) -> None:
        info = Tokenizer.load(localize(self._model_path)).info
        self._tokenizer = {"model": self._model_path.rstrip("/").rsplit("/", 1)[-1], "sha256": info.sha256,
                           "vocab_size": info.vocab_size, "eos_id": info.eos_id, "bos_id": BOS_ID,
                           "add_bos": self._add_bos, "add_eos": self._add_eos}
        self._dtype = info.dtype

    def process(self, shards: list[dict], totals: tuple[int, int, int]) -> Iterable[dict[str, Any]]:
        manifest = tokens_manifest(source=self._source, kind=self._kind, tokenizer=self._tokenizer,
                                   dtype=self._dtype, shard_tokens=self._shard_tokens,
                                   empty_documents=totals[2], shards=shards)
        # The shards were counted in a separate pass: a difference means lost or doubled data.
        if (manifest["documents"], manifest["tokens"]) != (totals[0], totals[1]):
            raise RuntimeError(f"tokenize {self._source}: shards hold {manifest['documents']} documents / "
                               f"{manifest['tokens']} tokens, the totals pass counted {totals[0]} / {totals[1]}")
        keep = {f"{s['name']}.{ext}" for s in manifest["shards"] for ext in ("bin", "idx")}
        stale = [p for p in fsio.match(fsio.join(self._out_dir, "part-*"))
                 if p.rstrip("/").rsplit("/", 1)[-1] not in keep and p.endswith((".bin", ".idx"))]
        fsio.delete(stale)
        spill_dir = fsio.join(self._out_dir, SPILL_DIR)
        fsio.delete(fsio.match(fsio.join(spill_dir, "**")))
        if not fsio.is_remote(spill_dir) and os.path.isdir(spill_dir):
            shutil.rmtree(spill_dir, ignore_errors=True)
        fsio.write_bytes(fsio.join(self._out_dir, DATA_PATH_FILE),
                         (source_data_path(manifest, self._out_dir) + "\n").encode("utf-8"))
        fsio.write_bytes(fsio.join(self._out_dir, MANIFEST), json_text(manifest).encode("utf-8"))
        yield manifest


class TokenizeToShards(beam.PTransform):
    """Encodes a source's documents into Megatron shards under ``out_dir``.

    Returns a PCollection with one element: the tokens manifest (also written to
    ``out_dir/manifest.json``) with per-source document and token counts.
    """

    def __init__(self, model_path: str, out_dir: str, source: str, shard_tokens: int,
                 kind: str | None = None, label: str | None = None,
                 spill_tokens: int = DEFAULT_SPILL_TOKENS, add_bos: bool = False, add_eos: bool = True) -> None:
        """Stores config only; the tokenizer loads in each worker's ``setup()``.

        Args:
            model_path: SentencePiece ``.model`` (any Beam filesystem).
            out_dir: Folder for ``part-*.bin/.idx`` and ``manifest.json`` (any Beam filesystem).
            source: Source name (manifest, counters).
            shard_tokens: Target average tokens per shard; the shard count is
                ``max(1, ceil(total tokens / shard_tokens))``. A shard is sorted in one
                worker's memory, so this bounds (on average) what a worker holds.
            kind: Source kind (default: the name).
            label: Beam label.
            spill_tokens: Tokens an encoding worker buffers before writing a spill file.
            add_bos, add_eos: The BOS/EOS policy (``tokenizer.add_bos|add_eos``), recorded in
                the manifest so the export and the Hugging Face folder state the same one.
        """
        super().__init__(label=label or f"Tokenize/{source}")
        if shard_tokens <= 0 or spill_tokens <= 0:
            raise ValueError("shard_tokens and spill_tokens must be > 0")
        model_path = os.fspath(model_path)
        if not fsio.exists(model_path):
            raise FileNotFoundError(f"tokenizer model {model_path} not found")
        self._model_path = model_path
        self._add_bos = add_bos
        self._add_eos = add_eos
        self._out_dir = os.fspath(out_dir)
        self._source = source
        self._kind = kind or source
        self._shard_tokens = int(shard_tokens)
        self._spill_tokens = int(spill_tokens)

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        spill_dir = fsio.join(self._out_dir, SPILL_DIR)
        spills = docs | "Encode and spill" >> beam.ParDo(
            _EncodeAndSpillDoFn(self._model_path, spill_dir, self._source, self._spill_tokens,
                                self._add_bos, self._add_eos))
        totals = spills | TOKEN_TOTALS >> beam.CombineGlobally(_SumTriplesFn())
        totals_side = beam.pvalue.AsSingleton(totals)
        return (
            spills
            | "Route" >> beam.ParDo(_RouteSpillDoFn(self._shard_tokens), totals_side)
            | "Group slices" >> GroupByKeyOnDisk(ROUTE_PARTITIONS, directory=fsio.join(spill_dir, ROUTES_DIR))
            | "Write" >> beam.ParDo(_WriteShardDoFn(self._model_path, self._out_dir))
            | SHARD_DESCRIPTIONS >> beam.combiners.ToList()
            | "Manifest" >> beam.ParDo(
                _WriteManifestDoFn(self._model_path, self._out_dir, self._source, self._kind, self._shard_tokens,
                                   self._add_bos, self._add_eos),
                totals_side,
            )
        )
