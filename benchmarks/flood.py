"""Load tool of the "flood" scenario (issue 17): one source floods, another measures.

wrk cannot choose its source address, and the point here is that the server sees
two different clients, so both sides are small asyncio HTTP/1.1 clients (stdlib
only) that bind their sockets to a loopback address of their own: Linux routes
all of 127.0.0.0/8 to ``lo``, so a client bound to 127.0.0.2 reaches a server on
127.0.0.1 and the server's ``remote_addr`` is 127.0.0.2.

    flood.py flood --port P --source 127.0.0.2 --conns 60 --users-file F \\
        --until EPOCH --mark-from EPOCH --mark-to EPOCH
    flood.py probe --port P --source 127.0.0.3 --users-file F --start EPOCH --until EPOCH

``flood``: ``--conns`` keep-alive connections send wrong-password JSON logins with
one CSRF token (one pre-login, as the attack in issue 17 did) until ``--until``;
answers are counted by status, and separately inside [mark-from, mark-to).
``probe``: its own pre-login at once, then from ``--start`` one connection of
right-password logins one after another until ``--until``: counts by status and
latency percentiles. (The pre-login comes first because a server without
fairness would keep even that GET waiting behind the flood.)
Each prints one line ``BENCH_JSON {...}`` at the end. Every socket has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

USER_AGENT = "qs-bench/1"  # as client.py and the Lua scripts (session protection)
TIMEOUT_S = 30.0


class Conn:
    """One keep-alive HTTP/1.1 connection from a chosen source address."""

    def __init__(self, port: int, source: str) -> None:
        self.port = port
        self.source = source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", cookie: str = ""
    ) -> tuple[int, dict[str, list[str]], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port, local_addr=(self.source, 0)),
                TIMEOUT_S,
            )
        assert self.reader is not None
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            f"User-Agent: {USER_AGENT}",
            "Accept: application/json",
        ]
        if cookie:
            head.append(f"Cookie: {cookie}")
        if body:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            return await asyncio.wait_for(self._response(), TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _response(self) -> tuple[int, dict[str, list[str]], bytes]:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, list[str]] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        data = await self.reader.readexactly(length) if length else b""
        if "close" in headers.get("connection", [""])[0].lower():
            self.close()
        return status, headers, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def pre_login(port: int, source: str) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a fresh pre-login session from ``source``."""
    conn = Conn(port, source)
    try:
        status, headers, data = await conn.request("GET", "/login")
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"GET /login from {source} -> {status}")
    cookies = [c.split(";", 1)[0] for c in headers.get("set-cookie", [])]
    return "; ".join(cookies), json.loads(data)["response"]["csrf_token"]


def read_users(path: str) -> list[tuple[str, str]]:
    with open(path) as f:
        return [(a, b) for a, b in (line.rstrip("\n").split("\t") for line in f if line.strip())]


def login_body(email: str, password: str, csrf: str) -> bytes:
    return json.dumps({"email": email, "password": password, "csrf_token": csrf}).encode()


async def flood(a: argparse.Namespace) -> dict[str, Any]:
    # The flooder's accounts and the probe's are disjoint (the even and the odd
    # users): a victim's budget spent by the attack is not the probe's.
    users = read_users(a.users_file)[0::2]
    cookie, csrf = await pre_login(a.port, a.source)
    total: Counter[str] = Counter()
    window: Counter[str] = Counter()
    n = 0

    async def one_connection() -> None:
        nonlocal n
        conn = Conn(a.port, a.source)
        try:
            while time.time() < a.until:
                email, password = users[n % len(users)]
                n += 1
                try:
                    status, _, _ = await conn.request(
                        "POST", "/login", login_body(email, password + "-wrong", csrf), cookie
                    )
                    key = str(status)
                except (TimeoutError, OSError, ValueError):
                    key = "socket"
                total[key] += 1
                if a.mark_from <= time.time() < a.mark_to:
                    window[key] += 1
        finally:
            conn.close()

    await asyncio.gather(*(one_connection() for _ in range(a.conns)))
    return {"status": dict(total), "window_status": dict(window)}


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


async def probe(a: argparse.Namespace) -> dict[str, Any]:
    users = read_users(a.users_file)[1::2]
    cookie, csrf = await pre_login(a.port, a.source)
    print("BENCH_READY", flush=True)  # the runner starts the flood only after this
    await asyncio.sleep(max(0.0, a.start - time.time()))
    statuses: Counter[str] = Counter()
    ok_ms: list[float] = []
    all_ms: list[float] = []
    conn = Conn(a.port, a.source)
    start = time.time()
    i = 0
    try:
        while time.time() < a.until:
            email, password = users[i % len(users)]
            i += 1
            if a.rotate_sources:
                # Many users signing in from many places: each login from the next
                # loopback address (127.0.0.3 up), on a fresh connection.
                conn.close()
                conn = Conn(a.port, f"127.0.{1 + i // 250}.{3 + i % 250}")
            t0 = time.perf_counter()
            try:
                status, _, _ = await conn.request(
                    "POST", "/login", login_body(email, password, csrf), cookie
                )
                key = str(status)
            except (TimeoutError, OSError, ValueError):
                key = "socket"
            ms = (time.perf_counter() - t0) * 1000
            statuses[key] += 1
            all_ms.append(ms)
            if key == "200":
                ok_ms.append(ms)
    finally:
        conn.close()
    elapsed = time.time() - start
    ok_ms.sort()
    all_ms.sort()
    attempts = sum(statuses.values())
    return {
        "status": dict(statuses),
        "attempts": attempts,
        "duration_s": elapsed,
        "ok_per_s": statuses["200"] / elapsed if elapsed else 0.0,
        "success_rate": statuses["200"] / attempts if attempts else float("nan"),
        "ok_latency_ms": {"p50": percentile(ok_ms, 0.5), "p99": percentile(ok_ms, 0.99)},
        "latency_ms": {"p50": percentile(all_ms, 0.5), "p99": percentile(all_ms, 0.99)},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("flood", "probe"))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--source", required=True, help="loopback address to send from")
    ap.add_argument("--users-file", required=True)
    ap.add_argument("--until", type=float, required=True, help="epoch seconds")
    ap.add_argument("--start", type=float, default=0.0, help="probe: epoch seconds")
    ap.add_argument("--conns", type=int, default=60)
    ap.add_argument(
        "--rotate-sources",
        action="store_true",
        help="probe: each login from another loopback address (many users, many places)",
    )
    ap.add_argument("--mark-from", type=float, default=0.0)
    ap.add_argument("--mark-to", type=float, default=0.0)
    a = ap.parse_args(argv)
    if not a.source.startswith("127."):
        raise SystemExit("--source must be a loopback address (127.0.0.0/8)")
    result = asyncio.run(flood(a) if a.mode == "flood" else probe(a))
    print("BENCH_JSON " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
