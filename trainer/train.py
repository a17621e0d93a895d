"""The training loop: AdamW, warmup + cosine, bf16 autocast, accumulation, DDP, exact resume.

Run it on one device::

    python -m trainer.train --config trainer/presets/125m.yaml --data runs/demo/export
    pasture train --config tiny --data runs/demo/export --steps 50 --device cpu

or on 8 GPUs (one process per GPU; ``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK)::

    torchrun --standalone --nproc_per_node 8 -m trainer.train --config trainer/presets/350m.yaml --data DIR

The global batch is ``micro_batch_size · grad_accum_steps · world_size`` samples. Only the
entry points (``main``) read environment variables; ``train()`` takes everything as
arguments. Checkpoints hold model, optimizer, step, data position, RNG states and config
and are written atomically by rank 0; resuming one continues the same run bit for bit
on CPU (``tests/trainer/test_train.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mixtures.provenance import git_revision
from tokenizer.spm import BOS_ID, EOS_ID
from trainer.args import add_arguments
from trainer.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    prune,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from trainer.config import ConfigError, OptimConfig, TrainConfig, config_from_dict, load_train_config, to_dict
from trainer.data import BatchLoader, SampleRange, ShardDataset, ShardError, split_validation
from trainer.flops import peak_flops
from trainer.hf import save_hf_checkpoint
from trainer.model import Transformer, preset

log = logging.getLogger("pasture.trainer")

class NonFiniteLossError(RuntimeError):
    """The loss or gradient norm stayed NaN/inf for more consecutive steps than allowed."""


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a data-parallel job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @staticmethod
    def from_env(env: dict[str, str] | os._Environ = os.environ) -> DistInfo:
        """Reads torchrun's RANK/WORLD_SIZE/LOCAL_RANK (entry points only)."""
        return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


@dataclass
class TrainResult:
    """What a run did: per-step mean losses, throughput of the last interval, last checkpoint."""

    losses: list[float] = field(default_factory=list)
    step: int = 0
    tokens_seen: int = 0
    skipped_steps: int = 0
    tokens_per_sec: float = 0.0
    mfu: float | None = None
    checkpoint: Path | None = None
    val_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) of each evaluation
    hf_checkpoint: Path | None = None


class LanguageModelLoss(torch.nn.Module):
    """Wraps the model so one forward returns the mean next-token cross-entropy (in fp32)."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self.model(inputs)
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


@torch.no_grad()
def validation_loss(model: Transformer, samples: SampleRange, micro_batch_size: int, cfg: TrainConfig,
                    device: torch.device) -> float:
    """Mean next-token cross-entropy over every held-out sample (token-weighted, fp32 sum)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(samples), micro_batch_size):
        rows = [samples[i] for i in range(start, min(start + micro_batch_size, len(samples)))]
        batch = torch.from_numpy(np.stack(rows)).to(device)
        with autocast_for(cfg, device):
            logits = model(batch[:, :-1])
        total += float(F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten(), reduction="sum"))
        count += batch[:, 1:].numel()
    model.train(was_training)
    return total / count


def lr_at(step: int, optim: OptimConfig, decay_steps: int) -> float:
    """Learning rate for optimizer step ``step`` (0-based).

    1. Linear warmup: ``lr · (step+1) / warmup_steps`` for the first ``warmup_steps``.
    2. Cosine from ``lr`` down to ``min_lr_ratio · lr`` at ``decay_steps``.
    3. Constant ``min_lr_ratio · lr`` afterwards.
    """
    min_lr = optim.lr * optim.min_lr_ratio
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    if step >= decay_steps:
        return min_lr
    progress = (step - optim.warmup_steps) / max(1, decay_steps - optim.warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (optim.lr - min_lr)


def build_optimizer(model: torch.nn.Module, optim: OptimConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on every ≥2-D tensor (matrices, embeddings) and none on RMSNorm gains."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    fused = device.type == "cuda" if optim.fused is None else optim.fused
    groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=(optim.beta1, optim.beta2), eps=optim.eps, fused=fused)


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA when present; a CUDA device is this process's local GPU."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but torch sees no GPU")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def autocast_for(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (or when asked for); plain fp32 otherwise."""
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_model(cfg: TrainConfig, device: torch.device) -> Transformer:
    """Builds on the meta device (no memory), materialises on ``device``, then seeds and inits."""
    with torch.device("meta"):
        model = Transformer(cfg.model)
    model.to_empty(device=device)
    torch.manual_seed(cfg.seed)
    model.init_weights()
    return model


def train(cfg: TrainConfig, *, resume: str | Path | None = None, dist: DistInfo = DistInfo()) -> TrainResult:
    """Trains ``cfg.model`` on ``cfg.data.path`` for ``cfg.steps`` optimizer steps.

    Args:
        cfg: The run's config. With ``resume``, ``steps`` is the total to reach, counting
            the steps already done; keep ``optim.decay_steps`` fixed across the legs so the
            schedule is the same.
        resume: A checkpoint file (or a folder of them: the newest is taken).
        dist: Rank and world size; with world_size > 1, torch.distributed must already
            be initialised (``main`` does it).

    Returns:
        The losses of the steps run here and the final state.

    Raises:
        NonFiniteLossError: More than ``cfg.max_skipped_steps`` non-finite steps in a row.
    """
    device = resolve_device(cfg.device, dist.local_rank)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for the few fp32 matmuls outside autocast
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    dataset = ShardDataset(cfg.data.path, seq_len=cfg.data.seq_len, verify_checksums=cfg.data.verify_checksums)
    if dataset.seq_len > cfg.model.max_seq_len:
        raise ValueError(f"samples of {dataset.seq_len} tokens exceed model.max_seq_len {cfg.model.max_seq_len}")
    if dataset.vocab_size is not None and dataset.vocab_size > cfg.model.vocab_size:
        raise ValueError(f"the export's vocabulary ({dataset.vocab_size}) exceeds "
                         f"model.vocab_size {cfg.model.vocab_size}")
    train_samples: ShardDataset | SampleRange = dataset
    val_samples: SampleRange | None = None
    if cfg.data.val_samples:
        train_samples, val_samples = split_validation(dataset, cfg.data.val_samples)
    loader = BatchLoader(train_samples, cfg.data.micro_batch_size, dist.rank, dist.world_size,
                         shuffle=cfg.data.shuffle, seed=cfg.data.seed)
    model = build_model(cfg, device)
    optimizer = build_optimizer(model, cfg.optim, device)
    step, tokens_seen, skipped_total = 0, 0, 0
    if resume is not None:
        state = load_checkpoint(resume)
        saved_model = config_from_dict(state["config"]).model
        if saved_model != cfg.model:
            raise ValueError(f"checkpoint model {saved_model} differs from the config's {cfg.model}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        loader.load_state_dict(state["data"])
        set_rng_state(state["rng"])
        step, tokens_seen, skipped_total = int(state["step"]), int(state["tokens_seen"]), int(state["skipped_steps"])
        log.info("resumed from step %d (%s)", step, resume)

    # The loss is computed inside the compiled (and DDP-wrapped) module, so compile fuses the
    # fp32 upcast of the logits into the cross-entropy instead of materialising it. DDP wraps
    # before compile so dynamo can split graphs at DDP's gradient buckets (DDPOptimizer).
    runner: torch.nn.Module = LanguageModelLoss(model)
    ddp = None
    if dist.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = runner = DistributedDataParallel(runner, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        runner = torch.compile(runner)

    out_dir = Path(cfg.out_dir)
    ckpt_dir = out_dir / "checkpoints"
    is_main = dist.rank == 0
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        # The resolved config and code revision beside the outputs, with the data's identity.
        data_id = {k: dataset.manifest.get(k) for k in ("format", "tokenizer", "files")}
        run_info = {"config": to_dict(cfg), "git_revision": git_revision(), "world_size": dist.world_size,
                    "data_manifest": data_id}
        (out_dir / "config.json").write_text(json.dumps(run_info, indent=2, sort_keys=True) + "\n")
    accum = cfg.data.grad_accum_steps
    tokens_per_step = cfg.data.micro_batch_size * accum * dist.world_size * dataset.seq_len
    flops_token = model.flops_per_token(dataset.seq_len)
    peak = peak_flops(device, cfg.peak_tflops)
    max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
    result = TrainResult(step=step, tokens_seen=tokens_seen, skipped_steps=skipped_total)
    consecutive_bad = 0
    t_last, tokens_last = time.perf_counter(), tokens_seen
    log.info("model %.1fM params, %.3g FLOPs/token at seq %d; %d samples; %d tokens/step on %s x%d",
             model.num_params() / 1e6, flops_token, dataset.seq_len, len(dataset), tokens_per_step,
             device, dist.world_size)

    def checkpoint() -> Path | None:
        if not is_main:
            return None
        state = {"format": CHECKPOINT_FORMAT, "step": step, "tokens_seen": tokens_seen,
                 "skipped_steps": skipped_total, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "data": loader.state_dict(), "rng": rng_state(), "config": to_dict(cfg),
                 "git_revision": git_revision()}
        path = save_checkpoint(ckpt_dir / f"step-{step:07d}.pt", state)
        prune(ckpt_dir, cfg.keep_checkpoints)
        return path

    metrics = open(out_dir / "metrics.jsonl", "a", encoding="utf-8") if is_main else None

    def evaluate() -> None:
        # Every rank evaluates the same held-out samples (they are few), so no all-reduce.
        if val_samples is None or not is_main:
            return
        loss = validation_loss(model, val_samples, cfg.data.micro_batch_size, cfg, device)
        result.val_losses.append((step, loss))
        log.info("step %d/%d validation loss %.4f on %d held-out samples", step, cfg.steps, loss, len(val_samples))
        metrics.write(json.dumps({"step": step, "val_loss": loss, "val_samples": len(val_samples)}) + "\n")
        metrics.flush()
    try:
        while step < cfg.steps:
            lr = lr_at(step, cfg.optim, cfg.decay_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros((), device=device)
            for micro in range(accum):
                batch = loader.next_batch().to(device, non_blocking=True)
                inputs, targets = batch[:, :-1], batch[:, 1:]
                # Gradients are all-reduced only on the last micro-batch of the step.
                sync = ddp.no_sync() if ddp is not None and micro < accum - 1 else contextlib.nullcontext()
                with sync:
                    with autocast_for(cfg, device):
                        loss = runner(inputs, targets)
                    (loss / accum).backward()
                loss_sum += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            mean_loss = loss_sum / accum
            if dist.world_size > 1:
                torch.distributed.all_reduce(mean_loss, op=torch.distributed.ReduceOp.AVG)
            # One host sync per step: the guard must decide before the weights change. The
            # grad norm is computed after the all-reduce, so every rank decides alike.
            loss_value, norm_value = float(mean_loss), float(grad_norm)
            if math.isfinite(loss_value) and math.isfinite(norm_value):
                optimizer.step()
                consecutive_bad = 0
            else:
                consecutive_bad += 1
                skipped_total += 1
                log.warning("step %d: non-finite loss %s / grad norm %s, update skipped", step, loss_value, norm_value)
                if consecutive_bad > cfg.max_skipped_steps:
                    raise NonFiniteLossError(f"{consecutive_bad} consecutive non-finite steps at step {step}")
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens_seen += tokens_per_step
            result.losses.append(loss_value)
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                result.tokens_per_sec = (tokens_seen - tokens_last) / max(now - t_last, 1e-9)
                result.mfu = flops_token * result.tokens_per_sec / (peak * dist.world_size) if peak else None
                t_last, tokens_last = now, tokens_seen
                if is_main:
                    mfu = f"{100 * result.mfu:.1f}%" if result.mfu is not None else "n/a"
                    log.info("step %d/%d loss %.4f lr %.3g grad_norm %.3f tokens/s %.0f MFU %s",
                             step, cfg.steps, loss_value, lr, norm_value, result.tokens_per_sec, mfu)
                    metrics.write(json.dumps({"step": step, "loss": loss_value, "lr": lr, "grad_norm": norm_value,
                                              "tokens_seen": tokens_seen, "tokens_per_sec": result.tokens_per_sec,
                                              "mfu": result.mfu}) + "\n")
                    metrics.flush()
            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                evaluate()
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.steps:
                checkpoint()
        evaluate()
        if cfg.final_checkpoint:
            result.checkpoint = checkpoint()
        if cfg.hf_checkpoint and is_main:
            recorded = dataset.manifest.get("tokenizer")
            tokenizer = recorded if isinstance(recorded, dict) else {}
            result.hf_checkpoint = save_hf_checkpoint(
                model, out_dir / "hf", bos_token_id=tokenizer.get("bos_id", BOS_ID),
                eos_token_id=tokenizer.get("eos_id", EOS_ID),
                provenance={"step": str(step), "git_revision": git_revision() or "",
                            "data_manifest_sha256": str(dataset.manifest.get("sha256", ""))})
            log.info("Hugging Face checkpoint (LlamaForCausalLM) written to %s", result.hf_checkpoint)
        if dist.world_size > 1:
            torch.distributed.barrier()
    finally:
        if metrics is not None:
            metrics.close()
    result.step, result.tokens_seen, result.skipped_steps = step, tokens_seen, skipped_total
    return result


def train_tiny_demo(data_dir: str | Path, steps: int = 20, out_dir: str | Path | None = None,
                    seq_len: int = 128) -> list[float]:
    """Trains the tiny preset on CPU on an export folder (e.g. ``pasture demo``'s) and returns the losses.

    The vocabulary comes from the manifest, or from the largest token id when it has none;
    samples are cut to ``seq_len`` (or shorter, if the export's are).
    """
    dataset = ShardDataset(data_dir)
    vocab = dataset.vocab_size or dataset.max_token_id() + 1
    seq = min(seq_len, dataset.seq_len)
    batch = max(1, min(8, len(dataset)))
    if out_dir is None:
        out_dir = Path(data_dir).parent / "train-tiny"
    cfg = TrainConfig(model=preset("tiny", vocab_size=vocab, max_seq_len=seq),
                      optim=OptimConfig(lr=3e-3, warmup_steps=max(1, steps // 10), weight_decay=0.1),
                      data=dataclasses.replace(TrainConfig().data, path=str(data_dir), seq_len=seq,
                                               micro_batch_size=batch),
                      steps=steps, device="cpu", out_dir=str(out_dir), log_every=max(1, steps // 4))
    return train(cfg).losses


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer.train", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return parser.parse_args(argv)


def config_with_overrides(args: argparse.Namespace) -> TrainConfig:
    """The YAML config with the command line's overrides applied (and validated again)."""
    cfg = load_train_config(args.config)
    top: dict[str, Any] = {}
    if args.steps is not None:
        top["steps"] = args.steps
    if args.device is not None:
        top["device"] = args.device
    if args.out is not None:
        top["out_dir"] = args.out
    if args.compile:
        top["compile"] = True
    if args.hf_checkpoint:
        top["hf_checkpoint"] = True
    data_overrides: dict[str, Any] = {}
    if args.data is not None:
        data_overrides["path"] = args.data
    if args.val_samples is not None:
        data_overrides["val_samples"] = args.val_samples
    if data_overrides:
        top["data"] = dataclasses.replace(cfg.data, **data_overrides)
    data = to_dict(dataclasses.replace(cfg, **top))
    return config_from_dict(data)


def run(args: argparse.Namespace) -> int:
    """Entry point shared by both command lines: reads torchrun's env, sets up DDP, trains."""
    cfg = config_with_overrides(args)
    if not cfg.data.path:
        raise ConfigError("data.path is empty: pass --data EXPORT_DIR or set data.path in the config")
    dist_info = DistInfo.from_env()
    if dist_info.world_size > 1:
        use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    try:
        result = train(cfg, resume=args.resume, dist=dist_info)
    except (ShardError, FileNotFoundError) as exc:  # a wrong path: say so, no traceback
        print(f"train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if dist_info.world_size > 1:
            torch.distributed.destroy_process_group()
    if dist_info.rank == 0:
        final = f"{result.losses[-1]:.4f}" if result.losses else "n/a (nothing left to train)"
        val = f", validation loss {result.val_losses[-1][1]:.4f}" if result.val_losses else ""
        hf = f"; Hugging Face checkpoint {result.hf_checkpoint}" if result.hf_checkpoint else ""
        print(f"trained to step {result.step}, {result.tokens_seen} tokens, final loss {final}{val}; "
              f"checkpoint {result.checkpoint}{hf}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
