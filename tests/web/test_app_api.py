"""Helpers and hooks apps use: login_user, logout_user, lookup_identity,
url_for_security, overridable handlers, legacy hashes, username identities."""

from __future__ import annotations

import hashlib
import hmac
from base64 import b64encode
from typing import Any

import pytest
from quart import jsonify

from quart_security import (
    current_user,
    login_user,
    logout_user,
    lookup_identity,
    url_for_security,
    verify_and_update_password,
)
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf, json_login


@pytest.mark.quart_only  # defines Quart routes; flask_compat has its own tests
async def test_login_user_and_logout_user_from_app_code(test_app: Any) -> None:
    app = test_app.app

    @app.route("/custom-login", methods=["POST"])
    async def custom_login() -> Any:
        user = await lookup_identity("JOE@lp.com")
        assert await login_user(user, remember=False, authn_via=["custom"])
        return jsonify(email=current_user.email)

    @app.route("/custom-logout", methods=["POST"])
    async def custom_logout() -> Any:
        await logout_user()
        return jsonify(authenticated=bool(current_user.is_authenticated))

    client = app.test_client()
    response = await client.post("/custom-login")
    assert (await response.get_json()) == {"email": "joe@lp.com"}
    assert (await (await client.get("/api/me", headers=JSON)).get_json()) == {"email": "joe@lp.com"}
    out = await client.post("/custom-logout")
    assert (await out.get_json()) == {"authenticated": False}
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.quart_only
async def test_login_user_refuses_inactive_user(test_app: Any) -> None:
    app = test_app.app

    @app.route("/login-inactive", methods=["POST"])
    async def login_inactive() -> Any:
        user = await lookup_identity("tiya@lp.com")
        return jsonify(ok=await login_user(user))

    client = app.test_client()
    assert (await (await client.post("/login-inactive")).get_json()) == {"ok": False}
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.quart_only
async def test_url_for_security(test_app: Any) -> None:
    async with test_app.app.test_request_context("/"):
        assert url_for_security("login") == "/login"
        assert url_for_security("verify", next="/x") == "/verify?next=/x"


@pytest.mark.settings(url_prefix="/auth", login_url="/sign-in")
async def test_url_prefix_and_custom_urls(client: Any) -> None:
    assert (await client.get("/auth/sign-in", headers=JSON)).status_code == 200
    assert (await client.get("/login", headers=JSON)).status_code == 404
    response = await client.get("/api/me")
    assert response.headers["Location"].startswith("/auth/sign-in?next=")


# ---------------------------------------------------------------------- Flask-Security's hooks
# An existing Flask-Security handler works unchanged: its signature, a plain
# function (or a coroutine function), returning anything the framework makes
# a response from.


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_unauthn_and_unauthz_handlers_take_flask_securitys_signature(
    test_app: Any, kind: str
) -> None:
    security = test_app.security
    seen: list[Any] = []

    def unauthn(mechanisms: list[str], headers: Any = None) -> Any:
        seen.append(("unauthn", sorted(mechanisms), headers))
        return "custom 401", 401

    def unauthz(func_name: str, params: Any) -> Any:
        seen.append(("unauthz", func_name, params))
        return {"denied": func_name}, 403

    async def unauthn_async(mechanisms: list[str], headers: Any = None) -> Any:
        return unauthn(mechanisms, headers)

    async def unauthz_async(func_name: str, params: Any) -> Any:
        return unauthz(func_name, params)

    security.unauthn_handler(unauthn if kind == "sync" else unauthn_async)
    security.unauthz_handler(unauthz if kind == "sync" else unauthz_async)
    client = test_app.app.test_client()
    response = await client.get("/api/me", headers=JSON)
    assert (response.status_code, await response.get_data(as_text=True)) == (401, "custom 401")
    basic = await client.get("/api/basic", headers=JSON)
    assert basic.status_code == 401
    await json_login(client, "joe@lp.com")
    denied = await client.get("/api/admin", headers=JSON)
    assert (denied.status_code, await denied.get_json()) == (403, {"denied": "roles_required"})
    assert seen == [
        ("unauthn", ["session", "token"], None),
        ("unauthn", ["basic"], {"WWW-Authenticate": 'Basic realm="Login Required"'}),
        ("unauthz", "roles_required", ["admin"]),
    ]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_reauthn_handler_takes_within_and_grace(test_app: Any, kind: str) -> None:
    from datetime import timedelta

    seen: list[Any] = []

    def reauthn(within: timedelta, grace: timedelta) -> Any:
        seen.append((within, grace))
        return "sign in again", 401

    async def reauthn_async(within: timedelta, grace: timedelta) -> Any:
        return reauthn(within, grace)

    test_app.security.reauthn_handler(reauthn if kind == "sync" else reauthn_async)
    client = test_app.app.test_client()
    await json_login(client)
    test_app.clock.advance(timedelta(minutes=61))
    response = await client.get("/api/fresh", headers=JSON)
    assert (response.status_code, await response.get_data(as_text=True)) == (401, "sign in again")
    assert seen == [(timedelta(minutes=60), timedelta(0))]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_render_json_hook_takes_payload_code_headers_user(test_app: Any, kind: str) -> None:
    seen: list[Any] = []

    def render(payload: Any, code: int, headers: Any, user: Any) -> Any:
        seen.append((code, getattr(user, "email", None)))
        return {"status": code, "data": payload}, code, headers

    async def render_async(payload: Any, code: int, headers: Any, user: Any) -> Any:
        return render(payload, code, headers, user)

    test_app.security.render_json(render if kind == "sync" else render_async)
    client = test_app.app.test_client()
    response = await client.get("/login", headers=JSON)
    data = await response.get_json()
    assert data["status"] == 200 and "csrf_token" in data["data"]
    login = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": PASSWORD},
        headers={"X-CSRF-Token": data["data"]["csrf_token"]},
    )
    assert (await login.get_json())["status"] == 200
    refused = await test_app.app.test_client().get("/api/me", headers=JSON)
    assert refused.status_code == 401
    assert (await refused.get_json())["status"] == 401
    assert seen == [(200, None), (200, "matt@lp.com"), (401, None)]


async def test_want_json_hook_takes_the_request(test_app: Any) -> None:
    test_app.security.want_json(lambda request: request.headers.get("X-Want") == "json")
    client = test_app.app.test_client()
    html = await client.get("/api/me", headers=JSON)  # Accept alone no longer decides
    assert html.status_code == 302
    wanted = await client.get("/api/me", headers={"X-Want": "json"})
    assert wanted.status_code == 401
    assert (await body(wanted))["meta"]["code"] == 401


def test_want_json_must_be_a_plain_function(test_app: Any) -> None:
    from quart_security.errors import ConfigurationError

    async def decide(request: Any) -> bool:
        return True

    with pytest.raises(ConfigurationError):
        test_app.security.want_json(decide)


async def test_http_auth_required_names_its_realm(test_app: Any) -> None:
    client = test_app.app.test_client()
    named = await client.get("/api/basic-realm", headers=JSON)
    assert named.status_code == 401
    assert named.headers["WWW-Authenticate"] == 'Basic realm="Reports"'
    default = await client.get("/api/basic", headers=JSON)
    assert default.headers["WWW-Authenticate"] == 'Basic realm="Login Required"'
    multi = await client.get("/api/multi", headers=JSON)
    assert multi.headers["WWW-Authenticate"] == 'Basic realm="Login Required"'


@pytest.mark.settings(http_auth_charset="UTF-8", default_http_auth_realm="Staff")
async def test_basic_challenge_names_a_charset_only_when_configured(test_app: Any) -> None:
    response = await test_app.app.test_client().get("/api/basic", headers=JSON)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Staff", charset="UTF-8"'


async def test_basic_html_refusal_is_a_401_not_a_redirect(test_app: Any) -> None:
    """Flask-Security: when Basic is among the methods, a browser gets the challenge."""
    response = await test_app.app.test_client().get("/api/multi")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert "Location" not in response.headers


async def test_unauth_csrf_fall_through_still_refuses(test_app: Any) -> None:
    """fall_through has Flask-Security 5.9's meaning (none): a failed check is refused."""
    client = test_app.app.test_client()
    await get_csrf(client)
    response = await client.post("/api/open-echo-fall-through", json={"x": 1}, headers=JSON)
    assert response.status_code == 400
    csrf = await get_csrf(client)
    ok = await client.post(
        "/api/open-echo-fall-through", json={"x": 1}, headers={**JSON, "X-CSRF-Token": csrf}
    )
    assert ok.status_code == 200


def _flask_security_pbkdf2_sha512(password: str, salt: str, rounds: int = 1000) -> str:
    """What Flask-Security stores for pbkdf2_sha512: passlib's format over its HMAC pre-hash."""
    prehash = b64encode(hmac.new(salt.encode(), password.encode(), hashlib.sha512).digest())
    pw_salt = b"0123456789abcdef"
    checksum = hashlib.pbkdf2_hmac("sha512", prehash, pw_salt, rounds)

    def ab64(data: bytes) -> str:
        return b64encode(data).decode().rstrip("=").replace("+", ".")

    return f"$pbkdf2-sha512${rounds}${ab64(pw_salt)}${ab64(checksum)}"


async def test_legacy_pbkdf2_hash_logs_in_and_is_upgraded(test_app: Any) -> None:
    """A Flask-Security pbkdf2_sha512 user logs in; the hash becomes argon2id."""
    legacy = _flask_security_pbkdf2_sha512(PASSWORD, "test-salt")
    store = test_app.store
    async with test_app.app.app_context(), store.unit_of_work():
        user = await store.find_user(email="joe@lp.com")
        user.password = legacy
        await store.put(user)
    client = test_app.app.test_client()
    assert (await json_login(client, "joe@lp.com")).status_code == 200
    async with test_app.app.app_context(), store.unit_of_work():
        user = await store.find_user(email="joe@lp.com")
        assert user.password.startswith("$argon2id$")
        assert await verify_and_update_password(PASSWORD, user)
        assert not await verify_and_update_password("wrong password", user)


@pytest.mark.settings(username_enable=True)
async def test_login_with_username(client: Any) -> None:
    page = await body(await client.get("/login", headers=JSON))
    assert page["response"]["identity_attributes"] == ["email", "username"]
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        json={"username": "Dave", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200
    me = await (await client.get("/api/me", headers=JSON)).get_json()
    assert me == {"email": "dave@lp.com"}
