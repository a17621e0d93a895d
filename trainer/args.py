"""Command-line flags of the trainer, shared by ``python -m trainer.train`` and ``pasture train``.

Kept free of torch so that ``pasture --help`` does not pay for importing it.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser, config_required: bool = True) -> None:
    """Adds --config, --data, --steps, --device, --out, --compile, --resume, --val-samples, --hf-checkpoint."""
    parser.add_argument("--config", required=config_required,
                        help="train YAML, or a bundled preset: tiny, 125m, 350m")
    parser.add_argument("--data", help="export folder (overrides data.path)")
    parser.add_argument("--steps", type=int, help="total optimizer steps (overrides steps)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="overrides device")
    parser.add_argument("--out", help="output folder for checkpoints and metrics (overrides out_dir)")
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    parser.add_argument("--resume", help="checkpoint file, or a folder whose newest checkpoint is taken")
    parser.add_argument("--val-samples", type=int,
                        help="samples held out from the end of the export for the validation loss "
                             "(overrides data.val_samples)")
    parser.add_argument("--hf-checkpoint", action="store_true", default=None,
                        help="also write OUT/hf: config.json + model.safetensors for LlamaForCausalLM")
