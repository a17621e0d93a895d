"""Main content on real page shapes: the article kept, the page chrome around it dropped.

Two kinds of input: real pages of ``../shared/extraction-eval`` (hand-annotated snippets
of what a good extractor keeps and drops; the tests skip without ``../shared``), and small
pages committed here, shaped like the real ones they stand for (the commoncrawl.org blog
puts its body in ``<header>``; WordPress comment threads; consent banners).
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest

from filters.document import Document
from filters.sources.cc.extract import HtmlExtractor, html_to_text
from filters.sources.cc.payload import decode_html

EVAL = Path(__file__).resolve().parents[2].parent / "shared" / "extraction-eval"
EVAL_FILES = (
    "flowfx.de.tmux.html",  # code in <pre>
    "guenter-pilger.de.mailaktion.html",  # article text in a layout table
    "papaganda.org.minions.html",  # WordPress comment thread under the post
    "simmeltalzeitung.ch-Trinkwasser.html",  # cookie consent banner
    "digitalcourage.de-Muendigkeit.html",  # "no cookie" banner
    "nhk.or.jp.k100.html",  # Japanese with ruby readings
    "banyuetan.org.1000200033136171577956287380194268_1.html",  # Chinese
)


@pytest.fixture(scope="module")
def eval_pages() -> dict[str, tuple[str, dict]]:
    """``{file: (decoded html, annotation)}`` for :data:`EVAL_FILES`."""
    if not (EVAL / "pages.tar.xz").exists():
        pytest.skip("needs ../shared/extraction-eval")
    annotations = {e["file"]: e for e in json.loads((EVAL / "evaldata.json").read_text(encoding="utf-8")).values()}
    pages = {}
    with tarfile.open(EVAL / "pages.tar.xz") as tar:
        for member in tar:
            name = Path(member.name).name
            if name in EVAL_FILES:
                raw = tar.extractfile(member).read()
                pages[name] = (decode_html(raw, "text/html")[0], annotations[name])
    assert sorted(pages) == sorted(EVAL_FILES)
    return pages


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _judged(text: str, annotation: dict) -> tuple[list[str], list[str]]:
    """(``with`` snippets missing, ``without`` snippets present), by extraction-eval's method."""
    out = _norm(text)
    missing = [s for s in annotation["with"] if _norm(s) not in out]
    leaked = [s for s in annotation["without"] if _norm(s) in out]
    return missing, leaked


@pytest.mark.parametrize("name", EVAL_FILES)
def test_eval_page_keeps_every_main_snippet_and_no_boilerplate_snippet(eval_pages, name):
    html, annotation = eval_pages[name]
    assert _judged(html_to_text(html)[0], annotation) == ([], [])


def test_code_block_keeps_its_lines(eval_pages):
    lines = html_to_text(eval_pages["flowfx.de.tmux.html"][0])[0].split("\n")
    start = lines.index("# .tmux.conf")
    assert lines[start:start + 4] == [
        "# .tmux.conf",
        "set-option -g mouse on",
        "set-option -s set-clipboard off",
        'bind-key -T copy-mode-vi MouseDragEnd1Pane send-keys -X copy-pipe-and-cancel "xclip -se c -i"',
    ]


def test_highlighted_code_keeps_indentation():
    html = ("<html><body><article><h1>Retry with backoff</h1><p>A small helper that retries a call with an "
            "exponential delay between attempts, as used in our crawler.</p>"
            '<pre class="highlight"><code><span class="k">def</span> <span class="nf">retry</span>(fn, tries=3):\n'
            '    <span class="k">for</span> i <span class="ow">in</span> range(tries):\n'
            '        <span class="k">try</span>:\n'
            "            <span class=\"k\">return</span> fn()\n"
            "        <span class=\"k\">except</span> OSError:\n"
            "            time.sleep(2 ** i)\n</code></pre></article></body></html>")
    assert html_to_text(html)[0].split("\n") == [
        "Retry with backoff",
        "A small helper that retries a call with an exponential delay between attempts, as used in our crawler.",
        "def retry(fn, tries=3):",
        "    for i in range(tries):",
        "        try:",
        "            return fn()",
        "        except OSError:",
        "            time.sleep(2 ** i)",
    ]


def test_layout_table_text_is_kept_row_by_row(eval_pages):
    lines = html_to_text(eval_pages["guenter-pilger.de.mailaktion.html"][0])[0].split("\n")
    assert lines[0] == ("Ich habe am 12. Mai 2006 eine Mail-Aktion an die Mitglieder des Bundestages gestartet "
                        "mit folgendem Inhalt:")
    assert "Antwort der CSU-Landesgruppe erhalten" in lines
    assert "Startseite" not in lines and "Partnerseiten" not in lines


def test_data_table_with_linked_cells_keeps_its_rows():
    rows = "".join(f'<tr><td>{years}</td><td><a href="/wiki/{name}">{name}</a></td><td><a href="/wiki/{party}">'
                   f"{party}</a></td></tr>"
                   for years, name, party in (("2007–2011", "Hilario López", "PSOE"),
                                              ("2011–2015", "Ana Ruiz Gómez", "Partido Popular")))
    html = ("<html><body><div id='content'><h1>Escopete</h1><p>Escopete is a municipality in the province of "
            "Guadalajara, Castile-La Mancha, Spain, with 68 inhabitants in 2013.</p><h2>Mayors</h2>"
            f"<table class='wikitable'><tr><th>Term</th><th>Mayor</th><th>Party</th></tr>{rows}</table></div>"
            "<div id='footer'><ul><li><a href='/privacy'>Privacy policy</a></li></ul></div></body></html>")
    assert html_to_text(html)[0].split("\n") == [
        "Escopete",
        "Escopete is a municipality in the province of Guadalajara, Castile-La Mancha, Spain, with 68 inhabitants "
        "in 2013.",
        "Mayors", "Term Mayor Party", "2007–2011 Hilario López PSOE", "2011–2015 Ana Ruiz Gómez Partido Popular",
    ]


# The commoncrawl.org blog (Webflow) as crawled: navbar, then the whole post inside a
# <header class="section-blog-post">, then the same site footer on every page.
COMMONCRAWL_POST = """<!DOCTYPE html><html><head><title>March 2024 Crawl Archive Now Available – Common Crawl</title>
</head><body><div class="navbar w-nav"><a href="/" class="brand">Common Crawl</a><nav role="navigation">
<a href="/overview">Overview</a><a href="/blog">Blog</a><a href="/get-started">Get Started</a></nav></div>
<header class="section-blog-post"><div class="container"><div class="blog-post-header">
<a href="/blog" class="link-back">Back to blog</a><h1 class="heading-blog">March 2024 Crawl Archive Now Available</h1>
<div class="blog-date">April 4, 2024</div></div><div class="rich-text w-richtext">
<p>The crawl archive for March 2024 is now available. The data was crawled between March 18th and
March 30th, and contains 3.16 billion web pages (or 424.7 TiB of uncompressed content).</p>
<p>Page captures are from 52.6 million hosts or 41.5 million registered domains and include 1.04 billion
new URLs, not visited in any of our prior crawls.</p>
<h2>Archive Location and Download</h2>
<p>The March 2024 crawl archive is located in the commoncrawl bucket at crawl-data/CC-MAIN-2024-14/.</p>
</div></div></header>
<footer class="footer"><div class="container"><p>The data is free to access and use: we are a 501(c)(3)
non-profit founded in 2007. Common Crawl maintains a free, open repository of web crawl data that can be used by
anyone.</p><a href="/terms-of-use">Terms of Use</a><a href="/privacy-policy">Privacy Policy</a></div></footer>
</body></html>"""


def test_post_inside_header_is_kept_and_site_footer_dropped():
    doc = Document("cc/commoncrawl", COMMONCRAWL_POST, "cc", {"format": "html"})
    out = HtmlExtractor()(doc)
    assert out.text.split("\n") == [
        "March 2024 Crawl Archive Now Available",
        "April 4, 2024",
        "The crawl archive for March 2024 is now available. The data was crawled between March 18th and March "
        "30th, and contains 3.16 billion web pages (or 424.7 TiB of uncompressed content).",
        "Page captures are from 52.6 million hosts or 41.5 million registered domains and include 1.04 billion "
        "new URLs, not visited in any of our prior crawls.",
        "Archive Location and Download",
        "The March 2024 crawl archive is located in the commoncrawl bucket at crawl-data/CC-MAIN-2024-14/.",
    ]
    assert out.meta["title"] == "March 2024 Crawl Archive Now Available – Common Crawl"


WORDPRESS_POST = """<html><body><div id="page"><div id="content" class="site-content">
<article class="post-41 post type-post status-publish hentry category-garden tag-tomatoes">
<h1 class="entry-title">Growing tomatoes on a balcony</h1>
<div class="entry-meta"><span class="byline">by Anna</span> <time>3 May 2023</time></div>
<div class="entry-content"><p>Three plants in twenty-litre pots gave us more tomatoes than we could eat this summer,
on a balcony that gets sun only in the afternoon.</p><p>The trick was watering every evening and pinching out the
side shoots every week, so that the plants put their strength into the fruit.</p>
<div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">Share this:</h3><ul><li><a href="#">Facebook</a></li>
<li><a href="#">X</a></li></ul></div></div></article>
<div id="comments" class="comments-area"><h2 class="comments-title">2 thoughts on “Growing tomatoes on a balcony”</h2>
<ol class="comment-list"><li id="comment-12" class="comment even thread-even depth-1"><article class="comment-body">
<footer class="comment-meta"><b class="fn">Peter</b> says:</footer><div class="comment-content"><p>Which variety did you
grow? Mine always split when it rains after a dry week.</p></div></article></li>
<li id="comment-13" class="comment odd depth-1"><article class="comment-body"><div class="comment-content">
<p>Great post, thanks for sharing these tips with all of us here!</p></div></article></li></ol>
<div id="respond" class="comment-respond"><h3 id="reply-title">Leave a Reply</h3><form id="commentform">
<p class="comment-notes">Your email address will not be published.</p><textarea name="comment"></textarea></form></div>
</div></div></div></body></html>"""


def test_comment_thread_share_bar_and_byline_are_dropped():
    # The root is the post's entry-content: the headline outside it is the page title's job.
    assert html_to_text(WORDPRESS_POST)[0].split("\n") == [
        "Three plants in twenty-litre pots gave us more tomatoes than we could eat this summer, on a balcony that "
        "gets sun only in the afternoon.",
        "The trick was watering every evening and pinching out the side shoots every week, so that the plants put "
        "their strength into the fruit.",
    ]


def test_forum_thread_made_of_comment_blocks_is_kept():
    # A forum names every post "comment": dropping them all would lose the page.
    posts = "".join(f'<div class="MtnComment"><div class="MtnCommentText">{text}</div></div>' for text in (
        "Since the update to iOS 13 the App Store no longer downloads apps over mobile data, only over WLAN.",
        "Same here on an iPhone 11: the setting for mobile data is on, but large apps wait for WLAN anyway.",
        "There is a new option under Settings, App Store, App Downloads: set it to always allow.",
    ))
    html = (f"<html><body><main id='content'><h1>No App Store over mobile data with iOS 13?</h1>{posts}</main>"
            "</body></html>")
    lines = html_to_text(html)[0].split("\n")
    assert lines[0] == "No App Store over mobile data with iOS 13?"
    assert len(lines) == 4


def test_cookie_banner_is_dropped():
    html = ("<html><body><div class='cc-window cookie-consent' role='dialog'><span>We use cookies to give you the "
            "best experience on our website. By continuing you agree to our use of cookies.</span>"
            "<a class='cc-btn'>Accept all</a></div><main><article><h1>Night trains return to the Alps</h1>"
            "<p>From December, a night train will run again three times a week between Zurich and Vienna, with "
            "couchettes and sleeping cars.</p></article></main>"
            "<div id='usercentrics-root' class='consent-banner'><p>Diese Website verwendet Cookies und ähnliche "
            "Technologien für Statistik und Marketing.</p></div></body></html>")
    assert html_to_text(html)[0].split("\n") == [
        "Night trains return to the Alps",
        "From December, a night train will run again three times a week between Zurich and Vienna, with couchettes "
        "and sleeping cars.",
    ]


def test_japanese_page_without_ruby_readings(eval_pages):
    text = html_to_text(eval_pages["nhk.or.jp.k100.html"][0])[0]
    assert text.split("\n")[0] == ("子どもへの虐待をなくすための法律ができて、親が子どもを教育するために、"
                                   "たたいたり蹴ったりする体罰を禁止することになりました。")
    assert "Copyright NHK" not in text


def test_related_block_after_the_article_and_read_also_teaser_inside_it_are_dropped():
    # News sites close the article with "Mehr zum Thema" teasers, not named as such in the
    # markup, and put a "Lesen Sie auch" teaser between two paragraphs.
    paragraphs = (
        "Der Stadtrat hat am Dienstag beschlossen, die Buslinie 12 ab dem Fahrplanwechsel im Dezember bis zum "
        "neuen Klinikum zu verlängern.",
        "Die Verlängerung kostet nach Angaben der Verkehrsbetriebe rund 1,2 Millionen Euro im Jahr, die Stadt "
        "und der Landkreis teilen sich die Kosten.",
        "Fahrgastverbände begrüßten den Beschluss, forderten aber zusätzlich einen Takt von zehn Minuten in den "
        "Hauptverkehrszeiten am Morgen und am Abend.",
    )
    html = ("<html><body><div class='inhalt'><h1>Buslinie 12 fährt bald bis zum Klinikum</h1>"
            f"<p>{paragraphs[0]}</p><p>{paragraphs[1]}</p>"
            "<p><strong>Lesen Sie auch:</strong></p><p>Neue Radwege in der Innenstadt geplant</p>"
            f"<p>{paragraphs[2]}</p>"
            "<h3>Mehr zum Thema</h3><p>Verkehrsbetriebe erhöhen die Preise für das Monatsticket zum Jahreswechsel "
            "um drei Prozent</p></div></body></html>")
    assert html_to_text(html)[0].split("\n") == ["Buslinie 12 fährt bald bis zum Klinikum", *paragraphs]


def test_related_heading_high_up_in_the_text_is_kept():
    # Above half of the text, a "Related articles" line is part of the article (a list the
    # author put there), not the end of it.
    body = "".join(f"<p>Paragraph {i} explains one more step of repotting an orchid, from the old bark to the new "
                   "pot and the first watering.</p>" for i in range(3))
    html = (f"<html><body><article><h2>Related articles</h2><p>Why orchids need bark instead of soil, and how "
            f"often to change it</p>{body}</article></body></html>")
    assert html_to_text(html)[0].split("\n")[0] == "Related articles"
