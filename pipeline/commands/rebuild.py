"""``pasture rebuild SOURCE --input PATH... --output DIR``: one source alone."""

from __future__ import annotations

import argparse
import dataclasses

from mixtures.config import ConfigError, SourceSpec, config_from_dict, known_kinds, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rebuild",
        help="rebuild exactly one source (documents + stats.json)",
        description="Rebuild one source without touching the others. Inputs may be files, folders or "
        "globs on any Beam filesystem. Unknown flags are Beam runner flags.",
    )
    parser.add_argument("source", choices=known_kinds(), help="source kind to rebuild")
    parser.add_argument("--input", nargs="+", required=True, dest="inputs", help="input files, folders or globs")
    parser.add_argument("--output", required=True, help="output directory (DIR/<source>/...)")
    parser.add_argument("--config", help="YAML config for thresholds and models (optional)")
    parser.add_argument("--name", help="source name in the output (default: the kind)")
    parser.add_argument("--base-url", help="where the entries of a Common Crawl listing (*.paths.gz input) "
                        "live: a URL, gs:// prefix or folder (cc and c4; default: the kind's base_url setting, "
                        "https://data.commoncrawl.org/)")
    parser.add_argument("--resume", action="store_true", help="skip shards a killed run already completed")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.runner import run_sources, summary_table

    cfg = load_config(args.config) if args.config else config_from_dict({})
    name = args.name or args.source
    spec = SourceSpec(name=name, kind=args.source, inputs=tuple(args.inputs))
    cfg = dataclasses.replace(cfg, output=args.output, sources=(spec,))
    if args.base_url:
        settings = cfg.settings(args.source)
        if not hasattr(settings, "base_url"):
            raise ConfigError(f"--base-url applies to sources that read Common Crawl listings (cc, c4), "
                              f"not {args.source}")
        kinds = {**cfg.kind_settings, args.source: dataclasses.replace(settings, base_url=args.base_url)}
        cfg = dataclasses.replace(cfg, kind_settings=kinds)
    results = run_sources(cfg, [name], beam_args, resume=args.resume)
    print(summary_table(results))
    return 0
