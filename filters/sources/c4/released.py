"""Read the released C4 (``allenai/c4``: ``en/c4-train.00000-of-01024.json.gz``) as documents.

LLaMA trained on C4 as released, not on a rebuild: the files hold pages already cleaned,
deduplicated and language-filtered by TFDS's builder, one JSON object a line,
``{"text", "url", "timestamp"}``, gzipped. So a released file is read as finished
documents and **no step runs after reading** (pipeline/recipes/c4.py): running the WET
cleaning again would re-apply TFDS's rules to their own output (a second line dedup, a
second badwords pass) and drift from what LLaMA used; tokenizing happens downstream, as
for every source. Rebuilding C4 from WET stays the default for WARC/WET inputs.

Which files are released C4 is decided by name: JSON lines (``.json``, ``.json.gz``,
``.jsonl``, ``.jsonl.gz``), where Common Crawl inputs are ``.warc``/``.wet``(``.gz``). The
content is checked line by line: a line that is not a JSON object with a string ``text``
is quarantined naming its line, and a line longer than ``MAX_LINE_BYTES`` is skipped in
bounded pieces and quarantined; the next line is read.

Ids are ``stable_id(source, input name, line)``, the input name being the path relative to
the input root (the base name when called as ``reader(path, fh)``).
"""

from __future__ import annotations

import json
import os
import posixpath
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from filters.base import InputFile, QuarantineRecord
from filters.bounded_io import bounded_lines
from filters.document import Document, stable_id, unpaired_surrogate

RELEASED_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
# A released C4 page is at most a few hundred KB; 64 MiB leaves room and bounds memory.
MAX_LINE_BYTES = 64 << 20


def is_released_c4(path: str | InputFile) -> bool:
    """Is this input a released C4 file (JSON lines) rather than a Common Crawl WARC/WET?"""
    path = path.path if isinstance(path, InputFile) else path
    return posixpath.basename(path.replace(os.sep, "/")).lower().endswith(RELEASED_SUFFIXES)


class ReleasedC4Reader:
    """Reader for ``ReadSource``: one document per line of a released C4 file.

    Args:
        source: the source name written on every document and prefixed to its id.
        max_line_bytes: longest line parsed.
    """

    # A corrupt gzip stream fails inside zlib half-way: the rest of that file is quarantined.
    data_errors = (zlib.error,)

    def __init__(self, source: str, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.source = source
        self.max_line_bytes = max_line_bytes

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Any]:
        yield from self._read(path, posixpath.basename(path.replace(os.sep, "/")), fh)

    def read_input(self, item: InputFile, fh: BinaryIO) -> Iterator[Any]:
        yield from self._read(item.label, item.name or item.path, fh)

    def _read(self, label: str, name: str, fh: BinaryIO) -> Iterator[Any]:
        base = posixpath.basename(name.replace(os.sep, "/"))
        for line_no, raw in enumerate(bounded_lines(fh, self.max_line_bytes), start=1):
            if raw is None:
                yield QuarantineRecord(self.source, label, f"line {line_no}", "read",
                                       f"line longer than {self.max_line_bytes} bytes: not parsed")
                continue
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                    raise ValueError("not a released C4 record: no string 'text' field")
                bad_field = unpaired_surrogate(record) if b"\\u" in raw else None
                if bad_field is not None:
                    raise ValueError(f"field {bad_field!r} holds an unpaired UTF-16 surrogate (not valid Unicode)")
            except (ValueError, UnicodeDecodeError) as exc:
                yield QuarantineRecord(self.source, label, f"line {line_no}", "read",
                                       f"{type(exc).__name__}: {exc}"[:2000])
                continue
            meta: dict[str, Any] = {"file": label, "record": f"{base}:{line_no}", "c4": "released"}
            for key in ("url", "timestamp"):
                if isinstance(record.get(key), str):
                    meta[key] = record[key]
            yield Document(stable_id(self.source, name, line_no), record["text"], self.source, meta)
