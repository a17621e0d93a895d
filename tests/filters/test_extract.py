"""HTML → main text on real pages (corpus/cc-pages, corpus/cc)."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from filters.document import Document
from filters.sources.cc.extract import NO_TEXT, ExtractedTextFilter, HtmlExtractor, html_to_text
from filters.sources.cc.warc import read_warc
from mixtures.config import ExtractConfig


@pytest.fixture(scope="module")
def pages(corpus) -> dict[str, Document]:
    docs = {}
    for path in sorted((corpus / "cc-pages").glob("*.warc.gz")) + [corpus / "cc" / "whirlwind.warc.gz"]:
        with open(path, "rb") as fh:
            docs.update({d.meta["url"]: d for d in read_warc(str(path), fh) if isinstance(d, Document)})
    return docs


def test_example_com_exactly(pages):
    doc = HtmlExtractor(ExtractConfig())(pages["https://example.com"])
    assert doc.text == (
        "Example Domain\n"
        "This domain is established to be used for illustrative examples in documents. You may use this "
        "domain in examples without prior coordination or asking for permission."
    )  # "More information..." is a lone link under the text: navigation, dropped
    assert doc.meta["title"] == "Example Domain"
    assert doc.meta["format"] == "html"


def test_german_article_paragraphs_are_lines(pages):
    url = "https://www.cosmopolitan.de/sommertrend-print-look-so-tragen-ihn-die-influencerinnen-86546.html"
    text = HtmlExtractor()(pages[url]).text
    assert ("Wenn die Sonne scheint und der Himmel blau ist, macht es morgens wieder richtig Spaß, das passende "
            "Outfit auszusuchen. Endlich keine langen Mäntel und XXL-Schals mehr, die unser Outfit überdecken!"
            ) in text.split("\n")
    assert "<" not in text and "\n\n" not in text


def test_wikipedia_page_keeps_article_drops_navigation(pages):
    doc = HtmlExtractor()(pages["https://an.wikipedia.org/wiki/Escopete"])
    lines = doc.text.split("\n")
    assert ("Escopete ye un municipio d'a provincia de Guadalachara, en a comunidat autonoma de Castiella-La Mancha, "
            "Espanya, comarca de La Alcarria y partiu chudicial de Guadalachara.") in lines
    assert "2007–2011 Hilario López Herrer Partido Socialista Obrero Español" in lines  # one line per table row
    # The <nav> menus that Common Crawl's own WET text keeps ("Menú principal", "Portalada") are gone.
    assert "Menú principal" not in lines and "Portalada" not in lines
    assert doc.meta["title"] == "Escopete - Biquipedia, a enciclopedia libre"


def test_no_script_or_style_content_leaks_on_any_page(pages):
    leaks = []
    for url, doc in pages.items():
        text = html_to_text(doc.text)[0]
        tree = LexborHTMLParser(doc.text)
        for node in tree.css("script, style"):
            snippet = node.text().strip()[:40]
            if len(snippet) == 40 and snippet in text:
                leaks.append((url, snippet))
    assert leaks == []


def test_page_wrapped_in_an_aspnet_form_keeps_its_text(pages):
    doc = HtmlExtractor()(pages["http://www.greenpeace.org/international/en/campaigns/forests/asia-pacific/"])
    lines = doc.text.split("\n")
    assert len(doc.text) > 2500
    assert lines[:2] == ["Indonesia", "Indonesia is a treasure chest of biodiversity; it is home to between 10 and "
                         "15 per cent of all known species of plants, mammals and birds. Orang-utans, elephants, "
                         "tigers, rhinoceroses, more than 1,500 species of birds and thousands of plant species are "
                         "all a part of the country's natural legacy."]


def test_every_cc_page_extracts_some_text(pages):
    empty = [url for url, doc in pages.items() if not html_to_text(doc.text)[0]]
    assert empty == []


def test_block_structure_entities_and_chrome():
    html = (
        "<html><head><title> A &amp; B </title><style>p{color:red}</style></head><body>"
        "<header><a>Home</a></header><nav><ul><li>Menu</li></ul></nav>"
        "<article><header><h1>Head&shy;line</h1></header><p>One <b>bold</b>\n   word&nbsp;here.</p>tail"
        "<ul><li>first</li><li>second</li></ul><table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>"
        "line<br>break<pre>x = 1\n  y = 2</pre></article>"
        "<form><input value='q'><button>Search</button><p>Search the site</p></form>"
        "<footer>Imprint</footer><script>var leak = 1;</script></body></html>"
    )
    text, title = html_to_text(html)
    assert title == "A & B"
    assert text.split("\n") == [
        "Headline", "One bold word here.", "tail", "first", "second", "a b", "c",
        "line", "break", "x = 1", "  y = 2",
    ]  # soft hyphens go; <pre> keeps its indentation


def test_wet_documents_pass_through_unchanged():
    doc = Document("cc/x", "line one\n  line two  ", "cc", {"format": "text", "kind": "wet"})
    assert HtmlExtractor()(doc) is doc


@pytest.mark.parametrize("text, reason", [("", NO_TEXT), ("  \n ", NO_TEXT), ("x", None)])
def test_extracted_text_filter(text, reason):
    verdict = ExtractedTextFilter(ExtractConfig(min_text_chars=1))(Document("cc/x", text, "cc"))
    assert verdict.reason == reason and verdict.keep is (reason is None)


def test_script_only_page_yields_empty_text_then_no_text_drop():
    doc = Document("cc/x", "<html><body><script>document.write('hi')</script></body></html>", "cc", {"format": "html"})
    extracted = HtmlExtractor()(doc)
    assert extracted.text == ""
    assert ExtractedTextFilter()(extracted).reason == NO_TEXT
