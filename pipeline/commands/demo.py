"""``pasture demo``: the whole recipe, end to end, on the real samples in ``samples/``.

Every step is a ``pasture`` verb run in-process, so the demo exercises exactly what a user
runs: train the perplexity LM and the quality classifier from the sample Wikipedia dump,
then ``pasture run`` takes all seven sources from raw samples to blended shards (curation,
tokenizer, tokens, mixture plan, sharded export); last, the HTML report and a few training
steps of the tiny model on the shards.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import yaml

log = logging.getLogger("pasture.demo")

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole recipe on the bundled samples (models, sources, tokens, report, training)",
        description="Run the whole recipe on the real samples in samples/: LM + classifier training, "
        "all seven sources, tokenizer, mixture plan, export, report, and a few training steps.",
    )
    parser.add_argument("--output", default="demo-output", help="output directory (default: demo-output)")
    parser.add_argument("--samples", default=str(SAMPLES), help="sample data directory")
    parser.add_argument("--vocab-size", type=int, default=8000, help="tokenizer vocabulary (small data → small vocab)")
    parser.add_argument("--export-tokens", type=int, default=400_000, help="tokens in the blended export")
    parser.add_argument("--train-steps", type=int, default=20, help="tiny-model training steps at the end")
    parser.set_defaults(func=main)


def demo_config(samples: Path, output: Path, vocab_size: int = 8000, export_tokens: int = 400_000) -> dict:
    """The pipeline config the demo runs; written to OUTPUT/demo.yaml for the user to reuse.

    Its ``tokenizer`` and ``export`` sections make ``pasture run`` go all the way to blended
    shards (``pipeline/run_chain.py``)."""
    return {
        "output": str(output / "run"),
        "mixture": "llama1",
        "sources": {
            "cc": {"kind": "cc", "inputs": [str(samples / "cc")]},
            "c4": {"kind": "c4", "inputs": [str(samples / "cc")]},
            "github": {"kind": "github", "inputs": [str(samples / "github")]},
            "wikipedia": {"kind": "wikipedia", "inputs": [str(samples / "wikipedia")]},
            "books": {"kind": "books", "inputs": [str(samples / "books")]},
            "arxiv": {"kind": "arxiv", "inputs": [str(samples / "arxiv")]},
            "stackexchange": {"kind": "stackexchange", "inputs": [str(samples / "stackexchange")]},
        },
        # The demo LM learns from three English Wikipedia articles, so its held-out percentiles
        # are far narrower than cc_net's (trained on 1M documents); the demo buckets at the 50th
        # and 80th percentile instead of the 30th and 60th so that all three buckets show up.
        "perplexity": {"model_dir": str(output / "models" / "lm"), "percentile_head": 50, "percentile_tail": 80},
        "quality": {"enabled": True, "model": str(output / "models" / "quality" / "quality.bin")},
        "shards": {"num_shards": 2},
        # The sample site (coffee) is not one of LLaMA's 28 largest that the llama1 preset keeps.
        "stackexchange": {"restrict_to_sites": False},
        "tokenizer": {"model": str(output / "models" / "tokenizer" / "tokenizer.model"), "vocab_size": vocab_size},
        "export": {"output": str(output / "export"), "format": "both", "tokens": export_tokens, "seq_len": 256},
    }


def _step(title: str, argv: list[str]) -> None:
    from pipeline.cli import main as cli_main

    log.info("== %s: pasture %s", title, " ".join(argv))
    started = time.time()
    code = cli_main(argv)
    if code:
        raise SystemExit(f"demo step failed ({title}): pasture {' '.join(argv)} exited {code}")
    log.info("== %s done in %.1fs", title, time.time() - started)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    samples = Path(args.samples).resolve()
    output = Path(args.output).resolve()
    if not samples.is_dir():
        raise SystemExit(f"samples directory not found: {samples}")
    output.mkdir(parents=True, exist_ok=True)
    config_path = output / "demo.yaml"
    config = demo_config(samples, output, args.vocab_size, args.export_tokens)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    models = output / "models"
    run_dir = output / "run"
    wiki = [str(p) for p in sorted((samples / "wikipedia").glob("*.xml*"))]
    web = [str(p) for p in sorted((samples / "cc").glob("*.warc*"))]

    _step("perplexity LM (SentencePiece unigram + KenLM 5-gram)",
          ["models", "lm", "--wikipedia", *wiki, "--lang", "en", "--output", str(models / "lm")])
    _step("Wikipedia-reference quality classifier",
          ["models", "quality", "--wikipedia", *wiki, "--positives", *wiki, "--negatives", *web,
           "--epoch", "30", "--lr", "0.5", "--output", str(models / "quality" / "quality.bin")])
    # One command from raw samples to blended shards: curate → tokenizer → encode → plan → export.
    _step("all seven sources, tokenizer, tokens, mixture plan, blended export",
          ["run", "--config", str(config_path), *beam_args])
    _step("run report", ["report", str(run_dir), "--output", str(output / "report.html")])

    from trainer.train import train_tiny_demo

    log.info("== tiny LLaMA: %d training steps on the exported shards", args.train_steps)
    losses = train_tiny_demo(str(output / "export"), steps=args.train_steps)
    print(f"\ntiny model loss: {losses[0]:.3f} → {losses[-1]:.3f} over {len(losses)} steps")
    print(f"report: {output / 'report.html'}")
    print(f"outputs: {run_dir}  (per source: docs/, dropped/, quarantine/, stats.json)")
    return 0 if os.path.exists(output / "report.html") else 1
