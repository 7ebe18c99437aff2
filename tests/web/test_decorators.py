"""The decorators on async, sync and websocket views."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, auth_token, body, json_login


def basic(user: str, password: str) -> dict[str, str]:
    creds = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {creds}"}


async def test_unauthenticated_json_is_401_envelope(client: Any, app: Any) -> None:
    response = await client.get("/api/me", headers=JSON)
    assert response.status_code == 401
    assert await body(response) == {
        "meta": {"code": 401},
        "response": {"errors": [app.config["SECURITY_MSG_UNAUTHENTICATED"][0]]},
    }


async def test_unauthenticated_html_redirects_to_login_with_next(client: Any) -> None:
    response = await client.get("/api/me?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/api/me%3Fx%3D1"


async def test_sync_view_is_supported(client: Any) -> None:
    await json_login(client)
    response = await client.get("/api/sync", headers=JSON)
    assert (await response.get_json())["email"] == "matt@lp.com"


@pytest.mark.parametrize(
    ("route", "email", "status"),
    [
        ("/api/admin", "matt@lp.com", 200),
        ("/api/admin", "joe@lp.com", 403),
        ("/api/admin-or-editor", "joe@lp.com", 200),
        ("/api/admin-and-editor", "matt@lp.com", 403),
        ("/api/admin-and-editor", "dave@lp.com", 200),
        ("/api/perm-super", "joe@lp.com", 403),
        ("/api/perm-super", "matt@lp.com", 200),
        ("/api/perm-any", "joe@lp.com", 403),
        ("/api/perm-any", "dave@lp.com", 200),
    ],
)
async def test_roles_and_permissions(app: Any, route: str, email: str, status: int) -> None:
    client = app.test_client()
    await json_login(client, email)
    response = await client.get(route, headers=JSON)
    assert response.status_code == status
    if status == 403:
        msg = app.config["SECURITY_MSG_UNAUTHORIZED"][0]
        assert await body(response) == {"meta": {"code": 403}, "response": {"errors": [msg]}}


async def test_role_removal_takes_effect_immediately(test_app: Any) -> None:
    app = test_app.app
    client = app.test_client()
    await json_login(client)
    assert (await client.get("/api/admin", headers=JSON)).status_code == 200
    async with app.app_context():
        async with test_app.store.unit_of_work():
            user = await test_app.store.find_user(email="matt@lp.com")
            await test_app.store.remove_role_from_user(user, "admin")
    assert (await client.get("/api/admin", headers=JSON)).status_code == 403


@pytest.mark.settings(unauthorized_view="/denied")
async def test_unauthorized_html_goes_to_unauthorized_view(app: Any) -> None:
    client = app.test_client()
    await json_login(client, "joe@lp.com")
    response = await client.get("/api/admin", headers={"Referer": "https://evil.example"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/denied"


async def test_basic_auth(app: Any) -> None:
    client = app.test_client()
    ok = await client.get("/api/basic", headers={**JSON, **basic("matt@lp.com", PASSWORD)})
    assert ok.status_code == 200
    bad = await client.get("/api/basic", headers={**JSON, **basic("matt@lp.com", "nope")})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"].startswith('Basic realm="Login Required"')


async def test_basic_auth_password_with_colon_and_inactive_user(app: Any) -> None:
    inactive = await app.test_client().get(
        "/api/basic", headers={**JSON, **basic("tiya@lp.com", PASSWORD)}
    )
    assert inactive.status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!",
        "Basic Og==",
        "Basic bWF0dEBscC5jb20",
        "Bearer abc",
        "Basic " + "A" * 70000,
        "basic\tbWF0dEBscC5jb206eA==",
        "Basic x, Bearer y",
    ],
)
async def test_malformed_basic_headers_are_401_not_500(app: Any, header: str) -> None:
    response = await app.test_client().get("/api/basic", headers={**JSON, "Authorization": header})
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


async def test_basic_auth_does_not_log_in_a_session(app: Any) -> None:
    client = app.test_client()
    await client.get("/api/basic", headers={**JSON, **basic("matt@lp.com", PASSWORD)})
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_multi_methods_order(app: Any) -> None:
    token = await auth_token(app.test_client(), "joe@lp.com")
    client = app.test_client()
    await json_login(client, "matt@lp.com")
    # Token is tried before session, as in Flask-Security.
    response = await client.get("/api/multi", headers={**JSON, "Authentication-Token": token})
    assert (await response.get_json())["email"] == "joe@lp.com"


async def test_freshness_and_verify(test_app: Any) -> None:
    app = test_app.app
    client = app.test_client()
    await json_login(client)
    assert (await client.get("/api/fresh", headers=JSON)).status_code == 200
    test_app.clock.advance(timedelta(minutes=61))
    stale = await client.get("/api/fresh", headers=JSON)
    assert stale.status_code == 401
    data = (await body(stale))["response"]
    assert data["reauth_required"] is True
    assert data["errors"] == [app.config["SECURITY_MSG_REAUTHENTICATION_REQUIRED"][0]]
    # HTML gets a redirect to /verify.
    html = await client.get("/api/fresh")
    assert html.headers["Location"].startswith("/verify?next=")
    # CSRF tokens live an hour (WTF_CSRF_TIME_LIMIT); an SPA takes a fresh one.
    csrf = (await body(await client.get("/verify", headers=JSON)))["response"]["csrf_token"]
    wrong = await client.post(
        "/verify", json={"password": "bad"}, headers={**JSON, "X-CSRF-Token": csrf}
    )
    assert wrong.status_code == 400
    assert list((await body(wrong))["response"]["field_errors"]) == ["password"]
    ok = await client.post(
        "/verify", json={"password": PASSWORD}, headers={**JSON, "X-CSRF-Token": csrf}
    )
    assert ok.status_code == 200
    assert (await client.get("/api/fresh", headers=JSON)).status_code == 200


async def test_verify_get_json(client: Any) -> None:
    await json_login(client)
    response = await client.get("/verify", headers=JSON)
    data = (await body(response))["response"]
    assert data["has_webauthn_verify_credential"] is False
    assert data["user"] == {}
    assert data["csrf_token"]


async def test_verify_requires_login(client: Any) -> None:
    assert (await client.get("/verify", headers=JSON)).status_code == 401


@pytest.mark.quart_only
async def test_websocket_auth(app: Any) -> None:
    anonymous = app.test_client()
    async with anonymous.websocket("/ws/open") as ws:
        assert await ws.receive() == "False"
    client = app.test_client()
    await json_login(client)
    own = {"Origin": "http://localhost"}  # a cookie counts only from the app's own pages
    async with client.websocket("/ws/open", headers=own) as ws:
        assert await ws.receive() == "True"
    async with client.websocket("/ws", headers=own) as ws:
        assert await ws.receive() == "matt@lp.com"


@pytest.mark.quart_only
async def test_websocket_refused_without_login(app: Any) -> None:
    from quart.testing import WebsocketResponseError

    client = app.test_client()
    with pytest.raises(WebsocketResponseError) as info:
        async with client.websocket("/ws") as ws:
            await ws.receive()
    assert info.value.response.status_code == 401


@pytest.mark.quart_only
async def test_websocket_by_token(app: Any) -> None:
    token = await auth_token(app.test_client(), "joe@lp.com")
    client = app.test_client()
    async with client.websocket("/ws", headers={"Authentication-Token": token}) as ws:
        assert await ws.receive() == "joe@lp.com"
