"""MB/s per core reading one real WARC over HTTP (the local test server) against reading it from disk.

Both paths go through ReadSource's reading stage (``_ReadFileDoFn``: open, then the WARC
reader over every record) on one thread, so the difference is the HTTP client
(``stages/http_input.py``) alone. The server runs in its own process, so this process's CPU
time is the reader's. Also measured: the bare bytes (read in 1 MiB blocks, no parsing).
Figures are MB (1e6 bytes) of the compressed WARC per second; each is the best of
``--repeats`` interleaved runs.

    .venv/bin/python bench/readers_http.py [--warc samples/cc/cc-pages-00000.warc.gz] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

SERVE = """
import sys, time
from tests.http_fault_server import FaultServer
with FaultServer(sys.argv[1]) as server:
    print(server.port, flush=True)
    sys.stdin.read()
"""


def _measure(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warc", default=str(BENCH.parent / "samples" / "cc" / "cc-pages-00000.warc.gz"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from filters.base import InputFile
    from filters.sources.cc.warc import WarcReader
    from mixtures.config import ExtractConfig, HttpSettings
    from stages.http_input import open_url
    from stages.steps import _ReadFileDoFn

    warc = Path(args.warc)
    size_mb = warc.stat().st_size / 1e6
    root = Path(tempfile.mkdtemp(prefix="readers-http-"))
    shutil.copyfile(warc, root / warc.name)
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(root)], stdout=subprocess.PIPE,
                              stdin=subprocess.PIPE, text=True, cwd=BENCH.parent)
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/{warc.name}"
        local = str(root / warc.name)
        settings = HttpSettings()
        reader = _ReadFileDoFn("cc", WarcReader("cc", ExtractConfig()), settings)

        def read_records(path: str) -> None:
            count = sum(1 for _ in reader.process(InputFile(path, warc.name)))
            assert count > 0

        def read_bytes(path: str) -> None:
            opener = (lambda: open_url(path, settings)) if path.startswith("http") else (lambda: open(path, "rb"))
            with opener() as fh:
                while fh.read(1 << 20):
                    pass

        cases = {("records", "disk"): lambda: read_records(local), ("records", "http"): lambda: read_records(url),
                 ("bytes", "disk"): lambda: read_bytes(local), ("bytes", "http"): lambda: read_bytes(url)}
        best: dict[tuple[str, str], tuple[float, float]] = {}
        for fn in cases.values():
            fn()  # warm: page cache, imports, lazy model-free setup
        for _ in range(args.repeats):
            for key, fn in cases.items():
                wall, cpu = _measure(fn)
                old = best.get(key)
                best[key] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)
    finally:
        server.stdin.close()
        server.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)

    print(f"{warc.name}: {size_mb:.1f} MB, {os.cpu_count()} cores, best of {args.repeats}")
    print(f"{'what':<10}{'from':<6}{'MB/s (wall, 1 thread)':>24}{'MB/s per CPU-second':>22}")
    for (what, where), (wall, cpu) in best.items():
        print(f"{what:<10}{where:<6}{size_mb / wall:>24.1f}{size_mb / max(cpu, 1e-9):>22.1f}")
    for what in ("records", "bytes"):
        ratio = best[(what, "disk")][0] / best[(what, "http")][0]
        print(f"{what}: http / disk = {ratio:.2f} (wall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
