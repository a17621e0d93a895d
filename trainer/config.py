"""The trainer's typed, frozen configuration: ``TrainConfig`` → ``ModelArgs``, ``OptimConfig``, ``DataConfig``.

One YAML file describes one run (see ``trainer/presets/*.yaml``)::

    model: {preset: 125m}          # a preset from trainer.model.PRESETS, plus any field overrides
    optim: {lr: 6.0e-4, warmup_steps: 2000}
    data:  {path: runs/demo/export, micro_batch_size: 16, grad_accum_steps: 8}
    steps: 10000
    out_dir: runs/train-125m

Every dataclass validates itself in ``__post_init__``; a bad value raises
``mixtures.config.ConfigError`` naming the field, so ``pasture`` reports it like any other
config error. ``to_dict``/``config_from_dict`` round-trip, which is how a checkpoint
carries its config.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixtures.config import ConfigError, build_dataclass, convert_value, load_yaml_tree
from trainer.model import ModelArgs, preset

PRESET_DIR = Path(__file__).resolve().parent / "presets"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and the learning-rate schedule; defaults are the LLaMA paper's (§2.3)."""

    lr: float = 3.0e-4  # peak; LLaMA-7B/13B used 3e-4
    min_lr_ratio: float = 0.1  # cosine decays to 10% of the peak
    warmup_steps: int = 2000  # linear warmup from 0
    decay_steps: int | None = None  # end of the cosine; None: the run's ``steps``
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1.0e-5
    # Applied to every matrix (attention/FFN projections, embeddings, output head); never to
    # the 1-D RMSNorm gains. The paper gives 0.1 without saying which tensors; this is the
    # Megatron-LM / nanoGPT convention (decay on ≥2-D tensors).
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # global L2 norm; 0 disables
    fused: bool | None = None  # fused AdamW kernel; None: on for CUDA, off elsewhere

    def __post_init__(self) -> None:
        _check(self.lr > 0, "optim.lr must be > 0")
        _check(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio must be in [0, 1]")
        _check(self.warmup_steps >= 0, "optim.warmup_steps must be >= 0")
        _check(self.decay_steps is None or self.decay_steps > 0, "optim.decay_steps must be > 0")
        _check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "optim.beta1/beta2 must be in [0, 1)")
        _check(self.eps > 0, "optim.eps must be > 0")
        _check(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        _check(self.grad_clip >= 0, "optim.grad_clip must be >= 0")


@dataclass(frozen=True)
class DataConfig:
    """Where the exported shards are and how batches are cut from them."""

    path: str = ""  # a `pasture export` folder (manifest.json + *.bin/*.idx); --data overrides
    seq_len: int | None = None  # tokens the model sees per sample; None: the export's seq_len
    micro_batch_size: int = 8  # samples per forward pass, per rank
    grad_accum_steps: int = 1  # micro-batches per optimizer step
    shuffle: bool = False  # the export already blended; True adds a seeded per-epoch permutation
    seed: int = 1234  # of that permutation
    verify_checksums: bool = False  # re-hash every shard against manifest.json at start
    # Samples held out from the end of the export for the validation loss; 0: no validation.
    val_samples: int = 0

    def __post_init__(self) -> None:
        _check(self.seq_len is None or self.seq_len > 0, "data.seq_len must be > 0")
        _check(self.micro_batch_size > 0, "data.micro_batch_size must be > 0")
        _check(self.grad_accum_steps > 0, "data.grad_accum_steps must be > 0")
        _check(self.val_samples >= 0, "data.val_samples must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """One training run."""

    model: ModelArgs = field(default_factory=lambda: preset("tiny"))
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 100  # optimizer steps
    seed: int = 1234  # model init (torch) and python/numpy RNGs
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | bf16 | fp32
    compile: bool = False  # torch.compile the model
    out_dir: str = "runs/train"  # checkpoints and the metrics log
    log_every: int = 10
    checkpoint_every: int = 0  # steps between checkpoints; 0: only at the end
    keep_checkpoints: int = 2  # newest kept; older ones are deleted
    final_checkpoint: bool = True  # write one at the end (benchmarks turn it off)
    peak_tflops: float | None = None  # per-GPU dense bf16 peak for MFU; None: from the device name
    max_skipped_steps: int = 3  # consecutive non-finite steps tolerated before the run aborts
    eval_every: int = 0  # steps between validation losses (needs data.val_samples); 0: only at the end
    # Also write out_dir/hf (config.json + model.safetensors) that LlamaForCausalLM loads.
    hf_checkpoint: bool = False

    def __post_init__(self) -> None:
        _check(self.steps > 0, "steps must be > 0")
        _check(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}")
        _check(self.precision in ("auto", "bf16", "fp32"),
               f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        _check(self.log_every > 0, "log_every must be > 0")
        _check(self.checkpoint_every >= 0, "checkpoint_every must be >= 0")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1")
        _check(self.peak_tflops is None or self.peak_tflops > 0, "peak_tflops must be > 0")
        _check(self.max_skipped_steps >= 0, "max_skipped_steps must be >= 0")
        _check(self.eval_every >= 0, "eval_every must be >= 0")
        if self.data.seq_len is not None:
            _check(self.data.seq_len <= self.model.max_seq_len,
                   f"data.seq_len {self.data.seq_len} exceeds model.max_seq_len {self.model.max_seq_len}")

    @property
    def decay_steps(self) -> int:
        return self.optim.decay_steps or self.steps


# ---------------------------------------------------------------------------------------
# dict/YAML ↔ dataclasses


def model_args_from_dict(data: dict[str, Any]) -> ModelArgs:
    """``{preset: NAME, **overrides}`` or a full field dict → ``ModelArgs``."""
    data = dict(data or {})
    name = data.pop("preset", None)
    if name is None:
        return build_dataclass(ModelArgs, data, "model")
    overrides: dict[str, Any] = {}
    hints = typing.get_type_hints(ModelArgs)
    known = {f.name for f in dataclasses.fields(ModelArgs)}
    unknown = sorted(set(data) - known)
    _check(not unknown, f"model: unknown key(s) {unknown}; allowed: {sorted(known | {'preset'})}")
    for key, value in data.items():
        overrides[key] = convert_value(hints[key], value, f"model.{key}")
    try:
        return preset(str(name), **overrides)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Builds and validates a ``TrainConfig``; errors name the offending key."""
    data = dict(data or {})
    model = model_args_from_dict(data.pop("model", {"preset": "tiny"}))
    optim = build_dataclass(OptimConfig, data.pop("optim", {}) or {}, "optim")
    dcfg = build_dataclass(DataConfig, data.pop("data", {}) or {}, "data")
    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"model", "optim", "data"}
    unknown = sorted(set(data) - known)
    _check(not unknown,
           f"train config: unknown key(s) {unknown}; allowed: {sorted(known | {'model', 'optim', 'data'})}")
    hints = typing.get_type_hints(TrainConfig)
    top = {k: convert_value(hints[k], v, k) for k, v in data.items()}
    try:
        return TrainConfig(model=model, optim=optim, data=dcfg, **top)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train config: {exc}") from exc


def resolve_config_path(path: str | Path) -> Path:
    """A file path, or the name of a bundled preset (``tiny`` → ``trainer/presets/tiny.yaml``)."""
    p = Path(path)
    if p.is_file():
        return p
    bundled = PRESET_DIR / f"{path}.yaml"
    if bundled.is_file():
        return bundled
    raise ConfigError(f"train config not found: {path} (bundled: {sorted(x.stem for x in PRESET_DIR.glob('*.yaml'))})")


def load_train_config(path: str | Path) -> TrainConfig:
    """Reads a YAML file (or a bundled preset name) into a validated ``TrainConfig``."""
    return load_yaml_tree(resolve_config_path(path), config_from_dict)


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain data (model fully spelt out, no preset), accepted back by ``config_from_dict``."""
    return dataclasses.asdict(cfg)
