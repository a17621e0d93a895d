"""Run one source's real pipeline over a folder of damaged inputs and collect what came out.

Every battery module builds its damaged files from the real corpus in a temporary folder,
runs ``pipeline.runner.run_sources`` once over the whole folder (one Beam pipeline per
source keeps the battery fast) and then checks, file by file, that:

(a) each damaged record is quarantined (or dropped) with a reason that names it,
(b) every other record of that file is still there (in ``docs`` or ``dropped``),
(c) ``stats.json`` reconciles and matches the shards on disk,
(d) nothing was written outside the output folder.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixtures.config import config_from_dict
from pipeline import runner


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """``{path: (size, mtime_ns)}`` of every file and folder under ``roots``."""
    seen: dict[str, tuple[int, int]] = {}
    for root in roots:
        if not root.exists():
            continue
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                seen[path] = (0 if name in dirs else st.st_size, st.st_mtime_ns)
    return seen


def changed_outside(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                    out_dir: Path) -> list[str]:
    """Paths created, changed or removed between two snapshots that are not under ``out_dir``."""
    out = str(out_dir)
    changed = {p for p in after if before.get(p) != after[p]} | (set(before) - set(after))
    # The output folder's own entry appears when the run creates it; that is inside, too.
    return sorted(p for p in changed if p != out and not p.startswith(out + os.sep))


def read_shards(folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    records = []
    for shard in sorted(folder.iterdir()):
        if ".tmp-" in shard.name:
            continue
        # split("\n"), not splitlines(): JSON written with ensure_ascii=False keeps U+2028,
        # U+0085 or \x1c raw inside strings, and splitlines() would cut records there.
        text = gzip.decompress(shard.read_bytes()).decode("utf-8")
        records += [json.loads(line) for line in text.split("\n") if line]
    return records


@dataclass
class BatchRun:
    """What one ``run_sources`` call produced for one source."""

    root: Path
    out: Path
    source: str
    stats: dict[str, Any]
    docs: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    outside: list[str]
    seconds: float
    heap_peak: int = 0  # only with run_batch(measure_heap=True)
    by_file: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    def file(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """``{"docs", "dropped", "quarantine"}`` records of the input file called ``name``."""
        return self.by_file.get(name, {"docs": [], "dropped": [], "quarantine": []})

    def read_records(self, name: str, key: str = "record") -> set[Any]:
        """``meta[key]`` of every document read from ``name``, kept or dropped."""
        part = self.file(name)
        return {d["meta"][key] for d in part["docs"] + part["dropped"]}

    def reasons(self, name: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.file(name)["dropped"]:
            reason = d["annotations"]["dropped"]["reason"]
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def _group_by_file(docs: list[dict], dropped: list[dict], quarantine: list[dict]) -> dict[str, dict[str, list]]:
    grouped: dict[str, dict[str, list]] = {}

    def bucket(file: str) -> dict[str, list]:
        return grouped.setdefault(os.path.basename(str(file)), {"docs": [], "dropped": [], "quarantine": []})

    for d in docs:
        bucket(d["meta"].get("file", ""))["docs"].append(d)
    for d in dropped:
        bucket(d["meta"].get("file", ""))["dropped"].append(d)
    for q in quarantine:
        bucket(q["file"])["quarantine"].append(q)
    return grouped


@contextmanager
def heap_peak() -> Iterator[list[int]]:
    """Yields a list that holds, afterwards, the peak bytes the Python heap grew by inside.

    tracemalloc counts every buffer Python code and extension modules (zlib, bz2, Beam's
    coders) allocate through Python, at its exact peak, and nothing the C allocator merely
    keeps after a free: unlike sampled RSS, the same run gives the same figure in any process.
    """
    import tracemalloc

    result = [0]
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start(1)
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield result
    finally:
        result[0] = tracemalloc.get_traced_memory()[1] - base
        if not already:
            tracemalloc.stop()


def run_batch(root: Path, kind: str, inputs: list[str], watch: list[Path] = (), measure_heap: bool = False,
              **overrides: Any) -> BatchRun:
    """Runs the real ``kind`` recipe over ``inputs`` into ``root/out`` and collects the outputs.

    Args:
        root: the batch's temporary folder (holds the inputs; snapshotted before and after).
        kind: the source kind; also the source name.
        inputs: input specs as a config would list them (files, folders, globs).
        watch: more folders that must not change (the corpus folder the inputs came from).
        measure_heap: record the run's Python-heap peak (``BatchRun.heap_peak``; slower).
        overrides: config sections, e.g. ``line_dedup={"enabled": False}``.
    """
    out = root / "out"
    config = {
        "output": str(out),
        "shards": {"num_shards": 2},
        # The battery checks readers and accounting; no LM or classifier is needed for that.
        "perplexity": {"enabled": False},
        "quality": {"enabled": False},
        # The battery feeds deliberately broken files: most of a batch may be quarantined.
        "quarantine": {"max_step_share": 1.0},
        "sources": {kind: {"kind": kind, "inputs": list(inputs)}},
    }
    for section, values in overrides.items():
        config[section] = {**config.get(section, {}), **values}
    cfg = config_from_dict(config)
    roots = [root, *watch]
    before = snapshot(*roots)
    started = time.perf_counter()
    with heap_peak() if measure_heap else nullcontext([0]) as peak:
        [result] = runner.run_sources(cfg, [kind])
    seconds = time.perf_counter() - started
    after = snapshot(*roots)
    source_out = out / kind
    docs = read_shards(source_out / "docs")
    dropped = read_shards(source_out / "dropped")
    quarantine = read_shards(source_out / "quarantine")
    return BatchRun(root, out, kind, result.stats, docs, dropped, quarantine,
                    changed_outside(before, after, out), seconds, peak[0],
                    _group_by_file(docs, dropped, quarantine))


def assert_sound(run: BatchRun) -> None:
    """(c) stats reconcile and agree with the shards; (d) nothing written outside ``out``."""
    stats = run.stats
    assert stats["reconciled"] is True
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["dropped"].values()) + stats["quarantined"]
    assert len(run.docs) == stats["documents_out"]
    assert len(run.quarantine) == stats["quarantined"]
    assert len(run.dropped) == sum(stats["dropped"].values())
    for record in run.quarantine:
        assert record["file"] and record["record"] and record["error"], record
    assert run.outside == [], f"written outside the output folder: {run.outside}"


def the_quarantine(run: BatchRun, name: str) -> dict[str, Any]:
    """The one quarantine record of input file ``name``."""
    records = run.file(name)["quarantine"]
    assert len(records) == 1, f"{name}: expected one quarantine record, got {records}"
    record = records[0]
    assert os.path.basename(record["file"]) == name
    assert record["source"] == run.source
    return record


def billion_laughs(root_xml: bytes, root: str = "mediawiki") -> bytes:
    """``root_xml`` behind a DOCTYPE whose ``&lol9;`` would expand to 10^9 "lol"s (3 GB)."""
    entities = [b' <!ENTITY lol "lol">']
    for level in range(1, 10):
        previous = b"&lol;" if level == 1 else b"&lol%d;" % (level - 1)
        entities.append(b' <!ENTITY lol%d "%s">' % (level, previous * 10))
    doctype = b'<?xml version="1.0"?>\n<!DOCTYPE ' + root.encode() + b" [\n" + b"\n".join(entities) + b"\n]>\n"
    return doctype + root_xml


def finishes(fn: Callable[[], object], seconds: float = 30.0) -> bool:
    """True when ``fn()`` returns within ``seconds`` (a hang guard, not a speed figure)."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()
