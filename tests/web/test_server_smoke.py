"""Smoke tests through a real hypercorn server on 127.0.0.1 and a real HTTP client.

The Quart test client hides header, cookie and Location details a browser sees;
these tests do not.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from tests.support.app_factory import PASSWORD, BuiltApp

pytestmark = [pytest.mark.server, pytest.mark.quart_only]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def base_url(test_app: BuiltApp) -> AsyncIterator[str]:
    port = _free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(test_app.app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as probe:
        for _ in range(200):
            try:
                await probe.get(url + "/api/public")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.02)
    try:
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    page = await client.get("/login", headers={"Accept": "application/json"})
    csrf = page.json()["response"]["csrf_token"]
    response = await client.post(
        "/login?include_auth_token",
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_login_me_logout_over_real_server(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        data = await _login(client, "matt@lp.com")
        me = await client.get("/api/me", headers={"Accept": "application/json"})
        assert me.json() == {"email": "matt@lp.com"}
        assert "Cookie" in me.headers.get("Vary", "")
        csrf = data["response"]["csrf_token"]
        out = await client.post(
            "/logout", json={}, headers={"Accept": "application/json", "X-CSRF-Token": csrf}
        )
        assert out.status_code == 200
        again = await client.get("/api/me", headers={"Accept": "application/json"})
        assert again.status_code == 401


async def test_concurrent_users_never_see_each_other(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as a, httpx.AsyncClient(base_url=base_url) as b:
        await asyncio.gather(_login(a, "matt@lp.com"), _login(b, "joe@lp.com"))

        async def me(client: httpx.AsyncClient) -> str:
            response = await client.get("/api/me", headers={"Accept": "application/json"})
            return str(response.json()["email"])

        results = await asyncio.gather(*[me(a) for _ in range(20)], *[me(b) for _ in range(20)])
        assert results[:20] == ["matt@lp.com"] * 20
        assert results[20:] == ["joe@lp.com"] * 20


async def test_unauthenticated_redirect_location_is_relative(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/api/me")
        assert response.status_code == 302
        assert response.headers["location"].startswith("/login?next=")


async def test_token_over_real_server(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        token = (await _login(client, "joe@lp.com"))["response"]["user"]["authentication_token"]
    async with httpx.AsyncClient(base_url=base_url) as fresh:
        response = await fresh.get(
            "/api/token", headers={"Authentication-Token": token, "Accept": "application/json"}
        )
        assert response.json() == {"email": "joe@lp.com"}
