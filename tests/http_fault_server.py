"""A local HTTP server for tests and benches: serves a folder with Range support, and injects faults.

``FaultServer(root)`` serves ``root``'s files at ``http://127.0.0.1:PORT/<relative path>``
(HTTP/1.0, one request per connection). Faults are queued per path and each request for
that path takes the next one:

- ``"503"`` / ``"429"`` / ``"500"``: that status, with ``Retry-After: 0``;
- ``"reset:N"``: the right headers, N bytes of the body, then a TCP reset;
- ``"short:N"``: the right headers, N bytes of the body, then a clean close;
- ``"slow:S"``: headers, then S seconds of silence before the body;
- ``"ignore-range"``: the whole file with 200, whatever Range asked;
- ``"badlen:K"``: ``Content-Length`` (or the range total) K bytes larger than the file.

``always[path] = status`` answers every request for ``path`` with that status. ``requests``
logs ``(path, Range header)`` of every request.
"""

from __future__ import annotations

import collections
import os
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FaultServer:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.faults: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self.always: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, relative: str | Path) -> str:
        return f"http://127.0.0.1:{self.port}/{urllib.parse.quote(str(relative).replace(os.sep, '/'))}"

    def inject(self, relative: str | Path, *faults: str) -> None:
        self.faults["/" + str(relative).replace(os.sep, "/")].extend(faults)

    def next_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self.faults.get(path)
            return queue.popleft() if queue else None

    def __enter__(self) -> FaultServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            with server._lock:
                server.requests.append((path, self.headers.get("Range")))
            if path in server.always:
                self._status(server.always[path])
                return
            fault = server.next_fault(path)
            if fault in ("503", "429", "500"):
                self._status(int(fault))
                return
            file = (server.root / path.lstrip("/")).resolve()
            if not file.is_file() or server.root.resolve() not in file.parents:
                self._status(404)
                return
            data = file.read_bytes()
            size = len(data)
            declared = size + int(fault.split(":")[1]) if fault and fault.startswith("badlen:") else size
            start, end = 0, size
            ranged = self.headers.get("Range")
            if ranged and fault != "ignore-range":
                first, _, last = ranged.strip()[len("bytes="):].partition("-")
                start = int(first)
                end = min(int(last) + 1, size) if last else size
                if start >= declared:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{declared}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{max(end, start + 1) - 1}/{declared}")
                length = end - start + (declared - size if not last else 0)
            else:
                self.send_response(200)
                length = declared
            body = data[start:end]
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if fault and fault.startswith("slow:"):
                time.sleep(float(fault.split(":")[1]))
            if fault and fault.startswith(("reset:", "short:")):
                count = int(fault.split(":")[1])
                self.wfile.write(body[:count])
                self.wfile.flush()
                if fault.startswith("reset:"):
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a timeout it was told to have)

        def _status(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:
                pass

    return Handler
