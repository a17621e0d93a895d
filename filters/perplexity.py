"""CCNet perplexity: SentencePiece + 5-gram KenLM per language, and head/middle/tail buckets.

Models are trained by ``pasture models lm`` (:mod:`pipeline.training.lm`) into one folder:
``<lang>.sp.model``, ``<lang>.arpa.bin`` and ``<lang>.cutoffs.json`` per language.

Document perplexity is what cc_net's ``mine`` computes (``cc_net/mine.py``: ``MultiSentencePiece``
with ``normalize=True`` then ``DocLM`` with ``normalize=False``; ``cc_net/perplexity.py``)::

    tokenized = " ".join(sp.encode_as_pieces(normalize(whole_text)))
    pp = 10 ** (-Σ log10 P(line) / Σ (len(line.split()) + 1))   over tokenized.split("\n")

``normalize`` (``filters.normalize``, cc_net's ``text_normalizer``) deletes control characters,
``\n`` included, so the page's lines are glued together without a separator and the whole
document is scored as one line. ``P`` is KenLM's ``model.score`` with ``<s>`` and ``</s>``; the
result is rounded to 0.1. A page that normalises to nothing has no perplexity (bucket ``all``).
``PerplexityConfig.unit: line`` is the named variant: ``DocLM`` over the page's lines, each
normalised and tokenized on its own (how ``DocLM`` reads when fed untokenized text, and how
the Wikipedia paragraph cutoffs are measured).

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
    cutoff_unit: str = "paragraph"  # what the percentiles were measured on: "document" or "paragraph"

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
                   str(cutoffs.get("model_id", "")), str(cutoffs.get("unit", "paragraph")))

    def perplexity(self, text: str, unit: str = "document") -> float | None:
        """Document perplexity (rounded to 0.1), or None when there is no text to score."""
        return document_perplexity(text, self.sp, self.lm, unit)


def document_perplexity(text: str, sp: Any, lm: Any, unit: str = "document") -> float | None:
    """cc_net perplexity of ``text`` under one language's models (see module doc), or None."""
    log_score, length = 0.0, 0
    if unit == "document":
        tokenized = tokenize_line(sp, normalize(text))
        if not tokenized:
            return None
        # DocLM splits its field on "\n"; normalize removed every newline, so this is one line.
        for line in tokenized.split("\n"):
            score, n = line_log10_and_length(lm, line)
            log_score += score
            length += n
        return round(perplexity(log_score, length), 1)
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
               percentile_tail: int = 60, unit: str = "document") -> tuple[float | None, str]:
    """(perplexity, bucket) of one text; the pure entry point for benches and reports."""
    model = models.get(lang)
    if model is None:
        return None, BUCKET_ALL
    pp = model.perplexity(text, unit)
    return pp, bucket_for(pp, model.percentiles, percentile_head, percentile_tail)


class PerplexityFilter(Step):
    """Filter ``"perplexity"``: scores ``{"perplexity", "bucket", "model"}`` and keeps ``keep_buckets``.

    The language comes from ``doc.annotations["lang_id"]["lang"]`` (the LID filter).

    Drop reasons:
        ``perplexity``: bucket not in ``cfg.keep_buckets`` (``all`` is always kept).
    """

    name = "perplexity"
    version = 2  # 2: whole-document scoring (cc_net mine) by default
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
            for lang, model in sorted(self._models.items()):
                if model.cutoff_unit != "document":
                    # cc_net's cutoffs are percentiles of CC documents; paragraph ones put far more in tail.
                    log.warning("perplexity: %s cutoffs are percentiles of Wikipedia paragraphs, not Common Crawl "
                                "documents: calibrate them with `pasture models lm --cc-sample WARC... --lang %s`",
                                lang, lang)

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
        pp = model.perplexity(doc.text, self.cfg.unit)
        bucket = bucket_for(pp, model.percentiles, self.cfg.percentile_head, self.cfg.percentile_tail)
        scores = {"perplexity": pp, "bucket": bucket, "model": f"{lang}:{model.model_id}"}
        if bucket == BUCKET_ALL or bucket in self.cfg.keep_buckets:
            return Verdict.kept(**scores)
        return Verdict.dropped(REASON_PERPLEXITY, **scores)
