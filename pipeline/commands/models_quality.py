"""``pasture models quality``: train the Wikipedia-reference classifier (LLaMA-1 / RedPajama).

::

    pasture models quality --positives enwiki.xml.bz2 [refs.warc.gz ...] \\
        --negatives cc/*.warc.gz --output models/quality/quality.bin [--epoch 5] [--seed 1]

Writes MODEL (a fastText model: ``__label__wiki`` vs ``__label__cc``) and
``MODEL.metrics.json`` (held-out precision, recall, ROC-AUC, positives by origin, negatives,
config, sha256s), then prints a summary. Point ``quality.model`` at MODEL, or give
``--config FILE``: then MODEL defaults to its ``quality.model``, the training settings to its
``models.quality`` and the reported threshold to its ``quality.threshold``; flags override.
The recipe and its choices are documented in :mod:`pipeline.training.quality`.

The inputs (any Beam filesystem, e.g. ``gs://``) are read by Beam workers
(``stages.model_inputs``; runner flags as for ``pasture run``): cited URLs, each unit's
sampled pages and article chunks; the classifier is fit here on the bounded, merged sample.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mixtures.config import QualityConfig, QualityTrainingConfig
from pipeline.cli import VerbSettings, add_config_option
from pipeline.inputs import resolve_inputs

if TYPE_CHECKING:
    from pipeline.training.quality import TrainingOptions

# Folder inputs: WARC/WET and dump files only (corpus folders also hold READMEs, manifests).
INPUT_SUFFIXES = (".gz", ".warc", ".wet", ".bz2", ".xml", ".xz")

_DEFAULTS = QualityTrainingConfig()
# Flags that replace a field of the config's ``models.quality`` (dest → field).
QUALITY_FLAGS = {name: name for name in ("epoch", "seed", "lr", "dim", "min_chars", "max_negatives",
                                         "heldout_fraction")}


def register(models: argparse._SubParsersAction) -> None:
    parser = models.add_parser(
        "quality",
        help="Wikipedia-reference quality classifier (fastText, wiki vs cc)",
        description="Train LLaMA's linear classifier of 'pages used as references in Wikipedia vs randomly "
        "sampled pages' (RedPajama: fastText, keep wiki_prob >= 0.25). Positives are the pages of the "
        "WARC/WET inputs whose URLs the Wikipedia dumps cite, topped up with Wikipedia paragraphs when too "
        "few are found; negatives are seeded random pages of the WARC/WET inputs.",
    )
    parser.add_argument("--positives", nargs="+", required=True, metavar="PATH",
                        help="Wikipedia dumps (.xml[.bz2|.gz]) and/or WARC/WET files of crawled reference pages "
                        "(files, folders or globs)")
    parser.add_argument("--negatives", nargs="+", required=True, metavar="PATH",
                        help="WARC/WET files of random web pages (files, folders or globs)")
    parser.add_argument("--wikipedia", nargs="+", default=None, metavar="DUMP",
                        help="dumps whose citations define the reference URLs (default: the dumps in --positives)")
    add_config_option(parser, "the model file (quality.model), models.quality and quality.threshold")
    parser.add_argument("--output", help="model file to write (default: quality.model of --config)")
    # Defaults of the settings below: models.quality of --config, else mixtures.config.QualityTrainingConfig.
    parser.add_argument("--epoch", type=int, help=f"fastText epochs (default {_DEFAULTS.epoch}, fastText's default)")
    parser.add_argument("--seed", type=int, help=f"seed of sampling and training (default {_DEFAULTS.seed})")
    parser.add_argument("--lr", type=float, help=f"fastText learning rate (default {_DEFAULTS.lr})")
    parser.add_argument("--dim", type=int, help=f"fastText vector size (default {_DEFAULTS.dim})")
    parser.add_argument("--min-chars", type=int,
                        help=f"shortest page / Wikipedia chunk used as an example (default {_DEFAULTS.min_chars})")
    parser.add_argument("--max-negatives", type=int,
                        help=f"cap on sampled web pages (default {_DEFAULTS.max_negatives})")
    parser.add_argument("--heldout", type=float, dest="heldout_fraction",
                        help="share of examples held out for the metrics, by text hash "
                        f"(default {_DEFAULTS.heldout_fraction})")
    parser.add_argument("--text-dir", default=None,
                        help="keep the inputs prepared by the Beam workers here (cited URLs, sampled pages and "
                        "article chunks per unit, manifest.json; any filesystem; default: a scratch folder)")
    parser.add_argument("--threshold", type=float,
                        help="wiki_prob threshold at which precision/recall are reported "
                        f"(default: quality.threshold, {QualityConfig().threshold})")
    parser.set_defaults(func=main)


def _expand(specs: list[str]) -> list[str]:
    """Files named by paths, folders or globs; sorted, without repeats (the pipeline's own rules)."""
    return resolve_inputs(specs, "models quality", INPUT_SUFFIXES)


def quality_options(args: argparse.Namespace) -> tuple[TrainingOptions, str]:
    """``(TrainingOptions, model file)`` from the flags over ``--config FILE`` over the defaults."""
    from pipeline.training.quality import TrainingOptions

    settings = VerbSettings(args, "models quality")
    training = settings.section("models.quality", QUALITY_FLAGS)
    scoring = settings.section("quality", {"threshold": "threshold"})
    return TrainingOptions.from_config(training, scoring), settings.path("output", "quality.model", "--output")


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    import os
    import shutil
    import tempfile

    from mixtures.provenance import write_json_atomically
    from pipeline.dataflow import require_remote_paths
    from pipeline.training.quality import assemble_training_set, is_dump, summary_lines, train_quality_model
    from stages import fsio
    from stages.model_inputs import file_digest, prepare_quality_inputs

    options, output = quality_options(args)  # a bad value is a ConfigError naming the field
    positives = _expand(args.positives)
    negatives = _expand(args.negatives)
    dumps = [p for p in positives if is_dump(p)]
    reference_dumps = _expand(args.wikipedia) if args.wikipedia else dumps
    # Reference pages are looked up in every web input; the rest are negative candidates.
    web = sorted(dict.fromkeys([*[p for p in positives if not is_dump(p)], *negatives]))
    remote_out = fsio.is_remote(output)
    # Without --text-dir the prepared inputs are scratch: local, or (remote model) beside the model.
    text_dir = args.text_dir or (f"{output}.training-inputs" if remote_out else None)
    require_remote_paths("models quality", beam_args, {"--positives": positives[0], "--negatives": negatives[0],
                                                       "--output": output, "--text-dir": text_dir or ""})
    scratch = tempfile.mkdtemp(prefix="pasture-quality-")
    try:
        collected, _ = prepare_quality_inputs(
            web, dumps, reference_dumps, options, text_dir or os.path.join(scratch, "inputs"),
            wikipedia=VerbSettings(args, "models quality").cfg.settings("wikipedia"), beam_args=beam_args)
        training = assemble_training_set(collected, options)
        inputs = {"positives": positives, "negatives": negatives, "wikipedia": reference_dumps}
        local_model = os.path.join(scratch, "model", output.rsplit("/", 1)[-1]) if remote_out else output
        metrics = train_quality_model(training, local_model, options, inputs, lambda p: file_digest(p)[0])
        if remote_out:
            metrics["model"] = output
            write_json_atomically(f"{local_model}.metrics.json", metrics)  # names the model where it is
            names = [os.path.basename(local_model), os.path.basename(local_model) + ".metrics.json"]
            fsio.publish(os.path.dirname(local_model), names, output.rsplit("/", 1)[0])
    finally:
        if args.text_dir is None and remote_out:
            from stages.model_inputs import delete_quality_inputs

            delete_quality_inputs(text_dir)
        shutil.rmtree(scratch, ignore_errors=True)
    print("\n".join(summary_lines(metrics)))
    return 0
