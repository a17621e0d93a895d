"""``pasture extract``: the CC read + extract steps over real WARC, WET and HTML files."""

from __future__ import annotations

import json

import pytest

from filters.base import Dropped, QuarantineRecord
from filters.document import Document
from filters.sources.cc.extract import HtmlExtractor, html_to_text
from filters.sources.cc.payload import decode_html
from filters.sources.cc.warc import read_warc
from pipeline.cli import main

UKWA = "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz"


def _read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_warc_file_gives_one_line_per_record_as_the_recipe_extracts_it(corpus, tmp_path):
    warc = corpus / "cc" / UKWA
    out = tmp_path / "pages.jsonl"
    assert main(["extract", str(warc), "--output", str(out)]) == 0
    with open(warc, "rb") as fh:
        items = list(read_warc(str(warc), fh))
    expected = []
    for item in items:
        if isinstance(item, Document):
            text = HtmlExtractor()(item).text
            expected.append({"url": item.meta["url"], "text": text} if text.strip()
                            else {"url": item.meta["url"], "text": "", "dropped": "no_text"})
        elif isinstance(item, Dropped):
            expected.append({"url": item.doc.meta["url"], "text": "", "dropped": item.reason})
        else:
            assert isinstance(item, QuarantineRecord)
    lines = _read_lines(out)
    assert lines == expected
    assert len(lines) == 65  # every record: pages, robots.txt, DNS and image records (non_html)
    assert {"url": "http://data.gov.uk/", "text": "", "dropped": "no_text"} in lines  # a page of menus only


def test_html_file_is_decoded_like_a_payload_and_printed_to_stdout(corpus, tmp_path, capsys):
    warc = corpus / "cc" / UKWA
    with open(warc, "rb") as fh:
        page = next(d for d in read_warc(str(warc), fh)
                    if isinstance(d, Document) and d.meta["url"] == "http://data.gov.uk/about")
    html_file = tmp_path / "about.html"
    html_file.write_bytes(page.text.encode("utf-8"))
    assert main(["extract", str(html_file)]) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line == {"path": str(html_file), "text": html_to_text(decode_html(html_file.read_bytes(), "")[0])[0]}
    assert line["text"] == html_to_text(page.text)[0]
    assert line["text"].startswith("About")


@pytest.mark.shared_corpus("cc/whirlwind.warc.wet.gz")
def test_wet_records_pass_through_with_their_text(corpus, tmp_path):
    wet = corpus / "cc" / "whirlwind.warc.wet.gz"
    out = tmp_path / "wet.jsonl"
    assert main(["extract", str(wet), "--output", str(out)]) == 0
    with open(wet, "rb") as fh:
        docs = [d for d in read_warc(str(wet), fh) if isinstance(d, Document)]
    assert _read_lines(out) == [{"url": d.meta["url"], "text": d.text} for d in docs]


def test_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["extract", str(tmp_path / "nope.warc.gz")]) == 2
    assert "no such file" in capsys.readouterr().err
