"""Main-text extraction quality and speed: ours vs trafilatura and resiliparse on extraction-eval.

Scores every side on all pages of ``../shared/extraction-eval`` (884 real pages with
hand-written snippets, from trafilatura's evaluation set) by the method its README gives:
whitespace is normalised (``\\s+`` → one space, stripped) in the output and in each snippet;
a ``with`` snippet found is a true positive, missing a false negative; a ``without``
snippet found is a false positive, missing a true negative; sums over all pages give
precision, recall, F1 and accuracy. A page whose extraction fails counts as empty.

Sides, each in its own interpreter pinned to one core, each starting from the page's raw
bytes (so its own charset decoding is part of its cost):

* ``ours``: ``decode_html`` + ``html_to_text``, the functions the CC/C4 recipes run on
  every WARC response (``filters/sources/cc/payload.py``, ``extract.py``);
* ``trafilatura``: 2.3.1 ``extract(include_comments=False, include_tables=True)``;
* ``trafilatura-fast``: the same with ``fast=True``;
* ``resiliparse``: 2.0 ``extract_plain_text(main_content=True)`` after its own
  encoding detection.

The peers live in a benchmark-only virtualenv, ``.cache/bench-venv-extraction``, created
on first use with pinned versions (never project dependencies). A side that fails to
start or to finish ends the benchmark with its error output, after ``--timeout`` seconds
at most.

The speed figure is pages per CPU second of the extraction loop (file reads excluded),
best of ``--repeat``. The ratio against trafilatura is taken in the same run.

Our heuristics were tuned on these pages, as trafilatura's were. As a check of how much
that matters, our F1 is also printed on two halves of the set (split by a hash of the file
name): a tuned rule that only fits the pages it was looked at would differ between them.

Usage::

    .venv/bin/python bench/extraction.py [--eval ../shared/extraction-eval] [--repeat 1]
        [--sides ours trafilatura trafilatura-fast resiliparse]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the repository root; bench/ itself is sys.path[0] already

import _common  # noqa: E402

PEER_VENV = _common.CACHE / "bench-venv-extraction"
# Pinned: an unpinned lxml without lxml_html_clean makes `import trafilatura` fail.
PEER_REQUIREMENTS = (
    "trafilatura==2.3.1",
    "lxml==6.1.3",
    "lxml_html_clean==0.4.6",
    "resiliparse==2.0.1",
)
SIDES = ("ours", "trafilatura", "trafilatura-fast", "resiliparse")
PEERS = frozenset(("trafilatura", "trafilatura-fast", "resiliparse"))
DEFAULT_EVAL = _common.REPO.parent / "shared" / "extraction-eval"
_SPACES = re.compile(r"\s+")


# ---------------------------------------------------------------------------------------
# one side (ours: project venv; peers: bench venv, stdlib + the peer only)


def _extractor(side: str):
    """``raw bytes → text`` for a side."""
    if side == "ours":
        from filters.sources.cc.extract import html_to_text
        from filters.sources.cc.payload import decode_html

        return lambda raw: html_to_text(decode_html(raw, "text/html")[0])[0]
    if side in ("trafilatura", "trafilatura-fast"):
        import trafilatura

        fast = side == "trafilatura-fast"
        return lambda raw: trafilatura.extract(raw, include_comments=False, include_tables=True, fast=fast) or ""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    return lambda raw: extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True)


def side_main(side: str, pages_dir: Path, out: Path, repeat: int) -> int:
    files = sorted(p.name for p in pages_dir.glob("*.html"))
    raws = [(pages_dir / name).read_bytes() for name in files]
    extract = _extractor(side)

    def run() -> dict[str, str]:
        texts = {}
        for name, raw in zip(files, raws):
            try:
                texts[name] = extract(raw)
            except Exception as exc:  # a failed page counts as empty output, as the method says
                print(f"{side}: {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                texts[name] = ""
        return texts

    cpu, texts = _common.best_of(repeat, run, time.process_time)
    out.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    _common.emit({"side": side, "pages": len(files), "cpu": cpu})
    return 0


# ---------------------------------------------------------------------------------------
# scoring


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def score_page(text: str, entry: dict[str, Any]) -> tuple[int, int, int, int]:
    """``(tp, fp, fn, tn)`` of one page's output against its snippets."""
    out = _norm(text)
    found_with = sum(_norm(s) in out for s in entry["with"])
    found_without = sum(_norm(s) in out for s in entry["without"])
    return found_with, found_without, len(entry["with"]) - found_with, len(entry["without"]) - found_without


def totals(counts: list[tuple[int, int, int, int]]) -> dict[str, float]:
    tp, fp, fn, tn = (sum(c[i] for c in counts) for i in range(4))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": (tp + tn) / (tp + fp + fn + tn)}


def half_of(file_name: str) -> str:
    return "A" if zlib.crc32(file_name.encode()) % 2 == 0 else "B"


# ---------------------------------------------------------------------------------------
# orchestration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", default=str(DEFAULT_EVAL), help="the extraction-eval folder")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the least CPU time counts")
    parser.add_argument("--core", type=int, default=0, help="CPU core every side is pinned to")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a side may take before it fails the run")
    # internal: run one side
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--pages", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        return side_main(args.side, Path(args.pages), Path(args.out), args.repeat)

    eval_dir = Path(args.eval)
    if not (eval_dir / "evaldata.json").exists():
        raise SystemExit(f"no evaldata.json in {eval_dir} (use --eval)")
    evaldata = json.loads((eval_dir / "evaldata.json").read_text(encoding="utf-8"))
    entries = {e["file"]: e for e in evaldata.values()}

    python = {"ours": Path(sys.executable)}
    if PEERS & set(args.sides):
        peer_python = _common.ensure_venv(PEER_VENV, PEER_REQUIREMENTS)
        python.update(dict.fromkeys(PEERS, peer_python))

    with tempfile.TemporaryDirectory(prefix="pasture-extraction-") as tmp:
        work = Path(tmp)
        with tarfile.open(eval_dir / "pages.tar.xz") as tar:
            tar.extractall(work, filter="data")
        pages_dir = work / "pages"
        missing = sorted(set(entries) - {p.name for p in pages_dir.glob("*.html")})
        if missing:
            raise SystemExit(f"{len(missing)} annotated pages missing from pages.tar.xz: {missing[:5]}")
        print(f"{len(entries)} pages, {sum(len(e['with']) + len(e['without']) for e in entries.values())} snippets; "
              f"each side pinned to core {args.core}, best CPU time of {args.repeat}; load {_common.loadavg()}",
              flush=True)
        results: dict[str, dict[str, Any]] = {}
        for side in args.sides:
            out = work / f"{side}.json"
            cmd = [str(python[side]), str(Path(__file__).resolve()), "--side", side, "--pages", str(pages_dir),
                   "--out", str(out), "--repeat", str(args.repeat)]
            try:
                timing = _common.run_side(cmd, core=args.core, timeout=args.timeout)
            except Exception as exc:  # a peer that does not start or hangs ends the benchmark
                raise SystemExit(f"side {side} failed: {exc}") from exc
            texts = json.loads(out.read_text(encoding="utf-8"))
            per_page = {name: score_page(texts.get(name, ""), entry) for name, entry in entries.items()}
            results[side] = {"timing": timing, "per_page": per_page, **totals(list(per_page.values()))}
            print(f"  {side:<17} cpu {timing['cpu']:7.2f} s  F1 {results[side]['f1']:.3f}", flush=True)

    print(f"\n{'side':<18}{'precision':>10}{'recall':>8}{'F1':>7}{'accuracy':>10}{'pages/s':>9}  vs trafilatura")
    base = results.get("trafilatura")
    for side, r in results.items():
        rate = r["timing"]["pages"] / r["timing"]["cpu"]
        ratio = f"{base['timing']['cpu'] / r['timing']['cpu']:.1f}x" if base else ""
        print(f"{side:<18}{r['precision']:>10.3f}{r['recall']:>8.3f}{r['f1']:>7.3f}{r['accuracy']:>10.3f}"
              f"{rate:>9.0f}  {ratio}")

    for side, r in results.items():
        halves = {h: totals([c for name, c in r["per_page"].items() if half_of(name) == h]) for h in "AB"}
        print(f"{side} F1 on halves A / B: {halves['A']['f1']:.3f} / {halves['B']['f1']:.3f}")
        lost = sorted(name for name, c in r["per_page"].items() if c[0] == 0)
        if side == "ours" or len(lost) <= 20:
            print(f"{side}: {len(lost)} pages with recall 0: {' '.join(lost)}")
        else:
            print(f"{side}: {len(lost)} pages with recall 0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
