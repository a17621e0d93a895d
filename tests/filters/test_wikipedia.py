"""Wikipedia dump reader and wikitext cleaner on the real dumps of corpus/wikipedia."""

from __future__ import annotations

import bz2
import gzip
import io
import re
from pathlib import Path

import pytest

from filters.base import Dropped, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.wikipedia.config import WikipediaConfig
from filters.sources.wikipedia.reader import (
    HIDDEN_PREFIXES_KEY,
    REASON_WIKI_LANG,
    WikipediaDumpReader,
    count_pages,
    lang_from_dbname,
    read_wikipedia_dump,
)
from filters.sources.wikipedia.render import wikitext_to_text
from filters.sources.wikipedia.rules import REASON_EMPTY, WikipediaTextFilter, WikitextCleaner
from pipeline.training.wikipedia_text import iter_articles

EN = "enwiki-pages-articles-sample.xml.bz2"
JA = "jawiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"
UK = "ukwiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"
LTG = "ltgwiki-latest-pages-articles.xml.bz2"
DUMPS = (EN, JA, UK, LTG)


def _read(path: Path, data: bytes | None = None, languages=None) -> list:
    raw = path.read_bytes() if data is None else data
    return list(read_wikipedia_dump(str(path), io.BytesIO(raw), languages))


def _docs(items: list) -> list[Document]:
    return [i for i in items if isinstance(i, Document)]


@pytest.fixture(scope="module")
def en_raw_xml(corpus: Path) -> bytes:
    return bz2.decompress((corpus / "wikipedia" / EN).read_bytes())


@pytest.fixture(scope="module")
def cleaned_all(corpus: Path) -> dict[str, list[Document]]:
    """Every article of the four dumps (any language), cleaned once for the module."""
    cleaner = WikitextCleaner()
    out = {}
    for name in DUMPS:
        out[name] = [cleaner(d) for d in _docs(_read(corpus / "wikipedia" / name))]
    return out


# ---------------------------------------------------------------------------------------
# Reader


def test_ltg_dump_namespaces_and_redirects(corpus):
    with open(corpus / "wikipedia" / LTG, "rb") as fh:
        counts = count_pages(fh)
    # corpus README: 2,004 pages, 1,050 in ns 0, 195 redirects (147 of them in ns 0).
    assert (counts.pages, counts.ns0, counts.redirects, counts.ns0_redirects) == (2004, 1050, 195, 147)
    assert counts.articles == 903
    assert counts.by_ns[14] > 0 and counts.by_ns[10] > 0  # categories and templates are there, not read
    items = _read(corpus / "wikipedia" / LTG)
    assert len(_docs(items)) == 903 and len(items) == 903
    assert {d.meta["lang"] for d in _docs(items)} == {"ltg"}


def test_ltg_is_not_a_llama_language_so_every_article_drops_with_wiki_lang(corpus):
    items = _read(corpus / "wikipedia" / LTG, languages=WikipediaConfig().languages)
    assert len(items) == 903
    assert all(isinstance(i, Dropped) and i.reason == REASON_WIKI_LANG for i in items)
    assert HIDDEN_PREFIXES_KEY not in items[0].doc.meta


def test_enwiki_articles_ids_and_meta(corpus):
    path = corpus / "wikipedia" / EN
    items = _read(path, languages=WikipediaConfig().languages)
    docs = _docs(items)
    # Three pages, all in ns 0; AccessibleComputing is a redirect and is skipped.
    assert [d.meta["title"] for d in docs] == ["Computer accessibility", "Accessibility"]
    doc = docs[0]
    # The snapshot (here the file's own name: no wiki-date in it) keeps two dumps of one wiki apart.
    assert doc.id == stable_id("wikipedia", "enwiki-pages-articles-sample", "en", 411964)
    assert doc.source == "wikipedia"
    assert {k: doc.meta[k] for k in ("page_id", "revision_id", "lang", "url", "dump", "file", "record")} == {
        "page_id": 411964,
        "revision_id": 627945420,
        "lang": "en",
        "url": "https://en.wikipedia.org/wiki/Computer_accessibility",
        "dump": "enwiki-pages-articles-sample",
        "file": str(path),
        "record": "411964",
    }
    assert doc.meta[HIDDEN_PREFIXES_KEY] == ["category", "file", "media"]
    assert "[[" in doc.text  # the reader hands over raw wikitext; cleaning is the cleaner's job


def test_reader_is_a_picklable_config_bound_callable(corpus):
    import pickle

    reader = pickle.loads(pickle.dumps(WikipediaDumpReader("wiki", WikipediaConfig(languages=("uk",)))))
    path = corpus / "wikipedia" / EN
    with open(path, "rb") as fh:
        items = list(reader(str(path), fh))
    assert [type(i).__name__ for i in items] == ["Dropped", "Dropped"]
    # The source name from the config is the documents' source and their id prefix.
    assert {i.doc.source for i in items} == {"wiki"}
    assert [i.doc.id for i in items] == [stable_id("wiki", "enwiki-pages-articles-sample", "en", i.doc.meta["page_id"])
                                         for i in items]


@pytest.mark.parametrize("dbname, xml_lang, expected", [
    ("enwiki", "en", "en"), ("ltgwiki", "ltg", "ltg"), ("zh_min_nanwiki", "nan", "zh-min-nan"), ("", "uk", "uk"),
])
def test_language_comes_from_dbname_then_xml_lang(dbname, xml_lang, expected):
    xml = (f'<mediawiki xml:lang="{xml_lang}"><siteinfo><dbname>{dbname}</dbname></siteinfo>'
           "<page><title>T</title><ns>0</ns><id>7</id><revision><id>9</id><text>Hello.</text></revision></page>"
           "</mediawiki>").encode()
    [doc] = _read(Path("x.xml"), xml)
    assert doc.meta["lang"] == expected and doc.id == stable_id("wikipedia", "x", expected, 7)
    assert lang_from_dbname(dbname) == (expected if dbname else "")


def test_plain_gzip_and_utf16_dumps_read_the_same_documents(corpus, en_raw_xml):
    expected = [(d.meta["page_id"], d.text) for d in _docs(_read(corpus / "wikipedia" / EN))]
    text = en_raw_xml.decode("utf-8")
    variants = {
        "plain": en_raw_xml,
        "gzip": gzip.compress(en_raw_xml),
        "utf-16 with BOM": text.encode("utf-16"),
        "utf-16-le without BOM": text.encode("utf-16-le"),
    }
    for name, data in variants.items():
        assert [(d.meta["page_id"], d.text) for d in _docs(_read(Path("x.xml"), data))] == expected, name


def test_multistream_bz2_reads_every_stream(en_raw_xml):
    # Real multistream dumps are bz2 streams concatenated; cut the XML between two pages.
    cut = en_raw_xml.index(b"<page>", en_raw_xml.index(b"</page>"))
    data = bz2.compress(en_raw_xml[:cut]) + bz2.compress(en_raw_xml[cut:])
    assert len(_docs(_read(Path("x.xml.bz2"), data))) == 2


def test_truncated_xml_keeps_pages_before_and_quarantines_the_cut_page_by_name(en_raw_xml):
    data = en_raw_xml[: en_raw_xml.index(b"<title>Accessibility</title>") + 200]
    items = _read(Path("broken.xml"), data)
    assert [type(i).__name__ for i in items] == ["Document", "QuarantineRecord"]
    record = items[1]
    # The page the cut fell in, by id, title and line: not the page before it.
    assert record.file == "broken.xml" and record.record == "page 302109 'Accessibility' (line 267)"
    assert record.stage == "read"
    assert record.error == "DumpReadError: malformed XML: the dump ends inside this page (no </page>)"


def test_truncated_bz2_is_quarantined(corpus):
    data = (corpus / "wikipedia" / LTG).read_bytes()[:50_000]
    items = _read(Path("cut.xml.bz2"), data)
    assert isinstance(items[-1], QuarantineRecord)
    assert "compressed stream ended early" in items[-1].error


@pytest.mark.parametrize("payload", [
    # billion laughs: refused at the DOCTYPE, nothing is expanded
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b"<mediawiki><page><title>&lol2;</title></page></mediawiki>",
    # external entity
    b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><mediawiki>&x;</mediawiki>',
])
def test_doctype_and_entity_declarations_are_refused(payload):
    [record] = _read(Path("evil.xml"), payload)
    assert isinstance(record, QuarantineRecord)
    assert "DOCTYPE or entity declaration" in record.error and record.record == "after start of dump"


def test_unknown_encoding_is_quarantined_with_a_clear_message():
    [record] = _read(Path("odd.xml"), b'<?xml version="1.0" encoding="x-no-such-codec"?><mediawiki/>')
    assert isinstance(record, QuarantineRecord)
    assert "undecodable dump encoding" in record.error


# ---------------------------------------------------------------------------------------
# Cleaner


@pytest.mark.parametrize("wikitext, expected", [
    ("See [[Paris|the capital]] now.", "See the capital now."),
    ("A [[cat]]s life.", "A cats life."),
    ("Visit [http://example.org the site] today.", "Visit the site today."),
    ("Footnote [http://example.org] gone.", "Footnote gone."),
    ("Born {{birth date|1900|1|1}} in town.", "Born in town."),
    ("Fact.<ref name=a>{{cite web|url=http://x}}</ref> More.<ref name=a/>", "Fact. More."),
    ("Before\n{| class=wikitable\n|-\n| cell || [[x]]\n|}\nAfter", "Before\n\nAfter"),
    ("Text <!-- hidden --> here.", "Text here."),
    ("__NOTOC__Intro __TOC__ text.", "Intro text."),
    ("Python's __init__ method.", "Python's __init__ method."),
    ("'''Bold''' and ''italic''.", "Bold and italic."),
    ("X [[File:a.jpg|thumb|caption [[b]]]] [[Image:c.png]] [[Category:Foo]] [[de:Bar]] Y", "X Y"),
    ("X [[Файл:a.jpg|міні|підпис]] [[Категорія:Міста]] Y", "X Y"),
    ("X [[ファイル:a.jpg|サムネイル]] [[カテゴリ:日本]] [[画像:b.png]] Y", "X Y"),
    ("See [[:Category:Foo]].", "See Category:Foo."),
    # Language templates show their foreign text in the article; it is kept.
    ("Capital ({{lang|fr|Paris}}) of France.", "Capital (Paris) of France."),
    ("'''M''' ({{lang-de|Rudolf Mößbauer}}; {{IPAc-de|x}}; born 1929)", "M (Rudolf Mößbauer; born 1929)"),
    ("Cat ({{IPA|kæt}}; {{Vol-lv|kaķis}}) here.", "Cat (kaķis) here."),
    ("Name ({{IPAc-en|n}}; born 1900) and ({{IPA|x}};; ) more.", "Name (born 1900) and more."),
    ("Intro.\n\n== History ==\nOld.\n\n== References ==\n{{reflist}}\n\n== Notes ==\n", "Intro.\n\nHistory\n\nOld."),
    ("* one\n* two [[x|three]]", "one\ntwo three"),
    ("Stray }} and {{ and [[ brackets ]].", "Stray and and brackets."),
    ("A&nbsp;B &amp; C", "A B & C"),
    ("A <math>x^{{2}</math> B {{t}} C.", "A B C."),  # maths braces do not unbalance templates
    ("'''{{lang|ru|Россия}}''' (Rossiya) is big.", "Россия (Rossiya) is big."),
    ("Dialect ([[:fr:Chiac|{{lang|fr|chiac}}]]) here.", "Dialect (chiac) here."),
    # Residue the parser leaves as text: unbalanced bold, entities, raw tags, image links.
    ("* [[Fails:F.svg|25x15px|Z]] '''[[Zimbabve]]''' - Republika", "Zimbabve - Republika"),
    ("[[Attēls:M.jpg|thumb|250px|]]\n[[Fails:C.png|thumb|250px|'''' p]]\n'''C''' (S)", "C (S)"),
    ("; Filmy\n«Перевірено&nbsp;— мін» [[a|b&ndash;c]]", "Filmy\n«Перевірено — мін» b–c"),
    ('<div style="float:right">Text</div>', "Text"),
])
def test_wikitext_to_text_cases(wikitext, expected):
    assert wikitext_to_text(wikitext) == expected


def test_dump_namespace_names_hide_their_links():
    text = "Y [[Fails:Tallinn.jpg|thumb|[[Talins]]]] [[Kategoreja:Mīsti]] Z"
    assert wikitext_to_text(text, hidden_prefixes=("fails", "kategoreja")) == "Y Z"
    # Without the dump's names its image link still goes (it has image options); a link
    # under a prefix that is no namespace stays text.
    assert wikitext_to_text(text) == "Y Z"
    assert wikitext_to_text("See [[Projekts:Talins|Talins]].") == "See Talins."


def test_computer_accessibility_article(cleaned_all):
    doc = next(d for d in cleaned_all[EN] if d.meta["title"] == "Computer accessibility")
    text = doc.text
    # link text kept: [[Color blindness|colour-blindness]], [[astrophysics|astrophysicist]], ...
    for kept in ("colour-blindness", "astrophysicist", "Cognitive impairments", "keyboard shortcuts".capitalize(),
                 "Java Accessibility", "accessibility API"):
        assert kept in text, kept
    # File captions, image options, categories, template output and refs are gone.
    for gone in ("A single switch assistive device", "thumb", "Category", "Computer accessibility| ",
                 "Using ClickLock", "reflist", "http://"):
        assert gone not in text, gone
    lines = text.split("\n")
    assert "Special-needs assessment" in lines and "See also" in lines  # headings as plain lines
    assert "References" not in lines  # its section held only {{reflist}}
    assert text.startswith("In human–computer interaction, computer accessibility (also known as Accessible computing)")
    assert HIDDEN_PREFIXES_KEY not in doc.meta and doc.meta["title"] == "Computer accessibility"


def test_no_markup_left_in_any_article_of_the_four_dumps(cleaned_all):
    counts = {name: len(docs) for name, docs in cleaned_all.items()}
    assert counts == {EN: 2, JA: 189, UK: 512, LTG: 903}
    for name, docs in cleaned_all.items():
        for doc in docs:
            for marker in ("[[", "{{", "<ref", "}}", "{|", "__TOC__", "<!--",
                           # issue 16's residue: dropped {{lang}}/pronunciation leftovers, bold
                           # quotes, entities, raw tags, image captions
                           "(;", "( ;", "\'\'\'", "&nbsp;", "&ndash;", "<div", "thumb|"):
                assert marker not in doc.text, (name, doc.meta["title"], marker)


def test_empty_pages_drop_with_reason_empty(cleaned_all):
    wiki_filter = WikipediaTextFilter(WikipediaConfig())
    verdicts = {d.meta["title"]: wiki_filter(d) for d in cleaned_all[LTG]}
    empty = sorted(title for title, v in verdicts.items() if not v.keep)
    assert len(empty) == 8 and "Suoku puslopa" in empty  # the main page is one big table
    assert {verdicts[t].reason for t in empty} == {REASON_EMPTY}
    kept = next(v for v in verdicts.values() if v.keep)
    assert kept.scores["chars"] > 0
    assert sum(len(d.text) > 0 for d in cleaned_all[UK]) == 512


def test_iter_articles_skips_other_languages_and_stops_at_max_docs(corpus):
    paths = [str(corpus / "wikipedia" / n) for n in (JA, UK)]
    docs = list(iter_articles(paths, languages=["uk"], max_docs=5))
    assert len(docs) == 5 and {d.meta["lang"] for d in docs} == {"uk"}
    assert all(d.text and "[[" not in d.text for d in docs)


# ---------------------------------------------------------------------------------------
# One bad page costs that page only


def _uk_pages(corpus: Path) -> tuple[bytes, list[bytes]]:
    raw = bz2.decompress((corpus / "wikipedia" / UK).read_bytes())
    return raw[: raw.index(b"  <page>")], re.findall(rb"  <page>.*?</page>\n", raw, re.S)[:60]


def _titles(items: list) -> list[str]:
    return [i.meta["title"] for i in items if isinstance(i, Document)]


@pytest.mark.parametrize("damage, error", [
    (lambda page: page.replace(b"</ns>", b"&bogus;</ns>", 1), "malformed XML (undefined entity) at line {},"),
    (lambda page: page.replace(b"</revision>", b"", 1), "malformed XML (mismatched tag) at line {},"),
    (lambda page: page.replace(b"</page>", b"", 1), "malformed XML: the page is not closed before the next <page>"),
])
def test_a_malformed_page_is_quarantined_by_name_and_the_next_page_is_read(corpus, damage, error):
    header, pages = _uk_pages(corpus)
    good = _titles(_read(Path("uk.xml"), header + b"".join(pages) + b"</mediawiki>\n", ["uk"]))
    broken = list(pages)
    broken[20] = damage(broken[20])
    bad_title = re.search(rb"<title>(.*?)</title>", pages[20]).group(1).decode()
    bad_id = int(re.search(rb"<id>(\d+)</id>", pages[20]).group(1))
    line = 1 + (header + b"".join(pages[:20])).count(b"\n")
    for name, pack in (("uk.xml", bytes), ("uk.xml.bz2", bz2.compress)):
        items = _read(Path(name), pack(header + b"".join(broken) + b"</mediawiki>\n"), ["uk"])
        [record] = [i for i in items if isinstance(i, QuarantineRecord)]
        assert record.record == f"page {bad_id} {bad_title!r} (line {line})"
        error_line = line + pages[20][: pages[20].index(b"</ns>")].count(b"\n")
        if "undefined" not in error:
            error_line = line + damage(pages[20]).count(b"\n") - 1  # at </page>
        assert record.error.startswith("DumpReadError: " + error.format(error_line)), (name, record.error)
        assert "compressed stream" not in record.error
        assert _titles(items) == [t for t in good if t != bad_title]


def test_a_page_over_the_size_limit_is_quarantined_with_the_limit_named(corpus):
    header, pages = _uk_pages(corpus)
    big = max(range(len(pages)), key=lambda i: len(pages[i]))
    second = max(len(p) for i, p in enumerate(pages) if i != big)
    limit = (second + len(pages[big])) // 2  # between the largest page and the next one
    reader = WikipediaDumpReader("wikipedia", WikipediaConfig(languages=("uk",), max_page_bytes=limit))
    items = list(reader("uk.xml", io.BytesIO(header + b"".join(pages) + b"</mediawiki>\n")))
    [record] = [i for i in items if isinstance(i, QuarantineRecord)]
    big_id = int(re.search(rb"<id>(\d+)</id>", pages[big]).group(1))
    assert record.record.startswith(f"page {big_id} ")
    assert record.error == f"DumpReadError: page larger than the limit max_page_bytes={limit}"
    assert len(_titles(items)) == len(_titles(_read(Path("uk.xml"), header + b"".join(pages) + b"</mediawiki>\n",
                                                     ["uk"]))) - 1
