"""``pasture mixture plan --run RUN_DIR [--tokens 1.4e12] [--mixture llama1]``.

With ``--config FILE`` (the pipeline config) the run directory defaults to its ``output`` and
the mixture to its ``mixture``; flags override.

Reads the token count of every tokenized source of the run, plans how many tokens to draw
from each at the mixture's weights, prints the table with warnings and writes
``RUN_DIR/mixture_plan.json``.
"""

from __future__ import annotations

import argparse
import os
import sys

from mixtures.config import PipelineConfig
from pipeline.cli import VerbSettings, add_config_option
from pipeline.run_manifest import require_complete_run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mixture", help="plan the token mixture of a tokenized run")
    verbs = parser.add_subparsers(dest="mixture_command", metavar="VERB")
    plan = verbs.add_parser("plan", help="tokens per source, epochs and warnings for a target size")
    add_config_option(plan, "the run (output) and the mixture")
    plan.add_argument("--run", help="run directory with <source>/tokens/manifest.json (default: output of --config)")
    plan.add_argument("--tokens", type=float, default=None,
                      help="tokens in the blend (default: the mixture's total, 1.4e12 for llama1)")
    plan.add_argument("--mixture",
                      help=f"mixture name (mixtures/<name>.yaml) or path (default {PipelineConfig.mixture})")
    plan.set_defaults(func=main_plan)
    parser.set_defaults(func=lambda args, beam_args: parser.print_help() or 2)


def main_plan(args: argparse.Namespace, beam_args: list[str]) -> int:
    from mixtures.plan import format_plan, plan_mixture
    from mixtures.provenance import write_json_atomically
    from mixtures.spec import load_mixture
    from tokenizer.manifest import read_run_token_counts

    settings = VerbSettings(args, "mixture plan")
    run_dir = settings.path("run", "output", "--run")
    require_complete_run(run_dir)  # one line and exit 2 for a killed or mismatched run
    spec = load_mixture(settings.get("mixture", "mixture"))
    counts, untokenized = read_run_token_counts(run_dir)
    total = int(args.tokens if args.tokens is not None else spec.total_tokens)
    try:
        plan = plan_mixture(spec, counts, total)
    except ValueError as exc:
        print(f"pasture mixture plan: error: {exc}", file=sys.stderr)
        return 2
    out = plan.to_dict()
    out["untokenized_sources"] = untokenized
    write_json_atomically(os.path.join(run_dir, "mixture_plan.json"), out)
    print(format_plan(plan))
    for name in untokenized:
        print(f"WARNING [untokenized] {name}: has documents but no tokens; run `pasture tokenizer encode`")
    print(f"wrote {os.path.join(run_dir, 'mixture_plan.json')}")
    return 0
