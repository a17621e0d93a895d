"""``pasture models``: train the models the filters load.

``pasture models lm --wikipedia DUMP [DUMP...] --lang xx --output DIR`` trains CCNet's
perplexity models for one language (SentencePiece unigram + 5-gram KenLM + cutoffs) and
writes ``DIR/xx.sp.model``, ``DIR/xx.arpa.bin``, ``DIR/xx.cutoffs.json`` and merges
``DIR/manifest.json``. Point ``perplexity.model_dir`` at DIR.

More model kinds plug in without touching this file: each module named in
``MODEL_COMMANDS`` that exists must expose ``register(models_subparsers)`` and adds its
own sub-command (e.g. ``pipeline/commands/models_quality.py`` → ``pasture models quality``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

MODEL_COMMANDS = [
    "pipeline.commands.models_quality",
]

log = logging.getLogger("pasture.models")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="train the models the filters use (perplexity LMs, ...)",
        description="Train models that filters load at run time. Nothing is downloaded.",
    )
    models = parser.add_subparsers(dest="model_kind", metavar="KIND")
    parser.set_defaults(func=lambda args, beam_args: (parser.print_help(), 2)[1])
    _register_lm(models)
    for module_name in MODEL_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not built yet
            raise
        module.register(models)


def _register_lm(models: argparse._SubParsersAction) -> None:
    lm = models.add_parser(
        "lm",
        help="CCNet perplexity models for one language from Wikipedia dumps",
        description="Train, like cc_net, a SentencePiece unigram model and a KenLM n-gram model on the "
        "cleaned, normalised paragraphs of Wikipedia pages-articles dumps, then store perplexity "
        "percentile cutoffs measured on held-out pages. Needs lmplz and build_binary (./install.sh).",
    )
    lm.add_argument("--wikipedia", nargs="+", required=True, metavar="DUMP",
                    help="pages-articles dumps (.xml or .xml.bz2) of the language")
    lm.add_argument("--lang", required=True, help="language code, e.g. en (pages of other dumps are ignored)")
    lm.add_argument("--output", required=True, help="model folder (perplexity.model_dir)")
    lm.add_argument("--vocab-size", type=int, default=65536,
                    help="SentencePiece vocabulary (default 65536 like cc_net; lowered automatically on small data)")
    lm.add_argument("--max-docs", type=int, default=None, help="use at most N pages (default: all)")
    lm.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    lm.add_argument("--memory", default="2G", help="lmplz -S sorting memory, e.g. 8G or 25%% (default 2G)")
    lm.add_argument("--temp-dir", default=None, help="scratch folder for lmplz -T and intermediate files")
    lm.add_argument("--heldout-percent", type=int, default=10,
                    help="share of pages held out to measure the perplexity cutoffs (default 10)")
    lm.add_argument("--threads", type=int, default=1, help="SentencePiece training threads (default 1)")
    lm.add_argument("--kenlm-bin", default=None, help="folder with lmplz and build_binary (default: found)")
    lm.set_defaults(func=main_lm)


def main_lm(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.training.lm import (
        LMTrainingError,
        LMTrainingSettings,
        find_kenlm_binary,
        train_language,
        update_manifest,
    )
    from filters.sources.wikipedia.dump import iter_articles
    from mixtures.config import PerplexityConfig
    from pipeline.versions import git_revision, package_versions

    for dump in args.wikipedia:
        if not os.path.isfile(dump):
            print(f"pasture: error: dump not found: {dump}", file=sys.stderr)
            return 2
    if args.vocab_size < 4 or args.order < 1 or not 0 <= args.heldout_percent < 100:
        print("pasture: error: need --vocab-size >= 4, --order >= 1, 0 <= --heldout-percent < 100", file=sys.stderr)
        return 2
    defaults = PerplexityConfig()
    settings = LMTrainingSettings(
        lang=args.lang, vocab_size=args.vocab_size, order=args.order, memory=args.memory, max_docs=args.max_docs,
        heldout_percent=args.heldout_percent, percentile_head=defaults.percentile_head,
        percentile_tail=defaults.percentile_tail, threads=args.threads,
    )
    try:
        venv = Path(sys.prefix)
        lmplz = find_kenlm_binary("lmplz", args.kenlm_bin, venv)
        build_binary = find_kenlm_binary("build_binary", args.kenlm_bin, venv)
        log.info("models lm: training %s from %d dump(s) into %s", args.lang, len(args.wikipedia), args.output)
        docs = iter_articles(args.wikipedia, languages=[args.lang], max_docs=args.max_docs)
        result = train_language(docs, list(args.wikipedia), args.output, settings, lmplz, build_binary,
                                temp_dir=args.temp_dir)
    except LMTrainingError as exc:
        print(f"pasture: error: {exc}", file=sys.stderr)
        return 1
    versions = package_versions()
    manifest = update_manifest(args.output, result, extra={
        "settings": {"max_docs": args.max_docs, "heldout_percent": args.heldout_percent},
        "versions": {k: versions[k] for k in ("pasture", "sentencepiece", "ufal-kenlm", "mwparserfromhell")},
        "kenlm_tools": {"lmplz": str(lmplz), "build_binary": str(build_binary)},
        "git_revision": git_revision(),
    })
    cut = result.cutoffs
    bounds = " ".join(f"{name}={value}" for name, value in cut["cutoffs"].items())
    print(f"{args.lang}: {result.counts['documents']:,} pages, {result.counts['train_paragraphs']:,} training "
          f"paragraphs, vocab {result.sentencepiece['vocab_size']:,}; cutoffs {bounds} "
          f"({cut['set']} paragraphs: {cut['paragraphs']:,})")
    for name in sorted(result.files):
        print(f"  {os.path.join(args.output, name)}")
    print(f"  {manifest}")
    return 0
