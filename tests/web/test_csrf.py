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


# ---------------------------------------------------------------------- app route bodies
# The CSRF check of auth_required / unauth_csrf looks for one thing in an app
# route's body, the token, and only when no header carries one. The body's
# format and size are the app's: the view reads all of it afterwards.

APP_BODIES = [
    {"qty": 3},
    [1, 2, {"three": 3}],
    {"order": {"lines": [{"sku": "a", "qty": 2}, None, True]}, "note": None},
    {"blob": "x" * 70_000},
]


@pytest.mark.parametrize("payload", APP_BODIES, ids=["number", "array", "nested", "70KB"])
async def test_header_token_leaves_an_app_route_body_to_the_view(client: Any, payload: Any) -> None:
    import json as jsonlib

    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    sent = jsonlib.dumps(payload)
    response = await client.post(
        "/api/echo",
        data=sent.encode(),
        headers={"Content-Type": "application/json", "X-XSRF-Token": csrf, **JSON},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    seen = await response.get_json()
    assert seen["raw"] == sent
    assert seen["json"] == payload
    assert seen["user"] == "matt@lp.com"


async def test_header_token_leaves_an_unparseable_app_body_to_the_view(client: Any) -> None:
    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    response = await client.post(
        "/api/echo",
        data=b'{"not json',
        headers={"Content-Type": "application/json", "X-XSRF-Token": csrf, **JSON},
    )
    assert response.status_code == 200
    seen = await response.get_json()
    assert seen["raw"] == '{"not json'
    assert seen["json"] is None


async def test_token_in_an_app_json_body_is_found_among_other_members(client: Any) -> None:
    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    payload = {"csrf_token": csrf, "qty": 3, "lines": [{"sku": "a"}], "gift": False}
    response = await client.post("/api/echo", json=payload, headers=JSON)
    assert response.status_code == 200, await response.get_data(as_text=True)
    seen = await response.get_json()
    assert seen["json"] == payload


async def test_token_in_an_app_form_body(client: Any) -> None:
    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    response = await client.post(
        "/api/echo", form={"csrf_token": csrf, "qty": "3", "big": "y" * 70_000}, headers=JSON
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    seen = await response.get_json()
    assert seen["form"]["qty"] == ["3"]
    assert seen["form"]["big"] == ["y" * 70_000]


async def test_token_in_an_app_multipart_upload(client: Any) -> None:
    from io import BytesIO

    from werkzeug.datastructures import FileStorage

    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    upload = FileStorage(BytesIO(b"z" * 80_000), filename="data.bin", name="upload")
    response = await client.post(
        "/api/echo",
        form={"csrf_token": csrf, "title": "report"},
        files={"upload": upload},
        headers=JSON,
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    seen = await response.get_json()
    assert seen["form"]["title"] == ["report"]
    assert seen["files"] == ["upload"]


@pytest.mark.parametrize(
    "payload",
    [b"{", b"[]", b'{"csrf_token": {"$ne": 1}}', b'{"csrf_token": 12}', b"\xff", b"null"],
)
async def test_app_body_without_a_usable_token_is_refused(client: Any, payload: bytes) -> None:
    await json_login(client)
    response = await client.post(
        "/api/echo", data=payload, headers={"Content-Type": "application/json", **JSON}
    )
    assert response.status_code == 400
    data = await body(response)
    assert data["response"]["errors"]
    assert "csrf_token" in data["response"]["field_errors"]


async def test_wrong_header_token_is_not_rescued_by_the_body(client: Any) -> None:
    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    response = await client.post(
        "/api/echo",
        json={"csrf_token": csrf},
        headers={**JSON, "X-CSRF-Token": "not-the-token"},
    )
    assert response.status_code == 400


async def test_unauth_csrf_leaves_an_app_route_body_to_the_view(client: Any) -> None:
    import json as jsonlib

    csrf = await get_csrf(client)
    sent = jsonlib.dumps({"qty": 3, "nested": {"a": [1]}})
    response = await client.post(
        "/api/open-echo",
        data=sent.encode(),
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf, **JSON},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert (await response.get_json())["raw"] == sent
    refused = await client.post("/api/open-echo", json={"qty": 3}, headers=JSON)
    assert refused.status_code == 400


@pytest.mark.settings(csrf_cookie_name="XSRF-TOKEN")
async def test_csrf_cookie_is_sent_when_a_remember_cookie_restores_the_login(app: Any) -> None:
    """Flask-Security sets XSRF-TOKEN on the first request a remember cookie serves,
    so the SPA's next POST carries a token the server knows."""
    client = app.test_client()
    assert (await json_login(client, remember=True)).status_code == 200
    # The browser comes back days later: the session cookie is gone.
    client.delete_cookie("localhost", "session")
    client.delete_cookie("localhost", "XSRF-TOKEN")
    first = await client.get("/api/me", headers=JSON)
    assert first.status_code == 200
    xsrf = [c for c in set_cookie_headers(first) if c.startswith("XSRF-TOKEN=")]
    assert xsrf, set_cookie_headers(first)
    token = xsrf[0].split(";", 1)[0].split("=", 1)[1]
    response = await client.post(
        "/verify", json={"password": PASSWORD}, headers={**JSON, "X-XSRF-Token": token}
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
