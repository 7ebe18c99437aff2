"""/logout: POST only by default (5.9), CSRF-protected (our default), full cleanup."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.http import JSON, body, json_login, set_cookie_headers


async def test_get_logout_is_not_allowed_by_default(client: Any) -> None:
    await json_login(client)
    response = await client.get("/logout")
    assert response.status_code == 405
    assert (await client.get("/api/me", headers=JSON)).status_code == 200


async def test_json_logout_needs_csrf(client: Any, app: Any) -> None:
    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    refused = await client.post("/logout", json={}, headers=JSON)
    assert refused.status_code == 400
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    done = await client.post("/logout", json={}, headers={**JSON, "X-CSRF-Token": csrf})
    assert done.status_code == 200
    assert await body(done) == {"meta": {"code": 200}, "response": {}}
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.settings(logout_csrf=False)
async def test_logout_csrf_can_be_turned_off(client: Any) -> None:
    await json_login(client)
    done = await client.post("/logout", json={}, headers=JSON)
    assert done.status_code == 200
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.settings(logout_methods=["GET", "POST"], post_logout_view="/bye")
async def test_html_logout_redirects(client: Any) -> None:
    await json_login(client)
    response = await client.get("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/bye"
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.settings(logout_methods=None)
async def test_logout_route_can_be_removed(client: Any) -> None:
    assert (await client.post("/logout")).status_code == 404


async def test_logout_expires_remember_cookie(client: Any) -> None:
    login = await json_login(client, remember=True)
    assert any(c.startswith("remember_token=") for c in set_cookie_headers(login))
    csrf = (await body(login))["response"]["csrf_token"]
    out = await client.post("/logout", json={}, headers={**JSON, "X-CSRF-Token": csrf})
    expired = [c for c in set_cookie_headers(out) if c.startswith("remember_token=")]
    assert expired and ("Max-Age=0" in expired[0] or "Expires=Thu, 01 Jan 1970" in expired[0])
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_logout_when_anonymous_is_harmless(client: Any) -> None:
    response = await client.post("/logout", json={}, headers=JSON)
    assert response.status_code == 200
