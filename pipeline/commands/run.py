"""``pasture run --config FILE``: raw inputs to curated documents, and on to exported shards.

Curation runs every configured source (``pipeline/runner.py``). When the config names an
export (``export.output`` and ``export.tokens``), the run goes on: tokenizer (trained on a
Beam-drawn sample, or the given ``tokenizer.model``) → encode → mixture plan → sharded export,
each a Beam pipeline with the same runner flags; ``--resume`` skips every step whose outputs
are complete (``pipeline/run_chain.py``). ``--until STEP`` stops after STEP.
"""

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
                        help="skip sources, shards and later steps a killed run already completed")
    parser.add_argument("--until", choices=["curate", "tokenizer", "encode", "plan", "export"], default=None,
                        help="last step to run (default: export when the config names export.output and "
                        "export.tokens, else curate)")
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
    from pipeline.run_chain import run_chain, wants_chain

    until = args.until or ("export" if wants_chain(cfg) else "curate")
    if until == "curate":
        return 0
    if until in ("plan", "export") and not wants_chain(cfg):
        from mixtures.config import ConfigError

        raise ConfigError(f"run --until {until}: the config needs export.output and export.tokens")
    chain = run_chain(cfg, args.config, beam_args, args.resume, until)
    print(f"after curation: ran {', '.join(chain.ran) or 'nothing'}"
          + (f"; complete already, skipped: {', '.join(chain.skipped)}" if chain.skipped else ""))
    return 0
