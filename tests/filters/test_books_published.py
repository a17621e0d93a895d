"""Books as published: a PG-19 folder, a Gutenberg mirror and a Books3 tarball, built from the
real Gutenberg texts of the corpus in the publishers' layouts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from filters.base import Dropped, InputFile, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.books.config import BooksConfig
from filters.sources.books.layouts import parse_pg19_metadata, rendition, superseded_renditions
from filters.sources.books.reader import NOT_TEXT, BooksReader
from pipeline.recipes.books import plan_inputs

CFG = BooksConfig()
PETER, FRANKENSTEIN, BODY, QUIJOTE = ("16-0-peter-pan.txt", "84-0-frankenstein-cp1252.txt",
                                      "84-0-frankenstein-body-only.txt", "pg2000-don-quijote-es.txt")
BIBLIOTIK = "books3/the-eye.eu/public/Books/Bibliotik"


def _raw(corpus: Path, name: str) -> bytes:
    data = (corpus / "books" / name).read_bytes()
    if name == QUIJOTE:  # 2.2 MB: its first 300 KB (whole lines) keep the tests quick
        data = data[: data.index(b"\n", 300_000) + 1]
    return data


def _read_all(reader: BooksReader, root: Path, files: list[str]) -> list:
    items = []
    for path in files:
        with open(path, "rb") as fh:
            items += reader.read_input(InputFile(path, Path(path).relative_to(root).as_posix()), fh)
    return items


def make_pg19(corpus: Path, root: Path) -> Path:
    """PG-19's layout: split folders of ``<id>.txt`` and a header-less ``metadata.csv``."""
    for split, number, name in (("train", "16", PETER), ("validation", "84", BODY), ("test", "2000", QUIJOTE)):
        (root / split).mkdir(parents=True)
        (root / split / f"{number}.txt").write_bytes(_raw(corpus, name))
    (root / "metadata.csv").write_text(
        '16,Peter Pan,1911,http://www.gutenberg.org/ebooks/16\n'
        '84,"Frankenstein; Or, The Modern Prometheus",1818,http://www.gutenberg.org/ebooks/84\n'
        '2000,Don Quijote,1605,http://www.gutenberg.org/ebooks/2000\n', encoding="utf-8")
    return root


def make_mirror(corpus: Path, root: Path) -> dict[str, str]:
    """A Gutenberg mirror: several renditions of 16 and 84, one of 2000. Returns name → path."""
    peter = _raw(corpus, PETER).decode("utf-8-sig")
    files = {
        "1/16/16-0.txt": _raw(corpus, PETER),
        "1/16/16.txt": peter.encode("ascii", errors="replace"),
        "8/84/84-0.txt": _raw(corpus, BODY),
        "8/84/84-8.txt": _raw(corpus, FRANKENSTEIN),
        "cache/epub/84/pg84.txt": _raw(corpus, BODY),
        "2/0/0/2000/2000-8.txt": _raw(corpus, QUIJOTE).decode("utf-8-sig").encode("latin-1", errors="replace"),
    }
    out = {}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        out[name] = str(root / name)
    return out


def make_books3(corpus: Path, path: Path) -> None:
    """``books3.tar.gz`` as the-eye published it: folders, then ``<title>.epub.txt`` members."""
    members = [(f"{BIBLIOTIK}/P/Peter Pan.epub.txt", _raw(corpus, PETER)),
               (f"{BIBLIOTIK}/F/Frankenstein.epub.txt", _raw(corpus, BODY)),
               (f"{BIBLIOTIK}/F/cover.jpg", b"\xff\xd8\xff\xe0")]
    with tarfile.open(path, "w:gz") as tar:
        for folder in ("books3", f"{BIBLIOTIK}", f"{BIBLIOTIK}/P", f"{BIBLIOTIK}/F"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_pg19_folder_reads_books_not_metadata_and_joins_titles(corpus, tmp_path):
    root = make_pg19(corpus, tmp_path / "deepmind-gutenberg")
    listing = sorted(str(p) for p in root.rglob("*") if p.is_file())
    files, pg19, superseded = plan_inputs(listing)
    assert str(root / "metadata.csv") not in files and len(files) == 3 and not superseded
    docs = _read_all(BooksReader("books", CFG, pg19=pg19), root, files)
    by_name = {d.meta["record"]: d for d in docs}
    assert sorted(by_name) == ["16.txt", "2000.txt", "84.txt"]
    assert by_name["84.txt"].meta["title"] == "Frankenstein; Or, The Modern Prometheus"
    assert by_name["16.txt"].meta["publication_date"] == "1911" and by_name["16.txt"].meta["split"] == "train"
    assert by_name["2000.txt"].id == stable_id("books", "test/2000.txt")


def test_pg19_metadata_with_or_without_header():
    rows = "16,Peter Pan,1911,http://www.gutenberg.org/ebooks/16\n"
    assert parse_pg19_metadata(rows) == parse_pg19_metadata("id,title,date,url\n" + rows) == {
        "16": {"title": "Peter Pan", "publication_date": "1911", "url": "http://www.gutenberg.org/ebooks/16"}}


def test_gutenberg_mirror_reads_one_rendition_per_book(corpus, tmp_path):
    root = tmp_path / "gutenberg"
    paths = make_mirror(corpus, root)
    files, _, superseded = plan_inputs(sorted(paths.values()))
    assert superseded == {paths["1/16/16.txt"]: paths["1/16/16-0.txt"],
                          paths["8/84/84-8.txt"]: paths["8/84/84-0.txt"],
                          paths["cache/epub/84/pg84.txt"]: paths["8/84/84-0.txt"]}
    assert files == sorted(paths[n] for n in ("1/16/16-0.txt", "2/0/0/2000/2000-8.txt", "8/84/84-0.txt"))
    docs = _read_all(BooksReader("books", CFG), root, files)
    assert [d.meta["record"] for d in docs] == ["16-0.txt", "2000-8.txt", "84-0.txt"]
    assert [d.meta["encoding"] for d in docs] == ["utf-8-sig", "cp1252", "utf-8"]  # -8.txt is 8-bit


@pytest.mark.parametrize(("name", "expected"), [
    ("1342-0.txt", ("1342", 0)), ("pg1342.txt", ("1342", 1)), ("1342-8.txt", ("1342", 2)),
    ("1342.txt", ("1342", 3)), ("1342-h.htm", None), ("16-0-peter-pan.txt", None)])
def test_rendition_names(name, expected):
    assert rendition(name) == expected


def test_pg19_files_are_never_grouped_as_renditions():
    assert superseded_renditions(["/d/train/16.txt", "/d/test/16.txt", "/m/1/16/16-0.txt"]) == {}


def test_books3_tarball_is_streamed_member_by_member(corpus, tmp_path):
    path = tmp_path / "books3.tar.gz"
    make_books3(corpus, path)
    with open(path, "rb") as fh:
        items = list(BooksReader("books", CFG).read_input(InputFile(str(path), "books3.tar.gz"), fh))
    docs = [i for i in items if isinstance(i, Document)]
    assert [d.meta["title"] for d in docs] == ["Peter Pan", "Frankenstein"]
    assert docs[0].id == stable_id("books", "books3.tar.gz", f"{BIBLIOTIK}/P/Peter Pan.epub.txt")
    assert docs[0].text == _raw(corpus, PETER).decode("utf-8-sig").replace("\r\n", "\n")
    [cover] = [i for i in items if isinstance(i, Dropped)]
    assert cover.reason == NOT_TEXT
    # A member over the limit is quarantined by name without reading it; the next is read.
    small = BooksConfig(max_book_bytes=300_000)
    with open(path, "rb") as fh:
        items = list(BooksReader("books", small).read_input(InputFile(str(path), "books3.tar.gz"), fh))
    [record] = [i for i in items if isinstance(i, QuarantineRecord)]
    assert record.record.endswith("Frankenstein.epub.txt") and "max_book_bytes=300000" in record.error
    assert [d.meta["title"] for d in items if isinstance(d, Document)] == ["Peter Pan"]
