"""``pasture run`` after curation: tokenizer → encode → plan → export, each step skipped when complete.

The steps are the ``pasture`` verbs themselves, run in-process with the run's Beam flags (as
``pasture demo`` runs them), so the chain does exactly what a user running them one by one
would. Which steps run: all of them when the config names an export (``export.output`` and
``export.tokens``), else none (curation only, as before); ``--until STEP`` stops earlier.

Completeness. After a step succeeds, ``RUN_DIR/_chain/<step>.json`` records its fingerprint
and the sha256 of its small output manifests. The fingerprint hashes the step's own settings
and the fingerprint of what it read (curation: every source's ``stats.json``, which the
runner writes last and which carries the source's input/config fingerprint; then each step's
recorded outputs). With ``--resume`` a step is skipped when its marker carries the current
fingerprint and every recorded manifest still has its recorded sha256; the manifests list
the checksums that the workers computed for every shard, so nothing re-reads the data. Any
change upstream changes every fingerprint below it, so the later steps run again.

Tokenizer: a ``tokenizer.model`` that exists without a manifest of ours
(``MODEL.manifest.json``) is a model the user gave: it is used as is, never retrained.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mixtures.config import PipelineConfig
from mixtures.provenance import json_text, sha256_bytes
from stages import fsio

log = logging.getLogger("pasture.run")

STEPS = ("curate", "tokenizer", "encode", "plan", "export")
CHAIN_DIR = "_chain"


def wants_chain(cfg: PipelineConfig) -> bool:
    """True when the config names an export, so ``run`` goes on to shards."""
    return bool(cfg.export.output) and cfg.export.tokens > 0


def _digest(obj: Any) -> str:
    return hashlib.sha256(json_text(obj).encode("utf-8")).hexdigest()


def _file_digest(path: str) -> str | None:
    return sha256_bytes(fsio.read_bytes(path)) if fsio.exists(path) else None


@dataclass
class Step:
    """One step of the chain: what it depends on, how to run it, which manifests prove it ran."""

    name: str
    settings: dict[str, Any]
    run: Callable[[], None]
    outputs: Callable[[], list[str]]  # small manifest files, listed after the step ran


class Chain:
    """Runs the post-curation steps of ``cfg`` in order; see the module docstring."""

    def __init__(self, cfg: PipelineConfig, beam_args: list[str], resume: bool) -> None:
        self.cfg = cfg
        self.beam_args = list(beam_args)
        self.resume = resume
        self.run_dir = cfg.output
        self.ran: list[str] = []
        self.skipped: list[str] = []

    def _marker(self, step: str) -> str:
        return fsio.join(self.run_dir, CHAIN_DIR, f"{step}.json")

    def curation_fingerprint(self) -> str:
        stats = sorted(fsio.match(fsio.join(self.run_dir, "*", "stats.json")))
        return _digest({p.rstrip("/").rsplit("/", 2)[-2]: _file_digest(p) for p in stats})

    def complete(self, step: str, fingerprint: str) -> bool:
        """The step's marker carries ``fingerprint`` and its manifests are unchanged."""
        path = self._marker(step)
        if not fsio.exists(path):
            return False
        marker = fsio.read_json(path)
        if marker.get("fingerprint") != fingerprint:
            return False
        return all(_file_digest(p) == digest for p, digest in marker.get("outputs", {}).items())

    def record(self, step: str, fingerprint: str, outputs: list[str]) -> str:
        """Writes the marker; returns the fingerprint the next step depends on (this one + outputs)."""
        sums = {p: _file_digest(p) for p in sorted(outputs)}
        missing = [p for p, d in sums.items() if d is None]
        if missing:
            raise RuntimeError(f"step {step} finished but did not write {missing}")
        fsio.write_bytes(self._marker(step), json_text({"fingerprint": fingerprint, "outputs": sums}).encode())
        return _digest({"step": fingerprint, "outputs": sums})

    def step(self, step: Step, upstream: str) -> str:
        fingerprint = _digest({"step": step.name, "settings": step.settings, "upstream": upstream})
        if self.resume and self.complete(step.name, fingerprint):
            log.info("== %s: complete in an earlier run, skipped (--resume)", step.name)
            self.skipped.append(step.name)
            marker = fsio.read_json(self._marker(step.name))
            return _digest({"step": fingerprint, "outputs": marker["outputs"]})
        log.info("== %s", step.name)
        step.run()
        self.ran.append(step.name)
        return self.record(step.name, fingerprint, step.outputs())


def _verb(argv: list[str]) -> None:
    from pipeline.cli import main as cli_main

    code = cli_main(argv)
    if code:
        raise SystemExit(f"pasture run: step failed: pasture {' '.join(argv)} exited {code}")


def run_chain(cfg: PipelineConfig, config_file: str, beam_args: list[str], resume: bool,
              until: str = "export") -> Chain:
    """Runs tokenizer → encode → plan → export after curation (``until`` included)."""
    from stages.encode import run_sources
    from tokenizer.manifest import tokenizer_manifest_path

    chain = Chain(cfg, beam_args, resume)
    run_dir = cfg.output
    tok = cfg.tokenizer
    model = tok.model
    manifest_of_model = str(tokenizer_manifest_path(model)) if "://" not in model else \
        model[: -len(".model")] + ".manifest.json"
    upstream = chain.curation_fingerprint()
    common = ["--config", config_file, "--run", run_dir]

    given = fsio.exists(model) and not fsio.exists(manifest_of_model)
    if given:
        log.info("== tokenizer: using the given model %s (no manifest of ours beside it)", model)
        model_fp = _digest({"given_model": _file_digest(model)})
    else:
        def train() -> None:
            _verb(["tokenizer", "train", "--config", config_file, "--input", run_dir,
                   "--output", model[: -len(".model")], *beam_args])

        settings = {"model": model, "vocab_size": tok.vocab_size, "sample_chars": tok.sample_chars,
                    "seed": tok.seed, "mixture": cfg.mixture}
        model_fp = chain.step(Step("tokenizer", settings, train, lambda: [model, manifest_of_model]), upstream)
    if until == "tokenizer":
        return chain

    def encode() -> None:
        _verb(["tokenizer", "encode", *common, "--model", model, *beam_args])

    encode_fp = chain.step(Step("encode", {"shard_tokens": tok.shard_tokens, "add_bos": tok.add_bos,
                                           "add_eos": tok.add_eos}, encode,
                                lambda: [s.tokens_manifest for s in run_sources(run_dir)]),
                           _digest({"curation": upstream, "model": model_fp}))
    if until == "encode":
        return chain

    total = int(cfg.export.tokens)

    def plan() -> None:
        _verb(["mixture", "plan", *common, "--tokens", str(total)])

    chain.step(Step("plan", {"mixture": cfg.mixture, "tokens": total}, plan,
                    lambda: [fsio.join(run_dir, "mixture_plan.json")]), encode_fp)
    if until == "plan":
        return chain

    ex = cfg.export

    def export() -> None:
        _verb(["export", *common, *beam_args])

    settings = {"mixture": cfg.mixture, "output": ex.output, "format": ex.format, "tokens": ex.tokens,
                "seq_len": ex.seq_len, "seed": ex.seed, "shard_sequences": ex.shard_sequences}
    chain.step(Step("export", settings, export, lambda: [fsio.join(ex.output, "manifest.json")]), encode_fp)
    return chain

