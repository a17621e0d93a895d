"""Helpers shared by the bench scripts (timing, reading the sample corpus, side processes).

A script run from bench/ has bench/ as ``sys.path[0]``, so ``import _common`` just works; the
scripts add the repository root for the project packages::

    BENCH = Path(__file__).resolve().parent
    sys.path.insert(0, str(BENCH.parent))

(No bench script may be named like a stdlib module: it would shadow it for every import.)

Only stdlib at module level: the datatrove side of ``vs_datatrove.py`` imports this module
from its own virtualenv, where none of our dependencies exist.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
CACHE = REPO / ".cache"
RESULT_PREFIX = "BENCH-RESULT "  # the line a side process prints its JSON figures on


def cc_pages(corpus: str | Path) -> list[Path]:
    """The two real WARC files of ``corpus/cc-pages`` (216 pages, 7.6 MB gzip)."""
    paths = sorted((Path(corpus) / "cc-pages").glob("*.warc.gz"))
    if not paths:
        raise SystemExit(f"no WARC files in {Path(corpus) / 'cc-pages'} (use --corpus)")
    return paths


def repeated_inputs(sources: Sequence[Path], copies: int, dest: Path) -> list[Path]:
    """``copies`` copies of every file in ``dest``, named ``<stem>.copyNN.warc.gz``.

    Distinct file names give distinct stable document ids, so the copies are separate
    documents everywhere (and exact duplicates for dedup, which only stage 1 sees here).
    Hard links where possible: the bytes are the same, nothing needs writing.
    """
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for copy in range(copies):
        for src in sources:
            name = src.name.replace(".warc.gz", f".copy{copy:02d}.warc.gz")
            target = dest / name
            if not target.exists():
                try:
                    os.link(src, target)
                except OSError:
                    shutil.copyfile(src, target)
            out.append(target)
    return out


def read_documents(reader: Callable[[str, Any], Iterable[Any]], paths: Sequence[Path]) -> list[Any]:
    """The Documents ``reader(path, fh)`` yields over ``paths`` (Dropped/quarantine records skipped)."""
    from filters.document import Document

    docs: list[Any] = []
    for path in paths:
        with open(path, "rb") as fh:
            docs += [d for d in reader(str(path), fh) if isinstance(d, Document)]
    return docs


def extracted_pages(paths: Sequence[Path]) -> list[Any]:
    """The pages of WARC files as main text (default extractor; empty pages included)."""
    from filters.sources.cc.extract import HtmlExtractor
    from filters.sources.cc.warc import read_warc

    return list(map(HtmlExtractor(), read_documents(read_warc, paths)))


def best_of(repeat: int, fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> tuple[float, Any]:
    """Least ``clock`` time of ``repeat`` runs of ``fn`` and its result (the machine is shared:
    the minimum is the signal). ``time.process_time`` for single-threaded CPU seconds."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = clock()
        result = fn()
        best = min(best, clock() - start)
    return best, result


def cpu_seconds() -> float:
    """User + system CPU of this process and of its waited-for children (sandboxes, workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


class timed:
    """``with timed() as t: ...`` → ``t.wall``, ``t.cpu`` (CPU includes reaped children)."""

    def __enter__(self) -> Timing:
        self._t = Timing()
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self._t

    def __exit__(self, *exc: Any) -> None:
        self._t.wall = time.perf_counter() - self._wall
        self._t.cpu = cpu_seconds() - self._cpu


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def single_core_env() -> dict[str, str]:
    """Environment for a one-core side process: no BLAS/OpenMP/tokenizer thread pools."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONHASHSEED"] = "0"
    return env


def pinned(cmd: list[str], core: int | None) -> list[str]:
    """``cmd`` under ``taskset -c core`` (when taskset exists and a core is given)."""
    if core is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", str(core), *cmd]


def run_side(cmd: list[str], env: dict[str, str] | None = None, core: int | None = 0,
             timeout: float | None = None) -> dict[str, Any]:
    """Runs one side in its own interpreter and returns the JSON it printed.

    Raises:
        RuntimeError: the process failed or printed no result line (its output is included).
    """
    proc = subprocess.run(pinned(cmd, core), env=env or single_core_env(), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise RuntimeError(f"{' '.join(cmd)} failed (rc {proc.returncode}):\n"
                       f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")


def emit(result: dict[str, Any]) -> None:
    """Prints a side's result for :func:`run_side`."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def record(stage: str, **figures: Any) -> None:
    """``bench/_results.py:record`` (imported lazily: only the orchestrating process records)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pasture_bench_results", BENCH / "_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.record(stage, **figures)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path, requirements: Sequence[str], base_python: str | None = None) -> Path:
    """Creates ``venv`` with ``requirements`` if it is missing; returns its python.

    A marker file records what was installed; a changed requirement list reinstalls.
    """
    marker = venv / ".bench-requirements"
    wanted = "\n".join(requirements) + "\n"
    python = venv_python(venv)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    base = base_python or shutil.which("python3.11") or sys.executable
    if not python.exists():
        print(f"creating {venv} ...", flush=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    print(f"installing into {venv}: {' '.join(requirements)}", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    marker.write_text(wanted)
    return python


def pct(values: Sequence[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def anon_bytes(pid: int) -> int:
    """``RssAnon`` of a process (0 once it is gone): its heap and stacks, without the file pages it maps.

    RSS also counts the pages of memory-mapped files a process has touched (the export maps
    the token shards), which the kernel reclaims at will; RssAnon is what it holds itself.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_sampling_memory(cmd: list[str], interval: float, cwd: Path = REPO) -> tuple[float, dict[str, int], bytes]:
    """Runs ``cmd`` to the end, sampling every ``interval`` s the peak RSS and RssAnon of the
    process itself (``launcher``) and of the largest of its descendants (``worker``: Beam's SDK
    workers with ``--direct_num_workers`` > 1). Exits with the output's tail if ``cmd`` fails.

    Returns ``(wall seconds, peaks in bytes, output)``; peak keys: ``launcher``, ``launcher_anon``,
    ``worker``, ``worker_anon``.
    """
    import threading

    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd)
    peak = {"launcher": 0, "worker": 0, "launcher_anon": 0, "worker_anon": 0}
    stop = threading.Event()

    def sample() -> None:
        main = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                peak["launcher"] = max(peak["launcher"], main.memory_info().rss)
                peak["launcher_anon"] = max(peak["launcher_anon"], anon_bytes(main.pid))
                for child in main.children(recursive=True):
                    try:
                        peak["worker"] = max(peak["worker"], child.memory_info().rss)
                        peak["worker_anon"] = max(peak["worker_anon"], anon_bytes(child.pid))
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output, _ = proc.communicate()
    stop.set()
    thread.join()
    if proc.returncode:
        sys.stdout.write(output.decode(errors="replace")[-4000:])
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return time.perf_counter() - started, peak, output
