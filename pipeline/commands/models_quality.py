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
    from pipeline.training.quality import build_training_set, is_dump, summary_lines, train_quality_model

    options, output = quality_options(args)  # a bad value is a ConfigError naming the field
    positives = _expand(args.positives)
    negatives = _expand(args.negatives)
    dumps = [p for p in positives if is_dump(p)]
    reference_dumps = _expand(args.wikipedia) if args.wikipedia else dumps
    # Reference pages are looked up in every web input; the rest are negative candidates.
    web = sorted(dict.fromkeys([*[p for p in positives if not is_dump(p)], *negatives]))
    training = build_training_set(web, dumps, reference_dumps, options)
    inputs = {"positives": positives, "negatives": negatives, "wikipedia": reference_dumps}
    metrics = train_quality_model(training, output, options, inputs)
    print("\n".join(summary_lines(metrics)))
    return 0
