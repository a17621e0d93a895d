"""Inputs over HTTP(S): a streaming, resuming, retrying file object, plain stdlib.

Common Crawl throttles (503 "SlowDown", 429) and drops connections mid-file; a reader must
neither die on that nor silently read a short file. :func:`open_url` gives a buffered,
seekable binary file whose reads:

- resume a dropped connection where it stopped with ``Range: bytes=N-`` (the 206 answer's
  ``Content-Range`` must start at N; a server that ignores Range is read from the start and
  the first N bytes are skipped);
- retry 429, 5xx, resets and timeouts with exponential backoff and jitter, honouring
  ``Retry-After``; ``retries`` counts failures in a row, so a long file on a flaky link
  finishes as long as each try makes progress;
- end, after the last try, in :class:`HttpInputError` naming the URL, the HTTP status and
  the bytes read out of the bytes declared, so the file is quarantined, never read short
  (every body is checked against its ``Content-Length``).

At most ``max_concurrent_per_worker`` files or ranges are open at once per process (a
semaphore), whatever the runner's thread count. Nothing is stored on disk, so the same code
runs on the local runner and on Dataflow workers.

The retry policy (:func:`is_retryable_status`, :func:`parse_retry_after`,
:func:`backoff_delay`, :func:`parse_content_range`) is plain functions, testable alone.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import io
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from mixtures.config import HttpSettings

SCHEMES = ("http://", "https://")
MAX_REDIRECTS = 5
# A forward seek shorter than this reads on through the open response instead of opening a new one.
SKIP_IN_STREAM = 1 << 18


def is_url(path: str) -> bool:
    """True for an ``http://`` or ``https://`` input (any case), which this client opens."""
    return path[:8].lower().startswith(SCHEMES)


class HttpInputError(OSError):
    """An HTTP input that could not be read in full after the last try.

    ``status`` is the last HTTP status seen (None: the connection itself failed),
    ``bytes_read`` how much of the body arrived, ``expected`` how much was declared.
    """

    def __init__(self, url: str, reason: str, status: int | None = None, bytes_read: int = 0,
                 expected: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        self.bytes_read = bytes_read
        self.expected = expected
        of = f" of {expected}" if expected is not None else ""
        super().__init__(f"{url}: {reason} (HTTP status {status if status is not None else 'none'}, "
                         f"{bytes_read}{of} bytes read)")


# ---------------------------------------------------------------------------------------
# Retry policy: pure functions.


def is_retryable_status(status: int) -> bool:
    """429 (throttled), 408 (request timeout) and every 5xx are worth another try; other codes are final."""
    return status in (408, 429) or 500 <= status <= 599


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, settings: HttpSettings, key: str = "", retry_after: float | None = None) -> float:
    """Seconds to sleep before try ``attempt + 1`` (``attempt`` counts from 0).

    Exponential (``backoff_base * 2**attempt``, at most ``backoff_max``) with "equal jitter":
    between half and all of it, drawn from a hash of ``key`` (the URL) and the attempt, so
    workers spread out but a rerun waits the same. A server's ``Retry-After`` is a floor,
    itself capped at ``backoff_max`` so one answer cannot stall a worker for an hour.
    """
    ceiling = min(settings.backoff_max, settings.backoff_base * (2 ** attempt))
    digest = hashlib.sha256(f"{key}\0{attempt}".encode("utf-8", "surrogateescape")).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2 ** 64
    delay = ceiling * (0.5 + 0.5 * fraction)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.backoff_max))
    return delay


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes START-END/TOTAL`` → ``(start, end_inclusive, total or None)``; None if malformed."""
    if not value or not value.strip().lower().startswith("bytes "):
        return None
    span, _, total = value.strip()[6:].partition("/")
    first, _, last = span.partition("-")
    try:
        return int(first), int(last), (None if total.strip() in ("", "*") else int(total))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------
# The per-process concurrency cap.

_SEMAPHORES: dict[int, threading.BoundedSemaphore] = {}
_SEMAPHORES_LOCK = threading.Lock()


def worker_slots(limit: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore for ``limit`` concurrent HTTP inputs (one per limit value)."""
    with _SEMAPHORES_LOCK:
        semaphore = _SEMAPHORES.get(limit)
        if semaphore is None:
            semaphore = _SEMAPHORES[limit] = threading.BoundedSemaphore(limit)
        return semaphore


# ---------------------------------------------------------------------------------------
# The file object.

# What a dropped connection, a reset or a timeout raises while a request or a body is in flight.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)


class HttpFile(io.RawIOBase):
    """The bytes ``[start, end)`` of ``url`` (``end`` None: to the end), read with retries and resumes.

    Seekable: a seek moves the position and the next read continues there (reading on
    through the open response for a short forward seek, else with a new Range request).
    ``failure`` holds the :class:`HttpInputError` raised, if any, so the caller can report
    it even when a reader swallowed the exception.
    """

    def __init__(self, url: str, settings: HttpSettings | None = None, start: int = 0, end: int | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.url = url
        self.settings = settings or HttpSettings()
        self._start = start
        self._pos = start
        self._end = end  # exclusive; from the server's answer when None
        self._size: int | None = None  # the whole file's size, when the server says it
        self._etag: str | None = None
        self._sleep = sleep
        self._conn: http.client.HTTPConnection | None = None
        self._resp: http.client.HTTPResponse | None = None
        self._resp_pos = 0  # file offset of the next byte the open response will give
        self._failures = 0  # failed tries in a row; reset by any progress
        self._slot: threading.BoundedSemaphore | None = None
        self.status: int | None = None
        self.failure: HttpInputError | None = None

    # io.RawIOBase -------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            if self._limit() is None:
                self._ensure_response()
            limit = self._limit()
            if limit is None:
                raise OSError(f"{self.url}: cannot seek from the end: the server gave no length")
            target = limit + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return target

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            limit = self._limit()
            if limit is not None and self._pos >= limit:
                return 0
            if self._resp is not None and self._resp_pos != self._pos:
                self._realign()
            if self._resp is None:
                self._ensure_response()
                continue
            want = len(view) if limit is None else min(len(view), limit - self._pos)
            try:
                got = self._resp.readinto(view[:want])
            except TRANSIENT_ERRORS as exc:
                self._retry_later(f"connection lost mid-body: {type(exc).__name__}: {exc}", self.status)
                continue
            if got == 0:
                if self._limit() is None:
                    return 0  # no declared length (chunked): the server's end is the end
                self._retry_later("connection closed before the declared length", self.status)
                continue
            self._pos += got
            self._resp_pos += got
            self._failures = 0
            return got

    def close(self) -> None:
        if not self.closed:
            self._drop_response()
            if self._slot is not None:
                self._slot.release()
                self._slot = None
        super().close()

    # internals -----------------------------------------------------------------------

    def _limit(self) -> int | None:
        """The exclusive end of what this object reads, once known."""
        if self._end is not None:
            return self._end if self._size is None else min(self._end, self._size)
        return self._size

    def _at_end(self) -> bool:
        limit = self._limit()
        return limit is not None and self._pos >= limit

    def _realign(self) -> None:
        """Bring the open response to ``_pos``: read on for a short forward gap, else drop it."""
        gap = self._pos - self._resp_pos
        if not 0 < gap <= SKIP_IN_STREAM:
            self._drop_response()
            return
        try:
            skipped = self._skip(gap)
        except TRANSIENT_ERRORS:
            skipped = -1
        if skipped != gap:
            self._drop_response()

    def _skip(self, count: int) -> int:
        done = 0
        assert self._resp is not None
        while done < count:
            chunk = self._resp.read(min(count - done, 1 << 16))
            if not chunk:
                break
            done += len(chunk)
            self._resp_pos += len(chunk)
        return done

    def _drop_response(self) -> None:
        if self._resp is not None:
            try:
                self._resp.close()
            except TRANSIENT_ERRORS:
                pass
        if self._conn is not None:
            try:
                self._conn.close()
            except TRANSIENT_ERRORS:
                pass
        self._resp = None
        self._conn = None

    def _fail(self, reason: str, status: int | None) -> HttpInputError:
        self._drop_response()
        limit = self._limit()
        self.failure = HttpInputError(self.url, reason, status, self._pos - self._start,
                                      None if limit is None else limit - self._start)
        return self.failure

    def _retry_later(self, reason: str, status: int | None, retry_after: float | None = None) -> None:
        """Count one failed try; sleep before the next, or raise when none is left."""
        self._drop_response()
        if self._failures >= self.settings.retries:
            tries = self._failures + 1
            raise self._fail(f"gave up after {tries} tr{'y' if tries == 1 else 'ies'}: {reason}", status)
        self._sleep(backoff_delay(self._failures, self.settings, self.url, retry_after))
        self._failures += 1

    def _ensure_response(self) -> None:
        """An open response whose next byte is the one at ``_pos`` (retrying as the policy says)."""
        if self.failure is not None:
            raise self.failure
        if self._slot is None:
            slot = worker_slots(self.settings.max_concurrent_per_worker)
            slot.acquire()
            self._slot = slot
        while self._resp is None and not self._at_end():
            self._open_once()

    def _open_once(self) -> None:
        """One try at opening ``url`` at ``_pos``; failures go through ``_retry_later``."""
        wanted_end = self._end  # an open-ended Range (bytes=N-) unless a range was asked for
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                conn, resp = _request(url, self.settings, self._pos, wanted_end)
            except TRANSIENT_ERRORS as exc:
                self._retry_later(f"request failed: {type(exc).__name__}: {exc}", None)
                return
            status = resp.status
            self.status = status
            if status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                url = urllib.parse.urljoin(url, resp.getheader("Location"))
                _close(conn, resp)
                continue
            break
        else:
            raise self._fail(f"more than {MAX_REDIRECTS} redirects", status)
        if is_retryable_status(status):
            retry_after = parse_retry_after(resp.getheader("Retry-After"))
            _close(conn, resp)
            self._retry_later(f"HTTP {status} {resp.reason}".strip(), status, retry_after)
            return
        if status == 416 and self._size is not None and self._pos >= self._size:
            _close(conn, resp)  # asked past the end: nothing more to read
            self._end = self._pos
            return
        if status not in (200, 206):
            _close(conn, resp)
            raise self._fail(f"HTTP {status} {resp.reason}".strip(), status)
        etag = resp.getheader("ETag")
        if self._etag and etag and etag != self._etag:
            _close(conn, resp)
            raise self._fail(f"the file changed on the server while it was read (ETag {self._etag} → {etag})",
                             status)
        self._etag = self._etag or etag
        if status == 206:
            span = parse_content_range(resp.getheader("Content-Range"))
            if span is None or span[0] != self._pos:
                _close(conn, resp)
                raise self._fail(f"206 answer for bytes {self._pos}- has Content-Range "
                                 f"{resp.getheader('Content-Range')!r}", status)
            if span[2] is not None:
                self._check_size(span[2], status)
            begins_at = self._pos
        else:
            length = resp.getheader("Content-Length")
            if length is not None and length.strip().isdigit():
                self._check_size(int(length), status)
            begins_at = 0  # the server ignored Range: the body is the whole file
        self._conn, self._resp, self._resp_pos = conn, resp, begins_at
        if begins_at < self._pos:
            try:
                skipped = self._skip(self._pos - begins_at)
            except TRANSIENT_ERRORS as exc:
                self._retry_later(f"connection lost while skipping to byte {self._pos} "
                                  f"(the server ignores Range): {type(exc).__name__}: {exc}", status)
                return
            if skipped != self._pos - begins_at:
                self._retry_later(f"body ended before byte {self._pos} (the server ignores Range)", status)

    def _check_size(self, size: int, status: int) -> None:
        if self._size is not None and size != self._size:
            raise self._fail(f"the server now reports {size} bytes, earlier {self._size}", status)
        self._size = size


def _request(url: str, settings: HttpSettings, start: int,
             end: int | None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url}")
    connection = http.client.HTTPSConnection if parts.scheme.lower() == "https" else http.client.HTTPConnection
    conn = connection(parts.hostname or "", parts.port, timeout=settings.timeout)
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    # identity: the bytes as stored; a transparently gzipped answer would break offsets and Range.
    headers = {"User-Agent": settings.user_agent, "Accept-Encoding": "identity"}
    if start or end is not None:
        headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
    try:
        conn.request("GET", target, headers=headers)
        return conn, conn.getresponse()
    except BaseException:
        conn.close()
        raise


def _close(conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
    try:
        resp.close()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------
# Entry points.


def open_url(url: str, settings: HttpSettings | None = None, buffer_size: int = 1 << 20) -> io.BufferedReader:
    """A buffered, seekable binary file over ``url`` (see the module docstring for the policy)."""
    return io.BufferedReader(HttpFile(url, settings), buffer_size=buffer_size)


def fetch_range(url: str, start: int, length: int, settings: HttpSettings | None = None) -> bytes:
    """Exactly the ``length`` bytes of ``url`` from ``start`` (a CDX-located WARC record, say).

    Raises:
        HttpInputError: after the last try, or when the file ends before ``start + length``.
    """
    if start < 0 or length < 0:
        raise ValueError(f"bad range start={start} length={length}")
    if length == 0:
        return b""
    with HttpFile(url, settings, start=start, end=start + length) as fh:
        data = _read_all(fh)
        if len(data) != length:
            raise fh._fail(f"file ends before byte {start + length}", fh.status)
        return data


def fetch(url: str, settings: HttpSettings | None = None) -> bytes:
    """The whole body of ``url`` (a small file: a ``*.paths.gz`` listing, an index)."""
    with HttpFile(url, settings) as fh:
        return _read_all(fh)


def _read_all(fh: HttpFile) -> bytes:
    chunks = []
    buffer = bytearray(1 << 16)
    while True:
        got = fh.readinto(buffer)
        if not got:
            return b"".join(chunks)
        chunks.append(bytes(buffer[:got]))
