"""``pasture tokenizer train|encode``: train the BPE tokenizer on a run; tokenize a run into shards.

    pasture tokenizer train --input RUN_DIR --output models/tokenizer/llama [--vocab-size 32000]
    pasture tokenizer encode --run RUN_DIR --model models/tokenizer/llama.model [--shard-tokens N]
    pasture tokenizer train|encode --config run.yaml

With ``--config FILE`` (the pipeline config) the run directory defaults to its ``output``, the
model to its ``tokenizer.model`` (``train`` writes it, ``encode`` reads it), the mixture to its
``mixture`` and the other settings to its ``tokenizer`` section; flags override.

``encode`` runs one Beam pipeline (local FnApiRunner unless runner flags say otherwise,
the same flags as ``run``, e.g. ``--direct_num_workers 2`` or ``--runner DataflowRunner ...``)
that writes ``RUN_DIR/<source>/tokens/part-*.bin/.idx`` and ``tokens/manifest.json`` for
every source with documents; run folder and model may be on any Beam filesystem (``gs://``).
See ``stages/encode.py`` and ``stages/tokenize.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mixtures.config import PipelineConfig, TokenizerConfig
from pipeline.cli import VerbSettings, add_config_option
from pipeline.run_manifest import require_complete_inputs, require_complete_run

log = logging.getLogger("pasture.tokenizer")

_DEFAULTS = TokenizerConfig()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokenizer",
        help="train the SentencePiece BPE tokenizer; tokenize a run into Megatron shards",
        description="Train LLaMA's SentencePiece BPE tokenizer on a run's documents, or tokenize every "
        "source of a run into Megatron .bin/.idx shards.",
    )
    verbs = parser.add_subparsers(dest="tokenizer_command", metavar="VERB")

    train = verbs.add_parser("train", help="train the tokenizer on a weighted sample of a run's documents")
    add_config_option(train, "the run (output), the model (tokenizer.model), the mixture and tokenizer settings")
    train.add_argument("--input", nargs="+", dest="inputs",
                       help="run directories and/or <source>/docs folders (default: output of --config)")
    train.add_argument("--output", help="model prefix: writes PREFIX.model/.vocab/.manifest.json "
                       "(default: tokenizer.model of --config, less .model)")
    # Defaults below: --config's values, else those of mixtures.config (TokenizerConfig, PipelineConfig).
    train.add_argument("--vocab-size", type=int,
                       help=f"pieces in the model (LLaMA: 32000; default {_DEFAULTS.vocab_size})")
    train.add_argument("--sample-chars", type=int,
                       help="characters in the training sample, split over sources by mixture weight "
                       f"(default {_DEFAULTS.sample_chars:,})")
    train.add_argument("--seed", type=int, help=f"sampling seed (default {_DEFAULTS.seed})")
    train.add_argument("--mixture", help=f"mixture whose weights shape the sample (default {PipelineConfig.mixture})")
    train.add_argument("--threads", type=int, default=None,
                       help="trainer threads (default 2; recorded in the model file)")
    train.set_defaults(func=main_train)

    encode = verbs.add_parser("encode", help="tokenize every source of a run into RUN_DIR/<source>/tokens/")
    add_config_option(encode, "the run (output), the model (tokenizer.model) and tokenizer.shard_tokens")
    encode.add_argument("--run", help="run directory (RUN_DIR/<source>/docs; default: output of --config)")
    encode.add_argument("--model", help="SentencePiece .model (default: tokenizer.model of --config)")
    encode.add_argument("--shard-tokens", type=int,
                        help="target average tokens per shard (documents go to shards by id hash; "
                        f"default {_DEFAULTS.shard_tokens:,})")
    encode.add_argument("--sources", nargs="+", help="only these sources (default: all)")
    encode.set_defaults(func=main_encode)
    parser.set_defaults(func=lambda args, beam_args: parser.print_help() or 2)


def main_train(args: argparse.Namespace, beam_args: list[str]) -> int:
    import shutil
    import tempfile

    from mixtures.spec import load_mixture
    from pipeline.dataflow import require_remote_paths
    from stages import fsio
    from stages.encode import RunSourceURI, run_sources
    from stages.tokenizer_sample import draw_sample_beam
    from tokenizer.hf import write_hf_tokenizer
    from tokenizer.manifest import sources_from_inputs, tokenizer_manifest_path
    from tokenizer.spm import TokenizerTrainingError
    from tokenizer.train import train_from_sample

    settings = VerbSettings(args, "tokenizer train")
    # Without the flags: the run of --config (its output) and the model file it names
    # (tokenizer.model), whose prefix is what train takes (it writes PREFIX.model).
    inputs = args.inputs or [settings.path("inputs", "output", "--input")]
    output = args.output or settings.path("output", "tokenizer.model", "--output").removesuffix(".model")
    require_remote_paths("tokenizer train", beam_args, {"--input": inputs[0], "--output": output})
    remote = [i for i in inputs if fsio.is_remote(i)]
    if remote:
        sources = [src for i in inputs for src in run_sources(i)]
    else:
        require_complete_inputs(inputs)
        sources = [RunSourceURI(s.name, s.kind, str(s.path)) for s in sources_from_inputs(inputs)]
    mixture = load_mixture(settings.get("mixture", "mixture"))
    sample_chars = settings.get("sample_chars", "tokenizer.sample_chars")
    seed = settings.get("seed", "tokenizer.seed")
    # The sample is drawn by Beam workers; SentencePiece trains on it here (a bounded sample).
    scratch = tempfile.mkdtemp(prefix="pasture-tokenizer-")
    local_prefix = os.path.join(scratch, os.path.basename(output)) if fsio.is_remote(output) else output
    work = f"{output}.sample-candidates"
    try:
        sample = draw_sample_beam(sources, mixture, sample_chars, seed, work, beam_args)
        manifest = train_from_sample(sample, [s.name for s in sources], local_prefix, mixture,
                                     settings.get("vocab_size", "tokenizer.vocab_size"), sample_chars, seed,
                                     args.threads)
        # The Hugging Face folder (tokenizer.json etc.) beside the model, with the BOS/EOS policy
        # the shards will be written with, so AutoTokenizer gives exactly the shards' ids.
        hf_dir = write_hf_tokenizer(f"{local_prefix}.model", f"{local_prefix}-hf",
                                    add_bos=settings.lookup("tokenizer.add_bos"),
                                    add_eos=settings.lookup("tokenizer.add_eos"))
        if fsio.is_remote(output):
            names = [f"{os.path.basename(output)}.{ext}" for ext in ("model", "vocab")]
            names.append(tokenizer_manifest_path(f"{local_prefix}.model").name)
            fsio.publish(scratch, names, output.rsplit("/", 1)[0])
            fsio.publish(hf_dir, sorted(p.name for p in hf_dir.iterdir()), f"{output}-hf")
    except TokenizerTrainingError as exc:
        print(f"pasture tokenizer train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        fsio.delete(fsio.match(fsio.join(work, "*")))
        if not fsio.is_remote(work):
            shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {output}.model (sha256 {manifest['sha256'][:16]}…, {manifest['vocab_size']} pieces) "
          f"and the Hugging Face folder {output}-hf/ from {manifest['sample_chars']:,} chars:")
    for name, info in manifest["sample"].items():
        print(f"  {name:<16}{info['kind']:<15}{info['weight']:>7.2f}%  {info['sampled_chars']:>12,} chars  "
              f"{info['documents']:>8,} docs")
    for name, why in manifest["skipped_sources"].items():
        print(f"  {name:<16}skipped: {why}")
    return 0


def main_encode(args: argparse.Namespace, beam_args: list[str]) -> int:
    import apache_beam as beam

    from pipeline.dataflow import require_remote_paths
    from pipeline.options import make_options
    from stages import fsio
    from stages.encode import encode_sources, run_sources

    settings = VerbSettings(args, "tokenizer encode")
    run_dir = settings.path("run", "output", "--run")
    model = settings.path("model", "tokenizer.model", "--model")
    shard_tokens = settings.get("shard_tokens", "tokenizer.shard_tokens")
    require_remote_paths("tokenizer encode", beam_args, {"--run": run_dir, "--model": model})
    require_complete_run(run_dir, args.sources)  # one line and exit 2 for a killed or mismatched run
    sources = run_sources(run_dir)
    if args.sources:
        unknown = set(args.sources) - {s.name for s in sources}
        if unknown:
            print(f"pasture tokenizer encode: error: no documents for {sorted(unknown)} in {run_dir}", file=sys.stderr)
            return 2
        sources = [s for s in sources if s.name in args.sources]
    if not sources:
        print(f"pasture tokenizer encode: error: no <source>/docs under {run_dir}", file=sys.stderr)
        return 2
    if not fsio.exists(model):
        print(f"pasture tokenizer encode: error: tokenizer model {model} not found", file=sys.stderr)
        return 2
    with beam.Pipeline(options=make_options(beam_args)) as p:
        encode_sources(p, sources, model, shard_tokens, settings.lookup("tokenizer.spill_tokens"),
                       settings.lookup("tokenizer.add_bos"), settings.lookup("tokenizer.add_eos"))
    for src in sources:
        m = fsio.read_json(src.tokens_manifest)
        print(f"{src.name:<16}{m['documents']:>10,} docs {m['tokens']:>14,} tokens in {len(m['shards'])} shard(s)")
    return 0
