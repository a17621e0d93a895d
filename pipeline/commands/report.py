"""``pasture report RUN_DIR``: a self-contained HTML page about a finished run."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write an HTML report of a finished run (plots, drop reasons, quarantine, config)",
        description="Read RUN_DIR/<source>/stats.json and the document shards (streaming) and write one "
        "self-contained HTML page: per-source table, stage funnel, mixture vs target, drop reasons per stage, "
        "document lengths, languages and LID scores, perplexity, classifier scores, near-duplicate clusters, "
        "sample kept and dropped documents, quarantine records, timings, the export and the run config.",
    )
    parser.add_argument("run_dir", help="a run output directory (the config's `output`)")
    parser.add_argument("--output", help="HTML file to write (default RUN_DIR/report.html)")
    parser.add_argument("--mixture", help="mixture for the target shares (default: the run config's, else llama1)")
    parser.add_argument("--sample-shards", type=int, metavar="N",
                        help="read only the first N shards of each folder (documents are hashed to shards, "
                        "so this is a uniform sample); default: all")
    parser.add_argument("--max-quarantine", type=int, default=50, metavar="N",
                        help="quarantine records listed in the page (default 50)")
    parser.add_argument("--export", metavar="DIR",
                        help="export folder whose epochs and warnings to show (default: the run config's "
                        "export.output, else RUN_DIR/export)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.report import write_report
    from pipeline.run_manifest import require_complete_run

    if args.sample_shards is not None and args.sample_shards < 1:
        print("pasture report: --sample-shards must be >= 1", file=sys.stderr)
        return 2
    require_complete_run(args.run_dir)  # one line and exit 2 for a killed or mismatched run
    try:
        out = write_report(args.run_dir, args.output, mixture=args.mixture, sample_shards=args.sample_shards,
                           quarantine_shown=args.max_quarantine, export_dir=args.export)
    except FileNotFoundError as exc:
        print(f"pasture report: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {out}")
    return 0
