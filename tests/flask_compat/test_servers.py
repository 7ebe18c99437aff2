"""flask_compat under real threaded WSGI servers, with concurrent clients.

gunicorn (gthread: 2 workers x 4 threads; and sync workers) and waitress
(4 threads) serve the Flask twin app on 127.0.0.1 from a SQLite file seeded
before start. Two users log in and read /api/me at once, with an anonymous
client in between: nobody ever sees anyone else's data, and the server logs
no loop errors (no "attached to a different loop").
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app_factory import PASSWORD
from tests.support.flask_app_factory import flask_app_sync

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.support.flask_server_app:app"
JSON = {"Accept": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(server: str, port: int) -> list[str]:
    bind = f"127.0.0.1:{port}"
    if server == "gunicorn-gthread":
        return [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "4",
                "-b", bind, APP]  # fmt: skip
    if server == "gunicorn-sync":
        return [sys.executable, "-m", "gunicorn", "-k", "sync", "-w", "2", "-b", bind, APP]
    return [sys.executable, "-m", "waitress", f"--listen={bind}", "--threads=4", APP]


@pytest.fixture(params=["gunicorn-gthread", "gunicorn-sync", "waitress"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    package = request.param.split("-")[0]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
    with flask_app_sync("sqlite", tmp_path):
        pass  # tables and users, written before the server starts
    port = _free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "QS_FLASK_DB_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _command(request.param, port), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/api/public", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start: " + log.read_text()
            time.sleep(0.1)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _login(client: httpx.AsyncClient, email: str) -> None:
    page = await client.get("/login", headers=JSON)
    csrf = page.json()["response"]["csrf_token"]
    response = await client.post(
        "/login", json={"email": email, "password": PASSWORD}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200, response.text


async def test_concurrent_users_never_see_each_other(server: tuple[str, Path]) -> None:
    url, log = server
    async with (
        httpx.AsyncClient(base_url=url) as matt,
        httpx.AsyncClient(base_url=url) as joe,
        httpx.AsyncClient(base_url=url) as anonymous,
    ):
        await asyncio.gather(_login(matt, "matt@lp.com"), _login(joe, "joe@lp.com"))

        async def me(client: httpx.AsyncClient) -> Any:
            response = await client.get("/api/me", headers=JSON)
            return response.status_code, response.json().get("email")

        rounds = 15
        results = await asyncio.gather(
            *[me(c) for _ in range(rounds) for c in (matt, joe, anonymous)]
        )
    assert results == [(200, "matt@lp.com"), (200, "joe@lp.com"), (401, None)] * rounds
    text = log.read_text()
    assert "Traceback" not in text and "different loop" not in text, text
