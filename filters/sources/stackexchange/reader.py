"""Stream a StackExchange ``Posts.xml`` into question and answer posts, safely, row by row.

Input as the Stack Exchange data dump publishes it: a site's ``Posts.xml`` (extracted), the
site's archive ``coffee.stackexchange.com.7z`` (``Posts.xml`` is read from it as a stream,
the other members are skipped; see ``archive.py``), or stackoverflow's split
``stackoverflow.com-Posts.7z``.

The dump is one ``<row .../>`` element per post with attributes only. ``<`` cannot occur
inside an attribute value, so each row is exactly the bytes from its ``<row`` to the next
``<``: the reader cuts the stream there and parses every row on its own with
``xml.parsers.expat`` (attributes only, nothing kept after it). One malformed row is
quarantined by its Id and line and reading goes on with the next row; a row longer than
``StackExchangeConfig.max_row_bytes`` is quarantined with the limit named, without being
held in memory. Time is linear and memory bounded whatever the site's or a row's size.

No entity expansion: the ``<!DOCTYPE posts SYSTEM …>`` line some dumps carry is read (its
external DTD is never fetched), but any entity declaration quarantines the file before a
single entity is expanded (billion laughs, external entities); rows are parsed without any
DTD, so an entity reference in a row makes that row malformed. The dump's UTF-8 BOM is
handled.

What is a *document* (for stats.json): every question post, every tag-wiki or other
non-Q/A post (dropped here with a reason), every row that cannot be used (quarantined with
its row id) and every answer whose question is not in the dump (dropped later, by the
grouping stage, as ``orphan_answer``). An answer attached to its question is part of that
question's document and is not counted on its own.

Drop reasons here: ``tag_wiki`` (PostTypeId 4/5), ``other_post_type`` (3, 6, 7, 8 …),
``site`` (not one of ``cfg.sites`` while ``cfg.restrict_to_sites`` is on).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from xml.parsers import expat

from filters.base import BadRecord, Dropped, InputFile, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.stackexchange.assemble import ANSWER, QUESTION
from filters.sources.stackexchange.config import MAX_ROW_BYTES, StackExchangeConfig

TAG_WIKI = "tag_wiki"
OTHER_POST_TYPE = "other_post_type"
SITE = "site"
ORPHAN_ANSWER = "orphan_answer"

_CHUNK = 1 << 20
_QUESTION_ATTRS = ("Id", "Body", "Score", "Title")
_ANSWER_ATTRS = ("Id", "Body", "Score", "ParentId")
_ROW = b"<row"
_RAW_ID_RE = re.compile(rb"""\sId\s*=\s*["'](\d{1,20})["']""")
# stackoverflow.com-Posts.7z (the site split by table) or coffee.stackexchange.com.7z (one per site).
_SPLIT_ARCHIVE_RE = re.compile(r"^(?P<site>.+)-(?P<table>[A-Za-z]+)\.7z$")


def _basename(path: str) -> str:
    return posixpath.basename(path.replace(os.sep, "/"))


def site_of(path: str) -> str:
    """The site a file holds: the ``.7z`` archive's name (``coffee.stackexchange.com.7z``,
    ``stackoverflow.com-Posts.7z``), else the dump folder's name (``coffee.stackexchange.com/Posts.xml``)."""
    base = _basename(path)
    split = _SPLIT_ARCHIVE_RE.match(base)
    if split and "." in split.group("site"):
        return split.group("site")
    if base.lower().endswith(".7z"):
        return base[: -len(".7z")]
    return posixpath.basename(posixpath.dirname(path.replace(os.sep, "/"))) or "unknown"


def is_archive(path: str) -> bool:
    return _basename(path).lower().endswith(".7z")


def is_posts_file(path: str) -> bool:
    """A site's posts: ``Posts.xml``, a per-site ``.7z`` or a ``<site>-Posts.7z`` (not ``-Users.7z`` …)."""
    base = _basename(path)
    if base.lower() == "posts.xml":
        return True
    if not base.lower().endswith(".7z"):
        return False
    split = _SPLIT_ARCHIVE_RE.match(base)
    return not (split and "." in split.group("site")) or split.group("table").lower() == "posts"


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be read; the rows around it can."""

    line: int
    row_id: str | None
    error: str


def _refuse_entity(*_: Any) -> None:
    raise BadRecord("entity declarations are not allowed in a DOCTYPE (entity expansion is disabled)")


def _parser(encoding: str | None = "utf-8") -> Any:
    parser = expat.ParserCreate(encoding=encoding)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)  # never fetch the external DTD
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.buffer_text = False
    return parser


def _check_header(header: bytes, whole: bool) -> None:
    """The XML declaration, DOCTYPE and ``<posts>`` before the first row: entity declarations refused.

    Raises:
        BadRecord: an entity declaration.
        expat.ExpatError: malformed XML before the first row.
    """
    _parser(None).Parse(header, whole)


def _parse_row(data: bytes) -> dict[str, str]:
    rows: list[dict[str, str]] = []
    parser = _parser()

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "row":
            rows.append(attrs)

    parser.StartElementHandler = start
    parser.Parse(data, True)
    return rows[0]


def _too_large(limit: int) -> str:
    return f"row larger than the limit max_row_bytes={limit}"


def _raw_id(data: bytes) -> str | None:
    found = _RAW_ID_RE.search(data[:1 << 16])
    return found.group(1).decode("ascii") if found else None


def iter_posts(chunks: Iterable[bytes],
               max_row_bytes: int = MAX_ROW_BYTES) -> Iterator[tuple[int, dict[str, str]] | BadRow]:
    """``(line, attributes)`` of every ``<row>``, or a :class:`BadRow` naming one that cannot be read.

    Raises:
        BadRecord: an entity declaration, or no row within ``max_row_bytes`` of the start.
        expat.ExpatError: malformed XML before the first row (the file is not a dump).
    """
    buf = b""
    pos = 0
    line = 1  # line number of buf[pos]
    state = "header"
    scanned = 0  # in a row: bytes after its "<" already searched for the next "<"
    for chunk in _with_end(chunks):
        final = chunk is None
        if chunk:
            buf = buf[pos:] + chunk
            pos = 0
        while True:
            if state == "header":
                found = buf.find(_ROW, pos)
                if found < 0 and not final:
                    if len(buf) - pos > max_row_bytes:
                        raise BadRecord(f"no <row> in the first {max_row_bytes} bytes (limit max_row_bytes)")
                    break
                header = buf[pos:] if found < 0 else buf[pos:found]
                _check_header(header, whole=found < 0)
                if found < 0:
                    return
                line += header.count(b"\n")
                pos, state, scanned = found, "row", 1
            elif state == "skip":
                found = buf.find(b"<", pos)
                if found < 0:
                    line += buf.count(b"\n", pos)
                    pos = len(buf)
                    if final:
                        return
                    break
                line += buf.count(b"\n", pos, found)
                pos, state, scanned = found, "row", 1
            else:  # buf[pos] == "<"
                end = buf.find(b"<", pos + scanned)
                if end < 0 and not final:
                    if len(buf) - pos > max_row_bytes:
                        yield BadRow(line, _raw_id(buf[pos:]), _too_large(max_row_bytes))
                        line += buf.count(b"\n", pos)
                        pos, state = len(buf), "skip"
                    else:
                        scanned = len(buf) - pos
                    break
                end = len(buf) if end < 0 else end
                element = buf[pos:end]
                if element.startswith(_ROW) and element[len(_ROW):len(_ROW) + 1].isspace():
                    if end - pos > max_row_bytes:
                        yield BadRow(line, _raw_id(element), _too_large(max_row_bytes))
                    else:
                        try:
                            yield line, _parse_row(element)
                        except (expat.ExpatError, BadRecord) as exc:
                            message = (f"malformed XML ({expat.ErrorString(exc.code)})"
                                       if isinstance(exc, expat.ExpatError) else str(exc))
                            yield BadRow(line, _raw_id(element), message)
                line += element.count(b"\n")
                pos, scanned = end, 1
                if end == len(buf):
                    if final:
                        return
                    break
        if final:
            return


def _with_end(chunks: Iterable[bytes]) -> Iterator[bytes | None]:
    yield from chunks
    yield None


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    while chunk := fh.read(_CHUNK):
        yield chunk


def iter_rows(fh: BinaryIO) -> Iterator[dict[str, str]]:
    """Attribute dicts of every readable ``<row>`` element, streamed in 1 MiB chunks."""
    for item in iter_posts(_chunks(fh)):
        if not isinstance(item, BadRow):
            yield item[1]


def _int(attrs: dict[str, str], key: str) -> int:
    try:
        return int(attrs[key])
    except (KeyError, ValueError):
        raise ValueError(f"attribute {key} missing or not an integer: {attrs.get(key)!r}") from None


class StackExchangeReader:
    """The reader of ``ReadSource`` over one site's ``Posts.xml`` or ``.7z`` archive.

    Yields question and answer posts as Documents (``meta["post_type"]`` tells which; the
    text is the raw HTML body), tag wikis and other posts as ``Dropped``, and unusable rows
    as ``QuarantineRecord`` naming the row id.
    """

    def __init__(self, source: str, cfg: StackExchangeConfig) -> None:
        self.source = source
        self.cfg = cfg
        self._sites = frozenset(cfg.sites)

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Any]:
        return self.read_input(InputFile(path), fh)

    def read_input(self, item: InputFile, fh: BinaryIO) -> Iterator[Any]:
        from filters.sources.stackexchange.archive import ArchiveError, posts_chunks

        path = item.path
        name = item.name or path
        site = site_of(path)
        excluded = self.cfg.restrict_to_sites and site not in self._sites
        last_id = "none"
        member = f"{site}/Posts.xml"
        try:
            chunks = posts_chunks(fh, path) if is_archive(path) else _chunks(fh)
            for row in iter_posts(chunks, self.cfg.max_row_bytes):
                if isinstance(row, BadRow):
                    where = f"row Id={row.row_id}" if row.row_id else "row without Id"
                    yield QuarantineRecord(self.source, item.label, f"{member} {where} at line {row.line}", "read",
                                           row.error[:2000])
                    continue
                line, attrs = row
                last_id = attrs.get("Id", last_id)
                yield from self._row(name, site, excluded, attrs, line)
        except (BadRecord, expat.ExpatError, ArchiveError) as exc:
            yield QuarantineRecord(self.source, item.label, f"after row Id={last_id}", "read",
                                   f"{type(exc).__name__}: {exc}"[:2000])

    def _row(self, path: str, site: str, excluded: bool, attrs: dict[str, str], line: int = 0) -> Iterator[Any]:
        row_id = attrs.get("Id")
        record = f"{site}/Posts.xml row Id={row_id}" if row_id else f"{site}/Posts.xml row without Id at line {line}"
        try:
            post_type = _int(attrs, "PostTypeId")
            required = _QUESTION_ATTRS if post_type == 1 else _ANSWER_ATTRS if post_type == 2 else ("Id",)
            missing = [a for a in required if a not in attrs]
            if missing:
                raise ValueError(f"missing attribute(s) {missing}")
            post_id = _int(attrs, "Id")
            score = _int(attrs, "Score") if post_type in (1, 2) else int(attrs.get("Score", "0") or 0)
            parent = _int(attrs, "ParentId") if post_type == 2 else None
        except ValueError as exc:
            yield QuarantineRecord(self.source, path, record, "read", str(exc))
            return
        meta: dict[str, Any] = {"site": site, "post_id": post_id, "score": score, "file": path, "record": record}
        doc_id = stable_id(self.source, site, post_id)
        if post_type == 2:
            if not excluded:  # answers of an excluded site are not documents: nothing to count
                meta.update(post_type=ANSWER, parent_id=parent)
                yield Document(doc_id, attrs["Body"], self.source, meta)
            return
        if post_type == 1:
            meta.update(post_type=QUESTION, title=attrs["Title"], tags=attrs.get("Tags", ""))
            doc = Document(doc_id, attrs["Body"], self.source, meta)
            yield Dropped(doc, SITE) if excluded else doc
            return
        meta["post_type"] = f"type_{post_type}"
        doc = Document(doc_id, attrs.get("Body", ""), self.source, meta)
        if excluded:
            yield Dropped(doc, SITE)
        else:
            yield Dropped(doc, TAG_WIKI if post_type in (4, 5) else OTHER_POST_TYPE)
