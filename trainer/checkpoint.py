"""Checkpoints: atomic writes, newest-of-a-folder lookup, pruning, and RNG state capture.

A checkpoint is one ``torch.save`` file holding only tensors and plain data (so it loads
with ``weights_only=True``): ``format``, ``step``, ``tokens_seen``, ``skipped_steps``,
``model``, ``optimizer``, ``data`` (the loader position), ``rng`` (python, numpy, torch and
CUDA generator states), ``config`` (``trainer.config.to_dict``) and ``git_revision``
(``mixtures.provenance.git_revision``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixtures.provenance import replace_atomically

CHECKPOINT_FORMAT = "pasture-trainer-v1"


def rng_state() -> dict[str, Any]:
    """The python, numpy, torch CPU and (if present) CUDA generator states, as checkpointable data."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state["numpy"] = [kind, keys.tolist(), pos, has_gauss, gauss]  # plain data: loads with weights_only
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores what ``rng_state`` captured (CUDA only where a GPU is present)."""
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Writes ``state`` to ``path`` atomically: a temporary file, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
    replace_atomically(tmp, path)
    return path


def latest_checkpoint(path: str | Path) -> Path:
    """``path`` itself if a file, else the highest-step ``step-*.pt`` inside it."""
    p = Path(path)
    if p.is_file():
        return p
    found = sorted(p.glob("step-*.pt")) + sorted((p / "checkpoints").glob("step-*.pt"))
    if not found:
        raise FileNotFoundError(f"no checkpoint at {p}")
    return max(found, key=lambda f: int(f.stem.split("-")[1]))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads a checkpoint written by ``save_checkpoint`` (tensors and plain data only)."""
    state = torch.load(latest_checkpoint(path), map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    return state


def prune(directory: Path, keep: int) -> None:
    """Deletes all but the ``keep`` highest-step checkpoints of ``directory``."""
    old = sorted(directory.glob("step-*.pt"), key=lambda f: int(f.stem.split("-")[1]))[:-keep]
    for f in old:
        f.unlink(missing_ok=True)
