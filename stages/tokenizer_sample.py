"""The tokenizer's training sample drawn on Beam: bounded, deterministic, weighted by the mixture.

Graph (one pipeline over every source of the run, one read of every document)::

    docs ─"Key"─> (source, key, id, text)            key = tokenizer.sample.sample_key(seed, id)
      ├─"Source sizes" (documents, chars) per source ─"Totals"─> CANDIDATES/totals.json
      └─"Below threshold" (per-source key limits, constants) ─"Candidates"─> CANDIDATES/part-*.jsonl

A source's budget is ``sample_chars × weight`` (``tokenizer.sample.source_budgets``). Its
threshold keeps the documents whose 64-bit key is below ``f·2^64`` with
``f = min(1, (oversample·budget + 20 average documents) / chars)``: exactly the documents
with the smallest keys, a few times the budget. The thresholds are constants of the graph,
computed by the launcher before the run from the sizes of the document files (compressed
bytes stand in for characters: fewer than the text holds, so more candidates, never fewer
in practice); no step waits on a side input computed from the documents, so no runner has
to hold them. The launcher then sorts the candidates (a bounded set) and takes the same
prefix as the in-process ``draw_sample`` (smallest keys until the budget, the last cut at a
line break), with the exact budgets from ``totals.json``, so both draw the same sample.
Should a source's candidates fall short of its exact budget, the pipeline is rerun with
thresholds from the exact totals and a larger factor. SentencePiece then trains on the
bounded sample on one machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import apache_beam as beam

from filters.document import Document
from mixtures.spec import MixtureSpec
from stages import fsio
from stages.encode import RunSourceURI, read_source
from tokenizer.sample import SourceTotals, TrainingSample, sample_key, source_budgets, take_prefix

SOURCE_SIZES = "Source sizes"
OVERSAMPLE = 1.25
_SPACE = 1 << 64


def thresholds(totals: list[SourceTotals], mixture: MixtureSpec, sample_chars: int,
               oversample: float) -> dict[str, int]:
    """Per source, the key below which documents are candidates (``2^64`` keeps all)."""
    budgets, _ = source_budgets(totals, mixture, sample_chars)
    by_name = {t.name: t for t in totals}
    out = {}
    for name, info in budgets.items():
        t = by_name[name]
        want = oversample * info.budget_chars + 20.0 * t.chars / max(t.documents, 1)
        fraction = min(1.0, want / t.chars) if t.chars else 1.0
        out[name] = _SPACE if fraction >= 1.0 else int(fraction * _SPACE)
    return out


def _keyed(doc: Document, source: str, seed: int) -> Iterable[tuple[str, int, str, str]]:
    yield source, sample_key(seed, doc.id), doc.id, doc.text


def _sizes(rec: tuple[str, int, str, str]) -> tuple[str, tuple[int, int]]:
    return rec[0], (1, len(rec[3]))


def _sum_pairs(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    docs = chars = 0
    for d, c in pairs:
        docs, chars = docs + d, chars + c
    return docs, chars


def _below(rec: tuple[str, int, str, str], limits: dict[str, int]) -> Iterable[str]:
    if rec[1] < limits.get(rec[0], 0):
        yield json.dumps({"k": rec[1], "id": rec[2], "s": rec[0], "t": rec[3]}, ensure_ascii=False)


def estimated_totals(sources: list[RunSourceURI]) -> list[SourceTotals]:
    """Per source: its document files' compressed bytes as the character count (listing only, no reading)."""
    from apache_beam.io.filesystems import FileSystems

    out = []
    for s in sources:
        found = FileSystems.match([s.docs_pattern])[0].metadata_list
        size = sum(m.size_in_bytes for m in found)
        out.append(SourceTotals(s.name, s.kind, max(1, size // 2000), size))
    return out


def sample_pipeline(p: beam.Pipeline, sources: list[RunSourceURI], seed: int, out_dir: str,
                    limits: dict[str, int]) -> None:
    """Adds the candidate-drawing graph to ``p``; it writes ``out_dir/part-*.jsonl`` and ``totals.json``."""
    kinds = {s.name: s.kind for s in sources}
    keyed = [read_source(p, s) | f"{s.name}/Key" >> beam.FlatMap(_keyed, s.name, seed) for s in sources]
    docs = keyed | "All sources" >> beam.Flatten()
    sizes = (
        docs
        | "Sizes" >> beam.Map(_sizes)
        | SOURCE_SIZES >> beam.CombinePerKey(_sum_pairs)
        | "Size list" >> beam.combiners.ToList()
    )

    def _totals(pairs: list[tuple[str, tuple[int, int]]]) -> list[SourceTotals]:
        got = dict(pairs)
        return [SourceTotals(n, kinds[n], *got.get(n, (0, 0))) for n in sorted(kinds)]

    _ = (
        docs
        | "Below threshold" >> beam.FlatMap(_below, dict(limits))
        | "Candidates" >> beam.io.WriteToText(fsio.join(out_dir, "part"), file_name_suffix=".jsonl")
    )
    _ = (
        sizes
        | "Totals json" >> beam.Map(lambda pairs: json.dumps([t.__dict__ for t in _totals(pairs)]))
        | "Totals" >> beam.io.WriteToText(fsio.join(out_dir, "totals"), file_name_suffix=".json",
                                          shard_name_template="")
    )


def read_candidates(out_dir: str) -> tuple[list[SourceTotals], dict[str, list[tuple[int, str, str]]]]:
    """What a ``sample_pipeline`` run wrote: per-source totals, and the candidates per source by key."""
    totals = [SourceTotals(**t) for t in fsio.read_json(fsio.join(out_dir, "totals.json"))]
    found: dict[str, list[tuple[int, str, str]]] = {}
    for path in fsio.match(fsio.join(out_dir, "part-*.jsonl")):
        for line in fsio.read_bytes(path).decode("utf-8").splitlines():
            if line:
                rec = json.loads(line)
                found.setdefault(rec["s"], []).append((int(rec["k"]), rec["id"], rec["t"]))
    for entries in found.values():
        entries.sort()
    return totals, found


def draw_sample_beam(sources: list[RunSourceURI], mixture: MixtureSpec, sample_chars: int, seed: int,
                     work_dir: str, beam_args: list[str] | None = None,
                     oversample: float = OVERSAMPLE) -> TrainingSample:
    """The same sample as ``tokenizer.sample.draw_sample``, drawn by Beam workers.

    Args:
        sources: The run's sources (any filesystem).
        mixture: Weights.
        sample_chars: Characters wanted.
        seed: Sampling seed.
        work_dir: Folder for the candidate files (any filesystem; overwritten).
        beam_args: Runner flags.
        oversample: Candidates drawn per budgeted character (first attempt).
    """
    from pipeline.options import make_options

    limits = thresholds(estimated_totals(sources), mixture, sample_chars, oversample)
    while True:
        fsio.delete(fsio.match(fsio.join(work_dir, "*")))
        with beam.Pipeline(options=make_options(beam_args)) as p:
            sample_pipeline(p, sources, seed, work_dir, limits)
        totals, candidates = read_candidates(work_dir)
        budgets, _ = source_budgets(totals, mixture, sample_chars)
        short = [n for n, info in budgets.items() if limits.get(n, 0) < _SPACE
                 and sum(len(e[2]) for e in candidates.get(n, [])) < info.budget_chars]
        if not short:
            break
        # Too few candidates for an exact budget: draw again from the exact totals, wider.
        oversample *= 4
        limits = thresholds(totals, mixture, sample_chars, oversample)
    result = TrainingSample()
    result.sources, result.skipped = source_budgets(totals, mixture, sample_chars)
    keyed = [e for name, info in result.sources.items() for e in take_prefix(candidates.get(name, []), info)]
    keyed.sort()
    result.texts = [t for _, _, t in keyed]
    return result

