"""Wikitext → plain prose, the way LLaMA describes it: no templates, refs, tables, links or markup.

LLaMA-1 removed "hyperlinks, comments and other formatting boilerplate" (arXiv 2302.13971
§2); RedPajama reproduced it with the HF ``wikipedia`` builder (mwparserfromhell). Here
:func:`wikitext_to_text` does it for one page, Beam-free: what is dropped anyway (comments,
templates, refs, tables, maths) is cut before parsing, mwparserfromhell parses the rest and
:class:`_Renderer` keeps the visible prose.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.wikicode import Wikicode

# Local names of the File/Media/Category namespaces that a dump's siteinfo may not list
# (aliases such as "Image"): English, Japanese, Ukrainian and LLaMA's other languages.
COMMON_HIDDEN_PREFIXES = frozenset(p.casefold() for p in (
    "File", "Image", "Media", "Category",
    "ファイル", "画像", "メディア", "カテゴリ",
    "Файл", "Зображення", "Медіа", "Категорія",
    "Файл", "Изображение", "Медиа", "Категория", "Картинка",
    "Datei", "Bild", "Kategorie", "Fichier", "Catégorie", "Archivo", "Imagen", "Categoría",
    "Immagine", "Categoria", "Bestand", "Afbeelding", "Categorie", "Plik", "Grafika", "Kategoria",
    "Ficheiro", "Arquivo", "Imagem", "Fil", "Kategori", "Billede", "Fitxer", "Imatge",
    "Soubor", "Obrázek", "Fájl", "Kép", "Kategória", "Fișier", "Imagine", "Datoteka", "Slika",
    "Kategorija", "Датотека", "Слика", "Категорија",
    "Attēls", "Fails", "Kategoreja", "Medeja",  # lv/ltg: ltgwiki's pages still use lvwiki's "Attēls"
))
# Options that only an image link takes ([[X:a.jpg|thumb|250px|caption]]): a link with one
# of them is an image whatever its namespace is called locally.
_IMAGE_OPTION_RE = re.compile(
    r"^\s*(?:thumb|thumbnail|frame|framed|frameless|border|upright(?:\s*=?\s*[\d.]+)?|left|right|center|centre|"
    r"none|\d*x?\d+\s*px|мини|міні|миниатюра|мініатюра|サムネイル|miniatur|vignette|miniatura|"
    r"miniaturka|mini)\s*$", re.IGNORECASE)
# Templates whose output is their text in the article: {{lang|de|Text}}, {{lang-de|Text}},
# ltgwiki's {{Vol-en|Text}}, {{nowrap|Text}}. Dropping them with the rest cut the foreign
# names out of lead sentences ("( ; born 1900)").
_TEXT_TEMPLATE_RE = re.compile(r"^(?:lang|vol)(?:-[a-z]{2,3}(?:-[a-z0-9]{1,8})*)?$|^(?:nowrap|nobr)$", re.IGNORECASE)

# Tags whose content is never article prose: references, galleries, maths, code, maps.
_DROPPED_TAGS = frozenset((
    "ref", "references", "gallery", "timeline", "imagemap", "templatedata", "templatestyles",
    "graph", "mapframe", "maplink", "score", "math", "chem", "ce", "hiero", "inputbox",
    "categorytree", "syntaxhighlight", "source", "indicator", "noinclude", "includeonly",
    "onlyinclude", "section", "table", "charinsert", "ref-group", "dynamicpagelist",
))
_BLOCK_TAGS = frozenset(("p", "div", "blockquote", "center", "ul", "ol", "dl", "pre", "poem", "li", "dd", "dt"))

# [[xx:Title]] with a lower-case language-code prefix is an interlanguage link: the software
# moves it to the sidebar, so it is not text. ns-0 titles are first-letter upper case, so a
# lower-case prefix is not an ordinary article title.
_INTERLANGUAGE_RE = re.compile(r"^(?:[a-z]{2,3}(?:-[a-z0-9]{1,8})*|simple)$")

_HEADING_MARK = "\ue000"  # private-use sentinel: "this line is a heading of level N"
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_VERBATIM_DROPPED_RE = re.compile(
    r"<(math|chem|ce|syntaxhighlight|source|score|timeline|graph|templatedata|mapframe|maplink|hiero)\b[^>]*?"
    r"(?:/>|>.*?</\1\s*>)", re.DOTALL | re.IGNORECASE)
# Stands in for a cut template until rendering is done, so the markup around it keeps its
# shape: bold quotes around a cut {{lang|..}} must not collapse into six stray quotes.
_CUT_MARK = "\ue001"
_BRACES_RE = re.compile(r"\{\{|\}\}")
_REF_RE = re.compile(r"<ref\b[^>]*?/>|<ref\b[^>]*>.*?</ref\s*>", re.DOTALL | re.IGNORECASE)
_MAGIC_WORD_RE = re.compile(r"__\S+?__")
_STRAY_MARKUP_RE = re.compile(r"\[\[|\]\]|\{\{|\}\}|\{\||\|\}|</?ref\b[^>]*>", re.IGNORECASE)
_EMPTY_PARENS_RE = re.compile(r"[(（][\s,;:、，]*[)）]")
# "( ; born 1900)", "(;, Tobolsk": separators left at the edge of a parenthesis by a dropped
# template (pronunciation, dates), and runs of them inside it.
_PAREN_OPEN_SEPARATORS_RE = re.compile(r"([(（])[\s,;:、，]*[,;:、，]\s*")
_PAREN_CLOSE_SEPARATORS_RE = re.compile(r"\s*[,;、，][\s,;、，]*([)）])")
_SEPARATOR_RUNS_RE = re.compile(r"([;,])(?:\s*[;,])+")
# Bold/italic quotes the parser left unbalanced (bold around a link after an image link).
_STRAY_QUOTES_RE = re.compile(r"'{2,}")
# Entities the parser left as text (in definition-list items, link text): &nbsp; &ndash; &#160;
_ENTITY_RE = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
# HTML tags the parser left as text (an unclosed <div style=...>).
_STRAY_TAG_RE = re.compile(
    r"</?(?:div|span|center|small|big|font|sup|sub|br|p|abbr|s|u|i|b|em|strong|blockquote|poem|ref|references|"
    r"gallery|table|tr|td|th|tt|code|var|ins|del|mark|cite|q|bdi|onlyinclude|includeonly|noinclude)\b[^<>\n]*>",
    re.IGNORECASE)
_SIMPLE_FILE_LINK_RE = re.compile(r"\[\[\s*([^\[\]|:\n]{1,40}):[^\[\]|]*((?:\|[^\[\]|]*)*)\]\]")
_SPACES_RE = re.compile(r"[ \t\u00a0]{2,}")
_SPACE_BEFORE_PUNCT_RE = re.compile(r" +([,.;:])(?=\s|$)")
_WORD_RE = re.compile(r"\w")


def _magic_word(match: re.Match[str]) -> str:
    # __TOC__, __NOTOC__, __БЕЗ_ЗМІСТУ__, __目次非表示__ are upper case (or caseless);
    # Python's __init__ in prose is not a magic word.
    word = match.group(0)
    return "" if word == word.upper() else word


class _Renderer:
    """Walks mwparserfromhell nodes and emits the visible prose."""

    def __init__(self, hidden_prefixes: frozenset[str]) -> None:
        self.hidden = hidden_prefixes

    def render(self, code: Wikicode | None, out: list[str]) -> None:
        if code is None:
            return
        for node in code.nodes:
            if isinstance(node, Text):
                out.append(node.value)
            elif isinstance(node, Wikilink):
                self._wikilink(node, out)
            elif isinstance(node, Tag):
                self._tag(node, out)
            elif isinstance(node, ExternalLink):
                if node.title is not None and str(node.title).strip():
                    self.render(node.title, out)
                elif not node.brackets:
                    out.append(str(node.url))
                # [http://x] renders as "[1]": a footnote marker, not text.
            elif isinstance(node, Heading):
                title: list[str] = []
                self.render(node.title, title)
                out.append(f"\n{_HEADING_MARK}{node.level}{''.join(title).strip()}\n")
            elif isinstance(node, HTMLEntity):
                out.append(node.normalize())
            elif isinstance(node, (Template, Comment, Argument)):
                continue  # templates, comments and {{{params}}} are not prose (LLaMA, HF wikipedia)

    def _wikilink(self, node: Wikilink, out: list[str]) -> None:
        title = str(node.title).strip()
        visible = title.startswith(":")  # [[:Category:X]] is an ordinary, visible link
        if visible:
            title = title[1:].strip()
        elif ":" in title:
            prefix = title.split(":", 1)[0].strip()
            if prefix.casefold() in self.hidden or _INTERLANGUAGE_RE.match(prefix):
                return
            if node.text is not None and any(_IMAGE_OPTION_RE.match(p) for p in str(node.text).split("|")):
                return  # an image under a namespace name we do not know
        if node.text is not None:
            text: list[str] = []
            self.render(node.text, text)
            shown = "".join(text)
            if shown.replace(_CUT_MARK, "").strip():
                out.append(shown)
                return
            # Pipe trick [[Paris (France)|]] shows "Paris".
            title = re.sub(r"\s*\([^)]*\)$", "", title.split(":", 1)[-1])
        out.append(title)

    def _tag(self, node: Tag, out: list[str]) -> None:
        name = str(node.tag).strip().lower()
        if node.wiki_markup == "{|" or name in _DROPPED_TAGS:
            return
        if name == "br" or name == "hr":
            out.append("\n")
            return
        if node.self_closing or node.contents is None:
            return  # list markers (*, #, ;, :) and empty tags
        block = name in _BLOCK_TAGS
        if block:
            out.append("\n")
        if name in ("nowiki", "pre"):
            out.append(str(node.contents))
        else:
            self.render(node.contents, out)
        if block:
            out.append("\n")


def _drop_empty_sections(lines: list[str]) -> list[str]:
    """Removes headings whose section holds no text ("References", "External links"...)."""
    kept: list[str] = []
    content_since = [False] * 8  # content_since[l]: text below, before the next heading of level <= l
    for line in reversed(lines):
        if line.startswith(_HEADING_MARK):
            level = min(int(line[1]) if line[1:2].isdigit() else 2, 7)
            title = line[2:].strip()
            if content_since[level] and title:
                kept.append(title)
            for deeper in range(level, 8):
                content_since[deeper] = False
        else:
            if line:
                content_since = [True] * 8
            kept.append(line)
    kept.reverse()
    return kept


def _is_file_link(match: re.Match[str], hidden: frozenset[str]) -> bool:
    """``[[File:a.jpg|thumb|caption]]`` without nested links, under any local namespace name."""
    if match.group(1).strip().casefold() in hidden:
        return True
    return any(_IMAGE_OPTION_RE.match(part) for part in match.group(2).split("|")[1:])


def _strip_templates(wikitext: str) -> str:
    """Cuts balanced ``{{ ... }}`` spans (templates, parser functions) before parsing.

    Templates are dropped anyway and infoboxes are large; brace matching here is the same
    rule the parser uses. An unbalanced ``{{`` is left to the parser.
    """
    if "{{" not in wikitext:
        return wikitext
    pieces: list[str] = []
    depth = 0
    start = 0  # where the current outermost template began
    kept_from = 0
    for match in _BRACES_RE.finditer(wikitext):
        if match.group() == "{{":
            if depth == 0:
                start = match.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                pieces.append(wikitext[kept_from:start])
                pieces.append(_template_text(wikitext[start + 2:match.start()]))
                kept_from = match.end()
    pieces.append(wikitext[kept_from:])
    return "".join(pieces)


def _split_params(inner: str) -> list[str]:
    """A template's parameters: ``|`` splits them except inside ``{{ }}`` and ``[[ ]]``."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(inner):
        pair = inner[i:i + 2]
        if pair in ("{{", "[["):
            depth += 1
            i += 2
            continue
        if pair in ("}}", "]]") and depth:
            depth -= 1
            i += 2
            continue
        if inner[i] == "|" and not depth:
            parts.append(inner[start:i])
            start = i + 1
        i += 1
    parts.append(inner[start:])
    return parts


def _template_text(inner: str) -> str:
    """What a cut template leaves: the text of a language or nowrap template, else a cut mark."""
    name, _, rest = inner.partition("|")
    name = name.strip()
    if not rest or not _TEXT_TEMPLATE_RE.match(name):
        return _CUT_MARK
    positional = [p for p in _split_params(rest) if "=" not in p.split("[[", 1)[0].split("{{", 1)[0]]
    if name.lower() == "lang":
        positional = positional[1:]  # {{lang|xx|text}}: the first one is the language code
    if not positional or not positional[0].strip():
        return _CUT_MARK
    return _strip_templates(positional[0].strip())


def _strip_refs_and_tables(wikitext: str) -> str:
    """Cuts ``<ref>``s and closed ``{| ... |}`` tables before parsing.

    Both are dropped anyway, and building their node trees is most of mwparserfromhell's
    time on real pages (a table is a tag per row and per cell). A table is cut only when its
    closing ``|}`` line is found; an unclosed one is left to the parser.
    """
    if "<ref" in wikitext or "<REF" in wikitext:
        wikitext = _REF_RE.sub("", wikitext)
    if "{|" not in wikitext:
        return wikitext
    lines = wikitext.split("\n")
    drop = [False] * len(lines)
    opened: list[int] = []
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith("{|"):
            opened.append(i)
        elif stripped.startswith("|}") and opened:
            start = opened.pop()
            if not opened:
                for j in range(start + 1, i + 1):
                    drop[j] = True
                lines[start] = ""  # a table ends the paragraph before it
    if not any(drop):
        return wikitext
    return "\n".join(line for line, cut in zip(lines, drop) if not cut)


def wikitext_to_text(wikitext: str, hidden_prefixes: Iterable[str] = ()) -> str:
    """Plain prose of one page: no templates, refs, tables, files, categories, links or markup.

    Link text is kept (``[[a|b]]`` → ``b``, ``[http://x text]`` → ``text``), headings stay as
    plain lines when their section has text, paragraphs are separated by a blank line.

    Args:
        wikitext: the page source.
        hidden_prefixes: extra lower-cased namespace names whose links are not text (the
            dump's own File/Media/Category names).
    """
    hidden = COMMON_HIDDEN_PREFIXES | frozenset(p.casefold() for p in hidden_prefixes)
    # MediaWiki strips comments before anything else (an unclosed one runs to the end);
    # doing the same keeps comments inside link text or broken templates out of the prose.
    wikitext = _COMMENT_RE.sub("", wikitext)
    # Cut what is dropped anyway before parsing: building node trees for templates, refs and
    # tables is most of the parser's time. Maths and code go first so that their braces
    # cannot unbalance the template matching.
    wikitext = _VERBATIM_DROPPED_RE.sub("", wikitext)
    # Image links without nested links go before parsing too: a caption the parser cannot
    # take (four quotes in a row) would otherwise leave the whole link as text.
    wikitext = _SIMPLE_FILE_LINK_RE.sub(lambda m: "" if _is_file_link(m, hidden) else m.group(0), wikitext)
    wikitext = _strip_refs_and_tables(_strip_templates(wikitext))
    out: list[str] = []
    _Renderer(hidden).render(mwparserfromhell.parse(wikitext), out)
    text = "".join(out).replace(_CUT_MARK, "")
    text = _MAGIC_WORD_RE.sub(_magic_word, text)
    # Safety net: markup the parser left as text (unbalanced brackets, broken refs).
    text = _STRAY_MARKUP_RE.sub("", text)
    text = _ENTITY_RE.sub(lambda m: html.unescape(m.group(0)), text)
    text = _STRAY_TAG_RE.sub("", text)
    text = _STRAY_QUOTES_RE.sub("", text)
    text = _SEPARATOR_RUNS_RE.sub(r"\1", text)
    text = _PAREN_OPEN_SEPARATORS_RE.sub(r"\1", text)
    text = _PAREN_CLOSE_SEPARATORS_RE.sub(r"\1", text)
    text = _EMPTY_PARENS_RE.sub("", text)
    lines = []
    for raw in text.split("\n"):
        line = _SPACES_RE.sub(" ", raw.replace("\u00a0", " ")).strip()
        line = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", line)
        if line.startswith(_HEADING_MARK) or _WORD_RE.search(line):
            lines.append(line)
        else:
            lines.append("")  # punctuation-only leftovers of removed markup
    lines = _drop_empty_sections(lines)
    paragraphs: list[str] = []
    previous_blank = True
    for line in lines:
        if not line:
            if not previous_blank:
                paragraphs.append("")
            previous_blank = True
        else:
            paragraphs.append(line)
            previous_blank = False
    return "\n".join(paragraphs).strip()
