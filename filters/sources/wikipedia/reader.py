"""Wikipedia: stream a MediaWiki ``pages-articles`` XML dump into article documents.

LLaMA-1 used Wikipedia dumps of June–August 2022 in 20 languages (arXiv 2302.13971 §2).
:func:`read_wikipedia_dump` / :class:`WikipediaDumpReader` read any dump as Wikimedia and
its mirrors publish it (``dumpfile.py``: whole, split parts, multistream, ``.bz2``/``.gz``/
``.xz``/plain, any XML encoding), or one byte range of a multistream dump (an
:class:`~filters.base.InputFile` with ``start``/``end``, planned from its index).

Page by page, so one bad page costs that page only: the XML stream is cut at ``<page>`` /
``</page>`` (they cannot occur unescaped inside a page's text) and each page is parsed on
its own with expat; a malformed or unterminated page is quarantined naming its id, title
and line, and reading resumes at the next ``<page>``. A page over
``WikipediaConfig.max_page_bytes`` is quarantined with the limit named, without being held
in memory. Everything is linear in the dump's size and memory stays bounded.

DOCTYPE and entity declarations are refused ("billion laughs", external entities): a
MediaWiki export never has them; the dump is then quarantined whole. Only namespace 0
pages that are not redirects become documents. Ids are ``(snapshot, lang, page id)``: the
snapshot (``enwiki-20230401``, from the file name, see :func:`dump_snapshot`) keeps two
dumps of one wiki apart, while the split parts of one dump share it.
:func:`count_pages` is the census of a dump (for tests and documentation).

The wikitext of each page is turned into plain text by the cleaner in
``filters/sources/wikipedia/rules.py`` (renderer: ``render.py``).

Drop reasons (stage ``read``):
    ``wiki_lang``: the whole dump is in a language outside ``WikipediaConfig.languages``
        (LLaMA's 20: bg ca cs da de en es fr hr hu it nl pl pt ro ru sl sr sv uk).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote
from xml.parsers import expat

from filters.base import Dropped, InputFile, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.wikipedia.config import LLAMA_WIKIPEDIA_LANGUAGES, MAX_PAGE_BYTES, WikipediaConfig
from filters.sources.wikipedia.dumpfile import (
    DumpError,
    decompressed_chunks,
    dump_snapshot,
    first_stream,
    utf8_chunks,
)

__all__ = ["DumpError", "DumpReadError", "BadPage", "SiteInfo", "WikiPage", "iter_dump", "read_wikipedia_dump",
           "WikipediaDumpReader", "count_pages", "dump_snapshot"]

SOURCE = "wikipedia"

REASON_WIKI_LANG = "wiki_lang"

# Reader → cleaner hand-off: the lower-cased names of the dump's File/Media/Category
# namespaces. Meta keys starting with "_" are transient; the cleaner removes them.
HIDDEN_PREFIXES_KEY = "_wiki_hidden_prefixes"

_HIDDEN_NAMESPACE_KEYS = (-2, 6, 14)  # Media, File, Category
_OPEN = b"<page>"
_CLOSE = b"</page>"
_RAW_TITLE_RE = re.compile(rb"<title>([^<]{0,512})</title>")
_RAW_ID_RE = re.compile(rb"<id>\s*(\d{1,20})\s*</id>")


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


@dataclass(frozen=True, slots=True)
class BadPage:
    """A page that cannot be read; the pages around it can. ``location`` names it for a person."""

    location: str
    error: str
    page_id: int | None = None


def lang_from_dbname(dbname: str) -> str:
    """``enwiki`` → ``en``; ``zh_min_nanwiki`` → ``zh-min-nan``; empty if not a ``*wiki`` name."""
    if dbname.endswith("wiki") and len(dbname) > 4:
        return dbname[: -len("wiki")].replace("_", "-")
    return ""


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
            self.ready.append(WikiPage(
                title=page.get("title", ""),
                ns=int(page.get("ns") or 0),
                page_id=int(page.get("page_id") or 0),
                revision_id=int(page.get("revision_id") or 0),
                timestamp=page.get("timestamp", ""),
                redirect=page["redirect"],
                text=page.get("text", ""),
            ))
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
    # Every chunk reaching the parser is UTF-8 already (dumpfile.utf8_chunks re-encodes),
    # whatever the XML declaration says.
    parser = expat.ParserCreate("utf-8")
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


def _xml_error(exc: expat.ExpatError, first_line: int = 1) -> str:
    where = f"line {first_line + exc.lineno - 1}, column {exc.offset}"
    message = f"malformed XML ({expat.ErrorString(exc.code)}) at {where}"
    if exc.code in (expat.errors.codes[expat.errors.XML_ERROR_UNKNOWN_ENCODING],
                    expat.errors.codes[expat.errors.XML_ERROR_INCORRECT_ENCODING]):
        message = f"undecodable dump encoding: {message}"
    return message


def _parse_header(header: bytes, whole: bool) -> list[SiteInfo | WikiPage]:
    """The ``<siteinfo>`` (and, for a dump without any ``<page>`` marker, everything) of a dump."""
    handler = _DumpHandler()
    try:
        _new_parser(handler).Parse(header, whole)
    except expat.ExpatError as exc:
        raise DumpError(_xml_error(exc)) from None
    return handler.ready


def _bad(data: bytes, line: int, error: str) -> BadPage:
    """A bad page named by what its raw bytes show: id, title, line."""
    head = data[:1 << 16]
    title = _RAW_TITLE_RE.search(head)
    page_id = _RAW_ID_RE.search(head)
    name = "page"
    if page_id:
        name += f" {int(page_id.group(1))}"
    if title:
        name += f" {html.unescape(title.group(1).decode('utf-8', 'replace'))!r}"
    return BadPage(f"{name} (line {line})", error, int(page_id.group(1)) if page_id else None)


def _parse_page(data: bytes, line: int) -> WikiPage | BadPage:
    handler = _DumpHandler()
    try:
        _new_parser(handler).Parse(data, True)
    except expat.ExpatError as exc:
        return _bad(data, line, _xml_error(exc, line))
    except DumpError as exc:
        return _bad(data, line, str(exc))
    pages = [item for item in handler.ready if isinstance(item, WikiPage)]
    if len(pages) != 1:
        return _bad(data, line, "not one <page> element")
    return pages[0]


def _cut_pages(chunks: Iterable[bytes], max_page_bytes: int,
               with_header: bool) -> Iterator[tuple[str, bytes, int]]:
    """The XML stream cut into ``(kind, bytes, first line)``: ``header`` (everything before the
    first ``<page>``; ``whole`` when there is none), then ``page``, or ``unclosed`` /
    ``truncated`` / ``oversize`` for a page that cannot be complete.

    One pass, each byte searched a bounded number of times; at most one page (capped at
    ``max_page_bytes``) plus one chunk is held.
    """
    buf = b""
    pos = 0  # buf[:pos] is consumed
    line = 1  # line number at buf[pos]
    state = "header" if with_header else "between"
    scanned = 0  # in a page: buf[pos:pos + scanned] holds no boundary (but at its very start)
    for chunk in _with_end(chunks):
        final = chunk is None
        if chunk:
            buf = buf[pos:] + chunk
            pos = 0
        while True:
            if state == "header":
                found = buf.find(_OPEN, pos)
                if found < 0:
                    if final:
                        yield "whole", buf[pos:], line
                        return
                    if len(buf) - pos > max_page_bytes:
                        raise DumpError(f"no <page> in the first {max_page_bytes} bytes (limit max_page_bytes)")
                    break
                yield "header", buf[pos:found], line
                line += buf.count(b"\n", pos, found)
                pos, state, scanned = found, "page", len(_OPEN)
            elif state in ("between", "skip"):
                found = buf.find(_OPEN, pos)
                if found < 0:
                    keep = 0 if final else len(_OPEN) - 1  # a marker split across chunks
                    drop = max(pos, len(buf) - keep)
                    line += buf.count(b"\n", pos, drop)
                    pos = drop
                    if final:
                        return
                    break
                line += buf.count(b"\n", pos, found)
                pos, state, scanned = found, "page", len(_OPEN)
            else:  # in a page: buf[pos:] starts with <page>
                since = pos + max(len(_OPEN), scanned - len(_CLOSE))
                close = buf.find(_CLOSE, since)
                stop = close if close >= 0 else len(buf)
                nested = buf.find(_OPEN, pos + max(len(_OPEN), scanned - len(_OPEN)), stop)
                if nested >= 0:
                    yield "unclosed", buf[pos:nested], line
                    line += buf.count(b"\n", pos, nested)
                    pos, scanned = nested, len(_OPEN)
                elif close >= 0 and close + len(_CLOSE) - pos <= max_page_bytes:
                    end = close + len(_CLOSE)
                    yield "page", buf[pos:end], line
                    line += buf.count(b"\n", pos, end)
                    pos, state = end, "between"
                elif close >= 0 or len(buf) - pos > max_page_bytes:
                    yield "oversize", buf[pos:pos + (1 << 16)], line
                    pos, state = pos + len(_OPEN), "skip"  # drop its bytes up to the next <page>
                elif final:
                    yield "truncated", buf[pos:], line
                    return
                else:
                    scanned = len(buf) - pos
                    break
        if final:
            return


def _with_end(chunks: Iterable[bytes]) -> Iterator[bytes | None]:
    yield from chunks
    yield None


def iter_dump(fileobj: BinaryIO, max_page_bytes: int = MAX_PAGE_BYTES, start: int = 0,
              end: int | None = None) -> Iterator[SiteInfo | WikiPage | BadPage]:
    """Every ``SiteInfo``, ``WikiPage`` and ``BadPage`` of a dump (or of the byte range
    ``[start, end)`` of a multistream dump: its header comes from the first stream), streamed.

    Raises:
        DumpReadError: a DOCTYPE, a malformed header, an undecodable encoding, a header
            without a page within ``max_page_bytes``, or a broken compressed stream; pages
            before the error have already been yielded.
    """
    last_page_id: int | None = None
    try:
        if start:
            header = next(utf8_chunks(iter([first_stream(fileobj, max_page_bytes)])), b"")
            cut = header.find(_OPEN)
            yield from _parse_header(header if cut < 0 else header[:cut], False)
            fileobj.seek(start)
        chunks = utf8_chunks(decompressed_chunks(fileobj, None if end is None else end - start))
        for kind, data, line in _cut_pages(chunks, max_page_bytes, with_header=not start):
            if kind in ("header", "whole"):
                yield from _parse_header(data, kind == "whole")
                continue
            if kind == "page":
                item = _parse_page(data, line)
            elif kind == "oversize":
                item = _bad(data, line, f"page larger than the limit max_page_bytes={max_page_bytes}")
            elif kind == "unclosed":
                item = _bad(data, line, "malformed XML: the page is not closed before the next <page>")
            else:
                item = _bad(data, line, "malformed XML: the dump ends inside this page (no </page>)")
            if isinstance(item, WikiPage):
                last_page_id = item.page_id
            yield item
    except DumpError as exc:
        raise DumpReadError(str(exc), last_page_id) from None


_REDIRECT_RE = re.compile(r"^\s*#\s*(REDIRECT|ПЕРЕНАПРАВЛЕННЯ|ПЕРЕНАПРАВЛЕНИЕ|転送|リダイレクト|WEITERLEITUNG|"
                          r"REDIRECTION|RINVIA|DOORVERWIJZING|PATRZ|PRZEKIERUJ|REDIRECCIÓN)\b", re.IGNORECASE)


def is_redirect(page: WikiPage) -> bool:
    """``<redirect>`` element (export ≥ 0.4) or a ``#REDIRECT`` first line (older exports)."""
    return page.redirect or bool(_REDIRECT_RE.match(page.text[:64]))


def page_url(lang: str, title: str) -> str:
    return f"https://{lang}.wikipedia.org/wiki/{quote(title.replace(' ', '_'), safe='/:,()!*@$;-._~')}"


def read_wikipedia_dump(path: str, fileobj: BinaryIO,
                        languages: Iterable[str] | None = LLAMA_WIKIPEDIA_LANGUAGES,
                        source: str = SOURCE, *, item: InputFile | None = None,
                        max_page_bytes: int = MAX_PAGE_BYTES) -> Iterator[Document | Dropped | QuarantineRecord]:
    """Documents for the article pages (namespace 0, not redirects) of one dump or dump range.

    Other namespaces and redirects are not documents and are skipped silently (see
    :func:`count_pages` for their numbers). A dump whose language is not in ``languages``
    (``None``: any) yields every article as ``Dropped(reason="wiki_lang")`` so that
    counts reconcile. A bad page yields one ``QuarantineRecord`` naming it (id, title,
    line) and reading goes on; a dump that cannot be read on (DOCTYPE, broken compressed
    stream) yields one ``QuarantineRecord`` naming the last page read; the pages before stay.

    Args:
        path: the dump's path (``meta.file`` and the snapshot of ids, unless ``item`` names it).
        fileobj: the raw (possibly compressed) bytes.
        languages: the wiki languages to keep.
        source: the source name: ``Document.source`` and the prefix of document ids.
        item: the unit of reading: its ``name`` (path relative to the input root) and byte range.
        max_page_bytes: the largest ``<page>`` element read; a larger one is quarantined.
    """
    name = (item.name if item is not None else "") or path
    label = item.label if item is not None else path
    start, end = (item.start, item.end) if item is not None else (0, None)
    snapshot = dump_snapshot(name)
    allowed = None if languages is None else frozenset(languages)
    site = SiteInfo("", "", {})
    try:
        for page in iter_dump(fileobj, max_page_bytes, start, end):
            if isinstance(page, SiteInfo):
                site = page
                continue
            if isinstance(page, BadPage):
                yield QuarantineRecord(source, label, page.location, "read", f"DumpReadError: {page.error}"[:2000])
                continue
            if page.ns != 0 or is_redirect(page):
                continue
            lang = site.lang or "und"
            meta: dict[str, Any] = {
                "title": page.title,
                "page_id": page.page_id,
                "revision_id": page.revision_id,
                "timestamp": page.timestamp,
                "lang": lang,
                "url": page_url(lang, page.title),
                "dump": snapshot,
                "file": name,
                "record": str(page.page_id),
            }
            doc_id = stable_id(source, snapshot, lang, page.page_id)
            if allowed is not None and lang not in allowed:
                yield Dropped(Document(doc_id, page.text, source, meta), REASON_WIKI_LANG)
                continue
            meta[HIDDEN_PREFIXES_KEY] = list(site.hidden_prefixes())
            yield Document(doc_id, page.text, source, meta)
    except DumpReadError as exc:
        last = "start of dump" if exc.last_page_id is None else f"page {exc.last_page_id}"
        yield QuarantineRecord(source, label, f"after {last}", "read", f"DumpReadError: {exc}"[:2000])


class WikipediaDumpReader:
    """The reader of ``ReadSource``: the article pages of one dump, or of a byte range of a
    multistream dump (``read_input``).

    Args:
        source: the source name: ``Document.source`` and the prefix of document ids.
        cfg: the languages to keep (articles of other wikis drop as ``wiki_lang``) and the page size limit.
    """

    def __init__(self, source: str, cfg: WikipediaConfig) -> None:
        self.source = source
        self.cfg = cfg

    def __call__(self, path: str, fileobj: BinaryIO) -> Iterator[Document | Dropped | QuarantineRecord]:
        return read_wikipedia_dump(path, fileobj, self.cfg.languages, self.source,
                                   max_page_bytes=self.cfg.max_page_bytes)

    def read_input(self, item: InputFile, fileobj: BinaryIO) -> Iterator[Document | Dropped | QuarantineRecord]:
        return read_wikipedia_dump(item.path, fileobj, self.cfg.languages, self.source, item=item,
                                   max_page_bytes=self.cfg.max_page_bytes)


@dataclass
class PageCounts:
    """What a dump holds, page by page: for tests and the reader's documentation."""

    pages: int = 0
    ns0: int = 0
    ns0_redirects: int = 0
    redirects: int = 0
    articles: int = 0
    bad: int = 0
    by_ns: dict[int, int] = field(default_factory=dict)


def count_pages(fileobj: BinaryIO) -> PageCounts:
    counts = PageCounts()
    for item in iter_dump(fileobj):
        if isinstance(item, SiteInfo):
            continue
        if isinstance(item, BadPage):
            counts.bad += 1
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
