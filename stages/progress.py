"""Live counts of a running pipeline, for the launcher's progress lines.

Beam's metrics reach the launcher only when a local pipeline has finished, so the local
runners (in-process or multi-process) report through files instead: each worker process
adds to its own counters and, at most every ``FLUSH_SECONDS``, rewrites
``$PASTURE_PROGRESS_DIR/<pid>.json`` (atomically). The launcher sums the files
(``pipeline/progress.py``). Where the variable is not set (Dataflow workers), counting
goes to Beam metrics only, which the launcher polls from the running job.

``tap(source, what)`` is the Map function the runner places on each stream: documents
read, kept, dropped, quarantined, plus the UTF-8 bytes of the text read.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from typing import Any

from apache_beam.metrics import Metrics

ENV = "PASTURE_PROGRESS_DIR"
FLUSH_SECONDS = 0.5
KINDS = ("read", "read_bytes", "kept", "dropped", "quarantined")

_lock = threading.Lock()
_counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
_last_flush = 0.0


def _text_bytes(element: Any) -> int:
    text = getattr(element, "text", None)
    return len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else 0


def add(source: str, what: str, n: int = 1, nbytes: int = 0) -> None:
    """Counts ``n`` documents of ``source`` as ``what`` (and ``nbytes`` of text read)."""
    global _last_flush
    directory = os.environ.get(ENV)
    if not directory:
        return
    with _lock:
        counts = _counts[source]
        counts[what] += n
        if nbytes:
            counts["read_bytes"] += nbytes
        now = time.monotonic()
        if now - _last_flush < FLUSH_SECONDS:
            return
        _last_flush = now
        snapshot = {name: dict(values) for name, values in _counts.items()}
    flush(directory, snapshot)


def flush(directory: str, snapshot: dict[str, dict[str, int]] | None = None) -> None:
    """Writes this process's counters to its file (a missing folder means the run is over)."""
    if snapshot is None:
        with _lock:
            snapshot = {name: dict(values) for name, values in _counts.items()}
    path = os.path.join(directory, f"{os.getpid()}.json")
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(snapshot, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # progress is best effort: never fail a pipeline over it


def reset() -> None:
    """Forgets this process's counters (the launcher calls it before each pipeline)."""
    global _last_flush
    with _lock:
        _counts.clear()
        _last_flush = 0.0


class _Tap:
    """A pass-through Map function that counts what flows by (picklable, so it reaches workers)."""

    def __init__(self, source: str, what: str) -> None:
        self.source = source
        self.what = what
        self._counter = None

    def __getstate__(self) -> dict[str, str]:
        return {"source": self.source, "what": self.what}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["source"], state["what"])

    def __call__(self, element: Any) -> Any:
        if self._counter is None:
            self._counter = Metrics.counter(f"progress/{self.source}", self.what)
        self._counter.inc()
        add(self.source, self.what, 1, _text_bytes(element) if self.what == "read" else 0)
        return element


def tap(source: str, what: str) -> _Tap:
    """``stream | beam.Map(tap(source, "kept"))``: counts and passes every element on."""
    if what not in KINDS or what == "read_bytes":
        raise ValueError(f"unknown progress count {what!r}")
    return _Tap(source, what)
