"""The HTTP input client (stages/http_input.py): retry policy alone, then faults from a local server.

The server serves a real Common Crawl WARC from ``samples/cc``; every read is compared byte
for byte with the file on disk.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from mixtures.config import HttpSettings
from stages import http_input
from stages.http_input import (
    HttpInputError,
    backoff_delay,
    fetch,
    fetch_range,
    is_retryable_status,
    open_url,
    parse_content_range,
    parse_retry_after,
)
from tests.http_fault_server import FaultServer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
WARC = "dolma-sample-0000.warc.gz"
FAST = HttpSettings(retries=3, backoff_base=0.001, backoff_max=0.01, timeout=5.0)


@pytest.fixture()
def server(tmp_path):
    shutil.copyfile(SAMPLES / "cc" / WARC, tmp_path / WARC)
    with FaultServer(tmp_path) as srv:
        yield srv


def _local() -> bytes:
    return (SAMPLES / "cc" / WARC).read_bytes()


# --- policy, as plain functions ------------------------------------------------------------

def test_retryable_statuses():
    assert [s for s in (200, 206, 301, 400, 403, 404, 408, 416, 429, 500, 502, 503, 504, 599)
            if is_retryable_status(s)] == [408, 429, 500, 502, 503, 504, 599]


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_backoff_is_exponential_jittered_capped_and_deterministic():
    settings = HttpSettings(backoff_base=1.0, backoff_max=10.0)
    delays = [backoff_delay(n, settings, "https://x/a") for n in range(6)]
    for n, delay in enumerate(delays):
        ceiling = min(10.0, 2.0 ** n)
        assert ceiling / 2 <= delay <= ceiling
    assert delays == [backoff_delay(n, settings, "https://x/a") for n in range(6)]  # same URL, same waits
    assert delays != [backoff_delay(n, settings, "https://x/b") for n in range(6)]  # workers spread out
    # Retry-After is a floor, itself capped at backoff_max.
    assert backoff_delay(0, settings, "u", retry_after=5.0) == 5.0
    assert backoff_delay(0, settings, "u", retry_after=3600.0) == 10.0


def test_content_range():
    assert parse_content_range("bytes 100-199/1000") == (100, 199, 1000)
    assert parse_content_range("bytes 0-9/*") == (0, 9, None)
    assert parse_content_range("items 0-9/10") is None
    assert parse_content_range(None) is None


# --- against the local server -------------------------------------------------------------

def test_clean_read_equals_the_file(server):
    with open_url(server.url(WARC), FAST) as fh:
        assert fh.read() == _local()
    assert fetch(server.url(WARC), FAST) == _local()


def test_throttling_resets_short_bodies_and_slow_answers_still_give_the_exact_bytes(server):
    server.inject(WARC, "503", "429", "short:70000", "reset:5000", "500", "slow:1.0", "ignore-range")
    settings = HttpSettings(retries=4, backoff_base=0.001, backoff_max=0.01, timeout=0.3)
    with open_url(server.url(WARC), settings) as fh:
        assert fh.read() == _local()
    ranges = [r for _, r in server.requests]
    # The body cut short resumes at the first byte it did not get; the last answer ignores Range.
    assert ranges[:4] == [None, None, None, "bytes=70000-"]
    assert len(ranges) == 7 and all(r.startswith("bytes=") for r in ranges[3:])


def test_seek_and_tell_read_the_right_bytes(server):
    data = _local()
    with open_url(server.url(WARC), FAST, buffer_size=4096) as fh:
        assert fh.read(2) == data[:2]
        fh.seek(0)  # within the buffer: no new request
        assert fh.read(10) == data[:10]
        fh.seek(150_000)  # forward, short: read on through the open answer
        assert fh.tell() == 150_000
        assert fh.read(100) == data[150_000:150_100]
        fh.seek(1000)  # backward: a new request from there
        assert fh.read(100) == data[1000:1100]
        fh.seek(-50, 2)
        assert fh.read() == data[-50:]
    assert [r for _, r in server.requests] == [None, "bytes=1000-"]


def test_fetch_range_returns_exactly_the_record_bytes(server):
    data = _local()
    assert fetch_range(server.url(WARC), 1234, 5678, FAST) == data[1234:1234 + 5678]
    server.inject(WARC, "reset:100", "ignore-range")
    assert fetch_range(server.url(WARC), 1234, 5678, FAST) == data[1234:1234 + 5678]
    with pytest.raises(HttpInputError, match="file ends before byte"):
        fetch_range(server.url(WARC), len(data) - 10, 20, FAST)


def test_a_url_that_always_fails_names_url_status_and_bytes_after_the_last_try(server):
    server.always["/" + WARC] = 503
    slept: list[float] = []
    raw = http_input.HttpFile(server.url(WARC), FAST, sleep=slept.append)
    with pytest.raises(HttpInputError) as raised:
        raw.read(10)
    error = raised.value
    assert (error.url, error.status, error.bytes_read) == (server.url(WARC), 503, 0)
    assert "gave up after 4 tries: HTTP 503" in str(error)
    assert len(slept) == 3 and raw.failure is error
    raw.close()
    with pytest.raises(HttpInputError, match="HTTP 404"):
        fetch(server.url("missing.warc.gz"), FAST)


def test_a_body_shorter_than_its_content_length_is_never_taken_as_complete(server):
    size = len(_local())
    server.inject(WARC, "badlen:1000")  # declares 1000 bytes that never come
    with pytest.raises(HttpInputError) as raised:
        fetch(server.url(WARC), FAST)
    assert (raised.value.bytes_read, raised.value.expected, raised.value.status) == (size, size + 1000, 416)


def test_the_concurrency_cap_holds_per_process(server):
    settings = HttpSettings(retries=0, backoff_base=0.0, backoff_max=0.0, max_concurrent_per_worker=1)
    first = open_url(server.url(WARC), settings)
    first.read(1)
    slot = http_input.worker_slots(1)
    assert not slot.acquire(blocking=False)  # the one slot is held by the open file
    first.close()
    assert slot.acquire(blocking=False)
    slot.release()
    started = time.monotonic()
    assert fetch(server.url(WARC), settings) == _local()
    assert time.monotonic() - started < 5
