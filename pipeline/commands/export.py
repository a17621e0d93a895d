"""``pasture export --run RUN_DIR --format megatron|parquet|both --tokens N --output DIR``.

With ``--config FILE`` (the pipeline config) the run directory defaults to its ``output``, the
mixture to its ``mixture`` and the rest to its ``export`` section; flags override. Unknown
flags are Beam runner flags, as for ``run`` (e.g. ``--direct_num_workers 2``); run folder and
output may be on any Beam filesystem (``gs://...``).

Blends the run's token shards at the mixture weights into fixed-length sequences and writes,
one Beam worker per shard, Megatron ``blend-<k>-of-<n>.bin/.idx`` and/or ``.parquet``,
``data_path.txt`` (Megatron's ``--data-path``) and ``manifest.json``
(see ``tokenizer/blend_shards.py`` and ``stages/export.py``).
"""

from __future__ import annotations

import argparse
import sys

from mixtures.config import ConfigError, ExportConfig, PipelineConfig
from pipeline.cli import VerbSettings, add_config_option
from pipeline.run_manifest import require_complete_run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="blend a tokenized run into fixed-length sequences (Megatron .bin/.idx and/or Parquet)",
        description="Deterministic blend at the mixture weights (Megatron's greedy-deficit order); every "
        "sequence holds seq_len + 1 tokens (inputs s[:-1], targets s[1:]).",
    )
    add_config_option(parser, "the run (output), the mixture and the export section")
    defaults = ExportConfig()
    parser.add_argument("--run", help="run directory with <source>/tokens/ (default: output of --config)")
    parser.add_argument("--format", choices=["megatron", "parquet", "both"], dest="fmt",
                        help=f"shard format (default: export.format of --config, else {defaults.format})")
    parser.add_argument("--tokens", type=float, help="training tokens in the blend, e.g. 1e8 (default: export.tokens)")
    parser.add_argument("--output", help="output folder (default: export.output of --config)")
    parser.add_argument("--seq-len", type=int, help=f"predictions per sequence (LLaMA: {defaults.seq_len})")
    parser.add_argument("--seed", type=int, help=f"blend seed (default {defaults.seed})")
    parser.add_argument("--shard-sequences", type=int,
                        help=f"sequences per output shard (default {defaults.shard_sequences:,})")
    parser.add_argument("--mixture", help=f"mixture name or path (default {PipelineConfig.mixture})")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from mixtures.spec import load_mixture
    from pipeline.dataflow import require_remote_paths
    from stages.export import export_sharded
    from tokenizer.blend import BlendError
    from tokenizer.blend_shards import FORMATS

    settings = VerbSettings(args, "export")
    run_dir = settings.path("run", "output", "--run")
    mixture = load_mixture(settings.get("mixture", "mixture"))
    export = settings.section("export", {"output": "output", "fmt": "format", "tokens": "tokens",
                                         "seq_len": "seq_len", "seed": "seed",
                                         "shard_sequences": "shard_sequences"})
    if not export.output:
        raise ConfigError("export: give --output or --config FILE with export.output")
    if not export.tokens:
        raise ConfigError("export: give --tokens or --config FILE with export.tokens")
    require_remote_paths("export", beam_args, {"--run": run_dir, "--output": export.output})
    require_complete_run(run_dir)  # one line and exit 2 for a killed or mismatched run
    formats = FORMATS if export.format == "both" else (export.format,)
    seq_len = export.seq_len
    try:
        manifest = export_sharded(run_dir, export.output, mixture, int(export.tokens), formats, seq_len,
                                  export.seed, export.shard_sequences, beam_args)
    except BlendError as exc:
        print(f"pasture export: error: {exc}", file=sys.stderr)
        return 2
    print(f"{manifest['sequences']:,} sequences × {seq_len + 1} tokens in {len(manifest['shards'])} shard(s) "
          f"→ {export.output}")
    print(f"{'source':<16}{'weight %':>9}{'share %':>9}{'sequences':>11}{'epochs':>9}")
    for name, s in manifest["sources"].items():
        print(f"{name:<16}{s['weight']:>9.3f}{s['share']:>9.3f}{s['sequences']:>11,}{s['epochs']:>9.2f}")
    for warning in manifest["warnings"]:
        print(f"WARNING {warning}")
    print(f"Megatron --data-path: see {export.output}/data_path.txt")
    return 0
