"""``pasture export --run RUN_DIR --format megatron|parquet|both --tokens N --output DIR``.

With ``--config FILE`` (the pipeline config) the run directory defaults to its ``output`` and
the mixture to its ``mixture``; flags override.

Blends the run's token shards at the mixture weights into fixed-length sequences and writes
Megatron ``blend.bin/.idx`` and/or ``blend.parquet`` with ``manifest.json``
(see ``tokenizer/export.py``).
"""

from __future__ import annotations

import argparse
import sys

from mixtures.config import PipelineConfig
from pipeline.cli import VerbSettings, add_config_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="blend a tokenized run into fixed-length sequences (Megatron .bin/.idx and/or Parquet)",
        description="Deterministic blend at the mixture weights (Megatron's greedy-deficit order); every "
        "sequence holds seq_len + 1 tokens (inputs s[:-1], targets s[1:]).",
    )
    add_config_option(parser, "the run (output) and the mixture")
    parser.add_argument("--run", help="run directory with <source>/tokens/ (default: output of --config)")
    parser.add_argument("--format", required=True, choices=["megatron", "parquet", "both"], dest="fmt")
    parser.add_argument("--tokens", required=True, type=float, help="training tokens in the blend (e.g. 1e8)")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--seq-len", type=int, default=2048, help="predictions per sequence (LLaMA: 2048)")
    parser.add_argument("--seed", type=int, default=1234, help="blend seed")
    parser.add_argument("--mixture", help=f"mixture name or path (default {PipelineConfig.mixture})")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from mixtures.spec import load_mixture
    from tokenizer.blend import BlendError
    from tokenizer.export import FORMATS, export_blend

    settings = VerbSettings(args, "export")
    run_dir = settings.path("run", "output", "--run")
    mixture = load_mixture(settings.get("mixture", "mixture"))
    formats = FORMATS if args.fmt == "both" else (args.fmt,)
    try:
        manifest = export_blend(run_dir, args.output, mixture, int(args.tokens), formats, args.seq_len, args.seed)
    except BlendError as exc:
        print(f"pasture export: error: {exc}", file=sys.stderr)
        return 2
    print(f"{manifest['sequences']:,} sequences × {args.seq_len + 1} tokens → {args.output}")
    print(f"{'source':<16}{'weight %':>9}{'share %':>9}{'sequences':>11}{'epochs':>9}")
    for name, s in manifest["sources"].items():
        print(f"{name:<16}{s['weight']:>9.3f}{s['share']:>9.3f}{s['sequences']:>11,}{s['epochs']:>9.2f}")
    for warning in manifest["warnings"]:
        print(f"WARNING {warning}")
    for name, digest in manifest["files"].items():
        print(f"  {name}  sha256 {digest}")
    return 0
