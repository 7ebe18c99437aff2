"""The shared limits across instances (issue #17): two real servers, one database, one Redis.

Two hypercorn processes of tests/support/cluster_app.py on two free ports
share one PostgreSQL database and one Redis (db 4, flushed before and after),
as two instances behind a load balancer do. What one instance counts, the
other must see: an account's password budget is spent by failures on either,
and a reset link raced across both resets the password once.

PostgreSQL (QS_TEST_POSTGRES_URL) and Redis (QS_TEST_REDIS_URL) are required:
without them these tests fail, never skip (scripts/services.sh starts both).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.support.app_factory import PASSWORD
from tests.support.cluster_app import EMAIL, PASSWORD_BUDGET, prepare_database
from tests.support.mail import SmtpSink, free_port

pytestmark = [pytest.mark.server, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Accept": "application/json"}
REDIS_DB = 4
#: Bound on a server's start and stop, and on each HTTP request (liveness bounds).
START_SECONDS = 30.0
STOP_SECONDS = 10.0
REQUEST_SECONDS = 20.0
RATE_LIMITED = "Too many attempts. Please wait a little and try again."
INVALID_LINK = "The password reset link is not valid."


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: scripts/services.sh starts the service", pytrace=False)
    return value


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis db 4, empty before and after the test."""
    import redis

    url = urlunsplit(urlsplit(required("QS_TEST_REDIS_URL"))._replace(path=f"/{REDIS_DB}"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start(port: int, env: dict[str, str], log: Path) -> Server:
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}",
               "tests.support.cluster_app:from_environment()"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**env, "QS_CLUSTER_BASE_URL": url}, stdout=out, stderr=out
        )
    return Server(url, process, log)


async def wait_ready(server: Server) -> None:
    """Poll GET /login until it answers (bounded; a server that exits fails at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    async with httpx.AsyncClient(timeout=1) as probe:
        while True:
            try:
                if (await probe.get(server.url + "/login", headers=JSON)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert server.process.poll() is None, "server exited:\n" + server.log.read_text()
            assert loop.time() < deadline, "server did not start:\n" + server.log.read_text()
            await asyncio.sleep(0.05)


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(STOP_SECONDS)


@pytest.fixture
async def cluster(
    smtp_sink: SmtpSink, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """Two instances sharing the database and Redis; their base URLs."""
    database_url = required("QS_TEST_POSTGRES_URL")
    await prepare_database(database_url)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "QS_CLUSTER_DB": database_url,
        "QS_CLUSTER_REDIS": redis_url,
        "QS_CLUSTER_SMTP_PORT": str(smtp_sink.port),
    }
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            servers.append(start(free_port(), env, tmp_path / f"server-{name}.log"))
        await asyncio.gather(*(wait_ready(server) for server in servers))
        yield servers[0].url, servers[1].url
    finally:
        for server in servers:
            stop(server)
    for server in servers:
        text = server.log.read_text()
        assert "Traceback" not in text, text


async def csrf_token(client: httpx.AsyncClient) -> str:
    """A CSRF token bound to this client's session, from GET /login (JSON)."""
    page = await client.get("/login", headers=JSON)
    assert page.status_code == 200, page.text
    token: str = page.json()["response"]["csrf_token"]
    return token


async def login(base_url: str, password: str) -> httpx.Response:
    """A JSON sign-in of the account from a fresh client (its own session and CSRF token)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_SECONDS) as client:
        csrf = await csrf_token(client)
        return await client.post(
            "/login",
            json={"email": EMAIL, "password": password},
            headers={**JSON, "X-CSRF-Token": csrf},
        )


def errors(response: httpx.Response) -> list[str]:
    """The general error messages of a JSON answer."""
    found: list[str] = response.json()["response"]["errors"]
    return found


async def test_failed_logins_on_both_servers_spend_one_account_budget(
    cluster: tuple[str, str],
) -> None:
    a, b = cluster
    # A, B, A, B, A: A sees three failures, B two; neither alone reaches five.
    for n in range(PASSWORD_BUDGET):
        answer = await login((a, b)[n % 2], "wrong password")
        assert answer.status_code == 400, (n, answer.text)
    # B has seen only two of the five: a per-process count would let this through.
    over = await login(b, PASSWORD)
    assert over.status_code == 429, over.text
    assert int(over.headers["Retry-After"]) >= 1
    assert over.json()["meta"]["code"] == 429
    assert errors(over) == [RATE_LIMITED]
    # And A refuses the right password the same way.
    again = await login(a, PASSWORD)
    assert again.status_code == 429, again.text
    assert errors(again) == [RATE_LIMITED]


async def test_one_reset_link_raced_across_both_servers_resets_once(
    cluster: tuple[str, str], smtp_sink: SmtpSink
) -> None:
    a, b = cluster
    async with httpx.AsyncClient(base_url=a, timeout=REQUEST_SECONDS) as client:
        csrf = await csrf_token(client)
        asked = await client.post(
            "/reset", json={"email": EMAIL}, headers={**JSON, "X-CSRF-Token": csrf}
        )
    assert asked.status_code == 200, asked.text
    (mail,) = await smtp_sink.wait_for(1)
    assert mail.envelope_to == [EMAIL]
    tokens = set(re.findall(re.escape(a) + r"/reset/([A-Za-z0-9_.\-]+)", mail.text))
    assert len(tokens) == 1, mail.text
    token = tokens.pop()

    # Ten clients, alternating servers, each with its own session and CSRF token,
    # each setting a different password; the POSTs all start together.
    passwords = [f"raced new pass phrase {n:02d}" for n in range(10)]
    clients = [
        httpx.AsyncClient(base_url=(a, b)[n % 2], timeout=REQUEST_SECONDS) for n in range(10)
    ]
    try:
        csrfs = await asyncio.gather(*(csrf_token(client) for client in clients))
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/reset/{token}",
                    json={"password": password, "password_confirm": password},
                    headers={**JSON, "X-CSRF-Token": csrf},
                )
                for client, csrf, password in zip(clients, csrfs, passwords, strict=True)
            )
        )
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))

    statuses = [answer.status_code for answer in answers]
    assert sorted(statuses) == [200] + [400] * 9, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 400:
            assert errors(answer) == [INVALID_LINK], answer.text
    winner = passwords[statuses.index(200)]
    loser = passwords[statuses.index(400)]

    # The password that won is the account's, on either server; a loser's is not,
    # nor the old one.
    assert (await login(b, winner)).status_code == 200
    assert (await login(a, winner)).status_code == 200
    assert (await login(a, loser)).status_code == 400
    assert (await login(b, PASSWORD)).status_code == 400
