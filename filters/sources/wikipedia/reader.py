"""Wikipedia: stream a MediaWiki ``pages-articles`` XML dump into article documents.

LLaMA-1 used Wikipedia dumps of June–August 2022 in 20 languages (arXiv 2302.13971 §2).
:func:`iter_dump` / :func:`read_wikipedia_dump` are a streaming reader, Beam-free:
``.xml``, ``.xml.bz2`` (multistream too) and ``.xml.gz`` are detected by magic bytes; the XML
goes through expat chunk by chunk, so memory stays flat whatever the dump size. DOCTYPE and
entity declarations are refused ("billion laughs", external entities): a MediaWiki export
never has them. Only namespace 0 pages that are not redirects become documents.
:func:`count_pages` is the census of a dump (for tests and documentation).

The wikitext of each page is turned into plain text by the cleaner in
``filters/sources/wikipedia/rules.py`` (renderer: ``render.py``).

Drop reasons (stage ``read``):
    ``wiki_lang``: the whole dump is in a language outside ``WikipediaConfig.languages``
        (LLaMA's 20: bg ca cs da de en es fr hr hu it nl pl pt ro ru sl sr sv uk).
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

from filters.base import BadRecord, Dropped, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.wikipedia.config import LLAMA_WIKIPEDIA_LANGUAGES, WikipediaConfig

SOURCE = "wikipedia"

REASON_WIKI_LANG = "wiki_lang"

# Reader → cleaner hand-off: the lower-cased names of the dump's File/Media/Category
# namespaces. Meta keys starting with "_" are transient; the cleaner removes them.
HIDDEN_PREFIXES_KEY = "_wiki_hidden_prefixes"

_CHUNK = 1 << 20
_HIDDEN_NAMESPACE_KEYS = (-2, 6, 14)  # Media, File, Category


class DumpError(BadRecord):
    """The dump cannot be read on: malformed XML, a DOCTYPE, an unknown encoding."""


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
                        source: str = SOURCE) -> Iterator[Document | Dropped | QuarantineRecord]:
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
        source: the source name: ``Document.source`` and the prefix of document ids.
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
            doc_id = stable_id(source, lang, item.page_id)
            if allowed is not None and lang not in allowed:
                yield Dropped(Document(doc_id, item.text, source, meta), REASON_WIKI_LANG)
                continue
            meta[HIDDEN_PREFIXES_KEY] = list(site.hidden_prefixes())
            yield Document(doc_id, item.text, source, meta)
    except DumpReadError as exc:
        last = "start of dump" if exc.last_page_id is None else f"page {exc.last_page_id}"
        yield QuarantineRecord(source, path, f"after {last}", "read", f"DumpReadError: {exc}")


class WikipediaDumpReader:
    """``reader(path, fh)`` for ``ReadSource``: the article pages of one dump.

    Args:
        source: the source name: ``Document.source`` and the prefix of document ids.
        cfg: the languages to keep (articles of other wikis drop as ``wiki_lang``).
    """

    def __init__(self, source: str, cfg: WikipediaConfig) -> None:
        self.source = source
        self.cfg = cfg

    def __call__(self, path: str, fileobj: BinaryIO) -> Iterator[Document | Dropped | QuarantineRecord]:
        return read_wikipedia_dump(path, fileobj, self.cfg.languages, self.source)


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
