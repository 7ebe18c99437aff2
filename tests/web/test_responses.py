"""What every answer of the library carries: SECURITY_CACHE_CONTROL (Flask-Security's
add_cache_control), on endpoints and on the refusals of the decorators alike."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.http import JSON, body, get_csrf, json_login

NOT_CACHEABLE = "private, no-store"  # Flask-Security's default {"private": True, "no-store": True}


async def test_library_answers_are_not_cacheable(app: Any) -> None:
    client = app.test_client()
    page = await client.get("/login")
    csrf_json = await client.get("/login", headers=JSON)
    login = await json_login(client, query="?include_auth_token")
    assert (await body(login))["response"]["user"]["authentication_token"]
    failed = await app.test_client().post("/login", json={}, headers=JSON)
    logout = await client.post(
        "/logout", headers={**JSON, "X-CSRF-Token": (await body(login))["response"]["csrf_token"]}
    )
    for response in (page, csrf_json, login, failed, logout):
        assert response.headers.get("Cache-Control") == NOT_CACHEABLE, response.status_code


async def test_decorator_refusals_are_not_cacheable(app: Any) -> None:
    anonymous = await app.test_client().get("/api/me", headers=JSON)
    assert anonymous.status_code == 401
    joe = app.test_client()
    await json_login(joe, "joe@lp.com")
    forbidden = await joe.get("/api/admin", headers=JSON)
    assert forbidden.status_code == 403
    no_csrf = await joe.post("/api/me", json={}, headers=JSON)
    assert no_csrf.status_code == 400
    for response in (anonymous, forbidden, no_csrf):
        assert response.headers.get("Cache-Control") == NOT_CACHEABLE


async def test_the_apps_own_answers_are_left_alone(app: Any) -> None:
    client = app.test_client()
    assert "Cache-Control" not in (await client.get("/api/public")).headers
    await json_login(client)
    served = await client.get("/api/me", headers=JSON)
    assert served.status_code == 200
    assert "Cache-Control" not in served.headers


@pytest.mark.settings(cache_control={"no-cache": True, "max-age": 0})
async def test_cache_control_is_configurable(app: Any) -> None:
    response = await app.test_client().get("/login", headers=JSON)
    assert response.headers.get("Cache-Control") == "no-cache, max-age=0"


@pytest.mark.settings(cache_control=None)
async def test_cache_control_can_be_turned_off(app: Any) -> None:
    client = app.test_client()
    csrf = await get_csrf(client)
    assert csrf
    assert "Cache-Control" not in (await client.get("/login", headers=JSON)).headers
    assert "Cache-Control" not in (await client.get("/login")).headers
