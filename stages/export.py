"""``ExportBlendShards``: the blended export as a Beam pipeline, one worker per output shard.

Graph::

    shard indices ─"Reshuffle"─"Write blend shard"─> one small description per shard
                  ─"Blend shard descriptions" (<= shards small dicts)
                  ─"Blend manifest"─> manifest.json + data_path.txt

The launcher only reads the tokens manifests and builds the ``BlendLayout``
(``tokenizer.blend_shards.plan_layout``: weights, per-shard start counts); every sample's
tokens are read and written by the worker of its shard, which also hashes the files it
wrote. Input shards and the output folder may be on any Beam filesystem: remote token
shards are copied once per worker machine (they are memory-mapped), remote outputs are
written to local scratch and uploaded.
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
    PREFIX,
    BlendLayout,
    ShardWriterState,
    data_path_argument,
    manifest_context,
    plan_layout,
    sharded_manifest,
    write_blend_shard,
)
from tokenizer.manifest import MANIFEST, TOKENS_DIR

# Labels pipeline/dataflow.py recognises (one small element per output shard).
BLEND_DESCRIPTIONS = "Blend shard descriptions"


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


class _WriteBlendShardDoFn(beam.DoFn):
    def __init__(self, layout: dict[str, Any], output: str, formats: Sequence[str]) -> None:
        self._layout = layout
        self._output = output
        self._formats = tuple(formats)
        self._state: ShardWriterState | None = None

    def setup(self) -> None:
        layout = BlendLayout.from_dict(self._layout)
        local: dict[str, list[str]] = {}
        for s in layout.sources:
            # Token shards are memory-mapped: remote ones are copied to this machine once.
            copies = fsio.localize_files([f"{x}.{ext}" for x in s.prefixes for ext in ("bin", "idx")])
            local[s.name] = [c[: -len(".bin")] for c in copies[0::2]]
        self._state = ShardWriterState(layout, local)

    def process(self, k: int) -> Iterable[dict[str, Any]]:
        scratch, remote = fsio.scratch_dir(self._output)
        try:
            desc = write_blend_shard(self._state, int(k), scratch, self._formats)
            if remote:
                fsio.publish(scratch, sorted(desc["files"]), self._output)
        finally:
            if remote:
                shutil.rmtree(scratch, ignore_errors=True)
        yield desc


class _WriteBlendManifestDoFn(beam.DoFn):
    """All shard descriptions → stale shards removed → ``data_path.txt`` → ``manifest.json`` (last)."""

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
        self._output = output
        self._formats = tuple(formats)
        self._context = context

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Shard indices" >> beam.Create(list(range(self._n)))
            | "Reshuffle" >> beam.Reshuffle()
            | "Write blend shard" >> beam.ParDo(_WriteBlendShardDoFn(self._layout, self._output, self._formats))
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
