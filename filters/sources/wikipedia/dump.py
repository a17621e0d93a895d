"""Wikipedia: stream a MediaWiki ``pages-articles`` XML dump and turn wikitext into plain text.

LLaMA-1 used Wikipedia dumps of June–August 2022 in 20 languages, "removing hyperlinks, comments
and other formatting boilerplate" (arXiv 2302.13971 §2). RedPajama reproduced it with the HF
``wikipedia`` Beam builder (mwparserfromhell). Three pieces live here, all Beam-free:

- :func:`iter_dump` / :func:`read_wikipedia_dump`: a streaming reader. ``.xml``, ``.xml.bz2``
  (multistream too) and ``.xml.gz`` are detected by magic bytes; the XML goes through expat
  chunk by chunk, so memory stays flat whatever the dump size. DOCTYPE and entity
  declarations are refused ("billion laughs", external entities): a MediaWiki export never
  has them. Only namespace 0 pages that are not redirects become documents.
- :class:`WikitextCleaner` (a cleaner, name ``"wikitext"``): wikitext → plain text.
- :class:`WikipediaTextFilter` (a filter, name ``"wikipedia"``): drops pages left empty.

Drop reasons:
    ``wiki_lang``: the whole dump is in a language outside ``WikipediaConfig.languages``
        (LLaMA's 20: bg ca cs da de en es fr hr hu it nl pl pt ro ru sl sr sv uk).
    ``empty``: nothing (or fewer than ``WikipediaConfig.min_chars`` characters) is left after cleaning.
"""

from __future__ import annotations

import bz2
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote
from xml.parsers import expat

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

from filters.base import BadRecord, Dropped, QuarantineRecord, Verdict
from filters.document import Document, stable_id
from filters.sources.wikipedia.config import LLAMA_WIKIPEDIA_LANGUAGES, WikipediaConfig

SOURCE = "wikipedia"

REASON_WIKI_LANG = "wiki_lang"
REASON_EMPTY = "empty"

# Reader → cleaner hand-off: the lower-cased names of the dump's File/Media/Category
# namespaces. Meta keys starting with "_" are transient; the cleaner removes them.
HIDDEN_PREFIXES_KEY = "_wiki_hidden_prefixes"

_CHUNK = 1 << 20
_HIDDEN_NAMESPACE_KEYS = (-2, 6, 14)  # Media, File, Category


class DumpError(BadRecord):
    """The dump cannot be read on: malformed XML, a DOCTYPE, an unknown encoding."""


# ---------------------------------------------------------------------------------------
# Streaming reader


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """``<siteinfo>`` of a dump: the wiki's database name, language and namespace names."""

    dbname: str
    lang: str
    namespaces: dict[int, str] = field(default_factory=dict)

    def hidden_prefixes(self) -> tuple[str, ...]:
        """Lower-cased local names of the Media, File and Category namespaces."""
        return tuple(sorted({self.namespaces[k].casefold() for k in _HIDDEN_NAMESPACE_KEYS if self.namespaces.get(k)}))


@dataclass(frozen=True, slots=True)
class WikiPage:
    """One ``<page>`` with its latest ``<revision>``."""

    title: str
    ns: int
    page_id: int
    revision_id: int
    timestamp: str
    redirect: bool
    text: str


def lang_from_dbname(dbname: str) -> str:
    """``enwiki`` → ``en``; ``zh_min_nanwiki`` → ``zh-min-nan``; empty if not a ``*wiki`` name."""
    if dbname.endswith("wiki") and len(dbname) > 4:
        return dbname[: -len("wiki")].replace("_", "-")
    return ""


def _decompressed_chunks(fileobj: BinaryIO) -> Iterator[bytes]:
    """The dump's bytes, decompressed by magic number (bz2, gzip or none), chunk by chunk.

    bz2 and gzip are decoded stream after stream, so multistream bz2 dumps and
    concatenated gzip members read in full.
    """
    head = fileobj.read(_CHUNK)
    if head.startswith(b"BZh"):
        new = bz2.BZ2Decompressor
    elif head.startswith(b"\x1f\x8b"):
        def new() -> Any:
            return zlib.decompressobj(wbits=31)
    else:
        while head:
            yield head
            head = fileobj.read(_CHUNK)
        return
    decompressor = new()
    fed = False  # whether the current stream has been given any bytes
    data = head
    while data:
        while data:
            fed = True
            out = decompressor.decompress(data)
            if out:
                yield out
            if decompressor.eof:
                data = decompressor.unused_data
                decompressor = new()
                fed = False
            else:
                data = b""
        data = fileobj.read(_CHUNK)
    if fed:
        raise DumpError("compressed stream ended early (truncated file)")


class _DumpHandler:
    """expat callbacks that collect ``SiteInfo`` and ``WikiPage`` items into ``self.ready``."""

    # (parent, element) pairs whose text we keep; everything else is skipped cheaply.
    _FIELDS = {
        ("siteinfo", "dbname"): "dbname",
        ("namespaces", "namespace"): "namespace",
        ("page", "title"): "title",
        ("page", "ns"): "ns",
        ("page", "id"): "page_id",
        ("revision", "id"): "revision_id",
        ("revision", "timestamp"): "timestamp",
        ("revision", "text"): "text",
    }

    def __init__(self) -> None:
        self.ready: list[SiteInfo | WikiPage] = []
        self.last_page_id: int | None = None
        self._stack: list[str] = []
        self._buffer: list[str] | None = None
        self._field: str | None = None
        self._ns_key: int = 0
        self._xml_lang = ""
        self._dbname = ""
        self._namespaces: dict[int, str] = {}
        self._page: dict[str, Any] = {}

    def start(self, name: str, attrs: dict[str, str]) -> None:
        parent = self._stack[-1] if self._stack else ""
        self._stack.append(name)
        if name == "mediawiki" and not parent:
            self._xml_lang = attrs.get("xml:lang", "")
        elif name == "page":
            self._page = {"redirect": False}
        elif name == "redirect" and parent == "page":
            self._page["redirect"] = True
        field_name = self._FIELDS.get((parent, name))
        if field_name is not None:
            if field_name == "namespace":
                self._ns_key = int(attrs.get("key", "0"))
            self._field = field_name
            self._buffer = []

    def data(self, text: str) -> None:
        if self._buffer is not None:
            self._buffer.append(text)

    def end(self, name: str) -> None:
        self._stack.pop()
        if self._buffer is not None and self._field is not None:
            value = "".join(self._buffer)
            self._store(self._field, value)
            self._buffer = None
            self._field = None
        if name == "siteinfo":
            lang = lang_from_dbname(self._dbname) or self._xml_lang
            self.ready.append(SiteInfo(self._dbname, lang, dict(self._namespaces)))
        elif name == "page":
            page = self._page
            page_id = int(page.get("page_id") or 0)
            self.ready.append(WikiPage(
                title=page.get("title", ""),
                ns=int(page.get("ns") or 0),
                page_id=page_id,
                revision_id=int(page.get("revision_id") or 0),
                timestamp=page.get("timestamp", ""),
                redirect=page["redirect"],
                text=page.get("text", ""),
            ))
            self.last_page_id = page_id
            self._page = {}

    def _store(self, name: str, value: str) -> None:
        if name == "dbname":
            self._dbname = value.strip()
        elif name == "namespace":
            self._namespaces[self._ns_key] = value.strip()
        else:
            # A full-history dump has several <revision>s: the last one wins.
            self._page[name] = value

    @staticmethod
    def refuse_doctype(*_: Any) -> None:
        raise DumpError("DOCTYPE or entity declaration in a dump: refused (entity expansion is never parsed)")


def _new_parser(handler: _DumpHandler) -> Any:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = 1 << 16
    parser.ordered_attributes = False
    # No DTD ever: refuse DOCTYPE and entity declarations outright ("billion laughs",
    # external entities) and never read parameter entities.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = handler.refuse_doctype
    parser.EntityDeclHandler = handler.refuse_doctype
    parser.UnparsedEntityDeclHandler = handler.refuse_doctype
    parser.ExternalEntityRefHandler = handler.refuse_doctype
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.data
    return parser


class DumpReadError(DumpError):
    """Reading stopped inside a dump; ``last_page_id`` is the last page read completely."""

    def __init__(self, message: str, last_page_id: int | None) -> None:
        super().__init__(message)
        self.last_page_id = last_page_id


def iter_dump(fileobj: BinaryIO) -> Iterator[SiteInfo | WikiPage]:
    """Every ``SiteInfo`` and ``WikiPage`` of a dump, streamed.

    Raises:
        DumpReadError: malformed XML, a DOCTYPE, an undecodable encoding or a broken
            compressed stream; pages before the error have already been yielded.
    """
    handler = _DumpHandler()
    parser = _new_parser(handler)
    try:
        for chunk in _decompressed_chunks(fileobj):
            parser.Parse(chunk, False)
            if handler.ready:
                yield from handler.ready
                handler.ready.clear()
        parser.Parse(b"", True)
        yield from handler.ready
        handler.ready.clear()
    except expat.ExpatError as exc:
        message = f"malformed XML ({expat.ErrorString(exc.code)}) at line {exc.lineno}, column {exc.offset}"
        if exc.code in (expat.errors.codes[expat.errors.XML_ERROR_UNKNOWN_ENCODING],
                        expat.errors.codes[expat.errors.XML_ERROR_INCORRECT_ENCODING]):
            message = f"undecodable dump encoding: {message}"
        raise DumpReadError(message, handler.last_page_id) from None
    except DumpError as exc:
        raise DumpReadError(str(exc), handler.last_page_id) from None
    except LookupError as exc:  # pyexpat asks Python's codecs for encodings it lacks
        raise DumpReadError(f"undecodable dump encoding: {exc}", handler.last_page_id) from None
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DumpReadError(f"broken compressed stream: {type(exc).__name__}: {exc}", handler.last_page_id) from None


_REDIRECT_RE = re.compile(r"^\s*#\s*(REDIRECT|ПЕРЕНАПРАВЛЕННЯ|ПЕРЕНАПРАВЛЕНИЕ|転送|リダイレクト|WEITERLEITUNG|"
                          r"REDIRECTION|RINVIA|DOORVERWIJZING|PATRZ|PRZEKIERUJ|REDIRECCIÓN)\b", re.IGNORECASE)


def is_redirect(page: WikiPage) -> bool:
    """``<redirect>`` element (export ≥ 0.4) or a ``#REDIRECT`` first line (older exports)."""
    return page.redirect or bool(_REDIRECT_RE.match(page.text[:64]))


def page_url(lang: str, title: str) -> str:
    return f"https://{lang}.wikipedia.org/wiki/{quote(title.replace(' ', '_'), safe='/:,()!*@$;-._~')}"


def read_wikipedia_dump(path: str, fileobj: BinaryIO,
                        languages: Iterable[str] | None = LLAMA_WIKIPEDIA_LANGUAGES,
                        ) -> Iterator[Document | Dropped | QuarantineRecord]:
    """Documents for the article pages (namespace 0, not redirects) of one dump.

    Other namespaces and redirects are not documents and are skipped silently (see
    :func:`count_pages` for their numbers). A dump whose language is not in ``languages``
    (``None``: any) yields every article as ``Dropped(reason="wiki_lang")`` so that
    counts reconcile. A dump that breaks mid-way yields one ``QuarantineRecord`` naming the
    file and the last page read completely; the pages before it stay.

    Args:
        path: the dump's path (recorded in ``meta.file``).
        fileobj: the raw (possibly compressed) bytes.
        languages: the wiki languages to keep.
    """
    allowed = None if languages is None else frozenset(languages)
    site = SiteInfo("", "", {})
    try:
        for item in iter_dump(fileobj):
            if isinstance(item, SiteInfo):
                site = item
                continue
            if item.ns != 0 or is_redirect(item):
                continue
            lang = site.lang or "und"
            meta: dict[str, Any] = {
                "title": item.title,
                "page_id": item.page_id,
                "revision_id": item.revision_id,
                "timestamp": item.timestamp,
                "lang": lang,
                "url": page_url(lang, item.title),
                "file": path,
                "record": str(item.page_id),
            }
            doc_id = stable_id(SOURCE, lang, item.page_id)
            if allowed is not None and lang not in allowed:
                yield Dropped(Document(doc_id, item.text, SOURCE, meta), REASON_WIKI_LANG)
                continue
            meta[HIDDEN_PREFIXES_KEY] = list(site.hidden_prefixes())
            yield Document(doc_id, item.text, SOURCE, meta)
    except DumpReadError as exc:
        last = "start of dump" if exc.last_page_id is None else f"page {exc.last_page_id}"
        yield QuarantineRecord(SOURCE, path, f"after {last}", "read", f"DumpReadError: {exc}")


class WikipediaDumpReader:
    """``ReadSource`` reader bound to a ``WikipediaConfig`` (picklable: config only)."""

    def __init__(self, cfg: WikipediaConfig) -> None:
        self.cfg = cfg

    def __call__(self, path: str, fileobj: BinaryIO) -> Iterator[Document | Dropped | QuarantineRecord]:
        return read_wikipedia_dump(path, fileobj, self.cfg.languages)


@dataclass
class PageCounts:
    """What a dump holds, page by page: for tests and the reader's documentation."""

    pages: int = 0
    ns0: int = 0
    ns0_redirects: int = 0
    redirects: int = 0
    articles: int = 0
    by_ns: dict[int, int] = field(default_factory=dict)


def count_pages(fileobj: BinaryIO) -> PageCounts:
    counts = PageCounts()
    for item in iter_dump(fileobj):
        if isinstance(item, SiteInfo):
            continue
        counts.pages += 1
        counts.by_ns[item.ns] = counts.by_ns.get(item.ns, 0) + 1
        redirect = is_redirect(item)
        counts.redirects += redirect
        if item.ns == 0:
            counts.ns0 += 1
            counts.ns0_redirects += redirect
            counts.articles += not redirect
    return counts


# ---------------------------------------------------------------------------------------
# Wikitext → plain text

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
))

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
_EMPTY_PARENS_RE = re.compile(r"[(（]\s*[,;:、，]?\s*[)）]")
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
                pieces.append(_CUT_MARK)
                kept_from = match.end()
    pieces.append(wikitext[kept_from:])
    return "".join(pieces)


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
    wikitext = _strip_refs_and_tables(_strip_templates(wikitext))
    out: list[str] = []
    _Renderer(hidden).render(mwparserfromhell.parse(wikitext), out)
    text = "".join(out).replace(_CUT_MARK, "")
    text = _MAGIC_WORD_RE.sub(_magic_word, text)
    # Safety net: markup the parser left as text (unbalanced brackets, broken refs).
    text = _STRAY_MARKUP_RE.sub("", text)
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


class WikitextCleaner:
    """Cleaner ``"wikitext"``: a page's wikitext → plain text (see :func:`wikitext_to_text`)."""

    name = "wikitext"

    def __init__(self, cfg: WikipediaConfig | None = None) -> None:
        self.cfg = cfg or WikipediaConfig()

    def load(self) -> None:
        pass

    def __call__(self, doc: Document) -> Document:
        prefixes = doc.meta.get(HIDDEN_PREFIXES_KEY) or ()
        cleaned = doc.with_text(wikitext_to_text(doc.text, prefixes))
        for key in [k for k in cleaned.meta if k.startswith("_")]:
            del cleaned.meta[key]
        return cleaned


class WikipediaTextFilter:
    """Filter ``"wikipedia"``: drops pages with no text left after cleaning.

    Drop reasons:
        ``empty``: fewer than ``cfg.min_chars`` non-space characters.
    """

    name = "wikipedia"

    def __init__(self, cfg: WikipediaConfig | None = None) -> None:
        self.cfg = cfg or WikipediaConfig()

    def load(self) -> None:
        pass

    def __call__(self, doc: Document) -> Verdict:
        chars = len(doc.text.strip())
        if chars < max(1, self.cfg.min_chars):
            return Verdict.dropped(REASON_EMPTY, chars=chars)
        return Verdict.kept(chars=chars)


def iter_articles(paths: Iterable[str], languages: Iterable[str] | None = None,
                  max_docs: int | None = None) -> Iterator[Document]:
    """Cleaned, non-empty article documents of local dumps, in file order (for LM training)."""
    cleaner = WikitextCleaner()
    emitted = 0
    for path in paths:
        with open(path, "rb") as fh:
            for item in read_wikipedia_dump(path, fh, languages):
                if isinstance(item, QuarantineRecord):
                    raise DumpError(f"{item.file}: {item.record}: {item.error}")
                if isinstance(item, Dropped) and item.reason == REASON_WIKI_LANG:
                    break  # a dump holds one wiki: the rest of it is the same other language
                if not isinstance(item, Document):
                    continue
                doc = cleaner(item)
                if not doc.text.strip():
                    continue
                yield doc
                emitted += 1
                if max_docs is not None and emitted >= max_docs:
                    return
