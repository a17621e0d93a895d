"""Peak RSS of a local CC run as the input grows (issue 17.7): 1×, 8×, 32× the CC sample.

Each copy of ``samples/cc/cc-pages-00000.warc.gz`` (108 pages, 3.5 MB gzip) is made unique so
that no dedup stage shrinks the larger inputs back to one copy: copy ``k`` rotates the words of
every HTML text node by ``k`` places (the pages stay English, every line differs) and adds
``?copy=k`` to each URL; copies live under ``copyNN/`` of one input folder, so their paths
(and document ids) differ. The run is ``pasture run`` (local FnApiRunner, perplexity off: no
models needed) in a child process; its peak RSS, summed over the process and all its
children, is sampled every 50 ms.

    .venv/bin/python bench/local_memory.py [--copies 1 8 32] [--work DIR] [--without line_dedup minhash]

Prints one line per size and the ratio of each peak to the 1× peak (target: flat, ±15%).
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "battery"))

from warcs import members  # noqa: E402  (tests/battery: take a WARC apart and put it together)

SAMPLE = REPO / "samples" / "cc" / "cc-pages-00000.warc.gz"
TEXT_NODE = re.compile(rb">([^<>]+)<")
# Diagnosis only: the run with ReadSource's "Reshuffle documents" replaced by a pass-through.
NO_DOC_RESHUFFLE = """
import sys
import apache_beam as beam
from stages import steps
class _PassThrough(beam.PTransform):
    def expand(self, pcoll):
        return pcoll
_Reshuffle = beam.Reshuffle
class _Beam:
    def __getattr__(self, name):
        return getattr(beam, name)
    def Reshuffle(self, *a, **k):
        return _Reshuffle(*a, **k) if not _calls.append(1) and len(_calls) % 2 else _PassThrough()
_calls = []
steps.beam = _Beam()
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _rotate(text: bytes, k: int) -> bytes:
    words = text.split()
    if len(words) < 2:
        return text
    k %= len(words)
    return b" ".join(words[k:] + words[:k])


def unique_copy(data: bytes, k: int) -> bytes:
    """Copy ``k`` of a WARC file: text nodes rotated by ``k`` words, URLs tagged ``?copy=k``."""
    if k == 0:
        return data
    out = []
    for member in members(data):
        if member.warc_type == "response":
            headers, payload = member.http_parts()
            payload = TEXT_NODE.sub(lambda m: b">" + _rotate(m.group(1), k) + b"<", payload)
            member = member.with_http(headers, payload)
        raw = re.sub(rb"(\r\nWARC-Target-URI: *[^\r?]*)", rb"\1?copy=%d" % k, member.raw, count=1)
        out.append(gzip.compress(raw, mtime=0))
    return b"".join(out)


def make_inputs(copies: int, root: Path) -> Path:
    folder = root / f"x{copies}"
    data = SAMPLE.read_bytes()
    for k in range(copies):
        target = folder / f"copy{k:02d}" / SAMPLE.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(unique_copy(data, k))
    return folder


def peak_rss(cmd: list[str]) -> tuple[int, float, int]:
    """(peak RSS of the process tree in bytes, wall seconds, exit code)."""
    started = time.time()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    if proc.returncode:
        sys.stderr.write(proc.stderr.read().decode()[-3000:])
    return peak, time.time() - started, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--work", default=str(REPO / ".cache" / "local_memory"))
    parser.add_argument("--without", nargs="*", default=[],
                        choices=["line_dedup", "minhash", "write_dropped", "doc_reshuffle"],
                        help="disable these steps (doc_reshuffle: the Reshuffle after reading, patched out "
                        "in the child), to see which one holds the memory")
    args = parser.parse_args()
    work = Path(args.work)
    base = None
    print(f"without: {', '.join(args.without) or 'nothing'}")
    print(f"{'copies':>7}{'input MB':>10}{'peak RSS MB':>13}{'vs 1x':>7}{'wall s':>8}")
    for copies in args.copies:
        inputs = make_inputs(copies, work / "inputs")
        size = sum(p.stat().st_size for p in inputs.rglob("*.warc.gz"))
        config = work / f"x{copies}{''.join('-no-' + s for s in args.without)}.yaml"
        config.write_text(yaml.safe_dump({
            "output": str(work / "runs" / config.stem),
            "perplexity": {"enabled": False},
            **{step: {"enabled": False} for step in args.without if step in ("line_dedup", "minhash")},
            "shards": {"num_shards": 4, "write_dropped": "write_dropped" not in args.without},
            "sources": {"cc": {"kind": "cc", "inputs": [str(inputs)]}},
        }))
        run = ["run", "--config", str(config)]
        if "doc_reshuffle" in args.without:
            cmd = [sys.executable, "-c", NO_DOC_RESHUFFLE, *run]
        else:
            cmd = [sys.executable, "-m", "pipeline.cli", *run]
        peak, wall, rc = peak_rss(cmd)
        if rc:
            print(f"{copies:>7} run failed (exit {rc})")
            return rc
        base = base or peak
        print(f"{copies:>7}{size / 1e6:>10.1f}{peak / 1e6:>13.0f}{peak / base:>7.2f}{wall:>8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
