"""Check that megatron-core's own reader loads our ``.bin/.idx`` files and sees the same tokens.

megatron-core is not a dependency: its wheel (0.16.1, ~2.6 MB) installs with ``--no-deps``
into a private folder and its ``megatron.core.datasets.indexed_dataset`` imports fine on our
CPU-only torch 2.13 (it needs only numpy and torch; it warns that Transformer Engine and Apex
are missing). Installing it normally would pull a CUDA torch, which we must never do.

Usage::

    # one-off, needs the package registry:
    python tools/check_megatron.py --install
    # then, offline, any number of prefixes (path without .bin/.idx):
    python tools/check_megatron.py RUN/cc/tokens/part-00000-of-00001 EXPORT/blend

Exit status 0 when every prefix matches, 1 on a mismatch, 3 when megatron-core is absent.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

MEGATRON_VERSION = "0.16.1"
DEFAULT_HOME = Path.home() / ".cache" / "pasture" / f"megatron-core-{MEGATRON_VERSION}"
REPO = Path(__file__).resolve().parent.parent


def install(home: Path) -> None:
    """Downloads the wheel without dependencies and unpacks it into ``home``."""
    download = home.with_name(home.name + "-wheel")
    download.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", f"megatron-core=={MEGATRON_VERSION}", "--no-deps",
                    "--only-binary=:all:", "-d", str(download)], check=True)
    wheel = next(download.glob("megatron_core-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(home)


def compare(prefixes: list[str], home: Path) -> list[str]:
    """Loads each prefix with megatron-core and with ours; returns the mismatches."""
    sys.path.insert(0, str(home))
    sys.path.insert(0, str(REPO))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset as MegatronDataset

    import numpy as np

    from tokenizer.indexed import IndexedDataset

    problems = []
    for prefix in prefixes:
        theirs = MegatronDataset(prefix, multimodal=False, mmap=True)
        ours = IndexedDataset(prefix)
        if len(theirs) != len(ours):
            problems.append(f"{prefix}: {len(theirs)} sequences in megatron-core, {len(ours)} in ours")
            continue
        if not np.array_equal(theirs.document_indices, ours.document_indices):
            problems.append(f"{prefix}: document indices differ")
        if not np.array_equal(theirs.sequence_lengths, ours.sizes):
            problems.append(f"{prefix}: sequence lengths differ")
        for i in range(len(ours)):
            if not np.array_equal(np.asarray(theirs[i]), ours[i]):
                problems.append(f"{prefix}: sequence {i} differs")
                break
            if len(ours[i]) > 2 and not np.array_equal(theirs.get(i, 1, 2), ours.get(i, 1, 2)):
                problems.append(f"{prefix}: get({i}, 1, 2) differs")
                break
        if theirs.index.dtype != ours.dtype:
            problems.append(f"{prefix}: dtype {theirs.index.dtype} vs {ours.dtype}")
        print(f"{prefix}: {len(ours)} sequences, {ours.num_tokens} tokens, dtype {ours.dtype}: "
              f"{'OK' if not problems else 'MISMATCH'}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefixes", nargs="*", help=".bin/.idx prefixes to check")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="where megatron-core is unpacked")
    parser.add_argument("--install", action="store_true", help="download and unpack megatron-core (no deps)")
    args = parser.parse_args(argv)
    if args.install:
        install(args.home)
    if not (args.home / "megatron" / "core" / "datasets" / "indexed_dataset.py").is_file():
        print(f"megatron-core not found in {args.home}; run with --install once", file=sys.stderr)
        return 3
    problems = compare(args.prefixes, args.home)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
