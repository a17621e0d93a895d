"""Cited URLs → Common Crawl index lookup → records fetched by byte range → classifier trained.

A server on 127.0.0.1 plays Common Crawl: a CDX endpoint (JSON lines, 404 for URLs it has
no capture of) and WARC files served with ``Range`` support. Its WARC holds real HTML
responses of the sample crawl, re-addressed to URLs that the real enwiki sample cites, one
gzip member per record as Common Crawl publishes them.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from mixtures.config import HttpSettings
from pipeline import cli
from pipeline.training.references import (
    Capture,
    best_capture,
    cdx_lookup,
    check_record,
    columnar_lookup,
    parse_cdx_lines,
    urls_in,
)

CRAWL = "CC-MAIN-2099-01"
WARC_NAME = f"crawl-data/{CRAWL}/segments/1/warc/refs-00000.warc.gz"
CAPTURED = 12  # cited URLs given a capture
BROKEN = 5  # the one of them whose index entry points 7 bytes into its record


def _html_records(corpus: Path, limit: int) -> list[tuple[object, bytes]]:
    records = []
    # From cc/, not cc-pages/: the classifier's negatives come from cc-pages/ and a page must not be both.
    for path in sorted((corpus / "cc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                if "html" not in (record.http_headers.get_header("Content-Type") or ""):
                    continue
                body = record.raw_stream.read()
                if len(body) > 3000:
                    records.append((record.http_headers, body))
                if len(records) == limit:
                    return records
    return records


class FakeCommonCrawl:
    """CDX rows and WARC bytes for the server; ``requests`` counts what was asked."""

    def __init__(self, cited: list[str], corpus: Path) -> None:
        self.files: dict[str, bytes] = {}
        self.cdx: dict[str, list[dict]] = {}
        self.requests: list[str] = []
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True)
        for url, (headers, body) in zip(cited[:CAPTURED], _html_records(corpus, CAPTURED)):
            offset = buffer.tell()
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                          http_headers=headers))
            self.cdx[url] = [{"url": url, "timestamp": "20990101000000", "status": "200", "mime": "text/html",
                              "filename": WARC_NAME, "offset": str(offset), "length": str(buffer.tell() - offset)}]
        # An older capture with a failed fetch must not be chosen over the good one.
        first = cited[0]
        self.cdx[first].append({**self.cdx[first][0], "timestamp": "20980101000000", "status": "404"})
        # A broken index entry: the range starts 7 bytes late, so it is not one gzip member.
        broken = cited[BROKEN]
        self.cdx[broken][0]["offset"] = str(int(self.cdx[broken][0]["offset"]) + 7)
        self.files["/" + WARC_NAME] = buffer.getvalue()


def _handler(fake: FakeCommonCrawl):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet test output
            pass

        def do_GET(self):  # noqa: N802 (http.server's name)
            fake.requests.append(self.path)
            parsed = urllib.parse.urlparse(self.path)
            if parsed.path == f"/{CRAWL}-index":
                url = urllib.parse.parse_qs(parsed.query)["url"][0]
                rows = [r for r in fake.cdx.get(url, []) if r["status"] == "200"]
                if not rows:
                    return self._send(404, b"No Captures found for: " + url.encode())
                return self._send(200, "".join(json.dumps(r) + "\n" for r in rows).encode())
            data = fake.files.get(parsed.path)
            if data is None:
                return self._send(404, b"not found")
            ranged = self.headers.get("Range")
            if ranged:
                start, _, end = ranged.removeprefix("bytes=").partition("-")
                first, last = int(start), min(int(end) if end else len(data) - 1, len(data) - 1)
                return self._send(206, data[first:last + 1], {"Content-Range": f"bytes {first}-{last}/{len(data)}"})
            return self._send(200, data)

        def _send(self, status, body, headers=None):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture()
def common_crawl(corpus, tmp_path):
    dump = corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2"
    urls_file = tmp_path / "urls.txt.gz"
    assert cli.main(["references", "urls", "--wikipedia", str(dump), "--output", str(urls_file)]) == 0
    fake = FakeCommonCrawl(list(urls_in(str(urls_file))), corpus)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}", dump, urls_file
    server.shutdown()
    server.server_close()


def _fast_retries(tmp_path: Path) -> Path:
    config = tmp_path / "http.yaml"
    config.write_text("http: {retries: 1, backoff_base: 0.01, backoff_max: 0.02, timeout: 5}\n")
    return config


def test_cited_urls_to_fetched_records_to_trained_classifier(common_crawl, corpus, tmp_path, capsys):
    fake, host, dump, urls_file = common_crawl
    cited = list(urls_in(str(urls_file)))
    assert len(cited) == 82  # every distinct URL the enwiki sample cites, sorted
    refs = tmp_path / "refs" / "references.warc.gz"
    assert cli.main(["references", "fetch", "--urls", str(urls_file), "--cdx", f"{host}/{CRAWL}-index",
                     "--base-url", host, "--output", str(refs), "--config", str(_fast_retries(tmp_path))]) == 0
    assert "82 URLs: 12 found in the index, 11 records written" in capsys.readouterr().out
    manifest = json.loads(Path(f"{refs}.manifest.json").read_text())
    assert manifest["records_written"] == 11 and manifest["captures_found"] == 12
    assert [f["url"] for f in manifest["failed"]] == [cited[BROKEN]]
    assert "gzip" in manifest["failed"][0]["reason"]

    # The file is a valid WARC of the captured pages, in URL order, whole records only.
    with gzip.open(refs, "rb") as fh:
        targets = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)]
    assert sorted(targets) == sorted(set(cited[:CAPTURED]) - {cited[BROKEN]}) and len(targets) == 11
    assert sum(1 for path in fake.requests if path.startswith("/crawl-data/")) == 12  # one range each

    model = tmp_path / "quality.bin"
    assert cli.main(["models", "quality", "--positives", str(refs), "--wikipedia", str(dump),
                     "--negatives", str(corpus / "cc-pages" / "*.warc.gz"), "--output", str(model),
                     "--epoch", "5", "--min-chars", "200", "--heldout", "0.3"]) == 0
    counts = json.loads(Path(f"{model}.metrics.json").read_text())["counts"]
    assert counts["reference_urls"] == 82
    assert counts["positives"]["reference_pages"] == 11
    capsys.readouterr()


def test_the_columnar_index_finds_the_same_captures(common_crawl, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    fake, host, _, urls_file = common_crawl
    rows = [row for captures in fake.cdx.values() for row in captures]
    table = pa.table({
        "url": [r["url"] for r in rows],
        "fetch_time": pa.array([r["timestamp"] for r in rows]),
        "fetch_status": pa.array([int(r["status"]) for r in rows], pa.int16()),
        "warc_filename": [r["filename"] for r in rows],
        "warc_record_offset": pa.array([int(r["offset"]) for r in rows], pa.int32()),
        "warc_record_length": pa.array([int(r["length"]) for r in rows], pa.int32()),
        "content_mime_detected": [r["mime"] for r in rows],
    })
    pq.write_table(table, tmp_path / "part-00000.parquet")
    urls = list(urls_in(str(urls_file)))
    settings = HttpSettings(retries=0, backoff_base=0.0, backoff_max=0.0, timeout=5)
    via_cdx = cdx_lookup(urls, f"{host}/{CRAWL}-index", settings)
    via_columnar = columnar_lookup([str(tmp_path / "part-00000.parquet")], urls)
    assert via_columnar == via_cdx and len(via_cdx) == CAPTURED


def test_capture_choice_and_record_checks():
    rows = "\n".join(json.dumps(r) for r in [
        {"url": "http://a.example/", "timestamp": "2020", "status": "200", "filename": "f1", "offset": "5",
         "length": "10"},
        {"url": "http://a.example/", "timestamp": "2021", "status": "200", "filename": "f2", "offset": "0",
         "length": "10"},
        {"url": "http://a.example/", "timestamp": "2022", "status": "301", "filename": "f3", "offset": "0",
         "length": "10"},
    ]) + "\nnot json\n"
    captures = parse_cdx_lines(rows)
    assert len(captures) == 3
    assert best_capture(captures).filename == "f2"  # newest with status 200
    capture = Capture("http://a.example/", "2021", "f2", 0, 10)
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    writer.write_record(writer.create_warc_record("http://a.example/", "response",
                                                  payload=io.BytesIO(b"HTTP/1.1 200 OK\r\n\r\nhello")))
    member = buffer.getvalue()
    assert check_record(member, capture) is None
    assert "not exactly one gzip member" in check_record(member + member, capture)
    assert "WARC-Target-URI" in check_record(member, Capture("http://b.example/", "2021", "f2", 0, 10))
    assert "gzip" in check_record(member[3:], capture)


def test_the_llama1_preset_turns_the_reference_classifier_on():
    from mixtures.config import config_from_dict

    assert config_from_dict({"mixture": "llama1"}).quality.enabled is True
    assert config_from_dict({"mixture": "llama1"}).quality.threshold == 0.25
    assert config_from_dict({}).quality.enabled is False  # without the preset it stays opt-in
    assert config_from_dict({"mixture": "llama1", "quality": {"enabled": False}}).quality.enabled is False
