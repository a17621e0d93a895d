"""C4's language filter as TFDS built C4: ``langdetect``, English with probability >= 0.99.

TFDS ``c4_utils.detect_english`` (the ``en`` config, "for reproducibility of the original
C4"): ``langdetect.DetectorFactory.seed = 0`` before every call, so the prediction of a text
does not depend on what was detected before; ``detect_langs(text)`` on the whole cleaned,
deduplicated page; the page is dropped when langdetect raises (no features: digits or
punctuation only), predicts nothing, gives its best language a probability under
``min_probability``, or its best language is not kept. ``langdetect`` is pure Python and ships
its language profiles: nothing is downloaded.

The fastText alternative is the shared ``filters.lang_id.LanguageFilter``
(``c4.language_detector: fasttext``).
"""

from __future__ import annotations

from typing import Any

from filters.base import Step, Verdict
from filters.document import Document
from filters.sources.c4.config import C4Config

NAME = "c4_langdetect"

# Drop reasons.
LANGDETECT_ERROR = "langdetect_error"
LOW_CONFIDENCE = "low_confidence"
LANG = "lang"


def detect(text: str) -> list[tuple[str, float]]:
    """langdetect's ``(lang, prob)`` predictions, best first, seeded as TFDS seeds them.

    Raises:
        langdetect.lang_detect_exception.LangDetectException: nothing to detect on.
    """
    import langdetect

    langdetect.DetectorFactory.seed = 0
    return [(p.lang, p.prob) for p in langdetect.detect_langs(text)]


class LangdetectFilter(Step):
    """Keeps pages whose best langdetect language is kept, with probability >= the threshold.

    Drop reasons:
        langdetect_error: langdetect found nothing to detect on, or predicted nothing.
        low_confidence: the best prediction's probability < ``cfg.langdetect_min_probability``.
        lang: the best prediction is not in ``cfg.languages``.
    """

    name = NAME
    version = 1
    reasons = (LANGDETECT_ERROR, LOW_CONFIDENCE, LANG)
    cost_stage = "lang_id"

    def __init__(self, cfg: C4Config) -> None:
        self.cfg = cfg

    def __call__(self, doc: Document) -> Verdict:
        from langdetect.lang_detect_exception import LangDetectException

        try:
            predictions: list[Any] = detect(doc.text)
        except LangDetectException:
            return Verdict.dropped(LANGDETECT_ERROR)
        if not predictions:
            return Verdict.dropped(LANGDETECT_ERROR)
        lang, prob = predictions[0]
        scores = {"lang": lang, "lang_score": round(prob, 4)}
        if prob < self.cfg.langdetect_min_probability:
            return Verdict.dropped(LOW_CONFIDENCE, **scores)
        if lang not in self.cfg.languages:
            return Verdict.dropped(LANG, **scores)
        return Verdict.kept(**scores)
