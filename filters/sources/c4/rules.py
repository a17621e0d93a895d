"""C4's page cleaning and filtering rules (TFDS ``c4_utils``), pure and Beam-free.

The rules are those of ``tensorflow_datasets/text/c4_utils.py`` (``clean_page``,
``is_valid_length``, the 2021 badwords filter and ``remove_duplicate_text``), which is the
code that generated C4; the T5 paper (arXiv 1910.10683, §2.2) describes them in prose.
They are split the house way:

- :class:`C4Cleaner` (``c4_clean``) transforms: it removes lines by TFDS's line rules
  (``lines.py``) and counts every removed line per rule in ``annotations["c4_clean"]``. When
  it meets a page-level rule (a page too long, "lorem ipsum", a ``{``) it stops and records
  the rule there, leaving the text untouched for inspection; it never drops anything itself.
- :class:`C4PageFilter` (``c4``) decides, page by page, from that record and the cleaned
  text.

Beside them: the sentence splitter (``sentences.py``, our stand-in for nltk's punkt), the
badwords regex (``badwords.py``) and the pure halves of C4's corpus-wide three-sentence span
dedup (``spans.py``; ``stages/c4_dedup.py`` wires them into Beam).

Page rules: more than ``max_page_chars`` = 1.9e5 characters before cleaning drops the page
(TFDS ``is_valid_length``); "lorem ipsum" or a ``{`` in a kept line drops it; fewer than
``min_sentences`` = 3 sentences in the kept lines drops it (``_MIN_NUM_SENTENCES``); any
LDNOOBW bad word matched by ``(?:\\W|^)(words)(?:\\W|$)`` on the lower-cased cleaned page
drops it (the 2021 TFDS badwords filter, which runs on the whole page; the 2019 version
matched per line with ``[^a-z](words)[^a-z]``).

Drop reasons (stable): ``c4_too_long``, ``c4_lorem_ipsum``, ``c4_curly_bracket``,
``c4_empty_after_clean``, ``c4_too_few_sentences``, ``c4_badwords``, and, from the span
dedup stage, ``c4_too_few_sentences_after_dedup``.
"""

from __future__ import annotations

import re

from filters.base import Step, Verdict
from filters.document import Document
from filters.sources.c4.badwords import badwords_regex, load_badwords
from filters.sources.c4.config import C4Config
from filters.sources.c4.lines import C4_CURLY_BRACKET, C4_LOREM_IPSUM, C4_TOO_LONG, clean_page_text

CLEANER_NAME = "c4_clean"
FILTER_NAME = "c4"

# Page drop reasons decided here (the line rules find the other three).
C4_EMPTY_AFTER_CLEAN = "c4_empty_after_clean"
C4_TOO_FEW_SENTENCES = "c4_too_few_sentences"
C4_BADWORDS = "c4_badwords"


class C4Cleaner(Step):
    """Removes lines by TFDS's C4 line rules and records what it did.

    The annotation ``c4_clean`` holds ``page_rule`` (a page drop reason or None),
    ``lines_in``, ``lines_kept``, ``lines_removed`` per line rule, ``citations_removed``,
    ``chars_in`` and ``sentences``. The page decision is :class:`C4PageFilter`'s.
    """

    name = CLEANER_NAME
    version = 1
    cost_stage = "c4_rules"

    def __init__(self, cfg: C4Config) -> None:
        self.cfg = cfg

    def __call__(self, doc: Document) -> Document:
        result = clean_page_text(doc.text, self.cfg)
        return doc.with_text(result.text).annotated(**{CLEANER_NAME: result.summary()})


class C4PageFilter(Step):
    """C4's page decisions, after :class:`C4Cleaner`.

    Drop reasons, checked in this order:
        c4_too_long: more than ``max_page_chars`` characters before cleaning (TFDS
            ``is_valid_length``, 1.9e5).
        c4_lorem_ipsum: a kept line contained "lorem ipsum".
        c4_curly_bracket: a kept line contained ``{``.
        c4_empty_after_clean: no line survived cleaning.
        c4_too_few_sentences: fewer than ``min_sentences`` (3) sentences in the kept lines.
        c4_badwords: an LDNOOBW word matched on the lower-cased page (if ``cfg.badwords``).

    A document without a ``c4_clean`` annotation is judged as TFDS would judge it raw: the
    line rules are run here (without changing the text).
    """

    name = FILTER_NAME
    version = 1
    reasons = (C4_TOO_LONG, C4_LOREM_IPSUM, C4_CURLY_BRACKET, C4_EMPTY_AFTER_CLEAN, C4_TOO_FEW_SENTENCES,
               C4_BADWORDS)
    cost_stage = "c4_rules"

    def __init__(self, cfg: C4Config, lang: str = "en") -> None:
        self.cfg = cfg
        self.lang = lang
        self._badwords: re.Pattern[str] | None = None

    def load(self) -> None:
        if self.cfg.badwords:
            self._badwords = badwords_regex(load_badwords(self.lang))

    def __call__(self, doc: Document) -> Verdict:
        info = doc.annotations.get(CLEANER_NAME)
        if isinstance(info, dict):
            page_rule, lines_kept, sentences, text = (
                info.get("page_rule"), info.get("lines_kept", 0), info.get("sentences", 0), doc.text)
        else:
            result = clean_page_text(doc.text, self.cfg)
            page_rule, lines_kept, sentences, text = (
                result.page_rule, result.lines_kept, result.sentences, result.text)
        if page_rule:
            return Verdict.dropped(page_rule)
        if lines_kept == 0 or not text:
            return Verdict.dropped(C4_EMPTY_AFTER_CLEAN, sentences=0)
        if sentences < self.cfg.min_sentences:
            return Verdict.dropped(C4_TOO_FEW_SENTENCES, sentences=sentences)
        if self.cfg.badwords:
            if self._badwords is None:
                self.load()
            found = self._badwords.search(text.lower())
            if found is not None:
                return Verdict.dropped(C4_BADWORDS, sentences=sentences, badword=found.group(1))
        return Verdict.kept(sentences=sentences)


LENGTH_FILTER_NAME = "c4_length"
BADWORDS_FILTER_NAME = "c4_badwords"


class C4LengthFilter(Step):
    """TFDS ``is_valid_length``: drops a page of more than ``max_page_chars`` characters.

    It runs first, on the raw page, before URL dedup (a page too long never wins its URL).

    Drop reasons:
        c4_too_long: ``len(text) > cfg.max_page_chars`` (1.9e5).
    """

    name = LENGTH_FILTER_NAME
    version = 1
    reasons = (C4_TOO_LONG,)
    cost_stage = "c4_rules"

    def __init__(self, cfg: C4Config) -> None:
        self.cfg = cfg

    def __call__(self, doc: Document) -> Verdict:
        if len(doc.text) > self.cfg.max_page_chars:
            return Verdict.dropped(C4_TOO_LONG, chars=len(doc.text))
        return Verdict.kept()


class C4BadwordsFilter(Step):
    """TFDS's badwords filter (2021), the last step of C4: an LDNOOBW word matched by
    ``(?:\\W|^)(words)(?:\\W|$)`` on the lower-cased page drops it.

    Drop reasons:
        c4_badwords: a listed word or phrase occurs on its own.
    """

    name = BADWORDS_FILTER_NAME
    version = 1
    reasons = (C4_BADWORDS,)
    cost_stage = "c4_rules"

    def __init__(self, cfg: C4Config, lang: str = "en") -> None:
        self.cfg = cfg
        self.lang = lang
        self._badwords: re.Pattern[str] | None = None

    def load(self) -> None:
        if self._badwords is None:
            self._badwords = badwords_regex(load_badwords(self.lang))

    def __call__(self, doc: Document) -> Verdict:
        if self._badwords is None:
            self.load()
        found = self._badwords.search(doc.text.lower())
        if found is not None:
            return Verdict.dropped(C4_BADWORDS, badword=found.group(1))
        return Verdict.kept()
