"""Trainer throughput: tokens/s and MFU of the 125M and 350M presets through the real training loop.

Each configuration runs ``trainer.train.train`` itself (AdamW, clipping, finite-loss guard,
bf16 autocast), on synthetic shards of uniform random tokens written to a temporary
export folder (or on real shards with ``--data``). It runs ``2·k`` steps logged every
``k``: the first interval absorbs compilation and allocator warm-up, the second is the
figure reported. MFU = flops_per_token(seq) · tokens/s / peak, with the model's
``6N + 12·L·d·T`` count and the device's dense bf16 peak (H100/H200 989 TFLOP/s, A100 312).

    python bench/train_gpu.py                          # GPU: 125m and 350m, compile off and on
    python bench/train_gpu.py --presets 125m --micro-batch 8 16 32 --compile on
    python bench/train_gpu.py --device cpu             # no GPU: the tiny preset, MFU n/a

Without a GPU it runs the tiny preset on CPU and says so: CPU figures say nothing about
GPU throughput.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

from tokenizer.indexed import write_indexed_dataset  # noqa: E402
from trainer.config import DataConfig, OptimConfig, TrainConfig  # noqa: E402
from trainer.data import EXPORT_FORMAT  # noqa: E402
from trainer.model import preset  # noqa: E402
from trainer.train import train  # noqa: E402


def synthetic_export(folder: Path, samples: int, seq_len: int, vocab: int, seed: int = 0) -> Path:
    """Uniform random tokens as ``samples`` sequences of ``seq_len + 1`` tokens in the export's layout.

    The manifest records no checksums (nothing verifies them in a benchmark).
    """
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=(samples, seq_len + 1), dtype=np.int64).astype(np.uint16)
    bin_file, idx_file = write_indexed_dataset(folder / "blend", list(tokens), dtype=np.uint16)
    manifest = {"format": EXPORT_FORMAT, "config": {"seq_len": seq_len, "sample_tokens": seq_len + 1},
                "tokenizer": {"vocab_size": vocab}, "files": {bin_file.name: "", idx_file.name: ""}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def run_one(name: str, seq_len: int, micro_batch: int, accum: int, compile_model: bool, steps_per_interval: int,
            device: str, data: Path, out: Path, peak_tflops: float | None) -> dict:
    """One configuration through ``train``; returns a row of the table (or the error)."""
    args = preset(name, max_seq_len=max(seq_len, preset(name).max_seq_len))
    cfg = TrainConfig(
        model=args,
        optim=OptimConfig(lr=3e-4, warmup_steps=steps_per_interval),
        data=DataConfig(path=str(data), seq_len=seq_len, micro_batch_size=micro_batch, grad_accum_steps=accum),
        steps=2 * steps_per_interval, device=device, compile=compile_model, out_dir=str(out),
        log_every=steps_per_interval, final_checkpoint=False, peak_tflops=peak_tflops,
    )
    row = {"preset": name, "seq": seq_len, "micro_batch": micro_batch, "accum": accum, "compile": compile_model}
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    torch._dynamo.reset()
    start = time.perf_counter()
    try:
        result = train(cfg)
    except torch.cuda.OutOfMemoryError:
        row["error"] = "out of memory"
        return row
    except Exception as exc:  # a failed configuration must not hide the others' figures
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        return row
    row.update(tokens_per_sec=result.tokens_per_sec, mfu=result.mfu, wall_s=time.perf_counter() - start,
               final_loss=result.losses[-1])
    if device == "cuda":
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def print_table(rows: list[dict]) -> None:
    print(f"{'preset':<8} {'seq':>5} {'mbs':>4} {'acc':>4} {'compile':>7} {'tokens/s':>10} {'MFU':>7} "
          f"{'mem GiB':>8} {'wall s':>7}  note")
    for r in rows:
        if "error" in r:
            print(f"{r['preset']:<8} {r['seq']:>5} {r['micro_batch']:>4} {r['accum']:>4} {str(r['compile']):>7} "
                  f"{'-':>10} {'-':>7} {'-':>8} {'-':>7}  {r['error']}")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
        mem = f"{r['peak_mem_gib']:.1f}" if "peak_mem_gib" in r else "-"
        print(f"{r['preset']:<8} {r['seq']:>5} {r['micro_batch']:>4} {r['accum']:>4} {str(r['compile']):>7} "
              f"{r['tokens_per_sec']:>10.0f} {mfu:>7} {mem:>8} {r['wall_s']:>7.1f}  loss {r['final_loss']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--presets", nargs="+", default=["125m", "350m"])
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--micro-batch", type=int, nargs="+", default=[16], help="micro-batch sizes to try")
    parser.add_argument("--accum", type=int, default=1, help="gradient accumulation steps")
    parser.add_argument("--compile", choices=("off", "on", "both"), default="both")
    parser.add_argument("--steps", type=int, default=10, help="steps per interval (2 intervals are run)")
    parser.add_argument("--data", help="an export folder to read instead of synthetic tokens")
    parser.add_argument("--peak-tflops", type=float, help="override the device's dense bf16 peak")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        print("No GPU in use: running the tiny preset on CPU (fp32). These figures are not GPU throughput; "
              "MFU is n/a on CPU.")
        presets, seq_len, micro_batches, compiles = ["tiny"], min(args.seq_len, 256), [8], [False]
    else:
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, bf16 autocast")
        presets, seq_len, micro_batches = args.presets, args.seq_len, args.micro_batch
        compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for name in presets:
            if args.data:
                data = Path(args.data)
            else:
                need = 2 * args.steps * max(micro_batches) * args.accum + 1
                data = synthetic_export(tmpdir / f"data-{name}", need, seq_len, preset(name).vocab_size)
            for compile_model in compiles:
                for mbs in micro_batches:
                    row = run_one(name, seq_len, mbs, args.accum, compile_model, args.steps, device, data,
                                  tmpdir / "out", args.peak_tflops)
                    rows.append(row)
                    print_table([row])
                    sys.stdout.flush()
    print()
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
