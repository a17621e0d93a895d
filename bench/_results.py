"""Machine-readable benchmark figures: ``bench/results.json``, read by ``pasture plan-cost``.

Format: one entry per stage, every key optional except a rate::

    {
      "lang_id": {
        "mb_per_s_per_core": 8.4,          # MB (1e6 bytes) of document TEXT per second per core
        "docs_per_s_per_core": 4160,       # documents per second per core
        "text_bytes_per_doc": 2016,        # mean text size of the benchmark's documents
        "measured": "2026-11-22",
        "machine": "2 cores",
        "command": ".venv/bin/python bench/bench_lang_id.py",
        "sources": ["cc", "c4"]            # optional: overrides the recipes' stages (cost_stages)
      }
    }

Rates are in bytes of *document text* entering the stage, for every stage (the extractor
too: report the text it produced per second, not the WARC bytes it read), so that
``mixtures/cost.py`` can charge all stages against the same text sizes. A document rate
is used only together with ``text_bytes_per_doc``.

Bench scripts call ``record`` after measuring::

    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from _results import record
    record("lang_id", mb_per_s_per_core=mb_s, docs_per_s_per_core=docs_s, text_bytes_per_doc=size,
           command="python bench/bench_lang_id.py")
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:  # a bench script has bench/ as sys.path[0], not the repository root
    sys.path.insert(0, _REPO)
from mixtures.provenance import json_text, write_bytes_atomically  # noqa: E402

RESULTS = Path(__file__).resolve().with_name("results.json")
MACHINE = f"{os.cpu_count()} cores"


def load(path: Path | str = RESULTS) -> dict[str, dict[str, Any]]:
    """The current figures ({} when the file does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping of stage → figures")
    return data


def record(stage: str, *, path: Path | str = RESULTS, **figures: Any) -> dict[str, Any]:
    """Merge ``figures`` into the entry of ``stage`` and rewrite the file atomically.

    Keys given replace the old values; keys not given are kept. ``measured`` (today),
    ``machine`` (CPU count) and ``command`` (this process's argv) are filled in unless given.

    Returns:
        The stage's entry as written.
    """
    if not stage or not isinstance(stage, str):
        raise ValueError("stage must be a non-empty string")
    for key, value in figures.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{stage}.{key} is not finite: {value!r}")
    figures.setdefault("measured", datetime.date.today().isoformat())
    figures.setdefault("machine", MACHINE)
    figures.setdefault("command", " ".join(["python", *sys.argv]))
    path = Path(path)
    # Several bench scripts may record at once: serialise the read-merge-write.
    digest = hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"pasture-bench-{digest}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = load(path)
        entry = {**results.get(stage, {}), **figures}
        results[stage] = entry
        write_bytes_atomically(path, json_text(results).encode("utf-8"))  # sorted keys: stable diffs
    return entry
