"""Auth tokens and remember cookies: where accepted, expiry, revocation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.http import JSON, auth_token, body, json_login


async def test_token_in_header_authenticates(app: Any) -> None:
    token = await auth_token(app.test_client())
    fresh_client = app.test_client()
    response = await fresh_client.get("/api/token", headers={**JSON, "Authentication-Token": token})
    assert response.status_code == 200
    assert (await response.get_json())["email"] == "matt@lp.com"


async def test_token_in_query_string_refused_by_default(app: Any) -> None:
    token = await auth_token(app.test_client())
    response = await app.test_client().get(f"/api/token?auth_token={token}", headers=JSON)
    assert response.status_code == 401


@pytest.mark.settings(token_authentication_sources=["header", "query"])
async def test_token_in_query_string_when_enabled(app: Any) -> None:
    token = await auth_token(app.test_client())
    response = await app.test_client().get(f"/api/token?auth_token={token}", headers=JSON)
    assert response.status_code == 200


async def test_tampered_token_rejected(app: Any) -> None:
    token = await auth_token(app.test_client())
    for bad in (
        # A signature character with no padding bits (the last one may have some).
        token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:],
        token[:20],
        token + "x",
        "",
        "a.b.c",
    ):
        response = await app.test_client().get(
            "/api/token", headers={**JSON, "Authentication-Token": bad}
        )
        assert response.status_code == 401, bad


async def test_token_expires_after_token_max_age(test_app: Any) -> None:
    app = test_app.app
    token = await auth_token(app.test_client())
    # Flask-Security 5.9's default TOKEN_MAX_AGE is 15 minutes.
    assert app.config["SECURITY_TOKEN_MAX_AGE"] == timedelta(minutes=15)
    test_app.clock.advance(timedelta(minutes=14))
    ok = await app.test_client().get("/api/token", headers={**JSON, "Authentication-Token": token})
    assert ok.status_code == 200
    test_app.clock.advance(timedelta(minutes=2))
    late = await app.test_client().get(
        "/api/token", headers={**JSON, "Authentication-Token": token}
    )
    assert late.status_code == 401


async def test_token_revoked_by_uniquifier_rotation(test_app: Any) -> None:
    app = test_app.app
    token = await auth_token(app.test_client())
    async with app.app_context():
        async with test_app.store.unit_of_work():
            user = await test_app.store.find_user(email="matt@lp.com")
            await test_app.store.set_uniquifier(user)
    response = await app.test_client().get(
        "/api/token", headers={**JSON, "Authentication-Token": token}
    )
    assert response.status_code == 401


async def test_session_revoked_by_reset_user_access(test_app: Any) -> None:
    app = test_app.app
    client = app.test_client()
    await json_login(client)
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    async with app.app_context():
        async with test_app.store.unit_of_work():
            user = await test_app.store.find_user(email="matt@lp.com")
            await test_app.store.reset_user_access(user)
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_token_of_deactivated_user_rejected(test_app: Any) -> None:
    app = test_app.app
    token = await auth_token(app.test_client())
    async with app.app_context():
        async with test_app.store.unit_of_work():
            user = await test_app.store.find_user(email="matt@lp.com")
            await test_app.store.deactivate_user(user)
    response = await app.test_client().get(
        "/api/token", headers={**JSON, "Authentication-Token": token}
    )
    assert response.status_code == 401


async def test_token_only_route_ignores_session(client: Any) -> None:
    await json_login(client)
    assert (await client.get("/api/token", headers=JSON)).status_code == 401


async def test_session_only_route_ignores_token(app: Any) -> None:
    token = await auth_token(app.test_client())
    response = await app.test_client().get(
        "/api/session", headers={**JSON, "Authentication-Token": token}
    )
    assert response.status_code == 401


async def test_remember_cookie_restores_login_but_not_freshness(test_app: Any) -> None:
    app = test_app.app
    client = app.test_client()
    login = await json_login(client, remember=True)
    assert login.status_code == 200
    remember = next(c for c in client.cookie_jar if c.name == "remember_token").value
    # A new browser session with only the remember cookie.
    other = app.test_client()
    headers = {**JSON, "Cookie": f"remember_token={remember}"}
    me = await other.get("/api/me", headers=headers)
    assert me.status_code == 200
    fresh = await other.get("/api/fresh", headers=headers)
    assert fresh.status_code == 401
    assert (await body(fresh))["response"]["reauth_required"] is True


async def test_remember_cookie_dies_with_uniquifier(test_app: Any) -> None:
    app = test_app.app
    client = app.test_client()
    await json_login(client, remember=True)
    remember = next(c for c in client.cookie_jar if c.name == "remember_token").value
    async with app.app_context():
        async with test_app.store.unit_of_work():
            user = await test_app.store.find_user(email="matt@lp.com")
            await test_app.store.set_uniquifier(user)
    me = await app.test_client().get(
        "/api/me", headers={**JSON, "Cookie": f"remember_token={remember}"}
    )
    assert me.status_code == 401


async def test_no_remember_cookie_without_remember(client: Any) -> None:
    await json_login(client, remember=False)
    assert not any(c.name == "remember_token" for c in client.cookie_jar)


async def test_remember_cookie_flags(client: Any) -> None:
    login = await json_login(client, remember=True)
    header = next(c for c in login.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    assert "HttpOnly" in header
    assert "Max-Age=" in header


async def test_get_auth_token_from_app_code(test_app: Any) -> None:
    app = test_app.app
    async with app.app_context():
        async with test_app.store.unit_of_work():
            user = await test_app.store.find_user(email="joe@lp.com")
            token = user.get_auth_token()
    response = await app.test_client().get(
        "/api/token", headers={**JSON, "Authentication-Token": token}
    )
    assert (await response.get_json())["email"] == "joe@lp.com"


# ---------------------------------------------------------------------- token sources
# Every source of TOKEN_AUTHENTICATION_SOURCES works on the app's routes and on
# the library's, and a source that is not listed is never read.


@pytest.mark.settings(token_authentication_sources=["json"])
async def test_token_in_a_json_body_on_an_app_route(app: Any) -> None:
    token = await _token_from_session_login(app)
    client = app.test_client()
    got = await client.open("/api/token", method="GET", json={"auth_token": token}, headers=JSON)
    assert got.status_code == 200, await got.get_data(as_text=True)
    assert (await got.get_json())["email"] == "matt@lp.com"
    # A token-authenticated POST still needs CSRF (CSRF_PROTECT_MECHANISMS has "token").
    posted = await client.post("/api/token", json={"auth_token": token}, headers=JSON)
    assert posted.status_code == 400


@pytest.mark.settings(token_authentication_sources=["json"], csrf_protect_mechanisms=["session"])
async def test_json_body_token_leaves_the_body_to_the_view(app: Any) -> None:
    token = await _token_from_session_login(app)
    payload = {"auth_token": token, "qty": 3, "nested": {"a": [1, None]}}
    response = await app.test_client().post("/api/echo", json=payload, headers=JSON)
    assert response.status_code == 200, await response.get_data(as_text=True)
    seen = await response.get_json()
    assert seen["user"] == "matt@lp.com"
    assert seen["json"] == payload


@pytest.mark.settings(token_authentication_sources=["json"], csrf_protect_mechanisms=["session"])
async def test_json_body_token_on_a_library_route(app: Any) -> None:
    token = await _token_from_session_login(app)
    client = app.test_client()
    response = await client.post(
        "/verify", json={"auth_token": token, "password": "battery horse staple"}, headers=JSON
    )
    assert response.status_code == 200, await response.get_data(as_text=True)


@pytest.mark.settings(token_authentication_sources=["header"], csrf_protect_mechanisms=["session"])
async def test_unlisted_sources_are_not_read(app: Any) -> None:
    token = await _token_from_session_login(app)
    client = app.test_client()
    by_body = await client.post("/api/token", json={"auth_token": token}, headers=JSON)
    by_query = await client.get(f"/api/token?auth_token={token}", headers=JSON)
    by_header = await client.get("/api/token", headers={**JSON, "Authentication-Token": token})
    assert (by_body.status_code, by_query.status_code, by_header.status_code) == (401, 401, 200)


@pytest.mark.settings(token_authentication_sources=["query"])
async def test_token_in_the_query_on_a_library_route(app: Any) -> None:
    token = await _token_from_session_login(app)
    response = await app.test_client().get(f"/verify?auth_token={token}", headers=JSON)
    assert response.status_code == 200


async def _token_from_session_login(app: Any) -> str:
    """A token obtained the way an SPA gets one (the header source may be off)."""
    response = await json_login(app.test_client(), query="?include_auth_token")
    assert response.status_code == 200
    token: str = (await body(response))["response"]["user"]["authentication_token"]
    return token


# ---------------------------------------------------------------------- exp claim
async def test_token_past_its_exp_claim_is_refused(test_app: Any) -> None:
    """TOKEN_EXPIRE_TIMESTAMP(user) is written into the token and enforced."""
    clock = test_app.clock
    test_app.app.config["SECURITY_TOKEN_EXPIRE_TIMESTAMP"] = lambda user: int(clock.time()) + 60
    token = await auth_token(test_app.app.test_client())
    headers = {**JSON, "Authentication-Token": token}
    clock.advance(timedelta(seconds=59))
    assert (await test_app.app.test_client().get("/api/token", headers=headers)).status_code == 200
    clock.advance(timedelta(seconds=2))  # past exp, well inside TOKEN_MAX_AGE
    assert (await test_app.app.test_client().get("/api/token", headers=headers)).status_code == 401
