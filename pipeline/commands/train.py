"""``pasture train --config FILE [--data DIR] [--steps N] [--device cpu|cuda] [--resume CKPT]``.

Trains the bundled LLaMA on an export folder (``pasture export``). ``--config`` is a train
YAML (``trainer/config.py``) or a bundled preset name: ``tiny``, ``125m``, ``350m``. With
``--run-config FILE`` (the pipeline config, as for ``pasture run``) the trainer config comes
from its ``train.config`` and the data from its ``export.output``; flags override. For
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
    add_arguments(parser, config_required=False)
    parser.add_argument("--run-config", metavar="FILE",
                        help="pipeline config YAML (as for `pasture run`): --config defaults to its train.config, "
                        "--data to its export.output")
    parser.set_defaults(func=main)


def with_run_config(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with --config and --data taken from ``--run-config`` where the flags are absent."""
    from mixtures.config import ConfigError, load_config

    if args.run_config:
        cfg = load_config(args.run_config)
        args.config = args.config or cfg.train.config
        args.data = args.data or cfg.export.output or None
    if not args.config:
        raise ConfigError("train: give --config (a train YAML or preset) or --run-config FILE")
    return args


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    args = with_run_config(args)
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
