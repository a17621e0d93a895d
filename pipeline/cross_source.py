"""Steps that look across sources: MinHash near-dedup of the web sources (kinds cc and c4).

The one place near-dedup is wired for web text, so recipes for cc and c4 do not apply it
themselves (``stages.dedup.near_dedup_step`` stays available to other recipes).

- ``minhash.enabled: false``: nothing happens.
- ``minhash.scope: source``: each web source is deduplicated on its own.
- ``minhash.scope: global``: the web sources are deduplicated together, as LLaMA did for CC
  and C4: one ``ClusterNearDuplicates`` over the union. Signatures are computed per source
  (so a quarantined record stays with its own source); every document carries its source's
  name as a tag through the union and is handed back to that source, so each source's
  stats.json still reconciles. The keeper of a cross-source cluster is its smallest id,
  whichever source it is in.
"""

from __future__ import annotations

import apache_beam as beam

from mixtures.config import PipelineConfig
from stages.dedup import (
    REASON_NEAR_DUPLICATE,
    ClusterNearDuplicates,
    NearDuplicateSignatures,
    near_dedup_step,
)
from stages.steps import DROPPED, QUARANTINE
from stages.streams import SourceStreams

WEB_KINDS = ("cc", "c4")
STAGE = "minhash"


def web_sources(cfg: PipelineConfig, streams: dict[str, SourceStreams]) -> list[str]:
    """Names of the streams whose kind is cc or c4, sorted (labels must not depend on dict order)."""
    return sorted(name for name in streams if cfg.source(name).kind in WEB_KINDS)


def apply(cfg: PipelineConfig, streams: dict[str, SourceStreams]) -> None:
    """Adds near-dedup to the web sources' streams in place (see the module docstring)."""
    if not cfg.minhash.enabled:
        return
    names = web_sources(cfg, streams)
    if not names:
        return
    if cfg.minhash.scope == "source" or len(names) == 1:
        for name in names:
            streams[name].then_transform(near_dedup_step(cfg.minhash), f"{name}/Near dedup")
        return
    _global_near_dedup(cfg, streams, names)


def _stream_index(tagged: tuple[str, object], num_partitions: int, index: dict[str, int]) -> int:
    return index[tagged[0]]


def _global_near_dedup(cfg: PipelineConfig, streams: dict[str, SourceStreams], names: list[str]) -> None:
    signed = {}
    for name in names:
        s = streams[name]
        signed[name] = s.docs | f"{name}/Near dedup signatures" >> NearDuplicateSignatures(
            cfg.minhash, STAGE, tag=name)
        s.quarantine.append(signed[name][QUARANTINE])
    union = {
        "docs": [signed[n]["docs"] for n in names] | "Global near dedup/Union docs" >> beam.Flatten(),
        "sigs": [signed[n]["sigs"] for n in names] | "Global near dedup/Union signatures" >> beam.Flatten(),
    }
    out = union | "Global near dedup" >> ClusterNearDuplicates(cfg.minhash, REASON_NEAR_DUPLICATE, STAGE)
    index = {name: i for i, name in enumerate(names)}
    kept = out["docs"] | "Global near dedup/Split kept" >> beam.Partition(_stream_index, len(names), index)
    dropped = out[DROPPED] | "Global near dedup/Split dropped" >> beam.Partition(_stream_index, len(names), index)
    for name in names:
        i = index[name]
        streams[name].docs = kept[i] | f"{name}/Near dedup kept" >> beam.Map(lambda tagged: tagged[1])
        streams[name].dropped.append(dropped[i] | f"{name}/Near dedup dropped" >> beam.Map(lambda tagged: tagged[1]))
