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


async def test_overridable_handlers(test_app: Any) -> None:
    security = test_app.security
    seen: list[str] = []

    async def unauthn(sec: Any, port: Any, mechanisms: list[str], headers: Any) -> Any:
        seen.append("unauthn")
        return port.make_response("custom 401", 401)

    async def unauthz(sec: Any, port: Any, func_name: str, params: Any) -> Any:
        seen.append(func_name)
        return port.make_response("custom 403", 403)

    security.unauthn_handler(unauthn)
    security.unauthz_handler(unauthz)
    client = test_app.app.test_client()
    response = await client.get("/api/me", headers=JSON)
    assert (response.status_code, await response.get_data(as_text=True)) == (401, "custom 401")
    await json_login(client, "joe@lp.com")
    denied = await client.get("/api/admin", headers=JSON)
    assert (denied.status_code, await denied.get_data(as_text=True)) == (403, "custom 403")
    assert seen == ["unauthn", "roles_required"]


async def test_render_json_hook(test_app: Any) -> None:
    def render(port: Any, payload: Any, code: int, headers: Any, user: Any) -> Any:
        import json

        return port.make_response(
            json.dumps({"status": code, "data": payload}),
            code,
            {"Content-Type": "application/json"},
        )

    test_app.security.render_json(render)
    response = await test_app.app.test_client().get("/login", headers=JSON)
    data = await response.get_json()
    assert data["status"] == 200 and "csrf_token" in data["data"]


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
