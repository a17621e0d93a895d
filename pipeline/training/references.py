"""The pages Wikipedia cites, fetched from Common Crawl: positives of the reference classifier.

LLaMA-1 trained its linear classifier on "pages used as references in Wikipedia v.s.
randomly sampled pages". RedPajama extracted the cited URLs from a Wikipedia dump, sampled
them and crawled them with wget. Crawling the live web today gives other pages than the
ones cited (dead links, paywalls, redesigns), so pasture takes the captures that Common
Crawl itself holds, which are also what the classifier will score at run time:

1. :func:`cited_urls` reads Wikipedia dumps and lists the external URLs that articles
   cite (``<ref>`` contents, ``{{cite ...|url=}}``, bracketed external links), normalised
   and without repeats; :func:`sample_urls` draws a seeded, order-free sample of them.
2. Each URL is looked up in a Common Crawl index: the CDX server API
   (``https://index.commoncrawl.org/CC-MAIN-2023-06-index?url=...&output=json``, one request
   per URL, :func:`cdx_lookup`) or the columnar index (Parquet files with ``url``,
   ``warc_filename``, ``warc_record_offset``, ``warc_record_length``; one scan for all URLs,
   :func:`columnar_lookup`). Of a URL's captures the newest with HTTP status 200 is taken.
3. :func:`fetch_captures` reads each capture's bytes by range from the WARC file
   (``base_url + warc_filename``) with the retrying HTTP client of ``stages.http_input``;
   every Common Crawl record is its own gzip member, so the members are checked (they
   inflate to a WARC response for that URL) and concatenated into a valid ``.warc.gz``.

The resulting WARC file is a positive input of ``pasture models quality``, which puts
positives and negatives through the same extraction and CCNet line steps as the text the
filter scores.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from filters.exact_dedup import normalize_url
from mixtures.config import HttpSettings

DEFAULT_CDX_HOST = "https://index.commoncrawl.org/"
DEFAULT_DATA_HOST = "https://data.commoncrawl.org/"


@dataclass(frozen=True, order=True)
class Capture:
    """Where one capture of a URL lies: a byte range of a Common Crawl WARC file."""

    url: str
    timestamp: str
    filename: str
    offset: int
    length: int
    status: int = 200
    mime: str = ""


@dataclass(frozen=True)
class FetchReport:
    """What :func:`fetch_captures` wrote and what it could not."""

    written: int
    failed: list[tuple[str, str]]  # (url, reason)
    bytes_written: int


# --- 1. cited URLs ------------------------------------------------------------------------


def cited_urls(dump_paths: Iterable[str]) -> Iterator[str]:
    """Every normalised URL cited by the articles of the dumps, first appearance first, once."""
    from pipeline.training.quality import iter_wikipedia_articles, reference_urls

    seen: set[str] = set()
    for article in iter_wikipedia_articles(dump_paths):
        for url in reference_urls(article.text):
            key = normalize_url(url)
            if key and key not in seen:
                seen.add(key)
                yield url


def sample_urls(urls: Iterable[str], limit: int | None, seed: int) -> list[str]:
    """At most ``limit`` URLs, chosen by a seeded hash of the normalised URL (independent of
    input order), returned sorted so the files built from them are byte-identical."""
    keyed = sorted((hashlib.sha1(f"{seed}\x1f{normalize_url(u)}".encode()).hexdigest(), u) for u in urls)
    chosen = keyed if limit is None else keyed[:limit]
    return sorted(url for _, url in chosen)


# --- 2. index lookups ---------------------------------------------------------------------


def cdx_query(index_url: str, url: str) -> str:
    """The CDX server request for ``url``'s captures (JSON lines, successful fetches only)."""
    query = urllib.parse.urlencode({"url": url, "output": "json", "filter": "status:200"})
    return f"{index_url.rstrip('/')}?{query}"


def parse_cdx_lines(text: str) -> list[Capture]:
    """Captures of a CDX server answer (one JSON object per line); malformed lines are skipped."""
    captures = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
            captures.append(Capture(url=str(row["url"]), timestamp=str(row.get("timestamp", "")),
                                    filename=str(row["filename"]), offset=int(row["offset"]),
                                    length=int(row["length"]), status=int(row.get("status", 0) or 0),
                                    mime=str(row.get("mime-detected") or row.get("mime") or "")))
        except (KeyError, ValueError, TypeError):
            continue
    return captures


def best_capture(captures: Iterable[Capture]) -> Capture | None:
    """The newest capture with HTTP status 200 (ties: the smallest file name and offset)."""
    ok = [c for c in captures if c.status == 200 and c.length > 0]
    if not ok:
        return None
    return max(ok, key=lambda c: (c.timestamp, _reverse(c.filename), -c.offset))


def _reverse(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)


def cdx_lookup(urls: Iterable[str], index_url: str, settings: HttpSettings | None = None,
               workers: int = 4) -> dict[str, Capture]:
    """``{url: capture}`` from a CDX server, one request per URL; URLs without captures are left out.

    A URL the index does not know (HTTP 404, "No Captures found") is not an error; any other
    failure after the client's retries is raised (an unreachable index is the user's to fix).
    """
    from stages.http_input import HttpInputError, fetch

    def one(url: str) -> tuple[str, Capture | None]:
        try:
            body = fetch(cdx_query(index_url, url), settings)
        except HttpInputError as exc:
            if exc.status == 404:
                return url, None
            raise
        return url, best_capture(parse_cdx_lines(body.decode("utf-8", "replace")))

    urls = list(urls)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        found = dict(pool.map(one, urls))
    return {url: capture for url, capture in found.items() if capture is not None}


def columnar_lookup(parquet_paths: list[str], urls: Iterable[str]) -> dict[str, Capture]:
    """``{url: capture}`` from Common Crawl's columnar index (Parquet), one scan for all URLs."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    wanted = sorted(set(urls))
    columns = ["url", "fetch_time", "fetch_status", "warc_filename", "warc_record_offset", "warc_record_length"]
    dataset = ds.dataset(parquet_paths, format="parquet")
    optional = [c for c in ("content_mime_detected",) if c in dataset.schema.names]
    table = dataset.to_table(columns=columns + optional,
                             filter=pc.field("url").isin(wanted) & (pc.field("fetch_status") == 200))
    by_url: dict[str, list[Capture]] = {}
    for row in table.to_pylist():
        stamp = row["fetch_time"]
        timestamp = stamp.strftime("%Y%m%d%H%M%S") if hasattr(stamp, "strftime") else str(stamp)
        by_url.setdefault(row["url"], []).append(Capture(
            url=row["url"], timestamp=timestamp, filename=row["warc_filename"],
            offset=int(row["warc_record_offset"]), length=int(row["warc_record_length"]),
            status=int(row["fetch_status"]), mime=str(row.get("content_mime_detected") or "")))
    chosen = {url: best_capture(captures) for url, captures in by_url.items()}
    return {url: capture for url, capture in chosen.items() if capture is not None}


# --- 3. fetching records ------------------------------------------------------------------


def check_record(member: bytes, capture: Capture) -> str | None:
    """Why ``member`` is not the gzip-compressed WARC response of ``capture`` (None: it is)."""
    try:
        inflated = zlib.decompressobj(16 + zlib.MAX_WBITS)
        head = inflated.decompress(member, 1 << 16)
        if not inflated.eof:
            inflated.decompress(inflated.unconsumed_tail)  # the whole member must inflate
        if not inflated.eof or inflated.unused_data:
            return "the byte range is not exactly one gzip member"
    except zlib.error as exc:
        return f"the byte range is not gzip data ({exc})"
    header = head.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    if not header.startswith("WARC/"):
        return "the record does not start with a WARC header"
    fields = {}
    for line in header.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("warc-type") != "response":
        return f"WARC-Type is {fields.get('warc-type')!r}, not response"
    if normalize_url(fields.get("warc-target-uri", "")) != normalize_url(capture.url):
        return f"WARC-Target-URI {fields.get('warc-target-uri')!r} is not {capture.url!r}"
    return None


def fetch_captures(captures: Iterable[Capture], output, base_url: str = DEFAULT_DATA_HOST,
                   settings: HttpSettings | None = None, workers: int = 4) -> FetchReport:
    """Fetches each capture's record by byte range and writes the valid ones, in URL order.

    Args:
        captures: Where the records lie (from :func:`cdx_lookup` or :func:`columnar_lookup`).
        output: A binary file to write the ``.warc.gz`` to.
        base_url: Prefix of the WARC file names (Common Crawl's public HTTPS host by default).
        settings: Retries and backoff of the HTTP client.
        workers: Ranges fetched at once (the client also caps connections per process).

    Returns:
        Counts, and the captures that failed with their reasons (never silently dropped).
    """
    from stages.http_input import HttpInputError, fetch_range

    ordered = sorted(captures, key=lambda c: (normalize_url(c.url), c.url))

    def one(capture: Capture) -> tuple[Capture, bytes | None, str | None]:
        url = urllib.parse.urljoin(base_url if base_url.endswith("/") else base_url + "/", capture.filename)
        try:
            member = fetch_range(url, capture.offset, capture.length, settings)
        except HttpInputError as exc:
            return capture, None, str(exc)
        problem = check_record(member, capture)
        return capture, (None if problem else member), problem

    written, size = 0, 0
    failed: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # map() yields in input order, so the output is the same whatever finishes first.
        for capture, member, problem in pool.map(one, ordered):
            if member is None:
                failed.append((capture.url, problem or "unknown"))
                continue
            output.write(member)
            written += 1
            size += len(member)
    return FetchReport(written=written, failed=failed, bytes_written=size)


def write_url_list(path: str, urls: Iterable[str]) -> int:
    """One URL per line, gzip-compressed when ``path`` ends in ``.gz`` (mtime 0: reproducible).

    Returns:
        The number of URLs written.
    """
    from mixtures.provenance import write_bytes_atomically

    urls = list(urls)
    payload = "".join(f"{url}\n" for url in urls).encode("utf-8")
    if path.endswith(".gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
            gz.write(payload)
        payload = buffer.getvalue()
    write_bytes_atomically(path, payload)
    return len(urls)


def urls_in(path: str) -> Iterator[str]:
    """The URLs of a list written by :func:`write_url_list` (or any one-per-line text file)."""
    opener: Any = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                yield line
