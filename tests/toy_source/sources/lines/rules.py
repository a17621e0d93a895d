"""The toy kind's reader and its one filter."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from filters.base import BadRecord, Dropped, QuarantineRecord, Step, Verdict
from filters.document import Document, stable_id
from filters.sources.lines.config import LinesConfig

SHORT_LINE = "short_line"
SKIPPED = "skipped"


class LinesReader:
    """One document per line of a UTF-8 text file; a line that is not UTF-8 is bad data.

    Two marker lines show the reader's other outputs: ``BAD`` is a record the reader cannot
    read (quarantined), ``SKIP`` one it sets aside on purpose (dropped as ``skipped``).
    """

    def __init__(self, source: str, cfg: LinesConfig) -> None:
        self.source = source
        self.cfg = cfg

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Document | Dropped | QuarantineRecord]:
        name = os.path.basename(path)
        for number, raw in enumerate(fh.read().splitlines()):
            meta = {"file": path, "record": number}
            if raw == b"BAD":
                yield QuarantineRecord(self.source, path, str(number), "read", "unreadable line")
                continue
            if raw == b"SKIP":
                yield Dropped(Document(stable_id(self.source, name, number), "SKIP", self.source, meta), SKIPPED)
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")  # kept for the cleaner to reject
                meta["not_utf8"] = True
            yield Document(stable_id(self.source, name, number), text, self.source, meta)


class LinesFilter(Step):
    """Drops lines shorter than ``min_chars``; a line that was not UTF-8 is a bad record."""

    name = "lines_filter"
    reasons = (SHORT_LINE,)

    def __init__(self, cfg: LinesConfig) -> None:
        self.cfg = cfg

    def __call__(self, doc: Document) -> Verdict:
        if doc.meta.get("not_utf8"):
            raise BadRecord("line is not UTF-8")
        if len(doc.text) < self.cfg.min_chars:
            return Verdict.dropped(SHORT_LINE, chars=len(doc.text))
        return Verdict.kept(chars=len(doc.text))
