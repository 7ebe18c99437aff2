"""CSRF in Flask-Security's SPA model: header, body field, cookie, mechanisms."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, auth_token, body, get_csrf, json_login, set_cookie_headers


async def test_login_requires_csrf(client: Any, app: Any) -> None:
    response = await client.post(
        "/login", json={"email": "matt@lp.com", "password": PASSWORD}, headers=JSON
    )
    assert response.status_code == 400
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_csrf_in_json_body_is_accepted(client: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login", json={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("header", ["X-CSRFToken", "X-CSRF-Token", "X-XSRF-Token"])
async def test_csrf_headers(app: Any, header: str) -> None:
    client = app.test_client()
    csrf = await get_csrf(client)
    response = await client.post(
        "/login", json={"email": "matt@lp.com", "password": PASSWORD}, headers={header: csrf}
    )
    assert response.status_code == 200


async def test_csrf_from_another_session_is_rejected(app: Any) -> None:
    other = await get_csrf(app.test_client())
    client = app.test_client()
    await get_csrf(client)
    response = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": PASSWORD},
        headers={"X-CSRF-Token": other},
    )
    assert response.status_code == 400


@pytest.mark.parametrize("token", ["garbage", "", "a" * 5000, "ImFiYyI.AAAA.BBBB"])
async def test_invalid_csrf_tokens(client: Any, token: str) -> None:
    await get_csrf(client)
    response = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": PASSWORD},
        headers={"X-CSRF-Token": token} if token else {},
    )
    assert response.status_code == 400
    assert "errors" in (await body(response))["response"]


async def test_text_plain_json_csrf_is_not_parsed(client: Any) -> None:
    """The classic cross-site form posting JSON as text/plain gets nothing."""
    await get_csrf(client)
    response = await client.post(
        "/login",
        data='{"email": "matt@lp.com", "password": "' + PASSWORD + '"}',
        headers={"Content-Type": "text/plain", **JSON},
    )
    assert response.status_code == 400
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_app_route_post_needs_csrf_for_session(client: Any) -> None:
    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    assert (await client.post("/api/me", json={}, headers=JSON)).status_code == 400
    assert (
        await client.post("/api/me", json={}, headers={**JSON, "X-CSRF-Token": csrf})
    ).status_code == 200
    # Safe methods never need it.
    assert (await client.get("/api/me", headers=JSON)).status_code == 200


async def test_token_post_needs_csrf_by_default(app: Any) -> None:
    token = await auth_token(app.test_client())
    response = await app.test_client().post(
        "/api/token", json={}, headers={**JSON, "Authentication-Token": token}
    )
    assert response.status_code == 400


@pytest.mark.settings(csrf_protect_mechanisms=["session", "basic"])
async def test_token_post_exempt_when_token_not_protected(app: Any) -> None:
    token = await auth_token(app.test_client())
    response = await app.test_client().post(
        "/api/token", json={}, headers={**JSON, "Authentication-Token": token}
    )
    assert response.status_code == 200


@pytest.mark.settings(csrf_protect_mechanisms=["session", "basic"])
async def test_token_exemption_does_not_cover_session_requests(app: Any) -> None:
    token = await auth_token(app.test_client(), "joe@lp.com")
    client = app.test_client()
    await json_login(client)
    # auth_required() tries token first: authenticated by token -> exempt,
    # but a session-only route still needs the token.
    response = await client.post("/api/me", json={}, headers={**JSON})
    assert response.status_code == 400
    with_token = await client.post(
        "/api/me", json={}, headers={**JSON, "Authentication-Token": token}
    )
    assert with_token.status_code == 200


async def test_basic_post_needs_csrf(app: Any) -> None:
    import base64

    creds = base64.b64encode(f"matt@lp.com:{PASSWORD}".encode()).decode()
    response = await app.test_client().post(
        "/api/basic", json={}, headers={**JSON, "Authorization": f"Basic {creds}"}
    )
    assert response.status_code == 400


@pytest.mark.app_settings(wtf_csrf_enabled=False)
async def test_csrf_can_be_disabled(client: Any) -> None:
    response = await client.post(
        "/login", json={"email": "matt@lp.com", "password": PASSWORD}, headers=JSON
    )
    assert response.status_code == 200


@pytest.mark.settings(csrf_ignore_unauth_endpoints=True)
async def test_ignore_unauth_endpoints(client: Any) -> None:
    response = await client.post(
        "/login", json={"email": "matt@lp.com", "password": PASSWORD}, headers=JSON
    )
    assert response.status_code == 200
    # Once authenticated, app routes still require CSRF.
    assert (await client.post("/api/me", json={}, headers=JSON)).status_code == 400


@pytest.mark.settings(csrf_cookie_name="XSRF-TOKEN")
async def test_csrf_cookie_set_on_login_and_cleared_on_logout(client: Any) -> None:
    page = await client.get("/login", headers=JSON)
    cookies = set_cookie_headers(page)
    xsrf = [c for c in cookies if c.startswith("XSRF-TOKEN=")]
    assert xsrf and "HttpOnly" not in xsrf[0] and "SameSite=Strict" in xsrf[0]
    login = await json_login(client)
    after = [c for c in set_cookie_headers(login) if c.startswith("XSRF-TOKEN=")]
    assert after
    cookie_token = after[0].split(";", 1)[0].split("=", 1)[1]
    # The SPA echoes the cookie in the header.
    ok = await client.post("/api/me", json={}, headers={**JSON, "X-XSRF-Token": cookie_token})
    assert ok.status_code == 200
    out = await client.post("/logout", json={}, headers={**JSON, "X-XSRF-Token": cookie_token})
    cleared = [c for c in set_cookie_headers(out) if c.startswith("XSRF-TOKEN=")]
    assert cleared and ("Max-Age=0" in cleared[0] or "1970" in cleared[0])


async def test_csrf_failure_shape(client: Any, app: Any) -> None:
    await json_login(client)
    response = await client.post("/api/me", json={}, headers=JSON)
    data = await body(response)
    assert data["meta"]["code"] == 400
    assert data["response"]["errors"] == [app.config["SECURITY_MSG_CSRF_MISSING"][0]]
