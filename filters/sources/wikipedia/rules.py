"""Wikipedia's cleaner and filter: wikitext → plain text, then drop pages left empty.

- :class:`WikitextCleaner` (a cleaner, name ``"wikitext"``): wikitext → plain text
  (:func:`filters.sources.wikipedia.render.wikitext_to_text`).
- :class:`WikipediaTextFilter` (a filter, name ``"wikipedia"``): drops pages left empty.

Drop reasons:
    ``empty``: nothing (or fewer than ``WikipediaConfig.min_chars`` characters) is left after cleaning.
"""

from __future__ import annotations

from mwparserfromhell.parser import ParserError

from filters.base import Step, Verdict
from filters.document import Document
from filters.sources.wikipedia.config import WikipediaConfig
from filters.sources.wikipedia.reader import HIDDEN_PREFIXES_KEY
from filters.sources.wikipedia.render import wikitext_to_text

REASON_EMPTY = "empty"


class WikitextCleaner(Step):
    """Cleaner ``"wikitext"``: a page's wikitext → plain text (see :func:`wikitext_to_text`)."""

    name = "wikitext"
    version = 2  # 2: language templates keep their text; parser leftovers (quotes, entities, tags) removed
    # A page nested deeper than the renderer's recursion allows, or one that drives
    # mwparserfromhell into its internal-error state: that page is bad data, not our bug.
    data_errors = (RecursionError, ParserError)

    def __init__(self, cfg: WikipediaConfig | None = None) -> None:
        self.cfg = cfg or WikipediaConfig()

    def __call__(self, doc: Document) -> Document:
        prefixes = doc.meta.get(HIDDEN_PREFIXES_KEY) or ()
        cleaned = doc.with_text(wikitext_to_text(doc.text, prefixes))
        for key in [k for k in cleaned.meta if k.startswith("_")]:
            del cleaned.meta[key]
        return cleaned


class WikipediaTextFilter(Step):
    """Filter ``"wikipedia"``: drops pages with no text left after cleaning.

    Drop reasons:
        ``empty``: fewer than ``cfg.min_chars`` non-space characters.
    """

    name = "wikipedia"
    version = 1
    reasons = (REASON_EMPTY,)

    def __init__(self, cfg: WikipediaConfig | None = None) -> None:
        self.cfg = cfg or WikipediaConfig()

    def __call__(self, doc: Document) -> Verdict:
        chars = len(doc.text.strip())
        if chars < max(1, self.cfg.min_chars):
            return Verdict.dropped(REASON_EMPTY, chars=chars)
        return Verdict.kept(chars=chars)
