"""HTML → main text, fast: the cleaner step around :mod:`filters.sources.cc.main_content`.

The cleaner :class:`HtmlExtractor` (name ``extract``) replaces the decoded HTML of a
``meta["format"] == "html"`` document by its main text (:func:`html_to_text`):

* the article is found and kept, page chrome dropped: non-text elements and ``nav`` /
  ``aside`` / ``footer``, blocks whose class or id names boilerplate (comments, share bars,
  related links, cookie banners ...), link lists, short lines around the article. How it
  decides is in :mod:`filters.sources.cc.main_content`; ``<header>`` is an ordinary
  container (some sites put their body in it);
* block structure becomes newlines: one line per paragraph, heading, list item, table row,
  ``<br>`` break; table cells of a row are joined by a space; ``<pre>`` keeps its lines;
* whitespace inside a line is collapsed, entities are decoded by the parser, empty lines
  are dropped;
* ``<title>`` goes to ``meta["title"]``, not into the text.

Boilerplate that only shows across pages (the same footer line on every page of a site)
is line dedup's job (:mod:`filters.line_dedup`), later in the recipe.

WET documents (``meta["format"] == "text"``) pass through unchanged: Common Crawl already
extracted them. A page with no visible text yields an empty text; :class:`ExtractedTextFilter`
(the next step) drops it with reason ``no_text``. Normal pages are never quarantined.
"""

from __future__ import annotations

from filters.base import Step, Verdict
from filters.document import Document
from filters.sources.cc.main_content import main_text
from mixtures.config import ExtractConfig

# Drop reasons of ExtractedTextFilter.
NO_TEXT = "no_text"


def html_to_text(html: str) -> tuple[str, str]:
    """Main text and title of an HTML page.

    Args:
        html: the decoded HTML.

    Returns:
        ``(text, title)``: text with one line per block element, title possibly empty.
    """
    return main_text(html)


class HtmlExtractor(Step):
    """Cleaner: HTML documents → main text; text (WET) documents unchanged.

    Lexbor parses any string (broken markup, NULs, lone surrogates) without raising, so no
    exception of this step is a data error.

    Args:
        cfg: the extraction config (only its limits; the HTML itself was bounded by the reader).
    """

    name = "extract"
    version = 2  # 2: main content (article found, chrome dropped) instead of all visible text
    cost_stage = "extract"

    def __init__(self, cfg: ExtractConfig | None = None) -> None:
        self.cfg = cfg or ExtractConfig()

    def __call__(self, doc: Document) -> Document:
        if doc.meta.get("format", "html") != "html":
            return doc
        text, title = html_to_text(doc.text)
        out = doc.with_text(text)
        if title:
            out.meta["title"] = title
        return out


class ExtractedTextFilter(Step):
    """Filter: drops documents whose extracted text is shorter than ``min_text_chars``.

    Drop reasons:
        no_text: fewer than ``cfg.min_text_chars`` non-space characters (an empty page,
            a frameset, a page made only of scripts).
    """

    name = "extracted"
    version = 1
    reasons = (NO_TEXT,)
    cost_stage = "extract"

    def __init__(self, cfg: ExtractConfig | None = None) -> None:
        self.cfg = cfg or ExtractConfig()

    def __call__(self, doc: Document) -> Verdict:
        chars = len(doc.text.strip())
        if chars < self.cfg.min_text_chars:
            return Verdict.dropped(NO_TEXT, chars=chars)
        return Verdict.kept()
