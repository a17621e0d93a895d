"""Read a finished run directory into the figures of ``pasture report``, streaming.

A run directory holds ``<source>/stats.json`` and gzip JSONL shards under
``<source>/{docs,dropped,quarantine}/part-*.jsonl.gz``. Shards are read one line at a time
and reduced on the fly (counters, fixed-bin histograms, a bounded reservoir sample for the
perplexity values), so memory does not grow with the corpus. Nothing here raises on bad
input: an unreadable shard or line is counted and named in the report instead.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import random
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixtures.config import ConfigError
from mixtures.spec import load_mixture

log = logging.getLogger("pasture")

QUALITY_BINS = 50  # wiki_prob histogram bins over [0, 1]
PERPLEXITY_SAMPLE = 20_000  # values kept per language for the histogram
QUARANTINE_SHOWN = 50  # quarantine records copied into the report
LID_BINS = 20  # language-ID score histogram bins over [0, 1]
# Document length histogram: bins of a quarter decade of characters, from 1 to 10^8.
LENGTH_BINS_PER_DECADE = 4
LENGTH_DECADES = 8
EXAMPLES_KEPT = 5  # kept documents shown per source
EXAMPLES_PER_REASON = 3  # dropped documents shown per (stage, reason)
EXCERPT_CHARS = 400


def length_bin(chars: int) -> int:
    """The histogram bin of a document of ``chars`` characters (0 chars: bin 0)."""
    if chars <= 1:
        return 0
    return min(int(math.log10(chars) * LENGTH_BINS_PER_DECADE), LENGTH_BINS_PER_DECADE * LENGTH_DECADES - 1)


class LowestHashes:
    """The ``capacity`` items with the lowest hash of their key: a sample that does not depend on
    the order documents are read in, so the same run always shows the same examples."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: list[tuple[str, Any]] = []

    def offer(self, key: str, make: Any) -> None:
        rank = hashlib.sha1(key.encode("utf-8")).hexdigest()
        if len(self._items) >= self.capacity and rank >= self._items[-1][0]:
            return
        self._items.append((rank, make()))
        self._items.sort(key=lambda item: item[0])
        del self._items[self.capacity:]

    def items(self) -> list[Any]:
        return [item for _, item in self._items]


class Reservoir:
    """A uniform sample of at most ``capacity`` values from a stream (Algorithm R, seeded)."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.capacity = capacity
        self.seen = 0
        self.values: list[float] = []
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.capacity:
            self.values.append(value)
            return
        slot = self._rng.randrange(self.seen)
        if slot < self.capacity:
            self.values[slot] = value


@dataclass
class SourceFigures:
    """Everything the report shows about one source, reduced from its shards."""

    name: str
    kind: str
    stats: dict[str, Any]
    kept_docs: int = 0
    kept_bytes: int = 0  # UTF-8 bytes of kept text
    tokens: int | None = None  # from tokens/manifest.json, when tokenized
    drops: Counter = field(default_factory=Counter)  # (stage, reason) → documents
    lang_kept: Counter = field(default_factory=Counter)
    lang_dropped: Counter = field(default_factory=Counter)
    perplexity: dict[tuple[str, str], Reservoir] = field(default_factory=dict)  # (lang, kept|dropped) → sample
    perplexity_buckets: Counter = field(default_factory=Counter)  # (bucket, kept|dropped) → documents
    quality_kept: list[int] = field(default_factory=lambda: [0] * QUALITY_BINS)
    quality_dropped: list[int] = field(default_factory=lambda: [0] * QUALITY_BINS)
    cluster_sizes: Counter = field(default_factory=Counter)  # cluster size → dropped duplicates
    quarantine_total: int = 0
    quarantine_shown: list[dict[str, Any]] = field(default_factory=list)
    lid_kept: list[int] = field(default_factory=lambda: [0] * LID_BINS)
    lid_dropped: list[int] = field(default_factory=lambda: [0] * LID_BINS)
    length_kept: list[int] = field(default_factory=lambda: [0] * (LENGTH_BINS_PER_DECADE * LENGTH_DECADES))
    length_dropped: list[int] = field(default_factory=lambda: [0] * (LENGTH_BINS_PER_DECADE * LENGTH_DECADES))
    examples_kept: LowestHashes = field(default_factory=lambda: LowestHashes(EXAMPLES_KEPT))
    examples_dropped: dict[tuple[str, str], LowestHashes] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)  # the source's timing.json
    shards_read: int = 0
    shards_total: int = 0
    problems: list[str] = field(default_factory=list)  # unreadable shards/lines, count mismatches

    @property
    def config(self) -> dict[str, Any]:
        config = self.stats.get("config")
        return config if isinstance(config, dict) else {}


def annotation(annotations: Any, base: str) -> dict[str, Any]:
    """``annotations[base]``, or a versioned ``base_vN``; {} when absent or not a mapping."""
    if not isinstance(annotations, dict):
        return {}
    value = annotations.get(base)
    if value is None:
        for key in sorted(annotations):
            if key.startswith(base + "_v"):
                value = annotations[key]
                break
    return value if isinstance(value, dict) else {}


def shard_files(folder: Path) -> list[Path]:
    """Finished ``part-*.jsonl.gz`` shards of a folder, sorted (temporaries skipped)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.name.startswith("part-") and p.name.endswith(".jsonl.gz") and ".tmp" not in p.name)


def iter_records(path: Path, problems: list[str]) -> Iterator[dict[str, Any]]:
    """JSON objects of one gzip JSONL shard; bad lines and broken streams go to ``problems``."""
    bad = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    bad += 1
                    continue
                if isinstance(record, dict):
                    yield record
                else:
                    bad += 1
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        problems.append(f"{path}: unreadable ({type(exc).__name__}: {exc})")
    if bad:
        problems.append(f"{path}: {bad} line(s) are not JSON objects")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _language(doc: dict[str, Any]) -> str | None:
    lang = annotation(doc.get("annotations"), "lang_id").get("lang")
    if lang is None:
        meta = doc.get("meta")
        lang = meta.get("lang") if isinstance(meta, dict) else None
    return str(lang) if lang else None


def _observe(fig: SourceFigures, doc: dict[str, Any], kept: bool) -> None:
    """Fold one document into the source's figures."""
    annotations = doc.get("annotations")
    lang = _language(doc)
    if lang:
        (fig.lang_kept if kept else fig.lang_dropped)[lang] += 1
    ppl = annotation(annotations, "perplexity")
    value = _number(ppl.get("perplexity"))
    if value is not None and value > 0:
        key = (lang or "?", "kept" if kept else "dropped")
        if key not in fig.perplexity:
            fig.perplexity[key] = Reservoir(PERPLEXITY_SAMPLE, seed=len(fig.perplexity))
        fig.perplexity[key].add(value)
    if ppl.get("bucket") is not None:
        fig.perplexity_buckets[(str(ppl["bucket"]), "kept" if kept else "dropped")] += 1
    lid_score = _number(annotation(annotations, "lang_id").get("lang_score"))
    if lid_score is not None and 0.0 <= lid_score <= 1.0:
        (fig.lid_kept if kept else fig.lid_dropped)[min(int(lid_score * LID_BINS), LID_BINS - 1)] += 1
    text = doc.get("text") if isinstance(doc.get("text"), str) else ""
    (fig.length_kept if kept else fig.length_dropped)[length_bin(len(text))] += 1
    prob = _number(annotation(annotations, "quality").get("wiki_prob"))
    if prob is not None and 0.0 <= prob <= 1.0:
        (fig.quality_kept if kept else fig.quality_dropped)[min(int(prob * QUALITY_BINS), QUALITY_BINS - 1)] += 1
    doc_id = str(doc.get("id", ""))
    if kept:
        fig.kept_docs += 1
        fig.kept_bytes += len(text.encode("utf-8"))
        fig.examples_kept.offer(doc_id, lambda: _example(doc, text))
        return
    dropped = annotation(annotations, "dropped")
    why = (str(dropped.get("stage", "?")), str(dropped.get("reason", "unknown")))
    fig.drops[why] += 1
    fig.examples_dropped.setdefault(why, LowestHashes(EXAMPLES_PER_REASON)).offer(doc_id, lambda: _example(doc, text))
    size = _number(annotation(annotations, "minhash").get("cluster_size"))
    if size is not None and size >= 1:
        fig.cluster_sizes[int(size)] += 1


def _example(doc: dict[str, Any], text: str) -> dict[str, Any]:
    """What the report shows of one document: id, where it came from, an excerpt."""
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    where = meta.get("url") or meta.get("title") or meta.get("file") or ""
    excerpt = text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")
    return {"id": str(doc.get("id", "")), "where": str(where), "chars": len(text), "excerpt": excerpt}


def _shards_to_read(files: list[Path], sample_shards: int | None) -> list[Path]:
    # Documents go to shards by a hash of their id, so the first N shards are a uniform sample.
    return files if sample_shards is None else files[:sample_shards]


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} when it is missing or unreadable (the report never fails on it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_export(folder: Path) -> dict[str, Any]:
    """An export's ``manifest.json`` (epochs per source, warnings), or {} when there is none."""
    return _read_json_object(folder / "manifest.json")


def _read_tokens(source_dir: Path) -> int | None:
    path = source_dir / "tokens" / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    tokens = _number(data.get("tokens")) if isinstance(data, dict) else None
    return int(tokens) if tokens is not None else None


def read_source(source_dir: Path, stats: dict[str, Any], sample_shards: int | None = None,
                quarantine_shown: int = QUARANTINE_SHOWN) -> SourceFigures:
    """Stream one source's shards into its figures."""
    fig = SourceFigures(name=source_dir.name, kind=str(stats.get("kind") or source_dir.name), stats=stats)
    fig.tokens = _read_tokens(source_dir)
    fig.timing = _read_json_object(source_dir / "timing.json")
    for sub, kept in (("docs", True), ("dropped", False)):
        files = shard_files(source_dir / sub)
        chosen = _shards_to_read(files, sample_shards)
        fig.shards_total += len(files)
        fig.shards_read += len(chosen)
        for path in chosen:
            for doc in iter_records(path, fig.problems):
                _observe(fig, doc, kept)
    for path in shard_files(source_dir / "quarantine"):
        for record in iter_records(path, fig.problems):
            fig.quarantine_total += 1
            if len(fig.quarantine_shown) < quarantine_shown:
                fig.quarantine_shown.append(record)
    _check_against_stats(fig, source_dir, sample_shards)
    return fig


def _check_against_stats(fig: SourceFigures, source_dir: Path, sample_shards: int | None) -> None:
    """What the shards hold must match stats.json; a difference is shown, never ignored."""
    if sample_shards is not None and fig.shards_read < fig.shards_total:
        return
    stats = fig.stats
    if (source_dir / "docs").is_dir() and isinstance(stats.get("documents_out"), int) \
            and stats["documents_out"] != fig.kept_docs:
        fig.problems.append(f"docs/ holds {fig.kept_docs} documents, stats.json says {stats['documents_out']}")
    dropped = stats.get("dropped")
    if (source_dir / "dropped").is_dir() and isinstance(dropped, dict):
        by_reason: Counter = Counter()
        for (_, reason), n in fig.drops.items():
            by_reason[reason] += n
        expected = {k: v for k, v in dropped.items() if v}
        # dropped/ may hold a fixed sample per reason (shards.max_dropped_per_reason), not every drop.
        shards = fig.config.get("shards") if isinstance(fig.config.get("shards"), dict) else {}
        cap = shards.get("max_dropped_per_reason")
        if isinstance(cap, int) and not isinstance(cap, bool) and shards.get("write_dropped", True):
            expected = {k: min(v, cap) for k, v in expected.items()}
        if dict(by_reason) != expected:
            fig.problems.append(f"dropped/ holds {dict(sorted(by_reason.items()))}, stats.json says "
                                f"{dict(sorted(expected.items()))}")
    if isinstance(stats.get("quarantined"), int) and (source_dir / "quarantine").is_dir() \
            and stats["quarantined"] != fig.quarantine_total:
        fig.problems.append(f"quarantine/ holds {fig.quarantine_total} records, stats.json says "
                            f"{stats['quarantined']}")


def find_sources(run_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """``(source_dir, stats)`` for every ``RUN_DIR/<source>/stats.json``, sorted by name."""
    found = []
    for child in sorted(run_dir.iterdir()):
        path = child / "stats.json"
        if not path.is_file():
            continue
        try:
            stats = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("report: %s unreadable (%s); source skipped", path, exc)
            stats = {"problem": f"stats.json unreadable: {exc}"}
        found.append((child, stats if isinstance(stats, dict) else {}))
    return found


def read_run(run_dir: Path, sample_shards: int | None = None,
             quarantine_shown: int = QUARANTINE_SHOWN) -> list[SourceFigures]:
    """Figures of every source of a run directory (sources with a stats.json)."""
    return [read_source(d, stats, sample_shards, quarantine_shown) for d, stats in find_sources(run_dir)]


def mixture_weights(name: str = "llama1") -> tuple[dict[str, float], str]:
    """Target weights (percent) per source kind and where they came from.

    A run's mixture that is missing or broken must not stop the report: the LLaMA-1 mixture
    (``mixtures/llama1.yaml``, shipped with the code) stands in; the page names the one used.
    """
    try:
        spec = load_mixture(name)
    except ConfigError as exc:
        log.info("report: mixture %r unavailable (%s); using llama1", name, exc)
        spec = load_mixture("llama1")
    return {s.kind: s.weight for s in spec.sources}, f"mixtures/{spec.name}.yaml ({spec.reference})"


def load_cutoffs(model_dir: str, lang: str, roots: list[Path], percentile_head: int = 30,
                 percentile_tail: int = 60) -> dict[str, float]:
    """Bucket cutoffs from ``<model_dir>/<lang>.cutoffs.json``.

    The perplexity models store ``{"percentiles": [p0 … p99], …}`` (filters/perplexity.py):
    the head/middle and middle/tail cutoffs are the ``percentile_head`` and
    ``percentile_tail`` entries. Other layouts are read defensively: numbers at the top level
    (or under ``cutoffs``) become named lines. A relative ``model_dir`` is tried against
    each of ``roots``; {} when no readable file is found.
    """
    candidates = [Path(model_dir)] if Path(model_dir).is_absolute() else [r / model_dir for r in roots]
    for folder in candidates:
        path = folder / f"{lang}.cutoffs.json"
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        table = data.get("percentiles")
        if isinstance(table, list) and len(table) > percentile_tail:
            head, tail = _number(table[percentile_head]), _number(table[percentile_tail])
            return {name: v for name, v in ((f"p{percentile_head}", head), (f"p{percentile_tail}", tail))
                    if v is not None}
        if isinstance(data.get("cutoffs"), dict):
            data = data["cutoffs"]
        return {str(k): float(v) for k, v in data.items() if _number(v) is not None}
    return {}
