"""The main content of an HTML page as text lines: pick the article, drop the page chrome.

Fast because the work per element happens in C: selectolax's Lexbor parser parses, runs
the CSS matching and sums subtree text; Python only looks at the few hundred distinct
class/id strings of a page (cached across pages) and walks the chosen subtree once.

1. Non-text elements (scripts, styles, media, form controls, image captions, ruby
   readings) and the chrome HTML names as such (``nav``, ``aside``, ``footer``) go.
2. The content root is the element with the most text in the first tier of
   :data:`CONTENT_TIERS` that offers a trusted one (``articleBody`` / ``entry-content``
   names, then ``article``, then ``main`` / ``#content``); else ``body``. A match is not
   trusted when it holds little text, too small a share of the page, or less than half
   of its tier's text (a page of several ``article`` blocks, a listing of teasers). The
   root then grows to an ancestor that adds little text (the lead paragraph beside the
   body container).
3. Inside the root, elements whose class or id names boilerplate (comments, share bars,
   related links, cookie banners, bylines ...) are removed, except one holding most of
   the root's text (a page-level wrapper with an unlucky name). When that removal takes
   nearly all of the root (a forum whose posts are "comment" blocks), it is undone.
4. The root's text is cut into one line per block (paragraph, heading, list item, table
   row, ``<br>``; ``<pre>`` keeps its lines and indentation). Lines made mostly of link
   text (menus, tag clouds, "read also" lists) go, with the heading above them; so do
   picture credits, date-only lines, and the short lines around the article (bylines,
   "share this", "about the author"), and everything below a "Mehr zum Thema" / "Related
   articles" line in the lower half of the text (teasers, author bio), with the "Read also"
   teasers inside it. Soft hyphens go; the text is put in Unicode NFC.

``<header>`` is an ordinary container: some sites put their whole body in one. The
heuristics and thresholds were tuned on ``../shared/extraction-eval`` (see
``bench/extraction.py``), as trafilatura's were; no page's text is learned or stored.
"""

from __future__ import annotations

import re
import unicodedata
from html import escape as html_escape

from selectolax.lexbor import LexborHTMLParser

from filters.word_trie import trie_pattern

# Removed with their content everywhere: not text, or chrome by definition.
DROP_TAGS = (
    "script", "style", "noscript", "nav", "footer", "aside", "iframe", "svg", "template",
    "object", "embed", "canvas", "button", "select", "input", "textarea", "option", "dialog", "menu",
    "math", "map", "audio", "video", "picture", "head", "label",
    "figcaption", "rt", "rp",  # image captions and credits; ruby readings (furigana) beside the base text
)
# Content-root selectors in tiers, most specific first. Within a tier the match with the most
# text wins (a listing page has many small <article> teasers; nested matches are fine).
# A tier is (class/id fragments, plain selectors): an element whose class or id contains a
# fragment matches, as does one matched by a plain selector.
CONTENT_TIERS = (
    (("articlebody", "article-body", "article__body", "article-text", "articletext", "article-content",
      "article__content", "entry-content", "post-content", "post_content", "postcontent", "post-body",
      "post-text", "post-entry", "story-body", "story-content", "storycontent", "body-text", "text-content",
      "field-body", "fulltext", "blog-content", "single-content"),
     "[itemprop=articleBody]"),
    ((), "article, [role=article], #article, #story, .story"),
    (("main-content", "maincontent", "content-main", "content-body", "page-content"),
     "main, [role=main], #content, .content, #main, #primary"),
)
# Class / id words that name boilerplate blocks, matched in the lowercased class list + id,
# in four strengths:
# * ANYWHERE: found inside any name ("nocomments", "postcomment", "noprint");
# * WORD_START: where a name part starts ("comments-area", "post-sharing"), never inside
#   one ("apageroot" is no "pager");
# * WHOLE_WORD: a whole name part, plural allowed ("m-tags", "post-ratings"; not "tagstyle");
# * TOKEN_START: the start of a class token or id, as a whole word ("widget", "widget_text"):
#   page builders name every block "elementor-widget-...", article paragraphs included.
BOILERPLATE_ANYWHERE = (
    "comment", "disqus", "outbrain", "taboola", "shariff", "sociable", "noprint", "newsletter",
    "breadcrumb", "cookie", "paywall", "seitenfuss", "fusszeile", "kommentar", "komentarz", "komentar",
)
BOILERPLATE_WORD_START = (
    "share", "sharing", "social", "related", "sidebar", "consent", "gdpr", "subscribe", "signup",
    "advert", "sponsor", "popup", "modal", "paginat", "pager", "navigation", "navbar", "nav-", "footer",
    "masthead", "byline", "author-info", "author-bio", "authorbox", "post-meta", "entry-meta",
    "article-meta", "postmeta", "tagcloud", "tag-list", "taglist", "recommend", "read-more", "readmore",
    "more-articles", "most-popular", "mostpopular", "trending", "ticker", "toolbar", "skip-link",
    "skiplink", "jump-to", "login", "dateline", "timestamp", "copyright", "offscreen", "sr-only",
    "visually-hidden", "screen-reader", "caption", "affiliate", "disclosure", "buybox", "action-bar",
    "actionbar", "author-box", "about-author", "infobox-author", "recirculation", "more-from", "read-also",
    "readalso", "see-also", "also-read", "newsticker", "donat", "spende", "follow-us", "followus",
)
BOILERPLATE_WHOLE_WORD = (
    "tag", "rating", "credit", "meta", "menu", "banner", "promo", "search", "keywords", "ad", "adv",
    "ads", "advertisement", "anzeige", "werbung", "reklama", "publicite", "pub",
)
BOILERPLATE_TOKEN_START = ("widget",)
# ARIA roles of page chrome; elements hidden from every reader (aria-hidden, hidden) go too.
CHROME_ROLES = frozenset(("navigation", "contentinfo", "complementary", "banner"))
# A root must hold at least this many characters, and this share of the page's text
# (unless it holds ROOT_ENOUGH_CHARS), to be trusted over <body>.
ROOT_MIN_CHARS = 200
ROOT_MIN_SHARE = 0.10
ROOT_ENOUGH_CHARS = 1500
# ... and at least this share of the text of all its tier's matches.
TIER_DOMINANCE = 0.5
# The root grows to an ancestor (up to ROOT_WIDEN_LEVELS up) holding at most this much
# more text: the article's lead paragraph often sits beside its body container.
ROOT_WIDEN_RATIO = 1.15
ROOT_WIDEN_LEVELS = 3
# A boilerplate-named element holding more than this share of the root's text is a wrapper.
WRAPPER_SHARE = 0.6
# Lines whose link characters exceed this share are navigation; lines of LONG_LINE
# characters or more and table rows may hold up to MAX_LINK_SHARE_LONG (Wikipedia prose,
# tables of named things).
MAX_LINK_SHARE = 0.35
MAX_LINK_SHARE_LONG = 0.8
LONG_LINE = 100
# Short lines before the first / after the last line of at least this many UTF-8 bytes are
# the article's surroundings (see _trim_edges).
LEADING_LINE_MIN_BYTES = 60
TRAILING_LINE_MIN_BYTES = 40

BLOCK_TAGS = frozenset((
    "address", "article", "blockquote", "body", "br", "caption", "center", "dd", "details", "dir", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
    "hr", "html", "legend", "li", "listing", "main", "ol", "p", "plaintext", "pre", "section", "summary",
    "table", "tbody", "tfoot", "thead", "tr", "ul", "xmp", "form",
))
CELL_TAGS = frozenset(("td", "th"))
PRE_TAGS = frozenset(("pre", "listing", "plaintext", "xmp", "textarea"))
# Short lines that credit a picture or a source ("Foto: dpa", "Bildquelle: ...", "Source: AP").
CREDIT_LINE = re.compile(r"(?:foto|fotos|bild|bilder|bildquelle|titelbild|quelle|quellen|abbildung|photo|photos|"
                         r"image|credit|credits|source|sources|fuente|źródło|zdjęcie|crédit|crédits)\b\s*\S*\s*:",
                         re.IGNORECASE)
CREDIT_MAX_CHARS = 100
# A line that is only a date, maybe with a time ("03.04.2020", "2021-03-05, 14:05 Uhr").
DATE_LINE = re.compile(r"\W*(?:\d{1,2}[./]\s?\d{1,2}[./]\s?\d{2,4}|\d{4}-\d{2}-\d{2})"
                       r"(?:\W{0,3}(?:um\s)?\d{1,2}[:.]\d{2}(?:\s?(?:uhr|h|am|pm))?)?\W*", re.IGNORECASE)
TEXT, HEADING, CODE = 0, 1, 2  # kinds of lines
PRE_SELECTOR = ", ".join(sorted(PRE_TAGS))
HEADING_TAGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
# ASP.NET and some CMSs wrap the whole page in one <form>: a form holding page-level
# structure is a layout wrapper, not a search or login box, and is kept.
PAGE_FORM_MARKERS = "main, article, h1, h2"
_SPACES = re.compile(r"\s+")
# Invisible hyphenation hints ("Mit&shy;tel&shy;al&shy;ter"): dropped, so words read whole.
SOFT_HYPHEN = "\u00ad"
_NOSCRIPT = re.compile("<noscript", re.IGNORECASE)
# Below this many characters of text, a page's <noscript> content is read too (main_text).
NOSCRIPT_RETRY_CHARS = 200
# Below this share of the root's text left after boilerplate removal, that removal is not
# trusted (see main_text).
MIN_KEPT_SHARE = 0.15
# Short lines that announce what follows an article ("Mehr zum Thema", "Related articles",
# "Über den Autor", "También te puede interesar"): once at least END_MARKER_MIN_SHARE of
# the text is above one, it and everything below it (teasers, author bio) go; higher up,
# such a line is left alone (an explainer's "Related topics" section). A fixed phrase
# list in the big languages of the web's press.
END_MARKER = re.compile(
    r"(?:mehr zum thema|weitere (?:artikel|nachrichten|beiträge|meldungen)(?: zum thema)?|"
    r"(?:das|dies) könnte (?:sie|dich) (?:auch )?interessieren|das könnte (?:sie|dich) auch|"
    r"auch interessant|(?:zum )?weiterlesen|meistgelesen(?:e artikel)?|über (?:den autor|die autorin)|"
    r"ähnliche artikel|verwandte (?:artikel|themen)|empfehlungen der redaktion|"
    r"related(?: articles| posts| stories| content| reading)?|you (?:may|might) also like|"
    r"more (?:stories|articles|news)|about the author|most (?:read|popular)|recommended(?: for you| articles)?|"
    r"(?:también )?te puede interesar|noticias relacionadas|inne artykuły autora|polecamy|"
    r"sur le même sujet|articles similaires|articoli correlati)\W{0,3}",
    re.IGNORECASE)
# "Read also" lines put a teaser inside the article, as often as after it: the line and the
# teaser's headline below it (a short line) go, wherever they are.
TEASER_MARKER = re.compile(
    r"(?:lesen sie auch|lies auch|read also|also read|lee también|veja também|leia também|"
    r"zobacz (?:również|też|także)|czytaj (?:także|też|również)|(?:à )?lire aussi|leggi anche)\W{0,3}",
    re.IGNORECASE)
END_MARKER_MAX_CHARS = 40
END_MARKER_MIN_SHARE = 0.5
TEASER_HEADLINE_MAX_CHARS = 120


def main_text(html: str) -> tuple[str, str]:
    """Main text and title of an HTML page.

    Returns:
        ``(text, title)``: text with one line per block, title possibly empty.
    """
    text, title = _main_text(html)
    if len(text) < NOSCRIPT_RETRY_CHARS and _NOSCRIPT.search(html):
        # Next to nothing found, and part of the page is <noscript> content (a blog that
        # renders its posts with JavaScript and ships them in <noscript> too, an unclosed
        # <noscript> swallowing the body): read it as ordinary markup and keep the longer.
        retry, _ = _main_text(_NOSCRIPT.sub("<div", html))
        if len(retry) > len(text):
            text = retry
    if not unicodedata.is_normalized("NFC", text):  # one form per character (Bengali, Vietnamese ...)
        text = unicodedata.normalize("NFC", text)
    return text, title


def _main_text(html: str) -> tuple[str, str]:
    tree, body, title = _parse(html)  # the tree owns every node: it stays referenced until the end
    if body is None:
        return "", title
    names = _Names(body)
    root, root_chars = _content_root(body, names)
    _drop_boilerplate(root, names.boilerplate, root_chars)
    if _text_chars(root) < MIN_KEPT_SHARE * root_chars:
        # Boilerplate names took nearly all of the root (a forum thread of "comment"
        # blocks): parse again and keep the root without that cleaning rather than lose
        # the page.
        tree, body, _ = _parse(html)
        root, _ = _content_root(body, _Names(body))
    lines = _lines(root)
    if not lines:
        lines = _lines(root, links_allowed=True)  # a page that is one list of links
    return "\n".join(lines), title


def _parse(html: str):
    """``(tree, body, title)`` of a page, with :data:`DROP_TAGS` and non-layout forms removed."""
    tree = LexborHTMLParser(html)
    # Lookups by tag name (tags, strip_tags) walk the tree comparing names: several of them
    # cost less than one walk of Lexbor's CSS engine.
    titles = tree.tags("title")
    title = _SPACES.sub(" ", titles[0].text()).strip() if titles else ""
    tree.strip_tags(list(DROP_TAGS))
    for form in tree.tags("form"):
        if form.css_first(PAGE_FORM_MARKERS) is None:
            form.decompose()
    return tree, tree.body if tree.body is not None else tree.root, title


# Where a word must sit in a name to count (see BOILERPLATE_ANYWHERE ...).
ANYWHERE, WORD_START, WHOLE_WORD, TOKEN_START = range(4)
BOILERPLATE = -1
# word -> (kind: content tier index or BOILERPLATE, where it must sit).
_WORDS: dict[str, tuple[int, int]] = {
    **{w: (tier, ANYWHERE) for tier, (words, _) in enumerate(CONTENT_TIERS) for w in words},
    **{w: (BOILERPLATE, ANYWHERE) for w in BOILERPLATE_ANYWHERE},
    **{w: (BOILERPLATE, WORD_START) for w in BOILERPLATE_WORD_START},
    **{w: (BOILERPLATE, WHOLE_WORD) for w in BOILERPLATE_WHOLE_WORD},
    **{w: (BOILERPLATE, TOKEN_START) for w in BOILERPLATE_TOKEN_START},
}


# Every word in one scan. Case-sensitive on purpose (IGNORECASE slows the regex engine
# down): names are lowercased first.
_ANY_WORD = re.compile(trie_pattern(_WORDS))
# WordPress marks a post with its taxonomy ("tag-silhouette category-news"): not chrome.
_TAXONOMY = re.compile(r"(?<!\S)(?:tag|category|categories)-\S*")
# Kinds of the class+id strings seen, shared by the pages of a process (sites repeat their
# names on every page). A pure function's cache: bounded, and cleared when full.
_KINDS: dict[str, int | None] = {}
_KINDS_MAX = 100_000
_UNSEEN = object()


class _Names:
    """The elements of a page whose class or id names content (per tier) or boilerplate.

    Both lists are in document order. One pass over the elements that have a class, id,
    role or hidden attribute; each distinct class+id string is
    matched once. (CSS substring selectors, ``[class*=share i]``, would test every element
    against every fragment: ten times slower.)
    """

    def __init__(self, body) -> None:
        self.tiers: list[list] = [[] for _ in CONTENT_TIERS]
        self.boilerplate: list = []
        kinds = _KINDS
        if len(kinds) > _KINDS_MAX:
            kinds.clear()
        boilerplate, tiers = self.boilerplate, self.tiers
        # The loop runs for a few hundred elements per page: dict membership tests, no
        # method calls where they can be avoided.
        for node in body.css(":is([class], [id], [role], [aria-hidden], [hidden])"):
            attrs = node.attributes  # a plain dict: 3x faster than .attrs lookups
            if ("role" in attrs and attrs["role"] in CHROME_ROLES) or "hidden" in attrs or (
                    "aria-hidden" in attrs and attrs["aria-hidden"] == "true"):
                boilerplate.append(node)
                continue
            name = f"{attrs['class'] or '' if 'class' in attrs else ''} {attrs['id'] or '' if 'id' in attrs else ''}"
            kind = kinds.get(name, _UNSEEN)
            if kind is _UNSEEN:
                kind = kinds[name] = _kind(name.lower())
            if kind is None:
                continue
            if kind == BOILERPLATE:
                boilerplate.append(node)
            else:
                tiers[kind].append(node)


def _kind(name: str) -> int | None:
    """For a lowercased class+id string: tier index of a content name, :data:`BOILERPLATE`, or None.

    A tier-0 name (the most specific, ``entry-content``) beats boilerplate words in the
    same class list, which beat the looser tiers ("main-content")."""
    found = set()
    size = len(name)
    for match in _ANY_WORD.finditer(name):
        kind, where = _WORDS[match.group()]
        start, end = match.span()
        if where != ANYWHERE:
            before = name[start - 1] if start else " "
            if (not before.isspace()) if where == TOKEN_START else (before.isalnum() and before.isascii()):
                continue
            if where != WORD_START:
                if end < size and name[end] == "s":
                    end += 1
                if end < size and name[end].isascii() and name[end].isalnum():
                    continue
        found.add(kind)
    if not found:
        return None
    if 0 in found:
        return 0
    if BOILERPLATE in found:
        if _TAXONOMY.search(name):  # the hit may be a WordPress taxonomy class ("tag-news")
            return _kind(_TAXONOMY.sub(" ", name))
        return BOILERPLATE
    return min(found)


def _text_chars(node) -> int:
    return len(node.text(deep=True, separator="", strip=True))


def _content_root(body, names: _Names):
    """``(root, its text chars)``: the element holding the article (see the module docstring),
    ``body`` when none is trusted.

    A tier is passed over when its longest match holds less than :data:`TIER_DOMINANCE`
    of the text of all its matches: the page is made of several such blocks (TYPO3
    content elements, a listing of teasers), none of which is the article alone.
    """
    page_chars = -1  # the page's text is counted only when a test needs it: a costly walk
    chrome = {node.mem_id for node in names.boilerplate}
    for (_, plain), named in zip(CONTENT_TIERS, names.tiers):
        best, best_chars, total = None, 0, 0
        for node in [*named, *body.css(plain)]:
            if node.mem_id in chrome:
                continue  # <article class="registration-modal">
            chars = _text_chars(node)
            total += chars
            if chars > best_chars:
                best, best_chars = node, chars
        if best is None or best_chars < ROOT_MIN_CHARS or best_chars < TIER_DOMINANCE * total:
            continue
        if best_chars < ROOT_ENOUGH_CHARS:
            if page_chars < 0:
                page_chars = _text_chars(body)
            if best_chars < ROOT_MIN_SHARE * page_chars:
                continue
        return _widened(best, best_chars, chrome)
    return body, page_chars if page_chars >= 0 else _text_chars(body)


def _widened(root, chars: int, chrome: set[int]) -> tuple:
    """``(root or the nearest ancestor that adds little text to it, its text chars)``: the
    article's intro or lead paragraph often sits beside its body container
    ("article__intro" + "article__body").
    Never into ``body`` or a boilerplate-named block (a teaser inside "recommendations")."""
    limit = ROOT_WIDEN_RATIO * chars
    node = root.parent
    for _ in range(ROOT_WIDEN_LEVELS):
        if node is None or node.tag in ("body", "html") or node.mem_id in chrome:
            break
        node_chars = _text_chars_beside(node, root, chars, limit)
        if node_chars > limit:
            break  # an ancestor holds all this one's text and more: none further up fits either
        root, chars = node, node_chars
        node = node.parent
    return root, chars


def _text_chars_beside(parent, child, child_chars: int, limit: float) -> float:
    """:func:`_text_chars` of ``parent``, knowing its ``child``'s: the child's siblings are
    counted, not the child again; the count stops past ``limit`` (the parent of an article
    is often the whole page, a long walk to learn that it is too big)."""
    total = child_chars
    child_id = child.mem_id
    for sibling in parent.iter(include_text=True):
        tag = sibling.tag
        if tag == "-text":
            total += len((sibling.text_content or "").strip())
        elif tag != "-comment" and sibling.mem_id != child_id:
            total += _text_chars(sibling)
        if total > limit:
            break
    return total


def _drop_boilerplate(root, nodes: list, root_chars: int) -> None:
    """Removes the boilerplate ``nodes`` (document order) that are not wrappers of ``root``'s text.

    A node holding more than :data:`WRAPPER_SHARE` of the root's text is kept: it is the
    root, one of its ancestors, or a page-level wrapper with an unlucky name. Nodes outside
    the root may go too: nothing outside it is read. Last first: a node is destroyed with
    its subtree, so its descendants must be gone before (never touched after) it.
    """
    limit = WRAPPER_SHARE * root_chars
    for node in reversed(nodes):
        if node.tag in ("html", "body", "main", "article") or _text_chars(node) > limit:
            continue
        node.decompose()


def _lines(root, links_allowed: bool = False) -> list[str]:
    """One line per block of ``root``'s text, navigation-like lines dropped.

    A line whose link text exceeds :data:`MAX_LINK_SHARE` of it is navigation (menus,
    tag clouds, "read also" lists); long lines and table rows may hold up to
    :data:`MAX_LINK_SHARE_LONG` (encyclopedic prose, tables of named things), unless
    ``links_allowed``. A heading is kept when the next line that is not a heading is kept:
    the heading of a dropped link list ("Related articles", "Mehr zum Thema") goes with it.
    Code keeps its lines and their indentation: ``<pre>`` content is flattened to its
    text first (highlighters wrap every token in a ``<span>``).
    """
    for pre in root.css(PRE_SELECTOR):
        if pre.css_first("*") is not None:
            pre.inner_html = html_escape(pre.text(deep=True))
    entries: list[tuple[str, bool, int]] = []  # (line, kept, TEXT | HEADING | CODE)
    parts: list[str] = []
    link_chars = 0  # link text seen and not yet charged to a line
    heading = row = False

    def flush(verbatim: bool = False) -> None:
        nonlocal link_chars, heading, row
        if parts:
            text = "".join(parts).replace(SOFT_HYPHEN, "")
            parts.clear()
            # str.split() splits on exactly the characters regex \s matches, and is faster.
            line = text.rstrip() if verbatim and text.strip() else " ".join(text.split())
            if line and not verbatim and len(line) < CREDIT_MAX_CHARS and (
                    CREDIT_LINE.match(line) or DATE_LINE.fullmatch(line)):
                line = ""  # "Foto: dpa", "Quelle: ...", "03.04.2020 14:05": a credit or a date, not text
            if line:
                size = len(line)
                links = min(link_chars, size)
                link_chars -= links
                limit = MAX_LINK_SHARE_LONG if row or size >= LONG_LINE else MAX_LINK_SHARE
                kind = CODE if verbatim else HEADING if heading else TEXT
                entries.append((line, links_allowed or links <= limit * size, kind))
        heading = row = False

    # The walk is the hot loop of the module: every neighbour looked up costs a node object,
    # so it looks up only what can change the result. A text node's previous sibling
    # matters only when a line (or a heading / row flag) is pending; its parent can only
    # be a <pre> when the last element seen was one (a <pre> holds nothing but text now).
    after_pre = False
    for node in root.traverse(include_text=True):
        tag = node.tag
        if tag == "-text":
            text = node.text_content
            if not text:
                continue
            if parts or heading or row:
                previous = node.prev
                if previous is not None and previous.tag in BLOCK_TAGS:
                    flush()  # text after a closed block ("<div><p>a</p>tail</div>") starts a new line
            if after_pre:
                parent = node.parent
                if parent is not None and parent.tag in PRE_TAGS:
                    flush()
                    for line in text.split("\n"):
                        parts.append(line)
                        flush(verbatim=True)
                    continue
                after_pre = False
            if parts or not text.isspace():  # spaces that open a line are dropped anyway
                parts.append(text)
        elif tag == "-comment":
            continue
        elif tag == "a":
            after_pre = False
            link_chars += len(node.text(deep=True, separator="", strip=True))
        elif tag in BLOCK_TAGS:
            if parts or heading or row:
                flush()
            if tag in HEADING_TAGS:
                heading = True
            elif tag == "tr":
                row = True
            after_pre = tag in PRE_TAGS
        else:
            after_pre = False
            if tag in CELL_TAGS:
                parts.append(" ")
    flush()
    kept: list[tuple[str, int]] = []
    next_kept = False  # whether the next non-heading line (scanning backwards) is kept
    for line, keep, kind in reversed(entries):
        if kind == HEADING:
            if next_kept:
                kept.append((line, kind))
        else:
            next_kept = keep
            if keep:
                kept.append((line, kind))
    kept.reverse()
    return _trim_edges(_cut_at_end_marker(kept))


def _cut_at_end_marker(lines: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``lines`` up to the first :data:`END_MARKER` line below :data:`END_MARKER_MIN_SHARE`
    of their text, without :data:`TEASER_MARKER` lines and the headline below each."""
    total = sum(len(line) for line, _ in lines)
    above = 0
    out: list[tuple[str, int]] = []
    skip_headline = False
    for line, kind in lines:
        size = len(line)
        if skip_headline and kind != CODE and size <= TEASER_HEADLINE_MAX_CHARS:
            skip_headline = False
            above += size
            continue
        skip_headline = False
        if kind != CODE and size <= END_MARKER_MAX_CHARS:
            if above >= END_MARKER_MIN_SHARE * total and END_MARKER.fullmatch(line):
                break
            if TEASER_MARKER.fullmatch(line):
                skip_headline = True
                above += size
                continue
        out.append((line, kind))
        above += size
    return out


def _trim_edges(lines: list[tuple[str, int]]) -> list[str]:
    """The text of ``(line, kind)`` pairs without the short lines around the article.

    What sits around an article inside its container is bylines, dates, "share this",
    "about the author", "sources:", "read more" prompts: short lines. Dropped are the short
    lines after the last real line, and those before the first real line or heading (the
    headline stays); code lines are real lines, whatever their length. Lengths are UTF-8
    bytes, so that 15 Chinese characters (a clause) weigh like 45 Latin letters. A text
    made only of short lines (a poem, a list) is kept whole.
    """
    end = len(lines)
    while end > 0 and lines[end - 1][1] != CODE and len(lines[end - 1][0].encode()) < TRAILING_LINE_MIN_BYTES:
        end -= 1
    if end == 0:
        return [line for line, _ in lines]
    start = 0
    while start < end - 1 and lines[start][1] == TEXT and len(lines[start][0].encode()) < LEADING_LINE_MIN_BYTES:
        start += 1
    return [line for line, _ in lines[start:end]]
