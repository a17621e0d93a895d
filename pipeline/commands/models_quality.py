"""``pasture models quality``: train the Wikipedia-reference classifier (LLaMA-1 / RedPajama).

::

    pasture models quality --positives enwiki.xml.bz2 [refs.warc.gz ...] \\
        --negatives cc/*.warc.gz --output models/quality/quality.bin [--epoch 5] [--seed 1]

Writes MODEL (a fastText model: ``__label__wiki`` vs ``__label__cc``) and
``MODEL.metrics.json`` (held-out precision, recall, ROC-AUC, positives by origin, negatives,
config, sha256s), then prints a summary. Point ``quality.model`` at MODEL. The recipe and
its choices are documented in :mod:`pipeline.training.quality`.
"""

from __future__ import annotations

import argparse

from mixtures.config import ConfigError, QualityConfig
from pipeline.inputs import resolve_inputs

# Folder inputs: WARC/WET and dump files only (corpus folders also hold READMEs, manifests).
INPUT_SUFFIXES = (".gz", ".warc", ".wet", ".bz2", ".xml", ".xz")


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
    parser.add_argument("--output", required=True, help="model file to write (quality.model)")
    parser.add_argument("--epoch", type=int, default=5, help="fastText epochs (default 5, fastText's default)")
    parser.add_argument("--seed", type=int, default=1, help="seed of sampling and training (default 1)")
    parser.add_argument("--lr", type=float, default=0.1, help="fastText learning rate (default 0.1)")
    parser.add_argument("--dim", type=int, default=100, help="fastText vector size (default 100)")
    parser.add_argument("--min-chars", type=int, default=300,
                        help="shortest page / Wikipedia chunk used as an example (default 300)")
    parser.add_argument("--max-negatives", type=int, default=100_000, help="cap on sampled web pages (default 100000)")
    parser.add_argument("--heldout", type=float, default=0.1,
                        help="share of examples held out for the metrics, by text hash (default 0.1)")
    parser.add_argument("--threshold", type=float, default=QualityConfig().threshold,
                        help="wiki_prob threshold at which precision/recall are reported (default 0.25)")
    parser.set_defaults(func=main)


def _expand(specs: list[str]) -> list[str]:
    """Files named by paths, folders or globs; sorted, without repeats (the pipeline's own rules)."""
    return resolve_inputs(specs, "models quality", INPUT_SUFFIXES)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.training.quality import (
        TrainingOptions,
        build_training_set,
        is_dump,
        summary_lines,
        train_quality_model,
    )

    if not 0.0 < args.heldout < 1.0:
        raise ConfigError("models quality: --heldout must be in (0, 1)")
    positives = _expand(args.positives)
    negatives = _expand(args.negatives)
    dumps = [p for p in positives if is_dump(p)]
    reference_dumps = _expand(args.wikipedia) if args.wikipedia else dumps
    # Reference pages are looked up in every web input; the rest are negative candidates.
    web = sorted(dict.fromkeys([*[p for p in positives if not is_dump(p)], *negatives]))
    options = TrainingOptions(
        seed=args.seed, epoch=args.epoch, lr=args.lr, dim=args.dim,
        min_chars=args.min_chars, max_negatives=args.max_negatives, heldout_fraction=args.heldout,
        threshold=args.threshold,
    )
    training = build_training_set(web, dumps, reference_dumps, options)
    inputs = {"positives": positives, "negatives": negatives, "wikipedia": reference_dumps}
    metrics = train_quality_model(training, args.output, options, inputs)
    print("\n".join(summary_lines(metrics)))
    return 0
