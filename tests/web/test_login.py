"""/login: the JSON and HTML contract of Flask-Security 5.9, and its attacks."""

from __future__ import annotations

from typing import Any

import pytest

from quart_security import signals
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf, json_login, set_cookie_headers


async def test_get_login_json_gives_csrf_and_identity_attributes(client: Any) -> None:
    response = await client.get("/login", headers=JSON)
    assert response.status_code == 200
    data = await body(response)
    assert data["meta"] == {"code": 200}
    assert data["response"]["identity_attributes"] == ["email"]
    assert data["response"]["csrf_token"]
    assert "user" not in data["response"]


async def test_json_login_success_shape(client: Any, app: Any) -> None:
    response = await json_login(client)
    assert response.status_code == 200
    data = await body(response)
    assert data["meta"]["code"] == 200
    assert data["response"]["tf_required"] is False
    assert data["response"]["user"] == {}
    assert "authentication_token" not in data["response"]["user"]
    me = await client.get("/api/me", headers=JSON)
    assert me.status_code == 200
    assert (await me.get_json())["email"] == "matt@lp.com"


async def test_login_is_case_insensitive_on_email(client: Any) -> None:
    response = await json_login(client, "MATT@LP.COM")
    assert response.status_code == 200


async def test_include_auth_token_only_on_post(client: Any) -> None:
    response = await json_login(client, query="?include_auth_token")
    token = (await body(response))["response"]["user"]["authentication_token"]
    assert token
    # A GET never hands out a token, even when asked (CVE-2021-21241, C-04).
    again = await client.get("/login?include_auth_token", headers=JSON)
    assert "authentication_token" not in (await body(again))["response"]["user"]


@pytest.mark.settings(return_generic_responses=False)
async def test_specific_errors_when_generic_responses_off(client: Any) -> None:
    csrf = await get_csrf(client)
    wrong = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": "nope nope nope"},
        headers={"X-CSRF-Token": csrf},
    )
    assert wrong.status_code == 400
    data = (await body(wrong))["response"]
    assert list(data["field_errors"]) == ["password"]
    unknown = await client.post(
        "/login",
        json={"email": "nobody@lp.com", "password": "nope nope nope"},
        headers={"X-CSRF-Token": csrf},
    )
    assert list((await body(unknown))["response"]["field_errors"]) == ["email"]


async def test_generic_errors_by_default_are_identical(client: Any, app: Any) -> None:
    csrf = await get_csrf(client)
    answers = []
    for email, password in [
        ("matt@lp.com", "wrong password!"),
        ("nobody@lp.com", "wrong password!"),
        ("tiya@lp.com", PASSWORD),  # inactive, right password: no oracle
    ]:
        response = await client.post(
            "/login", json={"email": email, "password": password}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 400
        answers.append(((await body(response)), sorted(response.headers.keys())))
    assert answers[0] == answers[1] == answers[2]
    generic = app.config["SECURITY_MSG_GENERIC_AUTHN_FAILED"][0]
    assert answers[0][0]["response"]["field_errors"] == {"": [generic]}


async def test_missing_fields(client: Any, app: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post("/login", json={}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 400
    fields = (await body(response))["response"]["field_errors"]
    assert fields["email"] == [app.config["SECURITY_MSG_EMAIL_NOT_PROVIDED"][0]]
    assert fields["password"] == [app.config["SECURITY_MSG_PASSWORD_NOT_PROVIDED"][0]]


async def test_inactive_user_cannot_log_in(client: Any) -> None:
    response = await json_login(client, "tiya@lp.com")
    assert response.status_code == 400
    me = await client.get("/api/me", headers=JSON)
    assert me.status_code == 401


@pytest.mark.settings(return_generic_responses=False)
async def test_inactive_user_gets_disabled_message_when_not_generic(client: Any, app: Any) -> None:
    response = await json_login(client, "tiya@lp.com")
    errors = (await body(response))["response"]["errors"]
    assert errors == [app.config["SECURITY_MSG_DISABLED_ACCOUNT"][0]]


@pytest.mark.settings(confirmable=True)
async def test_unconfirmed_user_cannot_log_in(client: Any, app: Any) -> None:
    response = await json_login(client)
    assert response.status_code == 400
    errors = (await body(response))["response"]["errors"]
    assert errors == [app.config["SECURITY_MSG_CONFIRMATION_REQUIRED"][0]]


@pytest.mark.settings(confirmable=True, login_without_confirmation=True)
async def test_login_without_confirmation_setting(client: Any) -> None:
    assert (await json_login(client)).status_code == 200


async def test_login_when_already_logged_in_is_rejected(client: Any, app: Any) -> None:
    assert (await json_login(client)).status_code == 200
    csrf = await get_csrf(client)
    again = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert again.status_code == 400
    msg = app.config["SECURITY_MSG_ANONYMOUS_USER_REQUIRED"][0]
    assert (await body(again))["response"]["errors"] == [msg]
    # GET /login while logged in answers with the user (SPA refresh).
    refresh = await client.get("/login", headers=JSON)
    assert (await body(refresh))["response"]["user"] == {}


async def test_signal_user_authenticated(client: Any, app: Any) -> None:
    seen: list[dict[str, Any]] = []

    async def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    signals.user_authenticated.connect(receiver)
    try:
        await json_login(client)
    finally:
        signals.user_authenticated.disconnect(receiver)
    assert len(seen) == 1
    assert seen[0]["user"].email == "matt@lp.com"
    assert seen[0]["authn_via"] == ["password"]


async def test_failing_signal_receiver_aborts_login(client: Any) -> None:
    def receiver(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("rejected by the app")

    signals.user_authenticated.connect(receiver)
    try:
        # TESTING propagates the error; in production it is a 500. Either way
        # the login fails closed: no session is saved (C-33).
        with pytest.raises(RuntimeError):
            await json_login(client)
    finally:
        signals.user_authenticated.disconnect(receiver)
    me = await client.get("/api/me", headers=JSON)
    assert me.status_code == 401


@pytest.mark.settings(trackable=True)
async def test_trackable_fields(client: Any, test_app: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
        scope_base={"client": ("203.0.113.7", 40000)},
    )
    assert response.status_code == 200
    async with test_app.app.app_context():
        async with test_app.store.unit_of_work():
            user = await test_app.store.find_user(email="matt@lp.com")
            assert user.login_count == 1
            assert user.current_login_at is not None
            assert user.current_login_ip == "203.0.113.7"
            assert user.last_login_ip == "203.0.113.7"


async def test_html_login_redirects_to_post_login_view(client: Any) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert 'autocomplete="current-password"' in html
    assert 'type="password"' in html
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


async def test_html_login_failure_renders_errors(client: Any, app: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login", form={"email": "matt@lp.com", "password": "x", "csrf_token": csrf}
    )
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert app.config["SECURITY_MSG_GENERIC_AUTHN_FAILED"][0] in html


async def test_html_login_follows_safe_next(client: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login?next=/api/me",
        form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf},
    )
    assert response.headers["Location"] == "/api/me"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "javascript:alert(1)",
    ],
)
async def test_html_login_ignores_unsafe_next(client: Any, target: str) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf, "next": target},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


async def test_session_cookie_changes_on_login_and_old_one_is_anonymous(app: Any) -> None:
    client = app.test_client()
    await client.get("/login", headers=JSON)
    before = _session_cookie(client)
    assert (await json_login(client)).status_code == 200
    after = _session_cookie(client)
    assert before and after and before != after
    # Replaying the pre-login cookie gives an anonymous session.
    response = await app.test_client().get(
        "/api/me", headers={**JSON, "Cookie": f"session={before}"}
    )
    assert response.status_code == 401


async def test_csrf_token_rotates_on_login(client: Any) -> None:
    before = await get_csrf(client)
    response = await json_login(client)
    after = (await body(response))["response"]["csrf_token"]
    assert after != before
    # The pre-login token no longer validates for state-changing calls.
    stale = await client.post("/api/me", json={}, headers={**JSON, "X-CSRF-Token": before})
    assert stale.status_code == 400
    fresh = await client.post("/api/me", json={}, headers={**JSON, "X-CSRF-Token": after})
    assert fresh.status_code == 200


async def test_session_cookie_flags_and_contents(client: Any) -> None:
    response = await json_login(client)
    cookies = set_cookie_headers(response)
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie
    # The signed session is readable; it must hold only opaque identifiers.
    import base64
    import json as jsonlib
    import zlib

    value = session_cookie.split(";", 1)[0].split("=", 1)[1]
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    data = jsonlib.loads(zlib.decompress(raw) if compressed else raw)
    text = jsonlib.dumps(data)
    assert "matt@lp.com" not in text
    assert "admin" not in text
    assert set(data) <= {"_user_id", "_fresh", "fs_paa", "csrf_token", "fs_cc"}


def _session_cookie(client: Any) -> str | None:
    for cookie in client.cookie_jar:
        if cookie.name == "session":
            return str(cookie.value)
    return None
