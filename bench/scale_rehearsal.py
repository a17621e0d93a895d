"""Scale rehearsal: a generated GitHub corpus at 1×, 4×, 16×, run end to end with ``pasture run``.

The corpus: every document is a new file made of 2-4 spans of 8-40 consecutive lines taken
from random real files of ``../shared/corpus/github`` (seeded), under a unique path, in
BigQuery-export JSONL.gz (``github`` source kind, as the recipe reads it). Spans from
different files make every document's content unique, so exact file dedup keeps them all.

Each size runs the whole chain of ``pasture run --config`` (curate → tokenizer → encode →
plan → export, ``pipeline/run_chain.py``) one step per subprocess (``--until STEP --resume``:
the earlier steps are skipped as complete), so every step gets its own wall time and peak
RSS. RSS (and RssAnon: RSS without memory-mapped file pages, see ``_common.anon_bytes``) is sampled
every 0.2 s: the launcher process (which, on the local FnApiRunner, also holds every shuffle)
and the largest worker process (``--direct_num_workers`` > 1 runs SDK workers as child
processes). The export asks for a fixed share of the tokens
(``--export-share``), so it grows with the corpus too.

    .venv/bin/python bench/scale_rehearsal.py --base-mb 8 --scale 1 4 [--workers 2] [--compare-workers]

``--max-bytes`` refuses sizes above it (so a 16× run is asked for explicitly). Prints one
table per size and the flatness of each step's peak RSS across sizes (max/min − 1).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from _common import DEFAULT_CORPUS, REPO, loadavg, run_sampling_memory  # noqa: E402

STEPS = ("curate", "tokenizer", "encode", "plan", "export")


def line_pool(corpus: Path) -> list[list[str]]:
    """Lines of every real GitHub file of the corpus (files with at least 8 lines)."""
    files = []
    with gzip.open(corpus / "github" / "github_sample.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            lines = (rec.get("content") or "").split("\n")
            if len(lines) >= 8 and max(map(len, lines)) < 500:
                files.append(lines)
    if not files:
        raise SystemExit(f"no usable files in {corpus / 'github'}")
    return files


def generate(files: list[list[str]], out: Path, text_bytes: int, seed: int = 0, part_bytes: int = 16 << 20) -> int:
    """Writes ``text_bytes`` of generated documents into ``out/*.json.gz``; returns the document count."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written = docs = part = 0
    fh = None
    part_written = part_bytes
    while written < text_bytes:
        if part_written >= part_bytes:
            if fh:
                fh.close()
            fh = gzip.open(out / f"{part:012d}.json.gz", "wt", encoding="utf-8", compresslevel=1)
            part += 1
            part_written = 0
        spans = []
        for _ in range(rng.randint(2, 4)):
            src = files[rng.randrange(len(files))]
            k = rng.randint(8, 40)
            start = rng.randrange(max(1, len(src) - k))
            spans.append("\n".join(src[start:start + k]))
        content = "\n".join(spans) + "\n"
        rec = {"repo_name": f"gen/repo{docs // 50:06d}", "path": f"src/file{docs:08d}.py", "license": "mit",
               "content": content, "size": str(len(content)), "ref": "refs/heads/main"}
        fh.write(json.dumps(rec) + "\n")
        written += len(content.encode("utf-8"))
        part_written += len(content.encode("utf-8"))
        docs += 1
    if fh:
        fh.close()
    return docs


# Token shard, encode spill and export shard sizes (× --bounds-x): below the 1× corpus at any --base-mb >= 8.
SHARD_TOKENS, SPILL_TOKENS, SHARD_SEQUENCES = 250_000, 100_000, 200


def bounds(scale: int) -> dict[str, dict[str, int]]:
    return {"tokenizer": {"shard_tokens": SHARD_TOKENS * scale, "spill_tokens": SPILL_TOKENS * scale},
            "export": {"shard_sequences": SHARD_SEQUENCES * scale}}


def set_bounds(config: Path, scale: int) -> None:
    """Rewrites the token shard, spill and export shard sizes of an earlier rehearsal's config."""
    import yaml

    cfg = yaml.safe_load(config.read_text())
    for section, values in bounds(scale).items():
        cfg[section].update(values)
    config.write_text(yaml.safe_dump(cfg))


def write_config(root: Path, inputs: Path, export_tokens: int, vocab: int, bounds_x: int = 1) -> Path:
    import yaml

    (root / "github-only.yaml").write_text(yaml.safe_dump(
        {"name": "github-only", "reference": "bench", "total_tokens": 1e9,
         "sources": {"github": {"label": "GitHub", "weight": 100.0, "epochs": 1.0, "disk": "1 GB"}}}))
    config = root / "run.yaml"
    config.write_text(yaml.safe_dump({
        "output": str(root / "run"), "mixture": str(root / "github-only.yaml"),
        "sources": {"github": {"kind": "github", "inputs": [str(inputs)]}},
        # Bounds below the 1× size, so every size works at them (as a real corpus would): a
        # document shard, a token shard, an encode spill and an export shard are each smaller
        # than the 1× corpus. Document shards of 8 MB of gzip'd input (the default, 256 MB, is
        # sized for CC) also give encode, which reads one document shard per worker, files to share.
        "shards": {"input_bytes_per_shard": 8 << 20},
        "tokenizer": {"model": str(root / "tok" / "t.model"), "vocab_size": vocab, "sample_chars": 1_000_000,
                      **bounds(bounds_x)["tokenizer"]},
        "export": {"output": str(root / "export"), "format": "megatron", "tokens": export_tokens, "seq_len": 512,
                   **bounds(bounds_x)["export"]},
    }))
    return config


def run_step(config: Path, step: str, workers: int, spill_mb: float) -> dict[str, float]:
    """One ``pasture run --until STEP --resume``; wall time and peak RSS (launcher, largest worker)."""
    cmd = [str(REPO / ".venv" / "bin" / "pasture"), "run", "--config", str(config), "--until", step, "--resume",
           "--spill_buffer_mb", str(spill_mb)]
    if workers > 1:
        cmd += ["--direct_num_workers", str(workers)]
    wall, peak, _ = run_sampling_memory(cmd, interval=0.2)
    return {"wall_s": wall, "launcher_mb": peak["launcher"] / 1e6,
            "worker_mb": peak["worker"] / 1e6, "launcher_anon_mb": peak["launcher_anon"] / 1e6,
            "worker_anon_mb": peak["worker_anon"] / 1e6}


def rehearse(root: Path, files: list[list[str]], text_bytes: int, workers: int, export_share: float,
             vocab: int, spill_mb: float, rerun_from: str | None = None, bounds_x: int = 1) -> dict[str, object]:
    """One size end to end; with ``rerun_from``, the earlier run in ``root`` again from that step on."""
    steps_run = STEPS
    if rerun_from:
        config = root / "run.yaml"
        if not (config.exists() and (root / "run" / "_chain").is_dir()):
            raise SystemExit(f"--rerun-from {rerun_from}: no earlier rehearsal in {root}")
        steps_run = STEPS[STEPS.index(rerun_from):]
        set_bounds(config, bounds_x)
        if rerun_from == "curate":  # curation again from the raw inputs: its outputs go
            shutil.rmtree(root / "run")
            (root / "run" / "_chain").mkdir(parents=True)
        for step in steps_run:  # the chain runs a step again when its completion marker is gone
            (root / "run" / "_chain" / f"{step}.json").unlink(missing_ok=True)
        docs = sum(1 for part in sorted((root / "in").glob("*.json.gz")) for _ in gzip.open(part, "rt"))
    else:
        if root.exists():
            shutil.rmtree(root)
        docs = generate(files, root / "in", text_bytes)
        # ~3.5 bytes per token for code at a small vocabulary; the export takes a share of them.
        export_tokens = max(20_000, int(text_bytes / 3.5 * export_share))
        config = write_config(root, root / "in", export_tokens, vocab, bounds_x)
    steps = {step: run_step(config, step, workers, spill_mb) for step in steps_run}
    manifest = json.loads((root / "export" / "manifest.json").read_text())
    return {"text_bytes": text_bytes, "documents": docs, "workers": workers, "steps": steps,
            "export_shards": len(manifest["shards"]), "export_sequences": manifest["sequences"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--base-mb", type=float, default=128.0, help="text of the 1× corpus, MB (default 128)")
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 4, 16], help="sizes to run, × base")
    parser.add_argument("--max-bytes", type=float, default=4e9, help="refuse sizes above this many text bytes")
    parser.add_argument("--workers", type=int, default=2, help="--direct_num_workers for every step")
    parser.add_argument("--compare-workers", action="store_true",
                        help="also run the largest size with 1 worker and report the speedup of --workers")
    parser.add_argument("--export-share", type=float, default=0.25, help="share of the tokens the export takes")
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--spill-buffer-mb", type=float, default=4.0,
                        help="--spill_buffer_mb of curation's shuffles on disk: below the 1x corpus, so every "
                             "size runs at its bounds (default 64 MB would not fill at 1x)")
    parser.add_argument("--work", default=str(REPO / ".cache" / "scale-rehearsal"))
    parser.add_argument("--rerun-from", choices=STEPS,
                        help="reuse the corpora and runs an earlier invocation left in --work and run this "
                             "step and the ones after it again (to measure a change to them)")
    parser.add_argument("--bounds-x", type=int, default=1,
                        help="multiply the token shard (250k tokens), encode spill (100k) and export shard "
                             "(200 sequences) sizes by this (keep them below the 1x corpus)")
    args = parser.parse_args()
    files = line_pool(Path(args.corpus))
    sizes = [int(args.base_mb * 1e6 * s) for s in args.scale]
    too_big = [s for s in sizes if s > args.max_bytes]
    if too_big:
        raise SystemExit(f"sizes {too_big} exceed --max-bytes {args.max_bytes:.0f}")
    print(f"load average before: {loadavg()}")
    results = []
    for scale, size in zip(args.scale, sizes):
        r = rehearse(Path(args.work) / f"x{scale}", files, size, args.workers, args.export_share, args.vocab_size,
                     args.spill_buffer_mb, args.rerun_from, args.bounds_x)
        r["scale"] = scale
        results.append(r)
        print(f"\n{scale}×: {size / 1e6:,.0f} MB text, {r['documents']:,} documents, {args.workers} worker(s), "
              f"{r['export_shards']} export shard(s), {r['export_sequences']:,} sequences")
        print(f"{'step':<10}{'wall s':>9}{'launcher RSS':>14}{'(anon)':>8}{'worker RSS':>12}{'(anon)':>8}  MB")
        for step, f in r["steps"].items():
            print(f"{step:<10}{f['wall_s']:>9.1f}{f['launcher_mb']:>14.0f}{f['launcher_anon_mb']:>8.0f}"
                  f"{f['worker_mb']:>12.0f}{f['worker_anon_mb']:>8.0f}")
    measured = [step for step in STEPS if step in results[0]["steps"]]
    if len(results) > 1:
        print("\npeak RSS spread across sizes (max/min - 1):")
        for step in measured:
            for who in ("launcher_mb", "launcher_anon_mb", "worker_mb", "worker_anon_mb"):
                values = [r["steps"][step][who] for r in results if r["steps"][step][who] > 0]
                if values:
                    print(f"  {step:<10}{who[:-3]:<14}{max(values) / min(values) - 1:>7.1%}  "
                          f"({', '.join(f'{v:.0f}' for v in values)} MB)")
    if args.compare_workers:
        size, scale = sizes[-1], args.scale[-1]
        one = rehearse(Path(args.work) / f"x{scale}-1w", files, size, 1, args.export_share, args.vocab_size,
                       args.spill_buffer_mb, args.rerun_from, args.bounds_x)
        many = sum(f["wall_s"] for f in results[-1]["steps"].values())
        single = sum(f["wall_s"] for f in one["steps"].values())
        print(f"\n{scale}×: 1 worker {single:.0f} s, {args.workers} workers {many:.0f} s: "
              f"speedup {single / many:.2f}×")
        for step in measured:
            a, b = one["steps"][step]["wall_s"], results[-1]["steps"][step]["wall_s"]
            print(f"  {step:<10}1 worker {a:7.1f} s   {args.workers} workers {b:7.1f} s   speedup {a / b:.2f}×")
    print(f"load average after: {loadavg()}")
    print("RESULTS " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
