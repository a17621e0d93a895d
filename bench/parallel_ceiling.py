"""What 2 workers can gain on this machine: one step of a scale-rehearsal corpus run three ways.

1. ``alone``: one ``pasture`` process, 1 worker (the in-process runner).
2. ``pair``: two independent copies of (1) at the same time, each on its own output folder.
   Nothing is shared but the machine, so ``2 × alone / pair`` is the most any 2-process run
   can get here (the machine's ceiling: caches, memory bandwidth, the page cache, the kernel).
3. ``2 workers``: the same step with ``--direct_num_workers 2``.

The pipeline's speedup is ``alone / 2 workers``; its efficiency is speedup / ceiling, which
says how much of what the machine allows the runner leaves on the table.

Reads the corpora ``bench/scale_rehearsal.py`` left in ``--work`` (``x1``, ``x4``, ``x16``):

    .venv/bin/python bench/scale_rehearsal.py --base-mb 128 --scale 1 4 16 --work /tmp/rehearse-2g
    .venv/bin/python bench/parallel_ceiling.py --work /tmp/rehearse-2g --scale 1 4 16 --step curate

``--step curate`` runs ``pasture run --until curate`` on the raw inputs; ``--step encode`` runs
``pasture tokenizer encode`` on the curated documents of the rehearsal's own run (hard-linked
into each copy). Every copy uses the rehearsal's config and ``--spill_buffer_mb``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from _common import REPO, loadavg  # noqa: E402

PASTURE = REPO / ".venv" / "bin" / "pasture"


def copy_config(root: Path, scratch: Path) -> Path:
    """The rehearsal's ``run.yaml`` with its outputs moved under ``scratch``."""
    import yaml

    cfg = yaml.safe_load((root / "run.yaml").read_text())
    cfg["output"] = str(scratch / "run")
    cfg["export"]["output"] = str(scratch / "export")
    config = scratch / "run.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config


def prepare(root: Path, scratch: Path, step: str) -> list[str]:
    """A fresh output folder for one copy of ``step``; the command that runs it."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    config = copy_config(root, scratch)
    if step == "curate":
        return [str(PASTURE), "run", "--config", str(config), "--until", "curate"]
    for source in (root / "run").iterdir():
        if (source / "docs").is_dir():
            target = scratch / "run" / source.name
            target.mkdir(parents=True)
            for name in ("_manifest.json", "stats.json", "_counts.json"):
                if (source / name).exists():
                    shutil.copy2(source / name, target / name)
            shutil.copytree(source / "docs", target / "docs", copy_function=lambda a, b: Path(b).hardlink_to(a))
    return [str(PASTURE), "tokenizer", "encode", "--config", str(config)]


def timed(commands: list[list[str]]) -> float:
    """Starts every command at once; wall seconds until the last one ends."""
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for cmd in commands]
    for proc, cmd in zip(procs, commands):
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    return time.perf_counter() - start


def measure(root: Path, scratch: Path, step: str, spill_mb: float) -> dict[str, float]:
    flags = ["--spill_buffer_mb", str(spill_mb)]
    alone = timed([prepare(root, scratch / "a", step) + flags])
    pair = timed([prepare(root, scratch / "a", step) + flags, prepare(root, scratch / "b", step) + flags])
    two = timed([prepare(root, scratch / "a", step) + flags + ["--direct_num_workers", "2"]])
    shutil.rmtree(scratch, ignore_errors=True)
    return {"alone": alone, "pair": pair, "two_workers": two,
            "ceiling": 2 * alone / pair, "speedup": alone / two}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=str(REPO / ".cache" / "scale-rehearsal"),
                        help="the --work folder of bench/scale_rehearsal.py (its default too)")
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--step", choices=("curate", "encode"), default="curate")
    parser.add_argument("--spill-buffer-mb", type=float, default=4.0, help="as the rehearsal ran (default 4)")
    args = parser.parse_args()
    print(f"load average before: {loadavg()}")
    print(f"{'size':<6}{'alone s':>9}{'pair s':>9}{'2 workers s':>13}{'ceiling':>9}{'speedup':>9}{'of ceiling':>12}")
    for scale in args.scale:
        root = Path(args.work) / f"x{scale}"
        if not (root / "run.yaml").exists():
            print(f"{scale}×: no corpus at {root} (bench/scale_rehearsal.py --work {args.work} makes it); skipped")
            continue
        r = measure(root, Path(args.work) / f"ceiling-x{scale}", args.step, args.spill_buffer_mb)
        print(f"{scale}×{'':<4}{r['alone']:>9.1f}{r['pair']:>9.1f}{r['two_workers']:>13.1f}"
              f"{r['ceiling']:>8.2f}×{r['speedup']:>8.2f}×{r['speedup'] / r['ceiling']:>12.0%}", flush=True)
    print(f"load average after: {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
