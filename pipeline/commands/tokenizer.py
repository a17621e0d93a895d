"""``pasture tokenizer train|encode``: train the BPE tokenizer on a run; tokenize a run into shards.

    pasture tokenizer train --input RUN_DIR --output models/tokenizer/llama [--vocab-size 32000]
    pasture tokenizer encode --run RUN_DIR --model models/tokenizer/llama.model [--shard-tokens N]

``encode`` runs one Beam pipeline (local FnApiRunner unless runner flags say otherwise)
that writes ``RUN_DIR/<source>/tokens/part-*.bin/.idx`` and ``tokens/manifest.json`` for
every source with documents.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mixtures.config import TokenizerConfig

log = logging.getLogger("pasture.tokenizer")

_DEFAULTS = TokenizerConfig()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokenizer",
        help="train the SentencePiece BPE tokenizer; tokenize a run into Megatron shards",
        description="Train LLaMA's SentencePiece BPE tokenizer on a run's documents, or tokenize every "
        "source of a run into Megatron .bin/.idx shards.",
    )
    verbs = parser.add_subparsers(dest="tokenizer_command", metavar="VERB")

    train = verbs.add_parser("train", help="train the tokenizer on a weighted sample of a run's documents")
    train.add_argument("--input", nargs="+", required=True, dest="inputs",
                       help="run directories and/or <source>/docs folders")
    train.add_argument("--output", required=True, help="model prefix: writes PREFIX.model/.vocab/.manifest.json")
    train.add_argument("--vocab-size", type=int, default=_DEFAULTS.vocab_size,
                       help=f"pieces in the model (LLaMA: 32000; default {_DEFAULTS.vocab_size})")
    train.add_argument("--sample-chars", type=int, default=_DEFAULTS.sample_chars,
                       help="characters in the training sample, split over sources by mixture weight")
    train.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="sampling seed")
    train.add_argument("--mixture", default="llama1", help="mixture whose weights shape the sample")
    train.add_argument("--threads", type=int, default=None,
                       help="trainer threads (default 2; recorded in the model file)")
    train.set_defaults(func=main_train)

    encode = verbs.add_parser("encode", help="tokenize every source of a run into RUN_DIR/<source>/tokens/")
    encode.add_argument("--run", required=True, help="run directory (RUN_DIR/<source>/docs)")
    encode.add_argument("--model", required=True, help="SentencePiece .model")
    encode.add_argument("--shard-tokens", type=int, default=_DEFAULTS.shard_tokens,
                        help="target average tokens per shard (documents go to shards by id hash)")
    encode.add_argument("--sources", nargs="+", help="only these sources (default: all)")
    encode.set_defaults(func=main_encode)
    parser.set_defaults(func=lambda args, beam_args: parser.print_help() or 2)


def main_train(args: argparse.Namespace, beam_args: list[str]) -> int:
    from mixtures.spec import load_mixture
    from tokenizer.manifest import sources_from_inputs
    from tokenizer.spm import TokenizerTrainingError
    from tokenizer.train import train_from_sources

    sources = sources_from_inputs(args.inputs)
    try:
        manifest = train_from_sources(sources, args.output, load_mixture(args.mixture), args.vocab_size,
                                      args.sample_chars, args.seed, args.threads)
    except TokenizerTrainingError as exc:
        print(f"pasture tokenizer train: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}.model (sha256 {manifest['sha256'][:16]}…, {manifest['vocab_size']} pieces) "
          f"from {manifest['sample_chars']:,} chars:")
    for name, info in manifest["sample"].items():
        print(f"  {name:<16}{info['kind']:<15}{info['weight']:>7.2f}%  {info['sampled_chars']:>12,} chars  "
              f"{info['documents']:>8,} docs")
    for name, why in manifest["skipped_sources"].items():
        print(f"  {name:<16}skipped: {why}")
    return 0


def main_encode(args: argparse.Namespace, beam_args: list[str]) -> int:
    import apache_beam as beam

    from pipeline.options import make_options
    from stages.tokenize import TokenizeToShards
    from tokenizer.manifest import iter_documents, list_run_sources, read_tokens_manifest

    sources = [s for s in list_run_sources(args.run) if s.doc_files()]
    if args.sources:
        unknown = set(args.sources) - {s.name for s in sources}
        if unknown:
            print(f"pasture tokenizer encode: error: no documents for {sorted(unknown)} in {args.run}", file=sys.stderr)
            return 2
        sources = [s for s in sources if s.name in args.sources]
    if not sources:
        print(f"pasture tokenizer encode: error: no <source>/docs under {args.run}", file=sys.stderr)
        return 2
    with beam.Pipeline(options=make_options(beam_args)) as p:
        for src in sources:
            (
                p
                | f"{src.name}/Files" >> beam.Create([str(f) for f in src.doc_files()])
                | f"{src.name}/Read docs" >> beam.FlatMap(iter_documents)
                | TokenizeToShards(args.model, str(src.tokens_dir), src.name, args.shard_tokens, kind=src.kind)
            )
    for src in sources:
        m = read_tokens_manifest(src.path)
        print(f"{src.name:<16}{m['documents']:>10,} docs {m['tokens']:>14,} tokens in {len(m['shards'])} shard(s)")
    return 0
