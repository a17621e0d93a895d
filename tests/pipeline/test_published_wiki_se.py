"""Wikipedia and StackExchange inputs as their publishers ship them, rebuilt here from real dumps.

Wikipedia: the Ukrainian sample cut into official split parts (``…-pages-articles1.xml-p…p….bz2``)
recompressed as mirrors do (``.gz``, ``.xz``), a plain English dump, and a multistream dump
with its ``-index.txt.bz2`` (one bz2 stream per group of pages, index lines
``offset:page_id:title``), split over workers by the index. StackExchange: per-site ``.7z``
archives (every table of the site) and stackoverflow-style ``<site>-Posts.7z``, built with
libarchive, read against the extracted ``Posts.xml``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
from pathlib import Path

import pytest

from filters.base import InputFile
from filters.document import Document
from filters.sources.stackexchange.config import StackExchangeConfig
from filters.sources.stackexchange.reader import StackExchangeReader
from filters.sources.wikipedia.config import WikipediaConfig
from filters.sources.wikipedia.reader import WikipediaDumpReader
from mixtures.config import config_from_dict
from pipeline import runner
from pipeline.recipes.wikipedia import plan_units

UK = "ukwiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"
EN = "enwiki-pages-articles-sample.xml.bz2"
_PAGE = re.compile(rb"  <page>.*?</page>\n", re.S)
_ID = re.compile(rb"<id>(\d+)</id>")
_TITLE = re.compile(rb"<title>(.*?)</title>")
FOOTER = b"</mediawiki>\n"
UK_ARTICLES = 83  # of the first 90 pages: the others are redirects or outside namespace 0
WORKERS_2 = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def _shard_lines(folder: Path) -> list[dict]:
    if not folder.is_dir():
        return []
    return [json.loads(line) for shard in sorted(folder.iterdir()) if shard.name.endswith(".gz")
            for line in gzip.decompress(shard.read_bytes()).decode().splitlines()]


def _shard_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _run(tmp: Path, name: str, kind: str, inputs: list[str], settings: dict | None = None,
         beam_args: list[str] | None = None):
    cfg = {"output": str(tmp), "shards": {"num_shards": 2},
           "sources": {name: {"kind": kind, "inputs": inputs}}}
    if settings:
        cfg[kind] = settings
    [result] = runner.run_sources(config_from_dict(cfg), [name], beam_args)
    return result.stats, tmp / name


@pytest.fixture(scope="module")
def ukwiki(corpus: Path) -> tuple[bytes, list[bytes]]:
    """The Ukrainian dump's header and its first 90 pages (of 532: the pipeline runs stay short)."""
    raw = bz2.decompress((corpus / "wikipedia" / UK).read_bytes())
    return raw[: raw.index(b"  <page>")], _PAGE.findall(raw)[:90]


def _articles(header: bytes, pages: list[bytes]) -> list[Document]:
    reader = WikipediaDumpReader("wikipedia", WikipediaConfig(languages=("uk",)))
    dump = header + b"".join(pages) + FOOTER
    return [d for d in reader("ukwiki-20230501-pages-articles.xml", io.BytesIO(dump)) if isinstance(d, Document)]


def _multistream(header: bytes, pages: list[bytes], per_stream: int) -> tuple[bytes, bytes]:
    """A multistream dump as Wikimedia writes it: the header alone in the first bz2 stream,
    then ``per_stream`` pages per stream, the closing tag in the last; and its bz2 index."""
    data = bytearray(bz2.compress(header))
    index = []
    for at in range(0, len(pages), per_stream):
        group = pages[at: at + per_stream]
        offset = len(data)
        for page in group:
            index.append(b"%d:%s:%s" % (offset, _ID.search(page).group(1), _TITLE.search(page).group(1)))
        tail = FOOTER if at + per_stream >= len(pages) else b""
        data += bz2.compress(b"".join(group) + tail)
    return bytes(data), bz2.compress(b"\n".join(index) + b"\n")


# ---------------------------------------------------------------------------------------
# Wikipedia


def test_split_parts_and_every_compression_in_one_folder_are_all_read(corpus, ukwiki, tmp_path):
    header, pages = ukwiki
    folder = tmp_path / "dumps"
    folder.mkdir()
    parts = [pages[:30], pages[30:60], pages[60:]]
    packers = [bz2.compress, gzip.compress, lzma.compress]
    for number, (part, pack) in enumerate(zip(parts, packers), 1):
        first, last = (int(_ID.search(p).group(1)) for p in (part[0], part[-1]))
        suffix = {bz2.compress: "bz2", gzip.compress: "gz", lzma.compress: "xz"}[pack]
        name = f"ukwiki-20230501-pages-articles{number}.xml-p{first}p{last}.{suffix}"
        (folder / name).write_bytes(pack(header + b"".join(part) + FOOTER))
    (folder / "enwiki-20230401-pages-articles.xml").write_bytes(
        bz2.decompress((corpus / "wikipedia" / EN).read_bytes()))
    expected_uk = _articles(header, pages)  # the same pages as one dump
    stats, out = _run(tmp_path / "out", "wikipedia", "wikipedia", [str(folder)],
                      {"languages": ["uk", "en"]})
    assert len(expected_uk) == UK_ARTICLES
    assert stats["documents_in"] == UK_ARTICLES + 2 and stats["quarantined"] == 0 and stats["reconciled"] is True
    docs = _shard_lines(out / "docs")
    by_title = {d["meta"]["title"]: d for d in docs if d["meta"]["lang"] == "uk"}
    assert {d.meta["title"] for d in expected_uk} == set(by_title)
    # Every split part of one snapshot shares it: ids are (snapshot, lang, page id).
    assert {d["meta"]["dump"] for d in docs} == {"ukwiki-20230501", "enwiki-20230401"}
    assert len({d["id"] for d in docs}) == len(docs) == stats["documents_out"]


def test_an_explicit_xz_dump_is_read_not_quarantined(corpus):
    raw = bz2.decompress((corpus / "wikipedia" / EN).read_bytes())
    reader = WikipediaDumpReader("wikipedia", WikipediaConfig())
    items = list(reader("enwiki-20230401-pages-articles.xml.xz", io.BytesIO(lzma.compress(raw))))
    assert [d.meta["title"] for d in items] == ["Computer accessibility", "Accessibility"]


def test_two_snapshots_of_one_wiki_do_not_share_ids(corpus, tmp_path):
    raw = (corpus / "wikipedia" / EN).read_bytes()
    reader = WikipediaDumpReader("wikipedia", WikipediaConfig())
    ids = {}
    for name in ("enwiki-20220601-pages-articles.xml.bz2", "enwiki-20220801-pages-articles.xml.bz2"):
        ids[name] = [d.id for d in reader(f"/any/{name}", io.BytesIO(raw))]
    first, second = ids.values()
    assert len(first) == 2 and not set(first) & set(second)


def test_multistream_index_plans_byte_ranges_and_ranges_read_exactly_the_whole_dump(ukwiki, tmp_path):
    header, pages = ukwiki
    dump, index = _multistream(header, pages, per_stream=8)
    path = tmp_path / "ukwiki-20230501-pages-articles-multistream.xml.bz2"
    path.write_bytes(dump)
    index_path = tmp_path / "ukwiki-20230501-pages-articles-multistream-index.txt.bz2"
    index_path.write_bytes(index)
    units = plan_units([str(path), str(index_path)], split_bytes=len(dump) // 4)
    # The index only plans: it is never a unit of reading; ranges cut at stream starts.
    assert all(isinstance(u, InputFile) and u.path == str(path) for u in units)
    assert len(units) >= 3 and units[0].start == 0 and units[-1].end is None
    assert all(a.end == b.start for a, b in zip(units, units[1:]))
    reader = WikipediaDumpReader("wikipedia", WikipediaConfig(languages=("uk",)))
    with open(path, "rb") as fh:
        whole = list(reader(str(path), fh))
    ranged = []
    for unit in units:
        with open(path, "rb") as fh:
            ranged += list(reader.read_input(unit, fh))
    assert len(whole) == UK_ARTICLES and ranged == whole
    # Found beside the dump as well, when only the dump is named.
    assert plan_units([str(path)], split_bytes=len(dump) // 4) == units


def test_multistream_dump_split_over_two_workers_is_byte_identical_to_one(ukwiki, tmp_path):
    header, pages = ukwiki
    dump, index = _multistream(header, pages, per_stream=10)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ukwiki-20230501-pages-articles-multistream.xml.bz2").write_bytes(dump)
    (folder / "ukwiki-20230501-pages-articles-multistream-index.txt.bz2").write_bytes(index)
    settings = {"languages": ["uk"], "multistream_split_bytes": len(dump) // 4}
    one, out1 = _run(tmp_path / "one", "wiki", "wikipedia", [str(folder)], settings)
    two, out2 = _run(tmp_path / "two", "wiki", "wikipedia", [str(folder)], settings, WORKERS_2)
    assert one["documents_in"] == two["documents_in"] == UK_ARTICLES and one["quarantined"] == 0
    assert _shard_bytes(out1 / "docs") == _shard_bytes(out2 / "docs")
    kept = {d["meta"]["title"] for d in _shard_lines(out1 / "docs")}
    dropped = {d["meta"]["title"] for d in _shard_lines(out1 / "dropped")}
    assert len(kept) == one["documents_out"] and kept | dropped == {d.meta["title"] for d in _articles(header, pages)}


# ---------------------------------------------------------------------------------------
# StackExchange


def _seven_zip(path: Path, members: dict[str, bytes]) -> Path:
    import libarchive

    with libarchive.file_writer(str(path), "7zip") as archive:
        for name, data in members.items():
            archive.add_file_from_memory(name, len(data), data)
    return path


def test_site_archives_as_published_give_the_documents_of_the_extracted_posts(corpus, tmp_path):
    pytest.importorskip("libarchive")
    site_dir = corpus / "stackexchange" / "conlang.meta.stackexchange.com"
    coffee = (corpus / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml").read_bytes()
    archives = tmp_path / "archives"
    archives.mkdir()
    # A per-site archive holds every table of the site; only Posts.xml is read.
    _seven_zip(archives / "conlang.meta.stackexchange.com.7z",
               {p.name: p.read_bytes() for p in sorted(site_dir.iterdir())})
    # stackoverflow's layout: one archive per table; -Users.7z is not a posts input.
    _seven_zip(archives / "coffee.stackexchange.com-Posts.7z", {"Posts.xml": coffee})
    _seven_zip(archives / "coffee.stackexchange.com-Users.7z", {"Users.xml": b"<users></users>"})
    stats, out = _run(tmp_path / "packed", "stackexchange", "stackexchange", [str(archives)])
    assert stats["quarantined"] == 0 and stats["documents_out"] == 54 + 225
    assert {d["meta"]["site"] for d in _shard_lines(out / "docs")} == {"conlang.meta.stackexchange.com",
                                                                      "coffee.stackexchange.com"}
    # The same posts, in the same order, as the extracted Posts.xml read by the same reader.
    reader = StackExchangeReader("stackexchange", StackExchangeConfig())
    for archive, posts in ((archives / "conlang.meta.stackexchange.com.7z", site_dir / "Posts.xml"),
                           (archives / "coffee.stackexchange.com-Posts.7z",
                            corpus / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml")):
        with open(archive, "rb") as packed, open(posts, "rb") as plain:
            from_archive = [_item_key(i) for i in reader(str(archive), packed)]
            from_xml = [_item_key(i) for i in reader(str(posts), plain)]
        assert from_archive == from_xml and len(from_xml) > 170


def _item_key(item) -> tuple:
    doc = getattr(item, "doc", item)
    return type(item).__name__, doc.id, doc.text, {k: v for k, v in doc.meta.items() if k != "file"}


def test_an_archive_without_posts_is_quarantined_by_name(tmp_path):
    pytest.importorskip("libarchive")
    path = _seven_zip(tmp_path / "empty.stackexchange.com.7z", {"Users.xml": b"<users/>"})
    with open(path, "rb") as fh:
        [record] = list(StackExchangeReader("se", StackExchangeConfig())(str(path), fh))
    assert record.file == str(path) and record.error == f"ArchiveError: no posts.xml in 7z archive {path}"
