"""WARC/WET reading on the real crawl files of corpus/cc and corpus/cc-pages."""

from __future__ import annotations

import gzip
import io
import json
import pickle
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator

from filters.base import Dropped, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.cc.payload import codec_for, decode_html, wet_title_and_text
from filters.sources.cc.warc import HTTP_STATUS, NON_HTML, REVISIT, WarcReader, clean_url, read_warc
from mixtures.config import ExtractConfig


def _read(path, cfg=None, source="cc"):
    with open(path, "rb") as fh:
        return list(read_warc(str(path), fh, cfg, source))


def _summary(items):
    counts = Counter()
    for item in items:
        if isinstance(item, Document):
            counts["docs"] += 1
        elif isinstance(item, Dropped):
            counts[f"dropped.{item.reason}"] += 1
        else:
            assert isinstance(item, QuarantineRecord)
            counts["quarantined"] += 1
    return dict(counts)


def _record_offsets(data: bytes) -> list[tuple[str, int, int]]:
    iterator = ArchiveIterator(io.BytesIO(data))
    return [(r.rec_type, iterator.get_record_offset(), iterator.get_record_length()) for r in iterator]


# (docs, dropped by reason) per real file; warcinfo/request/metadata records are not counted.
EXPECTED_CC = {
    "dolma-sample-0000.warc.gz": {"docs": 22, "dropped.non_html": 2},  # 2 text/plain wget log resources
    "resiliparse-CC-MAIN-2020-34-sample.warc.gz": {"docs": 16},
    # 65 responses: 32 HTML 200s, 28 JS/CSS/images/robots/DNS, 5 non-200 (302, 403, 404 x3)
    "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz": {"docs": 32, "dropped.non_html": 28, "dropped.http_status": 5},
    "ukwa-gov.uk-BL-20140325122341434-00000-revisits.warc.gz": {
        "docs": 6, "dropped.revisit": 55, "dropped.non_html": 3, "dropped.http_status": 1,
    },
    "whirlwind.warc.gz": {"docs": 1},
    "whirlwind.warc.wet.gz": {"docs": 1},
    "whirlwind.warc.wat.gz": {},  # only warcinfo + metadata (WAT JSON): nothing to read
}


@pytest.mark.parametrize("name", sorted(EXPECTED_CC))
def test_every_cc_file_reads_with_exact_counts(corpus, name):
    assert _summary(_read(corpus / "cc" / name)) == EXPECTED_CC[name]


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_cc_pages_yields_the_216_responses_of_the_manifest(corpus):
    manifest = [json.loads(line) for line in (corpus / "cc-pages" / "manifest.jsonl").read_text().splitlines()]
    docs = []
    for path in sorted((corpus / "cc-pages").glob("*.warc.gz")):
        items = _read(path)
        assert _summary(items) == {"docs": 108}
        docs += items
    assert len(docs) == 216 == len(manifest)
    by_record_id = {d.meta["warc_record_id"]: d for d in docs}
    for page in manifest:
        doc = by_record_id[page["record_id"]]
        assert doc.meta["url"] == page["url"]
        assert doc.meta["file"] == page["warc_file"]
        assert doc.meta["format"] == "html" and doc.meta["kind"] == "warc"
        assert doc.meta["date"] == "2024-01-01T00:00:00Z"
        assert doc.meta["digest"].startswith("sha1:")
        assert doc.id == stable_id("cc", page["warc_file"], doc.meta["record"])
    assert len({d.id for d in docs}) == 216


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_charset_http_header_wins_then_meta_then_utf8(corpus):
    docs = {d.meta["url"]: d for p in (corpus / "cc-pages").glob("*.warc.gz") for d in _read(p)}
    manifest = [json.loads(line) for line in (corpus / "cc-pages" / "manifest.jsonl").read_text().splitlines()]
    by_path = {m["path"].rsplit("/", 1)[-1]: docs[m["url"]] for m in manifest}
    # HTTP says utf-8, <meta> says iso-8859-1: the bytes are UTF-8 and the header wins.
    querfurt = by_path["hundeverein-querfurt.de.html"]
    assert (querfurt.meta["charset"], querfurt.meta["charset_origin"]) == ("utf-8", "http")
    assert "\ufffd" not in querfurt.text
    # No HTTP charset, <meta> declares utf-8 but the bytes are not valid UTF-8: replaced, not lost.
    naturgruen = by_path["naturgruen-team.html"]
    assert (naturgruen.meta["charset"], naturgruen.meta["charset_origin"]) == ("utf-8", "meta")
    assert "\ufffd" in naturgruen.text
    # Pure ASCII, nothing declared anywhere.
    assert by_path["apache.html"].meta["charset_origin"] == "default"


def test_real_cc_charsets_gb2312_gbk_windows_1251(corpus):
    docs = {d.meta["url"]: d for d in _read(corpus / "cc" / "resiliparse-CC-MAIN-2020-34-sample.warc.gz")}
    russian = docs["http://01spb.ru/company/"]
    assert russian.meta["charset"] == "cp1251" and russian.meta["content_type"].endswith("windows-1251")
    assert sum("\u0400" <= c <= "\u04ff" for c in russian.text) > 100
    # WHATWG: a gb2312 label is decoded as GBK (its superset), from the HTTP header or <meta>.
    for url in ("http://037426.cn/", "http://041696.com/15477/list_6_4.html"):
        doc = docs[url]
        assert doc.meta["charset"] == "gbk"
        assert "\ufffd" not in doc.text and sum("\u4e00" <= c <= "\u9fff" for c in doc.text) > 100
    assert docs["http://05925.net/index.php/vod/type/id/53.html"].meta["charset_origin"] == "bom"


def test_wet_conversion_record_title_line_goes_to_meta_as_cc_net_does(corpus):
    # cc_net (process_wet_file.parse_doc): the first non-blank line is the title, not text.
    [doc] = _read(corpus / "cc" / "whirlwind.warc.wet.gz")
    assert doc.meta["format"] == "text" and doc.meta["kind"] == "wet"
    assert doc.meta["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert doc.meta["cc_language"] == "spa"
    assert doc.meta["title"] == "Escopete - Biquipedia, a enciclopedia libre"
    assert doc.text.startswith("Ir al contenido\nMenú principal\n")
    assert "Escopete - Biquipedia" not in doc.text.split("\n", 1)[0]
    assert (len(doc.text), doc.text.count("\n") + 1) == (4258, 181)


def test_wet_lines_are_stripped_and_blank_lines_dropped_as_cc_net_does(corpus):
    [doc] = _read(corpus / "cc" / "whirlwind.warc.wet.gz")
    lines = [doc.meta["title"], *doc.text.split("\n")]
    # The same page as a writer with CRLF, indentation and blank lines would store it.
    messy = "\r\n\r\n".join(f"  {line}\t" for line in lines) + "\r\n \r\n"
    assert wet_title_and_text(messy) == (doc.meta["title"], doc.text)
    assert wet_title_and_text(" \n\r\n") == ("", "")
    assert wet_title_and_text("Only a title\n") == ("Only a title", "")


def test_wget_angle_bracket_urls_are_cleaned(corpus):
    raw = gzip.decompress((corpus / "cc" / "dolma-sample-0000.warc.gz").read_bytes())
    assert b"WARC-Target-URI: <https://www.semanticscholar.org/research/research-team>" in raw
    docs = [d for d in _read(corpus / "cc" / "dolma-sample-0000.warc.gz") if isinstance(d, Document)]
    assert all(d.meta["url"].startswith(("http://", "https://")) and ">" not in d.meta["url"] for d in docs)
    assert "https://www.semanticscholar.org/research/research-team" in {d.meta["url"] for d in docs}
    assert clean_url("<https://a.example/x>") == "https://a.example/x"


def test_revisits_and_non_html_are_dropped_with_meta(corpus):
    items = _read(corpus / "cc" / "ukwa-gov.uk-BL-20140325122341434-00000-revisits.warc.gz")
    revisits = [i for i in items if isinstance(i, Dropped) and i.reason == REVISIT]
    assert len(revisits) == 55
    assert all(r.stage == "read" and r.doc.meta["digest"].startswith("sha1:") for r in revisits)
    status = [i for i in items if isinstance(i, Dropped) and i.reason == HTTP_STATUS]
    assert [s.doc.meta["http_status"] for s in status] == [403]
    non_html = [i.doc.meta["content_type"] for i in items if isinstance(i, Dropped) and i.reason == NON_HTML]
    assert non_html == ["text/dns"] * 3


def test_corrupt_record_is_quarantined_and_reading_resumes(corpus, tmp_path):
    data = (corpus / "cc" / "dolma-sample-0000.warc.gz").read_bytes()
    offsets = _record_offsets(data)
    rec_type, offset, length = offsets[4]
    assert rec_type == "response"
    broken = bytearray(data)
    middle = slice(offset + length // 2, offset + length // 2 + 20)
    broken[middle] = bytes(b ^ 0xFF for b in broken[middle])  # flip 20 bytes inside the deflate stream
    path = tmp_path / "broken.warc.gz"
    path.write_bytes(bytes(broken))
    items = _read(path)
    assert _summary(items) == {"docs": 21, "dropped.non_html": 2, "quarantined": 1}
    [bad] = [i for i in items if isinstance(i, QuarantineRecord)]
    assert (bad.file, bad.record, bad.stage) == ("broken.warc.gz", str(offset), "read")
    assert bad.error == ("corrupt gzip member: Error -3 while decompressing data: incorrect data check; "
                         f"resumed at the next record, offset {offset + length} ({length} bytes skipped)")


def test_truncated_gzip_ends_the_file_with_one_quarantine_record(corpus, tmp_path):
    data = (corpus / "cc" / "dolma-sample-0000.warc.gz").read_bytes()
    _, offset, length = _record_offsets(data)[10]
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[: offset + length // 2])
    items = _read(path)
    assert _summary(items) == {"docs": 4, "quarantined": 1}
    assert items[-1].record == str(offset) and "truncated record" in items[-1].error


def test_plain_warc_with_a_broken_header_resyncs(corpus, tmp_path):
    plain = gzip.decompress((corpus / "cc" / "dolma-sample-0000.warc.gz").read_bytes())
    start = plain.find(b"WARC/1.0\r\nWARC-Type: response", 100_000)
    path = tmp_path / "plain.warc"
    path.write_bytes(plain[:start] + b"GARBAGE!" + plain[start + 8:])
    items = _read(path)
    assert _summary(items) == {"docs": 21, "dropped.non_html": 2, "quarantined": 1}
    [bad] = [i for i in items if isinstance(i, QuarantineRecord)]
    assert bad.record == str(start)


def test_unseekable_stream_reads_the_same_documents(corpus):
    path = corpus / "cc" / "whirlwind.warc.gz"

    class Stream(io.RawIOBase):
        def __init__(self, data):
            self._inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    streamed = list(read_warc(str(path), io.BufferedReader(Stream(path.read_bytes()))))
    assert [d.id for d in streamed] == [d.id for d in _read(path)]


def test_oversized_payload_is_quarantined_with_the_limit(corpus):
    items = _read(corpus / "cc" / "whirlwind.warc.gz", ExtractConfig(max_html_bytes=10_000))
    [bad] = items
    assert isinstance(bad, QuarantineRecord)
    assert bad.error == "payload larger than extract.max_html_bytes=10000"


def test_reader_pickles_and_names_the_source(corpus):
    reader = pickle.loads(pickle.dumps(WarcReader("c4", ExtractConfig())))
    path = corpus / "cc" / "whirlwind.warc.gz"
    with open(path, "rb") as fh:
        [doc] = list(reader(str(path), fh))
    assert doc.source == "c4" and doc.id == stable_id("c4", "whirlwind.warc.gz", doc.meta["record"])


@pytest.mark.parametrize("label, codec", [
    ("gb2312", "gbk"), ("ISO-8859-1", "cp1252"), ("windows-1251", "cp1251"), ("Shift_JIS", "cp932"),
    ("UTF8", "utf-8"), ("x-no-such-charset", None), ("utf-16", None), ("", None),
])
def test_charset_labels(label, codec):
    assert codec_for(label) == codec


def test_decode_html_prefers_bom_then_header_then_meta():
    body = "<meta charset='windows-1251'><p>Привет</p>".encode("cp1251")
    assert decode_html(body, "text/html")[1:] == ("cp1251", "meta")
    assert decode_html(body, "text/html; charset=koi8-r")[1:] == ("koi8-r", "http")
    assert decode_html(b"\xef\xbb\xbf<p>x</p>", "text/html; charset=cp1251") == ("<p>x</p>", "utf-8", "bom")


def test_a_whole_file_gzipped_as_one_member_reads_every_record(corpus):
    path = corpus / "cc" / "dolma-sample-0000.warc.gz"
    per_record = _read(path)
    one_member = list(read_warc("one.warc.gz", io.BytesIO(gzip.compress(gzip.decompress(path.read_bytes())))))
    assert _summary(one_member) == EXPECTED_CC["dolma-sample-0000.warc.gz"]
    texts = {d.meta["warc_record_id"]: d.text for d in per_record if isinstance(d, Document)}
    assert {d.meta["warc_record_id"]: d.text for d in one_member if isinstance(d, Document)} == texts
    # Records after the first are located by the member's offset + their offset once inflated.
    locations = [d.meta["record"] for d in one_member if isinstance(d, Document)]
    assert all(isinstance(x, str) and x.startswith("0+") for x in locations)
    assert len(set(locations)) == len(locations)
