"""How book collections are laid out as published: PG-19 folders and Gutenberg mirrors.

Pure functions over file names (the recipe lists the inputs, reads ``metadata.csv`` and
hands the outcome to the reader):

* **PG-19** (``deepmind-gutenberg``): ``train/``, ``validation/``, ``test/`` folders of
  ``<id>.txt`` beside a ``metadata.csv`` of ``id, short title, publication date, link`` rows.
  ``metadata.csv`` is no book; its title and date join the book's meta.
* **Gutenberg mirrors** (``rsync`` of ``gutenberg.org``): a book folder ``1/3/4/1342/`` holds
  several renditions of the same text, ``1342-0.txt`` (UTF-8), ``1342-8.txt`` (Latin-1) and
  ``1342.txt`` (ASCII), and the generated ``cache/epub/1342/pg1342.txt`` (UTF-8). Reading
  all of them would put one book in the corpus up to four times, so one is read per book
  number across the whole input, in this order: ``-0.txt``, ``pg<id>.txt``, ``-8.txt``,
  ``.txt`` (the first two are UTF-8 and lose no characters); the others are not read (the
  run lists them under ``skipped_inputs``).
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from collections.abc import Iterable

PG19_SPLITS = ("train", "validation", "test")
PG19_METADATA = "metadata.csv"

_RENDITION = re.compile(r"^(?:(pg)(\d+)|(\d+)(?:-([08]))?)\.txt$")
# Preference of each rendition kind: lower is better.
_RANK = {"-0": 0, "pg": 1, "-8": 2, "": 3}


def _posix(path: str) -> str:
    return path.replace("\\", "/")


def pg19_metadata_path(path: str) -> str | None:
    """Where the ``metadata.csv`` of a PG-19 book file would be (``<root>/metadata.csv`` for
    ``<root>/train/10.txt``), or None if the file does not sit in a PG-19 split folder."""
    folder = posixpath.dirname(_posix(path))
    if posixpath.basename(folder) not in PG19_SPLITS or not re.fullmatch(r"\d+\.txt", posixpath.basename(_posix(path))):
        return None
    return posixpath.join(posixpath.dirname(folder), PG19_METADATA)


def parse_pg19_metadata(text: str) -> dict[str, dict[str, str]]:
    """``{book id: {"title", "publication_date", "url"}}`` from ``metadata.csv``'s text.

    PG-19 ships the file without a header row; a header (first field not a number) is
    skipped all the same.
    """
    out: dict[str, dict[str, str]] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or not row[0].strip().isdigit():
            continue
        book_id = row[0].strip()
        entry = {"title": row[1].strip()}
        if len(row) > 2 and row[2].strip():
            entry["publication_date"] = row[2].strip()
        if len(row) > 3 and row[3].strip():
            entry["url"] = row[3].strip()
        out[book_id] = entry
    return out


def pg19_book_id(path: str) -> str:
    return posixpath.basename(_posix(path))[: -len(".txt")]


def rendition(path: str) -> tuple[str, int] | None:
    """(Gutenberg book number, preference rank) of a mirror file name, or None if it is none."""
    match = _RENDITION.match(posixpath.basename(_posix(path)))
    if match is None:
        return None
    if match.group(1):
        return match.group(2), _RANK["pg"]
    suffix = match.group(4)
    return match.group(3), _RANK["-" + suffix if suffix else ""]


def superseded_renditions(paths: Iterable[str]) -> dict[str, str]:
    """``{path of a rendition not read: path of the one read}`` over every Gutenberg book number.

    PG-19 book files (``train/10.txt``...) are a different collection and never grouped.
    """
    best: dict[str, tuple[int, str]] = {}
    members: dict[str, list[str]] = {}
    for path in paths:
        if pg19_metadata_path(path) is not None:
            continue
        found = rendition(path)
        if found is None:
            continue
        number, rank = found
        members.setdefault(number, []).append(path)
        if number not in best or (rank, path) < best[number]:
            best[number] = (rank, path)
    return {path: best[number][1] for number, paths_ in members.items() for path in paths_
            if path != best[number][1]}
