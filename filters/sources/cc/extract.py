"""HTML → main text, fast, with selectolax's Lexbor parser.

The cleaner :class:`HtmlExtractor` (name ``extract``) replaces the decoded HTML of a
``meta["format"] == "html"`` document by its visible text:

* page chrome and non-text elements are removed with their content: ``script``, ``style``,
  ``noscript``, ``nav``, ``footer``, ``aside``, ``iframe``, ``svg``, ``template``,
  buttons, inputs ... (see ``DROP_TAGS``). ``header`` is removed too, except inside
  ``article`` / ``main`` where it holds the headline; ``form`` is removed unless it wraps
  the page (holds ``main``/``article``/``h1``/``h2``, as ASP.NET pages do);
* block structure becomes newlines: one line per paragraph, heading, list item, table row,
  ``<br>`` break; table cells of a row are joined by a space;
* whitespace inside a line is collapsed (``<pre>`` keeps its own line breaks), entities are
  decoded by the parser, empty lines are dropped;
* ``<title>`` goes to ``meta["title"]``, not into the text.

WET documents (``meta["format"] == "text"``) pass through unchanged: Common Crawl already
extracted them. A page with no visible text yields an empty text; :class:`ExtractedTextFilter`
(the next step) drops it with reason ``no_text``. Normal pages are never quarantined.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from filters.base import Step, Verdict
from filters.document import Document
from mixtures.config import ExtractConfig

# Drop reasons of ExtractedTextFilter.
NO_TEXT = "no_text"

DROP_TAGS = (
    "script", "style", "noscript", "nav", "footer", "aside", "iframe", "svg", "template",
    "object", "embed", "canvas", "button", "select", "input", "textarea", "option", "dialog", "menu",
    "math", "map", "audio", "video", "picture", "head",
)
KEEP_HEADER_INSIDE = ("article", "main")
# ASP.NET and some CMSs wrap the whole page in one <form>: a form holding page-level
# structure is a layout wrapper, not a search or login box, and is kept.
PAGE_FORM_MARKERS = "main, article, h1, h2"
BLOCK_TAGS = frozenset((
    "address", "article", "blockquote", "body", "br", "caption", "center", "dd", "details", "dir", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
    "hr", "html", "legend", "li", "listing", "main", "ol", "p", "plaintext", "pre", "section", "summary",
    "table", "tbody", "tfoot", "thead", "tr", "ul", "xmp",
))
CELL_TAGS = frozenset(("td", "th"))
PRE_TAGS = frozenset(("pre", "listing", "plaintext", "xmp", "textarea"))
_SPACES = re.compile(r"\s+")


def html_to_text(html: str) -> tuple[str, str]:
    """Main text and title of an HTML page.

    Args:
        html: the decoded HTML.

    Returns:
        ``(text, title)``: text with one line per block element, title possibly empty.
    """
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = _SPACES.sub(" ", title_node.text()).strip() if title_node is not None else ""
    tree.strip_tags(list(DROP_TAGS))
    for header in tree.css("header"):
        if not _inside(header, KEEP_HEADER_INSIDE):
            header.decompose()
    for form in tree.css("form"):
        if form.css_first(PAGE_FORM_MARKERS) is None:
            form.decompose()
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        return "", title
    lines: list[str] = []
    parts: list[str] = []

    def flush() -> None:
        if parts:
            # str.split() splits on exactly the characters regex \s matches, and is faster.
            line = " ".join("".join(parts).split())
            if line:
                lines.append(line)
            parts.clear()

    for node in root.traverse(include_text=True):
        tag = node.tag
        if tag == "-text":
            text = node.text_content
            if not text:
                continue
            previous = node.prev
            if previous is not None and previous.tag in BLOCK_TAGS:
                flush()  # text after a closed block ("<div><p>a</p>tail</div>") starts a new line
            parent = node.parent
            if parent is not None and (parent.tag in PRE_TAGS or (parent.tag == "code" and parent.parent is not None
                                                                  and parent.parent.tag in PRE_TAGS)):
                first, *rest = text.split("\n")
                parts.append(first)
                for line in rest:
                    flush()
                    parts.append(line)
            else:
                parts.append(text)
        elif tag in BLOCK_TAGS:
            flush()
        elif tag in CELL_TAGS:
            parts.append(" ")
    flush()
    return "\n".join(lines), title


def _inside(node, tags: tuple[str, ...]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return False


class HtmlExtractor(Step):
    """Cleaner: HTML documents → main text; text (WET) documents unchanged.

    Lexbor parses any string (broken markup, NULs, lone surrogates) without raising, so no
    exception of this step is a data error.

    Args:
        cfg: the extraction config (only its limits; the HTML itself was bounded by the reader).
    """

    name = "extract"
    version = 1
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
