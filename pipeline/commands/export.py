"""``pasture export --run RUN_DIR --format megatron|parquet|both --tokens N --output DIR``.

Blends the run's token shards at the mixture weights into fixed-length sequences and writes
Megatron ``blend.bin/.idx`` and/or ``blend.parquet`` with ``manifest.json``
(see ``tokenizer/export.py``).
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="blend a tokenized run into fixed-length sequences (Megatron .bin/.idx and/or Parquet)",
        description="Deterministic blend at the mixture weights (Megatron's greedy-deficit order); every "
        "sequence holds seq_len + 1 tokens (inputs s[:-1], targets s[1:]).",
    )
    parser.add_argument("--run", required=True, help="run directory with <source>/tokens/")
    parser.add_argument("--format", required=True, choices=["megatron", "parquet", "both"], dest="fmt")
    parser.add_argument("--tokens", required=True, type=float, help="training tokens in the blend (e.g. 1e8)")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--seq-len", type=int, default=2048, help="predictions per sequence (LLaMA: 2048)")
    parser.add_argument("--seed", type=int, default=1234, help="blend seed")
    parser.add_argument("--mixture", default="llama1", help="mixture name or path")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from mixtures.spec import load_mixture
    from tokenizer.blend import BlendError
    from tokenizer.export import FORMATS, export_blend

    formats = FORMATS if args.fmt == "both" else (args.fmt,)
    try:
        manifest = export_blend(args.run, args.output, load_mixture(args.mixture), int(args.tokens), formats,
                                args.seq_len, args.seed)
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
