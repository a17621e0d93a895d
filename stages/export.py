"""``ExportBlendShards``: the blended export as a Beam pipeline, one worker per output shard.

Graph::

    source indices ─"Reshuffle sources"─"Build blend index"─> one small record per source ─┐
                                                                       side input (AsList) │
    shard indices ─"Reshuffle"─"Write blend shard" <───────────────────────────────────────┘
                  ─> one small description per shard
                  ─"Blend shard descriptions" (<= shards small dicts)
                  ─"Blend manifest"─> .blend-index removed, data_path.txt, manifest.json (last)

The launcher only reads the tokens manifests and builds the ``BlendLayout``
(``tokenizer.blend_shards.plan_layout``: weights, per-shard start counts); every sample's
tokens are read and written by the worker of its shard, which also hashes the files it
wrote. What a source's stream needs per document and per sample (document table, epoch
orders, window order) is built by one worker per source into ``OUTPUT/.blend-index/`` as
``.npy`` files; the shard writers wait for them (the side input) and memory-map them, so a
writer's memory does not grow with the number of documents. Input shards and the output
folder may be on any Beam filesystem: remote token shards and index files are copied once
per worker machine (they are memory-mapped), remote outputs are written to local scratch
and uploaded.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam

from mixtures.provenance import json_text, sha256_bytes
from mixtures.spec import MixtureSpec
from stages import fsio
from tokenizer.blend_shards import (
    DATA_PATH_FILE,
    INDEX_DIR,
    PREFIX,
    BlendLayout,
    ShardWriterState,
    build_source_index,
    data_path_argument,
    index_folder_name,
    indexed_sources,
    manifest_context,
    plan_layout,
    sharded_manifest,
    write_blend_shard,
)
from tokenizer.manifest import MANIFEST, TOKENS_DIR

# Labels pipeline/dataflow.py recognises (one small element per output shard; per source).
BLEND_DESCRIPTIONS = "Blend shard descriptions"
BUILD_INDEX = "Build blend index"


def read_run_tokens(run_dir: str) -> tuple[list[dict[str, Any]], dict[str, list[str]], dict[str, str]]:
    """Tokens manifests of a run on any filesystem: ``(manifests, prefixes by source, sha256 by source)``."""
    manifests, prefixes, digests = [], {}, {}
    for path in fsio.match(fsio.join(run_dir, "*", TOKENS_DIR, MANIFEST)):
        raw = fsio.read_bytes(path)
        m = json.loads(raw.decode("utf-8"))
        folder = path[: -len(MANIFEST) - 1]
        manifests.append(m)
        prefixes[m["source"]] = [fsio.join(folder, s["name"]) for s in m["shards"]]
        digests[m["source"]] = sha256_bytes(raw)
    manifests.sort(key=lambda m: m["source"])
    return manifests, prefixes, digests


def _localize_prefixes(prefixes: Sequence[str], extensions: Sequence[str]) -> list[str]:
    """Local prefixes of token shards: remote files are copied to this machine once (they are memory-mapped)."""
    copies = fsio.localize_files([f"{x}.{ext}" for x in prefixes for ext in extensions])
    return [c[: -len(extensions[0]) - 1] for c in copies[0 :: len(extensions)]]


class _BuildBlendIndexDoFn(beam.DoFn):
    """Source number ``d`` → its stream arrays as ``.npy`` files under the index folder → one small record."""

    def __init__(self, layout: dict[str, Any], index_root: str, salts: dict[str, str]) -> None:
        self._layout = layout
        self._root = index_root
        self._salts = dict(salts)

    def process(self, d: int) -> Iterable[dict[str, Any]]:
        layout = BlendLayout.from_dict(self._layout)
        src = layout.sources[int(d)]
        dest = fsio.join(self._root, index_folder_name(layout, int(d), self._salts.get(src.name, "")))
        local = _localize_prefixes(src.prefixes, ("bin", "idx"))
        scratch, remote = fsio.scratch_dir(dest)
        try:
            names = build_source_index(layout, int(d), scratch, local)
            if remote:
                fsio.publish(scratch, names, dest)  # index.json last: its presence means complete
        finally:
            if remote:
                shutil.rmtree(scratch, ignore_errors=True)
        yield {"source": src.name, "folder": dest, "files": names}


class _WriteBlendShardDoFn(beam.DoFn):
    """Shard index (+ the index records as a side input) → the shard's files → one description."""

    def __init__(self, layout: dict[str, Any], output: str, formats: Sequence[str]) -> None:
        self._layout = layout
        self._output = output
        self._formats = tuple(formats)
        self._local: dict[str, list[str]] = {}
        self._state: ShardWriterState | None = None

    def setup(self) -> None:
        layout = BlendLayout.from_dict(self._layout)
        # Only the .bin files are read: the document table comes from the cached index.
        self._local = {layout.sources[d].name: _localize_prefixes(layout.sources[d].prefixes, ("bin",))
                       for d in indexed_sources(layout)}

    def _open(self, records: Sequence[dict[str, Any]]) -> ShardWriterState:
        index_dirs = {}
        for rec in records:
            copies = fsio.localize_files([fsio.join(rec["folder"], name) for name in rec["files"]])
            index_dirs[rec["source"]] = os.path.dirname(copies[0])
        return ShardWriterState(BlendLayout.from_dict(self._layout), self._local, index_dirs)

    def process(self, k: int, index_records: Sequence[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        if self._state is None:  # the side input is the same for every element: open it once
            self._state = self._open(index_records)
        scratch, remote = fsio.scratch_dir(self._output)
        try:
            desc = write_blend_shard(self._state, int(k), scratch, self._formats)
            if remote:
                fsio.publish(scratch, sorted(desc["files"]), self._output)
        finally:
            if remote:
                shutil.rmtree(scratch, ignore_errors=True)
        yield desc


def _delete_index(root: str) -> None:
    """The scratch index folder and everything in it (``<source>-<key>/<file>``)."""
    if fsio.is_remote(root):
        fsio.delete(fsio.match(fsio.join(root, "*", "*")))
    else:
        shutil.rmtree(root, ignore_errors=True)


class _WriteBlendManifestDoFn(beam.DoFn):
    """All shard descriptions → stale shards and the index folder removed → ``data_path.txt`` →
    ``manifest.json`` (last)."""

    def __init__(self, layout: dict[str, Any], output: str, context: dict[str, Any]) -> None:
        self._layout = layout
        self._output = output
        self._context = context

    def process(self, shards: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        layout = BlendLayout.from_dict(self._layout)
        manifest = sharded_manifest(layout, self._context, shards)
        keep = set(manifest["files"])
        stale = [p for p in fsio.match(fsio.join(self._output, f"{PREFIX}*"))
                 if os.path.basename(p.rstrip("/")) not in keep]
        fsio.delete(stale)
        _delete_index(fsio.join(self._output, INDEX_DIR))
        fsio.write_bytes(fsio.join(self._output, DATA_PATH_FILE),
                         (data_path_argument(layout, self._output) + "\n").encode("utf-8"))
        fsio.write_bytes(fsio.join(self._output, MANIFEST), json_text(manifest).encode("utf-8"))
        yield manifest


class ExportBlendShards(beam.PTransform):
    """Writes every shard of ``layout`` under ``output`` and then the manifest; yields the manifest."""

    def __init__(self, layout: BlendLayout, output: str, formats: Sequence[str], context: dict[str, Any],
                 label: str = "Export") -> None:
        super().__init__(label=label)
        self._layout = layout.to_dict()
        self._n = layout.num_shards
        self._indexed = indexed_sources(layout)
        self._output = output
        self._formats = tuple(formats)
        self._context = context

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        index_root = fsio.join(self._output, INDEX_DIR)
        salts = dict(self._context.get("inputs", {}))
        # One worker per source builds its arrays; the writers wait for all of them (side input).
        index_records = (
            pbegin
            | "Blend sources" >> beam.Create(self._indexed)
            | "Reshuffle sources" >> beam.Reshuffle()
            | BUILD_INDEX >> beam.ParDo(_BuildBlendIndexDoFn(self._layout, index_root, salts))
        )
        return (
            pbegin
            | "Shard indices" >> beam.Create(list(range(self._n)))
            | "Reshuffle" >> beam.Reshuffle()
            | "Write blend shard" >> beam.ParDo(_WriteBlendShardDoFn(self._layout, self._output, self._formats),
                                                beam.pvalue.AsList(index_records))
            | BLEND_DESCRIPTIONS >> beam.combiners.ToList()
            | "Blend manifest" >> beam.ParDo(_WriteBlendManifestDoFn(self._layout, self._output, self._context))
        )


def prepare_export(run_dir: str, mixture: MixtureSpec, tokens: int, seq_len: int, seed: int,
                   shard_sequences: int, formats: Sequence[str]) -> tuple[BlendLayout, dict[str, Any]]:
    """Reads the run's tokens manifests (only them) and plans the layout; raises ``BlendError``."""
    from tokenizer.blend import BlendError

    manifests, prefixes, digests = read_run_tokens(run_dir)
    if not manifests:
        raise BlendError(f"no tokenized sources under {run_dir}: run `pasture tokenizer encode` first")
    layout, plan = plan_layout(manifests, prefixes, mixture, tokens, seq_len, seed, shard_sequences)
    return layout, manifest_context(plan, mixture, manifests[0]["tokenizer"], formats, tokens, digests)


def export_sharded(run_dir: str, output: str, mixture: MixtureSpec, tokens: int, formats: Sequence[str],
                   seq_len: int, seed: int, shard_sequences: int, beam_args: list[str] | None = None) -> dict[str, Any]:
    """Plans and runs the sharded export; returns the manifest it wrote."""
    from pipeline.options import make_options

    layout, args = prepare_export(run_dir, mixture, tokens, seq_len, seed, shard_sequences, formats)
    with beam.Pipeline(options=make_options(beam_args)) as p:
        _ = p | ExportBlendShards(layout, output, formats, args)
    return fsio.read_json(fsio.join(output, MANIFEST))
