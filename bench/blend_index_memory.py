"""Export shard writer memory vs documents (issue 14): in-memory stream arrays vs the cached blend index.

Builds synthetic token shards (``.bin/.idx`` written vectorised with ``tokenizer.indexed.encode_index``,
documents of 4-60 tokens + eos) for two sources, ``cc`` and ``books`` (1/20 of the documents, so
it repeats), in token shards of at most ``--shard-docs`` documents, at each scale of
``--base-docs`` documents, and plans a blend of half their tokens (``--seq-len``,
``--shard-sequences`` samples per shard: the blend and its shard count grow with the corpus, a
shard does not). Then, each in a fresh subprocess whose
``RssAnon`` (heap, without memory-mapped file pages) a thread samples every 5 ms:

* ``legacy``: a shard writer as before issue 14 (``SourceStream`` of commit ``LEGACY_COMMIT``, a Python
  loop per document); ``old``: ``ShardWriterState(layout)`` today, building every source's document
  table, epoch orders and window order in memory (vectorised); each then writes shard 0;
* ``index``: the index step, one source each (``build_source_index``, the O(documents) part, once
  per source);
* ``new``: a shard writer over the cached index (``ShardWriterState(..., index_dirs)``), shard 0;
* ``beam`` (unless ``--no-beam``): the whole ``pasture export`` (index step, every shard, manifest)
  with ``--direct_num_workers 2``, sampling the largest SDK worker process's RssAnon every 0.1 s
  (the figure ``bench/scale_rehearsal.py`` reports for the export step).

Prints per scale: documents, peak RssAnon (MB) and setup / write seconds per mode, and the
growth of each mode's peak from the smallest to the largest scale (max/min - 1).

    .venv/bin/python bench/blend_index_memory.py --scale 1 4 16 [--base-docs 125000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from _common import CACHE, REPO, RESULT_PREFIX, anon_bytes, loadavg, run_sampling_memory  # noqa: E402

# legacy: the code before issue 14 (per-document Python loop, per-worker permutations), from git;
# old: today's in-memory SourceStream (vectorised table, still O(documents) per worker);
# index: the index step; new: the shard writer over the cached index.
LEGACY_COMMIT = "2918e8d"
MODES = ("legacy", "old", "index", "new")
WRITERS = ("legacy", "old", "new")


def legacy_source_stream(work: Path) -> type:
    """``SourceStream`` as it was at ``LEGACY_COMMIT`` (``git show``), loaded as its own module."""
    path = work / "legacy_blend.py"
    if not path.exists():
        text = subprocess.run(["git", "show", f"{LEGACY_COMMIT}:tokenizer/blend.py"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
        path.write_text(text)
    spec = importlib.util.spec_from_file_location("legacy_blend", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["legacy_blend"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.SourceStream


def own_anon_bytes() -> int:
    return anon_bytes(os.getpid())


class PeakAnon:
    """Samples this process's RssAnon every 5 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.peak = own_anon_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, own_anon_bytes())
            time.sleep(0.005)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, own_anon_bytes())
        return self.peak


def make_run(root: Path, docs: int, shard_docs: int, seed: int = 0) -> int:
    """Token shards + tokens manifests of ``cc`` and ``books``; returns the total documents."""
    import numpy as np

    from mixtures.provenance import sha256_file
    from tokenizer.indexed import encode_index
    from tokenizer.manifest import MANIFEST, TOKENS_DIR
    from tokenizer.shards import tokens_manifest

    rng = np.random.default_rng(seed)
    tokenizer = {"model": "synthetic.model", "sha256": "0" * 64, "vocab_size": 4000, "eos_id": 2}
    total = 0
    for name, n in (("cc", docs - docs // 20), ("books", docs // 20)):
        shards = -(-n // shard_docs)  # bounded shards, as the encode writes them (shard_tokens)
        folder = root / name / TOKENS_DIR
        folder.mkdir(parents=True)
        descs = []
        for k in range(shards):
            count = n // shards + (1 if k < n % shards else 0)
            sizes = rng.integers(5, 62, size=count)
            tokens = rng.integers(3, 4000, size=int(sizes.sum()), dtype=np.uint16)
            tokens[np.cumsum(sizes) - 1] = 2
            prefix = folder / f"part-{k:05d}-of-{shards:05d}"
            Path(f"{prefix}.bin").write_bytes(tokens.tobytes())
            Path(f"{prefix}.idx").write_bytes(encode_index(np.uint16, sizes, np.arange(count + 1)))
            descs.append({"name": prefix.name, "documents": count, "tokens": int(sizes.sum()),
                          "bin_sha256": sha256_file(f"{prefix}.bin"), "idx_sha256": sha256_file(f"{prefix}.idx")})
            total += count
        manifest = tokens_manifest(source=name, kind=name, tokenizer=tokenizer, dtype="uint16", shard_tokens=1 << 30,
                                   empty_documents=0, shards=descs)
        (folder / MANIFEST).write_text(json.dumps(manifest))
    return total


def side(mode: str, layout_file: str, index_root: str, out: str) -> None:
    """One measured process: ``old`` / ``new`` write shard 0, ``index`` builds every source's index."""
    import numpy as np  # noqa: F401  (imported before the first sample, as a worker has it)

    from tokenizer import blend_shards
    from tokenizer.blend_shards import (
        BlendLayout,
        ShardWriterState,
        build_source_index,
        index_folder_name,
        indexed_sources,
        write_blend_shard,
    )

    if mode == "legacy":
        legacy = legacy_source_stream(Path(out).parent)
        blend_shards.SourceStream = lambda name, prefixes, seq_len, seed, index_dir=None: legacy(
            name, prefixes, seq_len, seed)
    layout = BlendLayout.from_dict(json.loads(Path(layout_file).read_text()))
    meter = PeakAnon()
    base = own_anon_bytes()
    figures: dict[str, float] = {}
    started = time.perf_counter()
    if mode == "index":
        for d in indexed_sources(layout):
            build_source_index(layout, d, Path(index_root) / index_folder_name(layout, d))
        figures["setup_s"] = time.perf_counter() - started
    else:
        dirs = None
        if mode == "new":
            dirs = {layout.sources[d].name: str(Path(index_root) / index_folder_name(layout, d))
                    for d in indexed_sources(layout)}
        state = ShardWriterState(layout, index_dirs=dirs)
        for d in indexed_sources(layout):
            state.stream(d)
        figures["setup_s"] = time.perf_counter() - started
        started = time.perf_counter()
        write_blend_shard(state, 0, out, ("megatron",))
        figures["write_s"] = time.perf_counter() - started
    figures["peak_anon_mb"] = meter.stop() / 1e6
    figures["base_anon_mb"] = base / 1e6
    print(RESULT_PREFIX + json.dumps(figures), flush=True)


def measure(mode: str, layout_file: Path, index_root: Path, out: Path) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--side", mode, str(layout_file), str(index_root), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        sys.stdout.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{mode} exited {proc.returncode}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith(RESULT_PREFIX))
    return json.loads(line[len(RESULT_PREFIX):])


def beam_export(run: Path, out: Path, tokens: int, seq_len: int, shard_sequences: int) -> dict[str, float]:
    """``pasture export`` on 2 local workers: wall time and the largest worker's peak RssAnon."""
    cmd = [str(REPO / ".venv" / "bin" / "pasture"), "export", "--run", str(run), "--output", str(out),
           "--tokens", str(tokens), "--seq-len", str(seq_len), "--shard-sequences", str(shard_sequences),
           "--format", "megatron", "--direct_num_workers", "2"]
    wall, peak, _ = run_sampling_memory(cmd, interval=0.1)
    return {"wall_s": wall, "worker_anon_mb": peak["worker_anon"] / 1e6,
            "launcher_anon_mb": peak["launcher_anon"] / 1e6, "index_left": (out / ".blend-index").exists()}


def one_scale(root: Path, docs: int, shard_docs: int, seq_len: int, shard_sequences: int,
              beam: bool) -> dict[str, object]:
    from mixtures.spec import load_mixture
    from stages.export import prepare_export
    from tokenizer.manifest import MANIFEST

    if root.exists():
        shutil.rmtree(root)
    total = make_run(root / "run", docs, shard_docs)
    tokens = sum(json.loads(p.read_text())["tokens"] for p in (root / "run").glob(f"*/tokens/{MANIFEST}"))
    layout, _ = prepare_export(str(root / "run"), load_mixture("llama1"), tokens // 2, seq_len, 1234,
                               shard_sequences, ("megatron",))
    layout_file = root / "layout.json"
    layout_file.write_text(json.dumps(layout.to_dict()))
    row: dict[str, object] = {"documents": total, "tokens": tokens, "samples": layout.num_sequences,
                              "shards": layout.num_shards}
    for mode in MODES:
        row[mode] = measure(mode, layout_file, root / "index", root / f"out-{mode}")
    shard0 = f"blend-00000-of-{layout.num_shards:05d}.bin"
    row["shard0_identical"] = len({(root / f"out-{m}" / shard0).read_bytes() for m in WRITERS}) == 1
    index_bytes = sum(p.stat().st_size for p in (root / "index").rglob("*") if p.is_file())
    row["index_mb"] = index_bytes / 1e6
    if beam:
        row["beam"] = beam_export(root / "run", root / "export", tokens // 2, seq_len, shard_sequences)
        shard0 = (root / "export" / f"blend-00000-of-{layout.num_shards:05d}.bin").read_bytes()
        row["beam"]["shard0_identical"] = shard0 == (root / "out-new" / f"blend-00000-of-{layout.num_shards:05d}.bin"
                                                     ).read_bytes()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--base-docs", type=int, default=125_000)
    parser.add_argument("--shard-docs", type=int, default=62_500, help="documents per token shard at most")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--shard-sequences", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=CACHE / "bench-blend-index")
    parser.add_argument("--no-beam", action="store_true", help="skip the end-to-end `pasture export` run")
    parser.add_argument("--side", nargs=4, metavar=("MODE", "LAYOUT", "INDEX", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side(*args.side)
        return
    print(f"load average before: {loadavg()}")
    rows = {}
    for scale in args.scale:
        rows[scale] = one_scale(args.work / f"x{scale}", args.base_docs * scale, args.shard_docs, args.seq_len,
                                args.shard_sequences, not args.no_beam)
        r = rows[scale]
        print(f"\n{scale}x: {r['documents']:,} documents, {r['tokens']:,} tokens, {r['samples']:,} samples in "
              f"{r['shards']} shards; index files {r['index_mb']:.1f} MB; shard 0 identical: {r['shard0_identical']}")
        print(f"  {'mode':<6} {'peak RssAnon MB':>16} {'start MB':>9} {'setup s':>8} {'write s':>8}")
        for mode in MODES:
            f = r[mode]
            print(f"  {mode:<6} {f['peak_anon_mb']:>16.1f} {f['base_anon_mb']:>9.1f} {f['setup_s']:>8.2f} "
                  f"{f.get('write_s', float('nan')):>8.2f}")
        if "beam" in r:
            b = r["beam"]
            print(f"  pasture export, 2 workers: largest worker RssAnon {b['worker_anon_mb']:.1f} MB, launcher "
                  f"{b['launcher_anon_mb']:.1f} MB, {b['wall_s']:.1f} s; .blend-index left: {b['index_left']}; "
                  f"shard 0 identical: {b['shard0_identical']}")
    if len(rows) > 1:
        print("\ngrowth of peak RssAnon, smallest to largest scale (max/min - 1):")
        for mode in MODES:
            peaks = [r[mode]["peak_anon_mb"] for r in rows.values()]
            print(f"  {mode:<6} {' / '.join(f'{p:.1f}' for p in peaks)} MB: {max(peaks) / min(peaks) - 1:+.1%}")
        if all("beam" in r for r in rows.values()):
            peaks = [r["beam"]["worker_anon_mb"] for r in rows.values()]
            print(f"  beam worker {' / '.join(f'{p:.1f}' for p in peaks)} MB: {max(peaks) / min(peaks) - 1:+.1%}")
    print(f"load average after: {loadavg()}")
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
