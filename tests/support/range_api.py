"""A real, local k-anonymity range API (Have I Been Pwned's protocol) for the breached check.

``RangeApi`` is an HTTP/1.1 server on 127.0.0.1 in a thread of its own
(``http.server``), so it answers the Quart app on the test's loop and the
Flask app on its worker threads alike. It knows a few passwords and their
counts, answers ``GET /range/<PREFIX>`` with ``SUFFIX:COUNT`` lines (plus
padding lines of count 0, as HIBP's Add-Padding does) and records each path
asked, so a test can check that only the prefix left. Two stand-ins for a
site that cannot answer: ``closed_port()`` (nothing listens: connection
refused) and ``Silent`` (accepts connections, never says a word: only the
timeout ends the wait).
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["RangeApi", "Silent", "closed_port", "range_api", "sha1_hex"]


def sha1_hex(password: str) -> str:
    return hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


class RangeApi:
    """The server's state: known passwords and the paths it was asked for."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        self.counts = {sha1_hex(p): n for p, n in counts.items()}
        self.paths: list[str] = []
        self.status = 200
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.paths.append(self.path)
                prefix = self.path.rsplit("/", 1)[-1]
                lines = [f"{h[5:]}:{n}" for h, n in api.counts.items() if h.startswith(prefix)]
                lines += [f"{'0' * 35}:0", f"{'F' * 35}:0"]  # padding, as HIBP adds
                data = "\r\n".join(lines).encode("ascii")
                self.send_response(api.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL for SECURITY_PASSWORD_BREACHED_RANGE_URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/range/"


@contextmanager
def range_api(counts: Mapping[str, int]) -> Iterator[RangeApi]:
    api = RangeApi(counts)
    api.thread.start()
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()
        api.thread.join()


def closed_port() -> str:
    """The base URL of a port nobody listens on (the site is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/range/"


class Silent:
    """A listening socket that never accepts: connecting works, no answer ever comes."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}/range/"

    def close(self) -> None:
        self.socket.close()
