"""``pasture models``: train the models the filters load.

``pasture models lm --wikipedia DUMP [DUMP...] --lang xx --output DIR`` trains CCNet's
perplexity models for one language (SentencePiece unigram + 5-gram KenLM + cutoffs) and
writes ``DIR/xx.sp.model``, ``DIR/xx.arpa.bin``, ``DIR/xx.cutoffs.json`` and merges
``DIR/manifest.json``. The dumps are read, cleaned, normalised and sampled (to
``models.lm.max_training_bytes``) by Beam workers (``stages.model_inputs``; runner flags as
for ``pasture run``; dumps, DIR and ``--text-dir`` may be on any Beam filesystem); only the
fit runs here, on that bounded text. Point ``perplexity.model_dir`` at DIR, or give ``--config FILE``:
then DIR defaults to its ``perplexity.model_dir``, the training settings to its ``models.lm``
and the recorded cutoffs to its ``perplexity`` percentiles; flags override.

``--cc-sample FILE...`` (WARC/WET) calibrates the cutoffs the way cc_net's ``cutoff.csv``
was made: percentiles of the perplexity of Common Crawl *documents* of the language, after
the same CCNet steps as the ``cc`` recipe (``pipeline.training.lm_cutoffs``). Without
``--wikipedia`` it calibrates the models already in DIR. Without ``--cc-sample`` the cutoffs
are percentiles of held-out Wikipedia paragraphs (a stand-in, recorded as such).

``pasture models import-ccnet --from DIR [--cutoff-csv cutoff.csv] --output DIR`` imports
cc_net's released ``{lang}.sp.model`` / ``{lang}.arpa.bin`` and ``cutoff.csv``.

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
from typing import TYPE_CHECKING, Any

from mixtures.config import LMTrainingConfig
from pipeline.cli import VerbSettings, add_config_option

if TYPE_CHECKING:
    from pipeline.training.lm import LMTrainingSettings

_DEFAULTS = LMTrainingConfig()
# Flags that replace a field of the config's ``models.lm`` (dest → field).
LM_FLAGS = {name: name for name in ("vocab_size", "order", "memory", "max_docs", "heldout_percent", "threads",
                                    "max_training_bytes")}

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
    _register_import(models)
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
    lm.add_argument("--wikipedia", nargs="+", metavar="DUMP",
                    help="pages-articles dumps (.xml or .xml.bz2, any Beam filesystem, e.g. gs://) of the "
                    "language to train on; their text is prepared by Beam workers (runner flags as for `run`)")
    lm.add_argument("--cc-sample", nargs="+", metavar="WARC",
                    help="Common Crawl WARC/WET files: set the cutoffs to percentiles of their documents' "
                    "perplexity after the CCNet steps of the cc recipe (cc_net's cutoff.csv)")
    lm.add_argument("--lang", required=True, help="language code, e.g. en (pages of other dumps are ignored)")
    add_config_option(lm, "the model folder (perplexity.model_dir), models.lm and the perplexity percentiles")
    lm.add_argument("--output", help="model folder (default: perplexity.model_dir of --config)")
    # Defaults of the settings below: models.lm of --config, else mixtures.config.LMTrainingConfig.
    lm.add_argument("--vocab-size", type=int,
                    help=f"SentencePiece vocabulary (default {_DEFAULTS.vocab_size} like cc_net; lowered "
                    "automatically on small data)")
    lm.add_argument("--max-docs", type=int, help="use at most N pages, those of smallest id hash (default: all)")
    lm.add_argument("--max-training-bytes", type=int,
                    help="bound of the training text (training + held-out UTF-8 bytes), sampled by page id hash "
                    f"(default {_DEFAULTS.max_training_bytes:,})")
    lm.add_argument("--text-dir", default=None,
                    help="keep the prepared training text here (train-*.txt, heldout-*.txt, manifest.json; any "
                    "filesystem; default: a scratch folder removed after the fit)")
    lm.add_argument("--order", type=int, help=f"n-gram order (default {_DEFAULTS.order})")
    lm.add_argument("--memory", help=f"lmplz -S sorting memory, e.g. 8G or 25%% (default {_DEFAULTS.memory})")
    lm.add_argument("--temp-dir", default=None, help="scratch folder for lmplz -T and intermediate files")
    lm.add_argument("--heldout-percent", type=int,
                    help="share of pages held out to measure the perplexity cutoffs "
                    f"(default {_DEFAULTS.heldout_percent})")
    lm.add_argument("--threads", type=int, help=f"SentencePiece training threads (default {_DEFAULTS.threads})")
    lm.add_argument("--kenlm-bin", default=None, help="folder with lmplz and build_binary (default: found)")
    lm.set_defaults(func=main_lm)


def lm_settings(args: argparse.Namespace) -> tuple[LMTrainingSettings, str]:
    """``(LMTrainingSettings, output folder)`` from the flags over ``--config FILE`` over the defaults."""
    from pipeline.training.lm import LMTrainingSettings

    settings = VerbSettings(args, "models lm")
    training = settings.section("models.lm", LM_FLAGS)
    output = settings.path("output", "perplexity.model_dir", "--output")
    return LMTrainingSettings.from_config(args.lang, training, settings.cfg.perplexity), output


def main_lm(args: argparse.Namespace, beam_args: list[str]) -> int:
    if not args.wikipedia and not args.cc_sample:
        print("pasture: error: models lm needs --wikipedia DUMP (train) and/or --cc-sample WARC (calibrate)",
              file=sys.stderr)
        return 2
    for path in (args.wikipedia or []) + (args.cc_sample or []):
        if not _input_exists(path):
            print(f"pasture: error: input not found: {path}", file=sys.stderr)
            return 2
    settings, output = lm_settings(args)  # a bad value is a ConfigError naming the field
    if args.wikipedia:
        code = _train_lm(args, beam_args, settings, output)
        if code:
            return code
    if args.cc_sample:
        return _calibrate_lm(args, settings, output)
    return 0


def _calibrate_lm(args: argparse.Namespace, settings: LMTrainingSettings, output: str) -> int:
    from pipeline.training.lm import LMTrainingError
    from pipeline.training.lm_cutoffs import calibrate, ccnet_documents

    cfg = VerbSettings(args, "models lm").cfg
    try:
        docs = ccnet_documents(list(args.cc_sample), cfg, args.lang)
        record = calibrate(output, args.lang, docs, settings.percentile_head, settings.percentile_tail,
                           cfg.perplexity.unit)
    except LMTrainingError as exc:
        print(f"pasture: error: {exc}", file=sys.stderr)
        return 1
    bounds = " ".join(f"{name}={value}" for name, value in record["cutoffs"].items())
    print(f"{args.lang}: cutoffs {bounds} from {record['documents']:,} Common Crawl documents "
          f"({len(args.cc_sample)} file(s))")
    print(f"  {os.path.join(output, args.lang + '.cutoffs.json')}")
    return 0


def _input_exists(path: str) -> bool:
    if "://" in path and not path.startswith("file://"):
        from stages import fsio

        return fsio.exists(path)
    return os.path.isfile(path)


def _train_lm(args: argparse.Namespace, beam_args: list[str], settings: LMTrainingSettings, output: str) -> int:
    """Prepares the text on Beam workers (``stages.model_inputs``), then fits the models here."""
    import shutil
    import tempfile

    from mixtures.provenance import git_revision, package_versions
    from pipeline.dataflow import require_remote_paths
    from pipeline.training.lm import LMTrainingError, update_manifest
    from stages import fsio

    remote_out = fsio.is_remote(output)
    # Without --text-dir the text is scratch: local beside the fit, or (remote models) in a
    # folder of the output that workers can write to; removed after the fit either way.
    remote_scratch_text = args.text_dir is None and remote_out
    text_dir = args.text_dir or (fsio.join(output, f".{args.lang}-training-text") if remote_out else None)
    require_remote_paths("models lm", beam_args, {"--wikipedia": args.wikipedia[0], "--output": output,
                                                   "--text-dir": text_dir or ""})
    scratch = Path(tempfile.mkdtemp(prefix=f"pasture-lm-{args.lang}-", dir=args.temp_dir))
    text_dir = text_dir or str(scratch / "text")
    local_out = scratch / "models" if remote_out else Path(output)
    try:
        try:
            result, text, tools = _prepare_and_fit(args, beam_args, settings, output, text_dir, scratch, local_out)
        except LMTrainingError as exc:
            print(f"pasture: error: {exc}", file=sys.stderr)
            return 1
        versions = package_versions()
        manifest = update_manifest(local_out, result, extra={
            "settings": {"max_docs": settings.max_docs, "heldout_percent": settings.heldout_percent},
            "training_text": {k: text[k] for k in ("sample", "available", "quarantined", "quarantine")},
            "versions": {k: versions[k] for k in ("pasture", "sentencepiece", "ufal-kenlm", "mwparserfromhell")},
            "kenlm_tools": {name: str(path) for name, path in zip(("lmplz", "build_binary"), tools)},
            "git_revision": git_revision(),
        })
        if remote_out:
            fsio.publish(local_out, [*sorted(result.files), manifest.name], output)
    finally:
        if remote_scratch_text:
            fsio.delete(fsio.match(fsio.join(text_dir, "*")))
        shutil.rmtree(scratch, ignore_errors=True)
    shown = output if remote_out else str(local_out)
    cut = result.cutoffs
    bounds = " ".join(f"{name}={value}" for name, value in cut["cutoffs"].items())
    sample = text["sample"]
    print(f"{args.lang}: {result.counts['documents']:,} pages, {result.counts['train_paragraphs']:,} training "
          f"paragraphs, vocab {result.sentencepiece['vocab_size']:,}; cutoffs {bounds} "
          f"({cut['set']} paragraphs: {cut['paragraphs']:,})")
    print(f"  text: {sample['bytes']:,} of {text['available']['bytes']:,} bytes "
          f"(pages sampled at rate {sample['rate']:g}){'' if args.text_dir is None else ' in ' + text_dir}")
    if text["quarantined"]:  # bad pages were set aside, not trained on; the manifest lists the first ones
        print(f"  {text['quarantined']:,} record(s) quarantined: see training_text in the manifest")
    for name in sorted(result.files):
        print(f"  {fsio.join(shown, name)}")
    print(f"  {fsio.join(shown, manifest.name)}")
    return 0


def _prepare_and_fit(args: argparse.Namespace, beam_args: list[str], settings: LMTrainingSettings, output: str,
                     text_dir: str, scratch: Path, local_out: Path) -> tuple[Any, dict[str, Any], tuple[Path, Path]]:
    """Beam prepares the text into ``text_dir``; the models are fit into ``local_out`` (``output`` itself, or
    a scratch folder published to a remote ``output``) from a local copy of the text."""
    import time

    from pipeline.training.lm import find_kenlm_binary, fit_language
    from stages import fsio
    from stages.model_inputs import input_records, lm_text_counts, localize_lm_text, prepare_lm_text

    venv = Path(sys.prefix)
    tools = (find_kenlm_binary("lmplz", args.kenlm_bin, venv), find_kenlm_binary("build_binary", args.kenlm_bin, venv))
    log.info("models lm: training %s from %d dump(s) into %s", args.lang, len(args.wikipedia), output)
    started = time.time()
    text = prepare_lm_text(args.wikipedia, args.lang, text_dir, heldout_percent=settings.heldout_percent,
                           max_bytes=settings.max_training_bytes, max_docs=settings.max_docs,
                           wikipedia=VerbSettings(args, "models lm").cfg.settings("wikipedia"), beam_args=beam_args)
    work = scratch / "work"
    work.mkdir()
    train_txt, heldout_txt = localize_lm_text(text_dir, text, work)
    timings = {"prepare": time.time() - started}
    if fsio.is_remote(output) and fsio.exists(fsio.join(output, "manifest.json")):
        local_out.mkdir(parents=True)  # the other languages' entries are merged into it
        (local_out / "manifest.json").write_bytes(fsio.read_bytes(fsio.join(output, "manifest.json")))
    result = fit_language(train_txt, heldout_txt, lm_text_counts(text), input_records(args.wikipedia), local_out,
                          settings, *tools, work, timings)
    return result, text, tools


def _register_import(models: argparse._SubParsersAction) -> None:
    imp = models.add_parser(
        "import-ccnet",
        help="import cc_net's released perplexity models and cutoff.csv",
        description="Convert cc_net's released layout ({lang}.sp.model, {lang}.arpa.bin and cutoff.csv, one "
        "column per language and one row per percentile) into a perplexity.model_dir.",
    )
    imp.add_argument("--from", dest="source", required=True, help="folder with {lang}.sp.model and {lang}.arpa.bin")
    imp.add_argument("--cutoff-csv", help="cc_net's cutoff.csv (default: FROM/cutoff.csv)")
    imp.add_argument("--lang", nargs="+", default=[], help="languages to import (default: all found)")
    add_config_option(imp, "the model folder (perplexity.model_dir) and the perplexity percentiles")
    imp.add_argument("--output", help="model folder (default: perplexity.model_dir of --config)")
    imp.set_defaults(func=main_import)


def main_import(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.training.lm import LMTrainingError
    from pipeline.training.lm_cutoffs import import_cc_net

    settings = VerbSettings(args, "models import-ccnet")
    output = settings.path("output", "perplexity.model_dir", "--output")
    scoring = settings.cfg.perplexity
    try:
        written = import_cc_net(args.source, output, args.cutoff_csv, args.lang, scoring.percentile_head,
                                scoring.percentile_tail)
    except LMTrainingError as exc:
        print(f"pasture: error: {exc}", file=sys.stderr)
        return 1
    for lang, record in written.items():
        bounds = " ".join(f"{name}={value}" for name, value in record["cutoffs"].items())
        print(f"{lang}: cc_net models and cutoffs {bounds} → {output}")
    return 0
