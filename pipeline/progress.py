"""Progress lines on the launcher while a pipeline runs.

Every ``progress.interval_seconds`` the launcher prints, per source, the documents read
(and MB of text, MB/s), kept, dropped and quarantined so far. On a terminal one line is
redrawn in place; in a log (not a TTY) each report is its own line, so a log shows how the
run went. The counts come from ``stages/progress.py``: files the local workers write, or
the job's Beam metrics when the runner is remote (Dataflow), polled while the job runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

from stages import progress as counters

TERMINAL_STATES = ("DONE", "FAILED", "CANCELLED", "UPDATED", "DRAINED", "STOPPED")


def read_counts(directory: str | Path) -> dict[str, dict[str, int]]:
    """The sum, per source, of every worker file in ``directory`` (unreadable files are skipped)."""
    total: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(counters.KINDS, 0))
    for path in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a file being replaced: the next report has it
        for source, values in data.items() if isinstance(data, dict) else ():
            for kind in counters.KINDS:
                total[source][kind] += int(values.get(kind, 0) or 0)
    return dict(total)


def metric_counts(result: Any) -> dict[str, dict[str, int]]:
    """The same counts from a running job's Beam metrics (``progress/<source>`` counters)."""
    total: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(counters.KINDS, 0))
    try:
        queried = result.metrics().query()
    except Exception:  # a runner without live metrics: nothing to show yet
        return {}
    for counter in queried.get("counters", []):
        namespace = counter.key.metric.namespace
        if not namespace.startswith("progress/"):
            continue
        value = counter.committed if counter.committed is not None else counter.attempted
        total[namespace.split("/", 1)[1]][counter.key.metric.name] += int(value or 0)
    return dict(total)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def format_line(counts: dict[str, dict[str, int]], names: list[str], elapsed: float) -> str:
    """One report: every source of the pipeline, in the given order."""
    parts = []
    for name in names:
        c = counts.get(name, dict.fromkeys(counters.KINDS, 0))
        mb = c["read_bytes"] / 1e6
        rate = mb / elapsed if elapsed > 0 else 0.0
        parts.append(f"{name}: read {c['read']:,} ({mb:,.1f} MB, {rate:,.1f} MB/s) kept {c['kept']:,} "
                     f"dropped {c['dropped']:,} quarantined {c['quarantined']:,}")
    return f"[progress {_duration(elapsed)}] " + " | ".join(parts)


class ProgressReporter:
    """Prints progress lines from a background thread while a pipeline runs (context manager).

    Args:
        names: The sources of the pipeline, in the order to show them.
        interval: Seconds between reports.
        stream: Where to write (default ``sys.stderr`` at the time of each write).
        enabled: False makes the whole thing a no-op.
    """

    def __init__(self, names: list[str], interval: float, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.names = list(names)
        self.interval = interval
        self._stream = stream
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._directory: str | None = None
        self._previous_env: str | None = None
        self._result: Any = None
        self._started = 0.0
        self.lines: list[str] = []  # every report printed, for the run summary and tests

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def __enter__(self) -> ProgressReporter:
        if not self.enabled:
            return self
        self._directory = tempfile.mkdtemp(prefix="pasture-progress-")
        self._previous_env = os.environ.get(counters.ENV)
        os.environ[counters.ENV] = self._directory
        counters.reset()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="pasture-progress", daemon=True)
        self._thread.start()
        return self

    def watch(self, result: Any) -> None:
        """Report from a remote job's metrics too (its workers write no files we can see)."""
        self._result = result

    def counts(self) -> dict[str, dict[str, int]]:
        merged = read_counts(self._directory) if self._directory else {}
        if self._result is not None:
            for name, values in metric_counts(self._result).items():
                if name not in merged or sum(values.values()) > sum(merged[name].values()):
                    merged[name] = values
        return merged

    def _report(self, final: bool = False) -> None:
        line = format_line(self.counts(), self.names, time.monotonic() - self._started)
        self.lines.append(line)
        if self.stream.isatty():
            self.stream.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._report()

    def __exit__(self, *exc: object) -> None:
        if not self.enabled:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._directory:
            counters.flush(self._directory)  # this process's last counts (in-process runner)
            if exc[0] is None:
                self._report(final=True)
            shutil.rmtree(self._directory, ignore_errors=True)
        if self._previous_env is None:
            os.environ.pop(counters.ENV, None)
        else:
            os.environ[counters.ENV] = self._previous_env
