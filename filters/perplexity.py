"""CCNet perplexity: SentencePiece + 5-gram KenLM per language, and head/middle/tail buckets.

Models are trained by ``pasture models lm`` (:mod:`pipeline.training.lm`) into one folder:
``<lang>.sp.model``, ``<lang>.arpa.bin`` and ``<lang>.cutoffs.json`` per language.

Document perplexity follows cc_net's ``DocLM`` (``cc_net/perplexity.py``)::

    pp = 10 ** (-Σ log10 P(line) / Σ (len(tokenized_line.split()) + 1))

over the document's lines, each ``normalize``-d (``filters.normalize``) and tokenized into
SentencePiece pieces joined by spaces; ``P`` is KenLM's ``model.score(line)`` with ``<s>``
and ``</s>`` (its defaults); the result is rounded to 0.1. Empty lines are skipped.

Note on cc_net itself: ``mine.py`` normalises the *whole* ``raw_content`` before
SentencePiece, and ``normalize`` deletes control characters including ``\\n``, so the
released pipeline actually scores every document as one long line. We score per line,
as ``DocLM`` is written to; for one-line texts (and the paragraph cutoffs) both agree.

Buckets (``PerplexityBucket``): ``head`` if pp < p[percentile_head], ``middle`` if
pp < p[percentile_tail], else ``tail``; ``all`` for a language without a model (or a
document with no scorable line). cc_net's defaults: 30 and 60.

Drop reasons:
    ``perplexity``: the bucket is not in ``PerplexityConfig.keep_buckets`` (RedPajama keeps
        ``head`` and ``middle``). Documents in the ``all`` bucket are always kept: they
        have no model to judge them by, and dropping them would silently remove every
        language we did not train.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filters.base import Step, Verdict
from filters.document import Document
from filters.normalize import normalize
from mixtures.config import PerplexityConfig

log = logging.getLogger("pasture.perplexity")

REASON_PERPLEXITY = "perplexity"

BUCKET_HEAD = "head"
BUCKET_MIDDLE = "middle"
BUCKET_TAIL = "tail"
BUCKET_ALL = "all"

LANG_ID_KEY = "lang_id"  # annotations["lang_id"] = {"lang", "lang_score"} from the LID filter


class ModelDirError(FileNotFoundError):
    """The model folder is missing or a language has only some of its three files."""


# ---------------------------------------------------------------------------------------
# cc_net's scoring primitives; LM training (pipeline.training.lm) prepares its text with the
# same functions, so a model is always scored on text shaped like the text it learnt from.


def lm_lines(text: str) -> list[str]:
    """The non-empty cc_net-normalised paragraphs (lines) of one document."""
    lines = []
    for raw in text.split("\n"):
        line = normalize(raw)
        if line:
            lines.append(line)
    return lines


def load_sentencepiece(path: str | Path) -> Any:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    sp.Load(str(path))
    return sp


def tokenize_line(sp: Any, normalized_line: str) -> str:
    """cc_net's tokenized field: the pieces joined by spaces."""
    return " ".join(sp.EncodeAsPieces(normalized_line))


def line_log10_and_length(lm: Any, tokenized_line: str) -> tuple[float, int]:
    """KenLM log10 P(line) with <s> and </s>, and the token count + 1 (for </s>)."""
    return lm.score(tokenized_line), len(tokenized_line.split()) + 1


def perplexity(log10_score: float, length: int) -> float:
    """cc_net ``pp``: ``10 ** (-log_score / length)``."""
    return 10.0 ** (-log10_score / length)


@dataclass
class LanguageModel:
    """One language's SentencePiece + KenLM models and its percentile table."""

    lang: str
    sp: Any
    lm: Any
    percentiles: list[float]
    model_id: str

    @classmethod
    def load(cls, model_dir: str | Path, lang: str) -> LanguageModel:
        import kenlm

        folder = Path(model_dir)
        paths = {kind: folder / f"{lang}.{kind}" for kind in ("sp.model", "arpa.bin", "cutoffs.json")}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise ModelDirError(f"perplexity model for {lang!r} is incomplete, missing: {', '.join(missing)}")
        with paths["cutoffs.json"].open(encoding="utf-8") as fh:
            cutoffs = json.load(fh)
        table = [float(v) for v in cutoffs["percentiles"]]
        if len(table) != 100:
            raise ModelDirError(f"{paths['cutoffs.json']}: expected 100 percentiles, found {len(table)}")
        return cls(lang, load_sentencepiece(paths["sp.model"]), kenlm.Model(str(paths["arpa.bin"])), table,
                   str(cutoffs.get("model_id", "")))

    def perplexity(self, text: str) -> float | None:
        """Document perplexity (rounded to 0.1), or None when no line has text."""
        return document_perplexity(text, self.sp, self.lm)


def document_perplexity(text: str, sp: Any, lm: Any) -> float | None:
    """cc_net ``DocLM`` perplexity of ``text`` under one language's models (see module doc)."""
    log_score, length = 0.0, 0
    for line in lm_lines(text):
        score, n = line_log10_and_length(lm, tokenize_line(sp, line))
        log_score += score
        length += n
    if length == 0:
        return None
    return round(perplexity(log_score, length), 1)


def bucket_for(pp: float | None, percentiles: list[float] | None, percentile_head: int, percentile_tail: int) -> str:
    """cc_net ``PerplexityBucket.get_bucket``."""
    if pp is None or percentiles is None or pp < 0:
        return BUCKET_ALL
    if pp < percentiles[percentile_head]:
        return BUCKET_HEAD
    if pp < percentiles[percentile_tail]:
        return BUCKET_MIDDLE
    return BUCKET_TAIL


def available_languages(model_dir: str | Path) -> list[str]:
    """Languages with a ``<lang>.sp.model`` in ``model_dir``, sorted."""
    return sorted(p.name[: -len(".sp.model")] for p in Path(model_dir).glob("*.sp.model"))


def load_models(model_dir: str | Path) -> dict[str, LanguageModel]:
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelDirError(
            f"perplexity.model_dir {str(folder)!r} does not exist: train models with "
            "`pasture models lm --wikipedia DUMP --lang xx --output DIR`, or set perplexity.enabled: false"
        )
    return {lang: LanguageModel.load(folder, lang) for lang in available_languages(folder)}


def score_text(text: str, lang: str, models: dict[str, LanguageModel], percentile_head: int = 30,
               percentile_tail: int = 60) -> tuple[float | None, str]:
    """(perplexity, bucket) of one text; the pure entry point for benches and reports."""
    model = models.get(lang)
    if model is None:
        return None, BUCKET_ALL
    pp = model.perplexity(text)
    return pp, bucket_for(pp, model.percentiles, percentile_head, percentile_tail)


class PerplexityFilter(Step):
    """Filter ``"perplexity"``: scores ``{"perplexity", "bucket", "model"}`` and keeps ``keep_buckets``.

    The language comes from ``doc.annotations["lang_id"]["lang"]`` (the LID filter).

    Drop reasons:
        ``perplexity``: bucket not in ``cfg.keep_buckets`` (``all`` is always kept).
    """

    name = "perplexity"
    version = 1
    reasons = (REASON_PERPLEXITY,)
    # Lone surrogates (a JSON "\ud800" escape) are not text: SentencePiece cannot take them,
    # so such a record is quarantined rather than failing the run.
    data_errors = (UnicodeEncodeError,)
    cost_stage = "perplexity"

    def __init__(self, cfg: PerplexityConfig) -> None:
        self.cfg = cfg
        self._models: dict[str, LanguageModel] | None = None

    def load(self) -> None:
        if self._models is None:
            self._models = load_models(self.cfg.model_dir)
            log.info("perplexity: loaded models for %s from %s", sorted(self._models) or "no language",
                     self.cfg.model_dir)

    @property
    def languages(self) -> list[str]:
        return sorted(self._models or {})

    def __call__(self, doc: Document) -> Verdict:
        if self._models is None:
            raise RuntimeError("PerplexityFilter.load() was not called")
        lang_id = doc.annotations.get(LANG_ID_KEY) or {}
        lang = lang_id.get("lang") if isinstance(lang_id, dict) else None
        model = self._models.get(lang) if lang else None
        if model is None:
            return Verdict.kept(perplexity=None, bucket=BUCKET_ALL)
        doc.text.encode("utf-8")  # UnicodeEncodeError on lone surrogates, before SentencePiece sees them
        pp = model.perplexity(doc.text)
        bucket = bucket_for(pp, model.percentiles, self.cfg.percentile_head, self.cfg.percentile_tail)
        scores = {"perplexity": pp, "bucket": bucket, "model": f"{lang}:{model.model_id}"}
        if bucket == BUCKET_ALL or bucket in self.cfg.keep_buckets:
            return Verdict.kept(**scores)
        return Verdict.dropped(REASON_PERPLEXITY, **scores)
