"""``pasture run --config FILE``: every configured source, one Beam pipeline."""

from __future__ import annotations

import argparse

from mixtures.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the pipeline for every source in a config file",
        description="Run every configured source through its stages in one Beam pipeline. "
        "Unknown flags are Beam runner flags (e.g. --direct_num_workers 2, "
        "--runner DataflowRunner --project P --region R --temp_location gs://...).",
    )
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument("--sources", nargs="*", help="only these sources (default: all configured)")
    parser.add_argument("--output", help="override the config's output directory")
    parser.add_argument("--resume", action="store_true",
                        help="skip sources and shards a killed run already completed")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    import dataclasses

    from pipeline.runner import run_sources, summary_table

    cfg = load_config(args.config)
    if args.output:
        cfg = dataclasses.replace(cfg, output=args.output)
    names = args.sources or [s.name for s in cfg.sources]
    results = run_sources(cfg, names, beam_args, resume=args.resume)
    print(summary_table(results))
    return 0
