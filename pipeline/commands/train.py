"""``pasture train --config FILE [--data DIR] [--steps N] [--device cpu|cuda] [--resume CKPT]``.

Trains the bundled LLaMA on an export folder (``pasture export``). ``--config`` is a train
YAML (``trainer/config.py``) or a bundled preset name: ``tiny``, ``125m``, ``350m``. For
several GPUs launch the trainer module through torchrun, which this verb does not wrap::

    torchrun --standalone --nproc_per_node 8 -m trainer.train --config 350m --data DIR
"""

from __future__ import annotations

import argparse
import sys


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
    try:
        from trainer.train import run
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        # torch is the optional `train` extra: the pipeline's base install (and Dataflow) lacks it.
        print("pasture train: error: torch is not installed; install the trainer with pip install -e '.[train]'",
              file=sys.stderr)
        return 2
    return run(args)
