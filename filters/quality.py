"""The Wikipedia-reference quality classifier (LLaMA-1 / RedPajama), as a filter.

LLaMA-1 (arXiv 2302.13971 §2) trained "a linear model to classify pages used as references
in Wikipedia v.s. randomly sampled pages, and discarded pages not classified as
references". RedPajama's reproduction (``data_prep/cc/classifier/classify.py``) is a
fastText supervised model with labels ``__label__wiki`` / ``__label__cc``; it joins a
page's lines with a space, predicts the top label with probability ``p`` and sets
``wiki_prob = p if label == "__label__wiki" else 1 - p``; ``filter/cc_classifier.sh`` keeps
``wiki_prob >= 0.25``. The model is trained by ``pasture models quality``
(:mod:`pipeline.training.quality`).

:func:`classifier_text` is the one text normalisation used at training *and* prediction
time: RedPajama's line join, then lower-case, digits → 0, and words split from punctuation
(fastText tokenises on whitespace only, so "page." and "page" would otherwise be two
unrelated words).
"""

from __future__ import annotations

import re

from filters.base import Step, Verdict
from filters.document import Document
from mixtures.config import QualityConfig
from mixtures.provenance import sha256_file

NAME = "quality"
# Drop reason: wiki_prob below QualityConfig.threshold (RedPajama: 0.25).
QUALITY = "quality"

WIKI_LABEL = "__label__wiki"
CC_LABEL = "__label__cc"

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_DIGIT_RE = re.compile(r"\d")
# fastText reads any token starting with its label prefix as a label, even mid-line.
_LABEL_PREFIX_RE = re.compile(r"__label__", re.IGNORECASE)


def classifier_text(text: str) -> str:
    """The single-line, normalised text the classifier is trained on and predicts on.

    Args:
        text: A page or paragraph, any number of lines.

    Returns:
        Lower-cased tokens (words and single punctuation marks) joined by one space, digits
        mapped to 0; never contains a newline or the fastText label prefix.
    """
    joined = " ".join(text.strip().splitlines()).lower()
    joined = _LABEL_PREFIX_RE.sub(" label ", joined)
    joined = _DIGIT_RE.sub("0", joined)
    return " ".join(_TOKEN_RE.findall(joined))


def wiki_probability(labels: tuple[str, ...], probs: list[float] | tuple[float, ...]) -> float:
    """RedPajama's ``wiki_prob`` from fastText's top-1 prediction.

    fastText clips probabilities to 1 + 1e-5; the result is clamped to [0, 1].
    """
    label, p = labels[0], float(probs[0])
    wiki_prob = p if label == WIKI_LABEL else 1.0 - p
    return min(1.0, max(0.0, wiki_prob))


class QualityFilter(Step):
    """Keeps pages the Wikipedia-reference classifier scores ``wiki_prob >= threshold``.

    Scores: ``wiki_prob`` (float in [0, 1]) and ``model`` (first 12 hex digits of the model
    file's sha256, so every score traces back to the model that produced it).

    Drop reasons:
        quality: ``wiki_prob < cfg.threshold`` (RedPajama keeps ``>= 0.25``).
    """

    name = NAME
    version = 1
    reasons = (QUALITY,)
    # Lone surrogates (a JSON "\ud800" escape) are not text: fastText cannot take them, so
    # such a record is quarantined rather than failing the run.
    data_errors = (UnicodeEncodeError,)
    cost_stage = "quality"

    def __init__(self, cfg: QualityConfig) -> None:
        self.cfg = cfg
        self._model = None
        self._model_id = ""

    def load(self) -> None:
        """Loads the fastText model named by ``cfg.model`` (once per worker)."""
        import fasttext

        self._model = fasttext.load_model(self.cfg.model)
        self._model_id = sha256_file(self.cfg.model)[:12]

    def wiki_prob(self, text: str) -> float:
        """``wiki_prob`` of one page's text."""
        if self._model is None:
            self.load()
        text.encode("utf-8")  # UnicodeEncodeError on lone surrogates, before fastText sees them
        labels, probs = self._model.predict(classifier_text(text), k=1)
        if not labels:  # empty input: fastText predicts nothing
            return 0.0
        return wiki_probability(labels, probs)

    def __call__(self, doc: Document) -> Verdict:
        wiki_prob = round(self.wiki_prob(doc.text), 6)
        if wiki_prob < self.cfg.threshold:
            return Verdict.dropped(QUALITY, wiki_prob=wiki_prob, model=self._model_id)
        return Verdict.kept(wiki_prob=wiki_prob, model=self._model_id)
