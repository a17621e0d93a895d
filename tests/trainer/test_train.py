"""The training loop on CPU: loss falls on real text, exact resume, schedule, guard, checkpoints, CLIs."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import trainer.train as train_module
from mixtures.config import ConfigError
from tests.trainer.conftest import SEQ_LEN, VOCAB
from trainer.checkpoint import load_checkpoint
from trainer.config import DataConfig, OptimConfig, TrainConfig, config_from_dict, load_train_config, to_dict
from trainer.flops import peak_flops_for_name
from trainer.model import Transformer, preset
from trainer.train import (
    NonFiniteLossError,
    build_optimizer,
    lr_at,
    train,
    train_tiny_demo,
)

REPO = Path(__file__).resolve().parents[2]


def tiny_config(shards: Path, out: Path, **overrides) -> TrainConfig:
    cfg = TrainConfig(
        model=preset("tiny", vocab_size=VOCAB, max_seq_len=SEQ_LEN),
        optim=OptimConfig(lr=3e-3, warmup_steps=5),
        data=DataConfig(path=str(shards), micro_batch_size=8),
        steps=40, device="cpu", out_dir=str(out), log_every=10,
    )
    return dataclasses.replace(cfg, **overrides)


def test_tiny_model_loss_falls_on_real_text(book_shards, tmp_path):
    result = train(tiny_config(book_shards, tmp_path))
    assert len(result.losses) == 40 and result.step == 40
    # Uniform over 512 pieces at the start; clearly below it after 40 steps.
    assert result.losses[0] == pytest.approx(math.log(VOCAB), abs=0.1)
    assert sum(result.losses[-5:]) / 5 < result.losses[0] - 1.0
    assert result.tokens_seen == 40 * 8 * SEQ_LEN
    assert result.mfu is None  # CPU: no peak to compare with
    assert result.checkpoint == tmp_path / "checkpoints" / "step-0000040.pt"
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 4
    run_info = json.loads((tmp_path / "config.json").read_text())
    assert config_from_dict(run_info["config"]) == tiny_config(book_shards, tmp_path)
    assert run_info["data_manifest"]["tokenizer"]["vocab_size"] == VOCAB


def test_resume_continues_the_same_run_bit_for_bit(book_shards, tmp_path):
    # The schedule's length is fixed (decay_steps) so both legs see the same learning rates.
    common = {"optim": OptimConfig(lr=3e-3, warmup_steps=2, decay_steps=8),
              "data": DataConfig(path=str(book_shards), micro_batch_size=4, grad_accum_steps=2, shuffle=True)}
    straight = train(tiny_config(book_shards, tmp_path / "straight", steps=8, **common))
    first = train(tiny_config(book_shards, tmp_path / "legs", steps=4, **common))
    second = train(tiny_config(book_shards, tmp_path / "legs", steps=8, **common),
                   resume=tmp_path / "legs" / "checkpoints")
    assert first.losses + second.losses == straight.losses  # exact float equality
    assert second.tokens_seen == straight.tokens_seen
    a = load_checkpoint(tmp_path / "straight" / "checkpoints")
    b = load_checkpoint(tmp_path / "legs" / "checkpoints" / "step-0000008.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert a["data"] == b["data"] and a["step"] == b["step"] == 8


def test_checkpoint_holds_everything_needed_and_old_ones_are_pruned(book_shards, tmp_path):
    train(tiny_config(book_shards, tmp_path, steps=6, checkpoint_every=2, keep_checkpoints=2))
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert ckpts == ["step-0000004.pt", "step-0000006.pt"]  # no temporaries left behind
    state = load_checkpoint(tmp_path / "checkpoints")
    assert state["step"] == 6
    assert set(state) >= {"model", "optimizer", "data", "rng", "config", "tokens_seen", "git_revision"}
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert state["data"]["position"] == 6 * 8
    assert config_from_dict(state["config"]) == tiny_config(book_shards, tmp_path, steps=6, checkpoint_every=2,
                                                            keep_checkpoints=2)


def test_resume_refuses_a_different_model(book_shards, tmp_path):
    train(tiny_config(book_shards, tmp_path, steps=2))
    other = tiny_config(book_shards, tmp_path, steps=4, model=preset("tiny", vocab_size=VOCAB + 8, max_seq_len=SEQ_LEN))
    with pytest.raises(ValueError, match="differs"):
        train(other, resume=tmp_path / "checkpoints")


class _NaNLoss:
    """Stands in for torch.nn.functional: cross_entropy returns NaN on chosen calls."""

    def __init__(self, bad_calls: set[int] | None) -> None:
        self.bad_calls = bad_calls
        self.calls = 0

    def cross_entropy(self, *args, **kwargs):
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(*args, **kwargs)
        if self.bad_calls is None or self.calls in self.bad_calls:
            return loss * float("nan")
        return loss


def test_non_finite_steps_are_skipped_then_abort_the_run(book_shards, tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "F", _NaNLoss({3, 4}))
    result = train(tiny_config(book_shards, tmp_path / "skip", steps=6))
    assert result.skipped_steps == 2
    assert [math.isnan(x) for x in result.losses] == [False, False, True, True, False, False]
    state = load_checkpoint(tmp_path / "skip" / "checkpoints")
    assert all(float(s["step"]) == 4 for s in state["optimizer"]["state"].values())  # 6 steps, 2 not applied
    monkeypatch.setattr(train_module, "F", _NaNLoss(None))
    with pytest.raises(NonFiniteLossError, match="4 consecutive non-finite steps"):
        train(tiny_config(book_shards, tmp_path / "abort", steps=10, max_skipped_steps=3))


def test_learning_rate_warms_up_linearly_then_decays_to_ten_percent():
    optim = OptimConfig(lr=1e-3, warmup_steps=10)
    assert lr_at(0, optim, 100) == pytest.approx(1e-4)
    assert lr_at(9, optim, 100) == pytest.approx(1e-3)
    assert lr_at(10, optim, 100) == pytest.approx(1e-3)
    assert lr_at(55, optim, 100) == pytest.approx(1e-4 + 0.5 * 9e-4)  # cosine midpoint
    assert lr_at(100, optim, 100) == pytest.approx(1e-4)
    assert lr_at(500, optim, 100) == pytest.approx(1e-4)
    lrs = [lr_at(s, optim, 100) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_optimizer_is_llama_adamw_without_decay_on_norm_gains():
    model = Transformer(preset("tiny", vocab_size=32))
    opt = build_optimizer(model, OptimConfig(), torch.device("cpu"))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert decay["betas"] == (0.9, 0.95) and decay["eps"] == 1e-5
    gains = {id(p) for n, p in model.named_parameters() if "norm" in n}
    assert {id(p) for p in no_decay["params"]} == gains
    assert any(p is model.tok_embeddings.weight for p in decay["params"])


def test_peak_flops_by_device_name():
    assert peak_flops_for_name("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops_for_name("NVIDIA H200") == 989e12
    assert peak_flops_for_name("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops_for_name("Tesla T4") is None


def test_bundled_presets_load_and_bad_keys_name_the_field(tmp_path):
    for name in ("tiny", "125m", "350m"):
        cfg = load_train_config(name)
        assert config_from_dict(to_dict(cfg)) == cfg
    assert load_train_config("125m").model.dim == 768
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {preset: tiny}\noptim: {learning_rate: 1.0}\n")
    with pytest.raises(ConfigError, match=r"optim: unknown key\(s\) \['learning_rate'\]"):
        load_train_config(bad)
    bad.write_text("model: {preset: tiny, dim: 63}\n")
    with pytest.raises(ConfigError, match="not divisible"):
        load_train_config(bad)
    bad.write_text("model: {preset: huge}\n")
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        load_train_config(bad)


def _write_yaml(path: Path, data: Path, out: Path) -> Path:
    path.write_text(
        f"model: {{preset: tiny, vocab_size: {VOCAB}, max_seq_len: {SEQ_LEN}}}\n"
        "optim: {lr: 3.0e-3, warmup_steps: 2}\n"
        f"data: {{path: {data}, micro_batch_size: 4}}\n"
        f"steps: 100\nout_dir: {out}\nlog_every: 1\n"
    )
    return path


def test_pasture_train_command_trains_and_resumes(book_shards, tmp_path, capsys):
    from pipeline.cli import main

    cfg = _write_yaml(tmp_path / "train.yaml", book_shards, tmp_path / "run")
    assert main(["train", "--config", str(cfg), "--steps", "3", "--device", "cpu"]) == 0
    assert "trained to step 3" in capsys.readouterr().out
    assert main(["train", "--config", str(cfg), "--steps", "5", "--device", "cpu",
                 "--resume", str(tmp_path / "run" / "checkpoints")]) == 0
    assert "trained to step 5" in capsys.readouterr().out
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert main(["train", "--config", str(cfg), "--data", str(tmp_path)]) == 2
    assert "no manifest.json in" in capsys.readouterr().err
    assert main(["train", "--config", "tiny"]) == 2
    assert "data.path is empty" in capsys.readouterr().err


def test_python_dash_m_trainer_train(book_shards, tmp_path):
    cfg = _write_yaml(tmp_path / "train.yaml", book_shards, tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "trainer.train", "--config", str(cfg), "--steps", "2",
                           "--device", "cpu", "--out", str(tmp_path / "other")],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "trained to step 2" in proc.stdout
    assert (tmp_path / "other" / "checkpoints" / "step-0000002.pt").is_file()


def test_tiny_demo_helper_returns_falling_losses(book_shards, tmp_path):
    losses = train_tiny_demo(book_shards, steps=20, out_dir=tmp_path)
    assert len(losses) == 20
    assert sum(losses[-3:]) / 3 < losses[0] - 0.5


def test_torchrun_ddp_on_two_cpu_processes_matches_one_process(book_shards, tmp_path):
    """Two gloo ranks with micro-batch 2 see the same samples and gradients as one process with 4."""

    def yaml_for(out: Path, micro_batch: int) -> Path:
        path = tmp_path / f"ddp-{micro_batch}.yaml"
        path.write_text(
            f"model: {{preset: tiny, vocab_size: {VOCAB}, max_seq_len: {SEQ_LEN}}}\n"
            "optim: {lr: 3.0e-3, warmup_steps: 2}\n"
            f"data: {{path: {book_shards}, micro_batch_size: {micro_batch}}}\n"
            f"steps: 4\ndevice: cpu\nout_dir: {out}\nlog_every: 1\n"
        )
        return path

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    single = tmp_path / "single"
    assert train_module.main(["--config", str(yaml_for(single, 4))]) == 0
    ddp = tmp_path / "ddp"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "trainer.train", "--config", str(yaml_for(ddp, 2))],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def losses(run: Path) -> list[float]:
        return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert losses(ddp) == pytest.approx(losses(single), rel=1e-4)
    assert load_checkpoint(ddp / "checkpoints")["data"]["position"] == 4 * 4
