"""Stream a StackExchange ``Posts.xml`` into question and answer posts, safely.

The dump is one ``<row .../>`` element per post with attributes only, so the reader uses
``xml.parsers.expat`` directly: a start-element handler receives each row's attribute dict
and nothing is kept after it (the streaming equivalent of ``iterparse`` + ``elem.clear()``,
without building elements at all). Memory stays flat whatever the site's size.

No entity expansion: a ``<!DOCTYPE`` (the only way to declare entities) or any entity
declaration stops the file with a quarantine record, so billion-laughs and external-entity
files are rejected before a single entity is expanded. The dump's UTF-8 BOM is handled.

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
from collections.abc import Iterator
from typing import Any, BinaryIO
from xml.parsers import expat

from filters.base import BadRecord, Dropped, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.stackexchange.assemble import ANSWER, QUESTION
from filters.sources.stackexchange.config import StackExchangeConfig

TAG_WIKI = "tag_wiki"
OTHER_POST_TYPE = "other_post_type"
SITE = "site"
ORPHAN_ANSWER = "orphan_answer"

_CHUNK = 1 << 16
_QUESTION_ATTRS = ("Id", "Body", "Score", "Title")
_ANSWER_ATTRS = ("Id", "Body", "Score", "ParentId")


def site_of(path: str) -> str:
    """The site is the dump folder's name, e.g. ``coffee.stackexchange.com``."""
    return posixpath.basename(posixpath.dirname(path.replace(os.sep, "/"))) or "unknown"


def is_posts_file(path: str) -> bool:
    return posixpath.basename(path.replace(os.sep, "/")).lower() == "posts.xml"


def _refuse_doctype(*_: Any) -> None:
    raise BadRecord("DOCTYPE declarations are not allowed (entity expansion is disabled)")


def _refuse_entity(*_: Any) -> None:
    raise BadRecord("entity declarations are not allowed")


def iter_rows(fh: BinaryIO) -> Iterator[dict[str, str]]:
    """Attribute dicts of every ``<row>`` element, streamed in 64 KiB chunks.

    Raises:
        BadRecord: DOCTYPE/entity declarations.
        expat.ExpatError: malformed XML (the caller quarantines the rest of the file).
    """
    for _, attrs in iter_rows_at(fh):
        yield attrs


def iter_rows_at(fh: BinaryIO) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, attributes)`` of every ``<row>``: the line names a row without an Id."""
    parser = expat.ParserCreate(encoding=None)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.buffer_text = False
    pending: list[tuple[int, dict[str, str]]] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "row":
            pending.append((parser.CurrentLineNumber, attrs))

    parser.StartElementHandler = start
    while True:
        chunk = fh.read(_CHUNK)
        parser.Parse(chunk, not chunk)
        yield from pending
        pending.clear()
        if not chunk:
            return


def _int(attrs: dict[str, str], key: str) -> int:
    try:
        return int(attrs[key])
    except (KeyError, ValueError):
        raise ValueError(f"attribute {key} missing or not an integer: {attrs.get(key)!r}") from None


class StackExchangeReader:
    """``reader(path, fh)`` for ``ReadSource`` over one site's ``Posts.xml``.

    Yields question and answer posts as Documents (``meta["post_type"]`` tells which; the
    text is the raw HTML body), tag wikis and other posts as ``Dropped``, and unusable rows
    as ``QuarantineRecord`` naming the row id.
    """

    def __init__(self, source: str, cfg: StackExchangeConfig) -> None:
        self.source = source
        self.cfg = cfg
        self._sites = frozenset(cfg.sites)

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Any]:
        site = site_of(path)
        excluded = self.cfg.restrict_to_sites and site not in self._sites
        last_id = "none"
        try:
            for line, attrs in iter_rows_at(fh):
                last_id = attrs.get("Id", last_id)
                yield from self._row(path, site, excluded, attrs, line)
        except (BadRecord, expat.ExpatError) as exc:
            yield QuarantineRecord(self.source, path, f"after row Id={last_id}", "read",
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
