"""Train the CCNet perplexity models of one language from Wikipedia, the way cc_net does.

cc_net (``Makefile``, ``get_wiki_cirrus.py``) trains, per language:

1. text: Wikipedia paragraphs through ``text_normalizer.normalize`` (lower case, accents
   stripped, digits → 0, Unicode punctuation → ASCII), one paragraph per line;
2. ``spm_train --model_type=unigram --vocab_size=65536 --character_coverage=0.9995``
   (retried at 40000 when the corpus is too small);
3. the lines tokenized into SentencePiece pieces;
4. ``lmplz -o 5 -S 8G -T /tmp --vocab_estimate 65536 --discount_fallback``, then ``build_binary``.

We read the same pages-articles dumps as the Wikipedia source (``filters.sources.wikipedia``), so
the text is the cleaned article prose, not CirrusSearch's "opening text". Where cc_net's
second try (40000) is still too large for a small corpus, we retry at the largest size
SentencePiece reports it accepts.

Cutoffs: cc_net's ``cutoff.csv`` holds, per language, percentiles 0..99 of document
perplexity measured on *Common Crawl* documents; ``pasture models lm --cc-sample`` computes
exactly that (``pipeline.training.lm_cutoffs``) and replaces the stand-in written here. At
training time we only have Wikipedia, so the stand-in holds the percentiles of per-paragraph
perplexity on held-out Wikipedia pages (``"unit": "paragraph"``): pages
whose id hash falls in ``heldout_percent``; when that picks none (a corpus of a few pages),
the one page with the largest hash; with a single page, its own training paragraphs (the
cutoffs file says which in ``set``). Scored in-sample, a 5-gram model memorises its
training text and the cutoffs would be far too low.

Everything here is plain Python plus the SentencePiece/KenLM libraries and the KenLM
command-line tools. :func:`train_language` does the whole job in one process;
``pasture models lm`` has Beam workers prepare the text (``stages.model_inputs``: the text of
:func:`write_lm_text`, sampled to ``max_training_bytes``) and calls :func:`fit_language`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filters.perplexity import line_log10_and_length, lm_lines, load_sentencepiece, perplexity, tokenize_line
from mixtures.config import LMTrainingConfig, PerplexityConfig
from mixtures.provenance import sha256_file, write_json_atomically

log = logging.getLogger("pasture.models.lm")

DEFAULTS = LMTrainingConfig()  # the one home of the defaults (vocabulary, order, ...) is the config tree
CC_NET_FALLBACK_VOCAB_SIZE = 40000  # cc_net's retry when the corpus is too small
KENLM_CACHE_DIR = Path.home() / ".cache" / "pasture" / "kenlm-bin"

_VOCAB_TOO_HIGH_RE = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")


class LMTrainingError(RuntimeError):
    """A step of LM training failed; the message says which and how to fix it."""


# ---------------------------------------------------------------------------------------
# Text (normalised and split into paragraphs by filters.perplexity.lm_lines, as at scoring time)


def split_key(doc_id: str) -> int:
    """A stable 32-bit hash of the document id that decides its side of the split."""
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:4], "little")


def is_heldout(doc_id: str, heldout_percent: int) -> bool:
    """Deterministic held-out split by a hash of the document id (independent of order)."""
    return heldout_percent > 0 and split_key(doc_id) % 100 < heldout_percent


# ---------------------------------------------------------------------------------------
# SentencePiece


def train_sentencepiece(input_path: str | Path, model_path: str | Path, vocab_size: int = DEFAULTS.vocab_size,
                        character_coverage: float = DEFAULTS.character_coverage,
                        threads: int = DEFAULTS.threads) -> int:
    """Trains a unigram SentencePiece model; returns the vocabulary size it ended up with.

    Tries ``vocab_size``, then cc_net's 40000, then the largest size SentencePiece says
    the corpus supports (it names it in its "Vocabulary size too high" error). Lines are
    streamed in and the model written from memory, so no temporary path ends up in the
    model's stored trainer spec and the same input gives the same bytes.
    """
    import io

    import sentencepiece as spm

    def sentences() -> Iterator[str]:
        with open(input_path, encoding="utf-8") as fh:
            for line in fh:
                yield line.rstrip("\n")

    tried: list[int] = []
    size = vocab_size
    while True:
        tried.append(size)
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=sentences(),
                model_writer=model,
                model_type="unigram",
                vocab_size=size,
                character_coverage=character_coverage,
                hard_vocab_limit=True,
                num_threads=max(1, threads),
                minloglevel=2,
            )
            Path(model_path).write_bytes(model.getvalue())
            return size
        except RuntimeError as exc:
            match = _VOCAB_TOO_HIGH_RE.search(str(exc))
            if not match:
                raise LMTrainingError(f"SentencePiece training failed: {exc}") from exc
            allowed = int(match.group(2))
            if size > CC_NET_FALLBACK_VOCAB_SIZE and CC_NET_FALLBACK_VOCAB_SIZE <= allowed:
                size = CC_NET_FALLBACK_VOCAB_SIZE
            else:
                size = allowed
            if size in tried or size < 4:
                raise LMTrainingError(f"SentencePiece: corpus too small for any vocabulary (tried {tried})") from exc
            log.info("sentencepiece: vocab_size %d too high for this corpus, retrying with %d", tried[-1], size)


# ---------------------------------------------------------------------------------------
# KenLM command-line tools


def find_kenlm_binary(name: str, bin_dir: str | Path | None = None, venv: str | Path | None = None) -> Path:
    """Locates ``lmplz`` / ``build_binary``.

    Order: ``bin_dir`` (explicit), the folder ./install.sh named in ``<venv>/.kenlm-bin``,
    ``~/.cache/pasture/kenlm-bin`` (install.sh's default), then ``PATH``.

    Raises:
        LMTrainingError: not found; the message tells the user to run ./install.sh.
    """
    candidates: list[Path] = []
    if bin_dir:
        candidates.append(Path(bin_dir) / name)
    if venv:
        marker = Path(venv) / ".kenlm-bin"
        if marker.is_file():
            candidates.append(Path(marker.read_text(encoding="utf-8").strip()) / name)
    candidates.append(KENLM_CACHE_DIR / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise LMTrainingError(
        f"KenLM's `{name}` was not found (looked in {', '.join(str(c.parent) for c in candidates)} and PATH). "
        "Run ./install.sh to build lmplz and build_binary, or pass --kenlm-bin DIR."
    )


def run_lmplz(lmplz: Path, tokenized_path: Path, arpa_path: Path, order: int = DEFAULTS.order,
              memory: str = DEFAULTS.memory, temp_dir: str | Path | None = None,
              vocab_estimate: int = DEFAULTS.vocab_size) -> None:
    """``lmplz -o N -S MEM -T TMP --vocab_estimate V --discount_fallback < tokenized > arpa``."""
    temp_prefix = str(temp_dir or tempfile.gettempdir()).rstrip("/") + "/"
    cmd = [str(lmplz), "-o", str(order), "-S", memory, "-T", temp_prefix,
           "--vocab_estimate", str(vocab_estimate), "--discount_fallback",
           "--text", str(tokenized_path), "--arpa", str(arpa_path)]
    _run(cmd, "lmplz")


def run_build_binary(build_binary: Path, arpa_path: Path, binary_path: Path) -> None:
    """``build_binary arpa bin``: cc_net's default (probing hash table)."""
    _run([str(build_binary), str(arpa_path), str(binary_path)], "build_binary")


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise LMTrainingError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


# ---------------------------------------------------------------------------------------
# Cutoffs (paragraph perplexity as filters.perplexity scores it)


def percentile_table(values: list[float]) -> list[float]:
    """Percentiles 0..99 (linear interpolation, numpy's default), rounded to 0.1 like cc_net."""
    import numpy as np

    if not values:
        raise LMTrainingError("no paragraphs to compute perplexity cutoffs on")
    table = np.percentile(np.asarray(values, dtype=np.float64), list(range(100)))
    return [round(float(v), 1) for v in table]


# ---------------------------------------------------------------------------------------
# The whole job


@dataclass(frozen=True)
class LMTrainingSettings:
    """Everything that shapes one language's models (recorded in the manifest).

    The training knobs and their defaults are ``models.lm`` of the config tree
    (:class:`mixtures.config.LMTrainingConfig`); the percentiles are ``perplexity``'s, so the
    cutoffs file names the two the filter buckets at.
    """

    lang: str
    vocab_size: int = DEFAULTS.vocab_size
    character_coverage: float = DEFAULTS.character_coverage
    order: int = DEFAULTS.order
    memory: str = DEFAULTS.memory
    max_docs: int | None = DEFAULTS.max_docs
    heldout_percent: int = DEFAULTS.heldout_percent
    percentile_head: int = PerplexityConfig.percentile_head
    percentile_tail: int = PerplexityConfig.percentile_tail
    threads: int = DEFAULTS.threads
    max_training_bytes: int = DEFAULTS.max_training_bytes

    @classmethod
    def from_config(cls, lang: str, training: LMTrainingConfig, scoring: PerplexityConfig) -> LMTrainingSettings:
        """The settings of ``lang`` from ``models.lm`` and ``perplexity`` of one config tree."""
        return cls(lang=lang, **asdict(training), percentile_head=scoring.percentile_head,
                   percentile_tail=scoring.percentile_tail)


@dataclass
class LMTrainingResult:
    lang: str
    files: dict[str, str]  # file name → sha256
    counts: dict[str, int]
    sentencepiece: dict[str, Any]
    kenlm: dict[str, Any]
    cutoffs: dict[str, Any]  # the <lang>.cutoffs.json content
    inputs: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)

    def manifest_entry(self) -> dict[str, Any]:
        entry = asdict(self)
        entry.pop("timings")  # varies run to run; logged instead, so the manifest is reproducible
        entry["cutoffs"] = {k: v for k, v in self.cutoffs.items() if k != "percentiles"}
        return entry


def _phase(name: str, started: float, **counts: Any) -> float:
    elapsed = time.time() - started
    details = ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in counts.items())
    log.info("%s done in %.1fs%s", name, elapsed, f" ({details})" if details else "")
    return elapsed


@dataclass(frozen=True)
class LMTextCounts:
    """What the prepared training text holds (the ``counts`` of the manifest, less the tokens)."""

    documents: int = 0
    train_documents: int = 0
    train_paragraphs: int = 0
    heldout_paragraphs: int = 0
    chars: int = 0


def write_lm_text(documents: Iterable[Any], train_txt: Path, heldout_txt: Path,
                  heldout_percent: int) -> LMTextCounts:
    """Cleans, normalises and splits pages into ``train_txt`` / ``heldout_txt``, one paragraph a line.

    The single-process preparation (``stages.model_inputs`` does the same on Beam workers and
    gives the same bytes): pages in the order given, each page on the side its id hash picks
    (:func:`is_heldout`). When the hash held out no page, the training page with the largest
    split key is held out (in-sample perplexity of a 5-gram model is far too low to be a
    cutoff); when every page fell in the held-out share, they are the training text instead.
    """
    n_docs = n_train_docs = n_train_lines = n_heldout_lines = chars = 0
    # The training page with the largest split key, as (key, start, end byte, lines): the
    # page to hold out when the hash split held out none (a corpus of a few pages).
    spare: tuple[int, int, int, int] | None = None
    written = 0
    with train_txt.open("wb") as train_fh, heldout_txt.open("wb") as held_fh:
        for doc in documents:
            lines = lm_lines(doc.text)
            if not lines:
                continue
            n_docs += 1
            chars += sum(len(line) for line in lines)
            payload = ("\n".join(lines) + "\n").encode("utf-8")
            if is_heldout(doc.id, heldout_percent):
                held_fh.write(payload)
                n_heldout_lines += len(lines)
            else:
                key = split_key(doc.id)
                if spare is None or key > spare[0]:
                    spare = (key, written, written + len(payload), len(lines))
                train_fh.write(payload)
                written += len(payload)
                n_train_lines += len(lines)
                n_train_docs += 1
            if n_docs % 10_000 == 0:
                log.info("read: %s documents, %s paragraphs so far", f"{n_docs:,}",
                         f"{n_train_lines + n_heldout_lines:,}")
    if n_heldout_lines == 0 and heldout_percent > 0 and n_train_docs >= 2 and spare is not None:
        data = train_txt.read_bytes()
        heldout_txt.write_bytes(data[spare[1]:spare[2]])
        train_txt.write_bytes(data[:spare[1]] + data[spare[2]:])
        n_heldout_lines, n_train_lines, n_train_docs = spare[3], n_train_lines - spare[3], n_train_docs - 1
    if n_train_lines == 0 and n_docs:  # every page fell in the held-out share: train on them instead
        train_txt.write_bytes(heldout_txt.read_bytes())
        heldout_txt.write_text("", encoding="utf-8")
        n_train_lines, n_heldout_lines, n_train_docs = n_heldout_lines, 0, n_docs
    return LMTextCounts(n_docs, n_train_docs, n_train_lines, n_heldout_lines, chars)


def local_input_records(paths: list[str]) -> list[dict[str, Any]]:
    """``{path, sha256, bytes}`` of local input files, for the manifest."""
    return [{"path": os.path.abspath(p), "sha256": sha256_file(p), "bytes": os.path.getsize(p)} for p in paths]


def train_language(documents: Iterable[Any], inputs: list[str], output_dir: str | Path,
                   settings: LMTrainingSettings, lmplz: Path, build_binary: Path,
                   temp_dir: str | Path | None = None) -> LMTrainingResult:
    """Trains ``<lang>.sp.model`` + ``<lang>.arpa.bin`` and writes ``<lang>.cutoffs.json``, in one process.

    ``pasture models lm`` prepares the text on Beam workers instead (``stages.model_inputs``)
    and calls :func:`fit_language`; this is the same job over an iterable of documents.

    Args:
        documents: cleaned Wikipedia documents of ``settings.lang`` (``Document``-like:
            ``id`` and ``text``), e.g. from :func:`pipeline.training.wikipedia_text.iter_articles`.
        inputs: the dump paths, recorded with their sha256.
        output_dir: where the three files go (created if needed).
        settings: vocabulary, order, memory, split.
        lmplz, build_binary: the KenLM tools (see :func:`find_kenlm_binary`).
        temp_dir: scratch space for lmplz and intermediate files (default: system temp).
    """
    with tempfile.TemporaryDirectory(prefix=f"pasture-lm-{settings.lang}-", dir=temp_dir) as work_str:
        work = Path(work_str)
        train_txt, heldout_txt = work / "train.txt", work / "heldout.txt"
        started = time.time()
        counts = write_lm_text(documents, train_txt, heldout_txt, settings.heldout_percent)
        read = _phase("read+clean+normalize", started, **asdict(counts))
        return fit_language(train_txt, heldout_txt, counts, local_input_records(inputs), output_dir, settings,
                            lmplz, build_binary, work, timings={"read": read})


def fit_language(train_txt: Path, heldout_txt: Path, text: LMTextCounts, inputs: list[dict[str, Any]],
                 output_dir: str | Path, settings: LMTrainingSettings, lmplz: Path, build_binary: Path,
                 work: Path, timings: dict[str, float] | None = None) -> LMTrainingResult:
    """The fit, on one machine: SentencePiece, tokenize, lmplz + build_binary, cutoffs.

    Args:
        train_txt, heldout_txt: the prepared text (local files, one normalised paragraph a line).
        text: what they hold (:func:`write_lm_text` or the Beam preparation).
        inputs: ``{path, sha256, bytes}`` of the dumps, for the manifest.
        output_dir: where the three model files go (a local folder; created if needed).
        work: local scratch folder for the tokenized text and the ARPA file.
    """
    lang = settings.lang
    if text.documents == 0:
        raise LMTrainingError(f"no {lang} articles with text in {[i['path'] for i in inputs]}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings = dict(timings or {})
    n_heldout_lines = text.heldout_paragraphs
    # 2. SentencePiece unigram model.
    started = time.time()
    sp_model = out / f"{lang}.sp.model"
    vocab = train_sentencepiece(train_txt, sp_model, settings.vocab_size, settings.character_coverage,
                                settings.threads)
    timings["sentencepiece"] = _phase("sentencepiece", started, vocab_size=vocab)

    # 3. Tokenize the training text.
    started = time.time()
    sp = load_sentencepiece(sp_model)
    tokenized = work / "train.tok"
    n_tokens = 0
    with train_txt.open(encoding="utf-8") as src, tokenized.open("w", encoding="utf-8") as dst:
        for line in src:
            pieces = tokenize_line(sp, line.rstrip("\n"))
            n_tokens += pieces.count(" ") + 1
            dst.write(pieces + "\n")
    timings["tokenize"] = _phase("tokenize", started, tokens=n_tokens)

    # 4. lmplz + build_binary.
    started = time.time()
    arpa = work / f"{lang}.arpa"
    run_lmplz(lmplz, tokenized, arpa, settings.order, settings.memory, work, vocab)
    timings["lmplz"] = _phase("lmplz", started, arpa_bytes=arpa.stat().st_size)
    started = time.time()
    lm_bin = out / f"{lang}.arpa.bin"
    tmp_bin = out / f".{lang}.arpa.bin.tmp"
    run_build_binary(build_binary, arpa, tmp_bin)
    os.replace(tmp_bin, lm_bin)
    timings["build_binary"] = _phase("build_binary", started, bytes=lm_bin.stat().st_size)

    # 5. Perplexity of every held-out paragraph → percentile cutoffs.
    started = time.time()
    import kenlm

    model = kenlm.Model(str(lm_bin))
    cutoff_set = "heldout" if n_heldout_lines else "training"
    if cutoff_set == "training":
        log.warning("%s: a single page, none to hold out; cutoffs use the training paragraphs", lang)
    values = []
    with (heldout_txt if n_heldout_lines else train_txt).open(encoding="utf-8") as src:
        for line in src:
            score, length = line_log10_and_length(model, tokenize_line(sp, line.rstrip("\n")))
            values.append(round(perplexity(score, length), 1))
    table = percentile_table(values)
    timings["cutoffs"] = _phase("perplexity cutoffs", started, paragraphs=len(values))

    model_id = hashlib.sha256((sha256_file(sp_model) + sha256_file(lm_bin)).encode()).hexdigest()[:16]
    cutoffs = {
        "lang": lang,
        "model_id": model_id,
        "unit": "paragraph",
        "set": cutoff_set,
        "paragraphs": len(values),
        "percentile_head": settings.percentile_head,
        "percentile_tail": settings.percentile_tail,
        # The two cutoffs PerplexityBucket uses (head if pp < first, middle if pp < second);
        # the filter reads them from the full table so other percentiles need no retraining.
        "cutoffs": {f"p{settings.percentile_head}": table[settings.percentile_head],
                    f"p{settings.percentile_tail}": table[settings.percentile_tail]},
        "percentiles": table,
    }
    cutoffs_path = out / f"{lang}.cutoffs.json"
    write_json_atomically(cutoffs_path, cutoffs)
    return LMTrainingResult(
        lang=lang,
        files={p.name: sha256_file(p) for p in (sp_model, lm_bin, cutoffs_path)},
        counts={"documents": text.documents, "train_documents": text.train_documents,
                "train_paragraphs": text.train_paragraphs, "heldout_paragraphs": n_heldout_lines,
                "train_tokens": n_tokens, "chars": text.chars},
        sentencepiece={"model_type": "unigram", "vocab_size_requested": settings.vocab_size, "vocab_size": vocab,
                       "character_coverage": settings.character_coverage, "normalize": "cc_net normalize"},
        kenlm={"order": settings.order, "discount_fallback": True, "memory": settings.memory,
               "vocab_estimate": vocab, "binary": "probing"},
        cutoffs={k: v for k, v in cutoffs.items()},
        inputs=list(inputs),
        timings=timings,
    )


def update_manifest(output_dir: str | Path, result: LMTrainingResult, extra: dict[str, Any] | None = None) -> Path:
    """Merges ``result`` into ``DIR/manifest.json`` (one entry per language)."""
    path = Path(output_dir) / "manifest.json"
    manifest: dict[str, Any] = {"kind": "pasture-perplexity-models", "format": 1, "languages": {}}
    if path.is_file():
        with path.open(encoding="utf-8") as fh:
            previous = json.load(fh)
        if isinstance(previous, dict) and isinstance(previous.get("languages"), dict):
            manifest["languages"] = previous["languages"]
    entry = result.manifest_entry()
    if extra:
        entry.update(extra)
    manifest["languages"][result.lang] = entry
    write_json_atomically(path, manifest)
    return path
