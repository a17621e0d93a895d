"""Near-dedup across sources: one MinHash graph over every source that asks for it.

A recipe ends with ``NearDedup(cfg.minhash)`` (stages.dedup). With ``minhash.scope:
global`` that step is joint, and the runner puts every source with it into one pipeline and
calls :func:`dedup_together`: LLaMA dedups CC and C4 together. Signatures are computed per
source (so a quarantined record stays with its own source); every document carries its
source's name as a tag through the union and is handed back to that source, so each
source's stats.json still reconciles. The keeper of a cross-source cluster is its smallest
id, whichever source it is in.
"""

from __future__ import annotations

import apache_beam as beam

from mixtures.config import MinHashConfig
from stages.dedup import REASON_NEAR_DUPLICATE, ClusterNearDuplicates, NearDuplicateSignatures
from stages.steps import DROPPED, QUARANTINE
from stages.streams import SourceStreams

STAGE = "minhash"


def _stream_index(tagged: tuple[str, object], num_partitions: int, index: dict[str, int]) -> int:
    return index[tagged[0]]


def _untag(tagged: tuple[str, object]) -> object:
    return tagged[1]


def dedup_together(cfg: MinHashConfig, streams: dict[str, SourceStreams]) -> None:
    """Near-dedup of the union of ``streams``, each source's result put back in place."""
    names = sorted(streams)  # labels must not depend on dict order
    signed = {}
    for name in names:
        s = streams[name]
        signed[name] = s.docs | f"{name}/Near dedup signatures" >> NearDuplicateSignatures(cfg, STAGE, tag=name)
        s.quarantine.append(signed[name][QUARANTINE])
    union = {
        # Documents stay one stream per source (the join spills each, stages.spill): a Flatten
        # of documents made in different stages is a buffer in the local runner.
        "docs": tuple(signed[n]["docs"] for n in names),
        "sigs": [signed[n]["sigs"] for n in names] | "Global near dedup/Union signatures" >> beam.Flatten(),
    }
    out = union | "Global near dedup" >> ClusterNearDuplicates(cfg, REASON_NEAR_DUPLICATE, STAGE)
    index = {name: i for i, name in enumerate(names)}
    kept = out["docs"] | "Global near dedup/Split kept" >> beam.Partition(_stream_index, len(names), index)
    dropped = out[DROPPED] | "Global near dedup/Split dropped" >> beam.Partition(_stream_index, len(names), index)
    for name in names:
        i = index[name]
        streams[name].docs = kept[i] | f"{name}/Near dedup kept" >> beam.Map(_untag)
        streams[name].dropped.append(dropped[i] | f"{name}/Near dedup dropped" >> beam.Map(_untag))
