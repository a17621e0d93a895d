"""``pasture train --config FILE [--data DIR] [--steps N] [--device cpu|cuda] [--resume CKPT]``.

Trains the bundled LLaMA on an export folder (``pasture export``). ``--config`` is a train
YAML (``trainer/config.py``) or a bundled preset name: ``tiny``, ``125m``, ``350m``. For
several GPUs launch the trainer module through torchrun, which this verb does not wrap::

    torchrun --standalone --nproc_per_node 8 -m trainer.train --config 350m --data DIR
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from trainer.args import add_arguments

    parser = subparsers.add_parser(
        "train",
        help="train the bundled LLaMA on exported shards (CPU or GPU)",
        description="Train the bundled LLaMA (trainer/) on a `pasture export` folder. --config is a train "
        "YAML or a bundled preset (tiny, 125m, 350m). Multi-GPU: torchrun --standalone --nproc_per_node 8 "
        "-m trainer.train --config ... --data DIR.",
    )
    add_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from trainer.train import run

    return run(args)
