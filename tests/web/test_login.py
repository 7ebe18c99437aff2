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


@pytest.mark.settings(confirmable=True, return_generic_responses=False)
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


UNSAFE_NEXT = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "https:evil.example",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("target", UNSAFE_NEXT)
async def test_html_login_refuses_unsafe_next_in_the_form(
    client: Any, app: Any, target: str
) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf, "next": target},
    )
    assert response.status_code == 400
    assert app.config["SECURITY_MSG_INVALID_REDIRECT"][0] in await response.get_data(as_text=True)
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.parametrize("target", UNSAFE_NEXT)
async def test_json_login_refuses_unsafe_next_in_body_or_query(
    client: Any, app: Any, target: str
) -> None:
    from urllib.parse import quote

    csrf = await get_csrf(client)
    credentials = {"email": "matt@lp.com", "password": PASSWORD}
    in_body = await client.post(
        "/login", json={**credentials, "next": target}, headers={"X-CSRF-Token": csrf}
    )
    in_query = await client.post(
        "/login?next=" + quote(target, safe=""), json=credentials, headers={"X-CSRF-Token": csrf}
    )
    message = app.config["SECURITY_MSG_INVALID_REDIRECT"][0]
    for response in (in_body, in_query):
        assert response.status_code == 400
        assert (await body(response))["response"]["field_errors"] == {"next": [message]}
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_safe_next_in_the_json_body_is_accepted(client: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": PASSWORD, "next": "/api/me"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200


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


# ------------------------------------------------------------------ one answer for every refusal
def _same_answer(response: Any, *skip: str) -> tuple[int, list[tuple[str, str]]]:
    """Status and headers, less Date (the clock of the server, not of the account)."""
    ignored = {"date", *skip}
    return response.status_code, sorted(
        (k, v) for k, v in response.headers.items() if k.lower() not in ignored
    )


@pytest.mark.settings(confirmable=True)
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "html"])
async def test_generic_refusals_are_byte_identical(test_app: Any, as_json: bool) -> None:
    """Unknown, wrong password, inactive and unconfirmed (right password) read the same."""
    from quart_security.clock import utcnow_naive

    async with test_app.app.app_context():
        for email in ("joe@lp.com", "tiya@lp.com"):  # confirmed; tiya is also inactive
            user = await test_app.store.find_user(email=email)
            user.confirmed_at = utcnow_naive(test_app.clock)
            await test_app.store.put(user)
        await test_app.store.commit()
        await test_app.store.end_unit_of_work()
    client = test_app.app.test_client()
    csrf = await get_csrf(client)
    answers = []
    for email, password in [
        ("nobody@lp.com", PASSWORD),  # unknown
        ("joe@lp.com", "wrong password!"),  # wrong password
        ("tiya@lp.com", PASSWORD),  # inactive, right password
        ("matt@lp.com", PASSWORD),  # unconfirmed, right password
    ]:
        if as_json:
            response = await client.post(
                "/login",
                json={"email": email, "password": password},
                headers={"X-CSRF-Token": csrf},
            )
            answers.append((_same_answer(response), await response.get_data()))
        else:
            response = await client.post(
                "/login", form={"email": email, "password": password, "csrf_token": csrf}
            )
            # The page echoes the identity typed (of a different length each
            # time): compared with it blanked out, and so without Content-Length.
            html = (await response.get_data(as_text=True)).replace(email, "<identity>")
            answers.append((_same_answer(response, "content-length"), html.encode()))
        assert response.status_code == 400
    assert answers[0] == answers[1] == answers[2] == answers[3]
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


# ---------------------------------------------------------------------- one verify per attempt
def _count_verifications(test_app: Any) -> tuple[list[str], Any]:
    passwords = test_app.security.passwords
    calls: list[str] = []
    original = passwords.verify_and_update, passwords.dummy_verify

    async def verify_and_update(password: object, hashed: str | None) -> Any:
        calls.append("verify")
        return await original[0](password, hashed)

    async def dummy_verify(password: object) -> None:
        calls.append("dummy")
        await original[1](password)

    passwords.verify_and_update, passwords.dummy_verify = verify_and_update, dummy_verify

    def restore() -> None:
        passwords.verify_and_update, passwords.dummy_verify = original

    return calls, restore


async def test_each_login_attempt_costs_exactly_one_verification(test_app: Any) -> None:
    calls, restore = _count_verifications(test_app)
    try:
        per_attempt = []
        for email, password in [
            ("nobody@lp.com", PASSWORD),
            ("not-an-email", PASSWORD),
            ("matt@lp.com", "wrong password!"),
            ("tiya@lp.com", PASSWORD),
            ("matt@lp.com", PASSWORD),
        ]:
            client = test_app.app.test_client()
            csrf = await get_csrf(client)
            calls.clear()
            await client.post(
                "/login",
                json={"email": email, "password": password},
                headers={"X-CSRF-Token": csrf},
            )
            per_attempt.append(list(calls))
    finally:
        restore()
    assert per_attempt == [["dummy"], ["dummy"], ["verify"], ["verify"], ["verify"]]


async def test_each_basic_attempt_costs_exactly_one_verification(test_app: Any) -> None:
    import base64

    def basic(identity: str, password: str) -> dict[str, str]:
        raw = base64.b64encode(f"{identity}:{password}".encode()).decode()
        return {**JSON, "Authorization": f"Basic {raw}"}

    calls, restore = _count_verifications(test_app)
    try:
        per_attempt = []
        for identity, password in [
            ("nobody@lp.com", PASSWORD),
            ("matt@lp.com", "wrong password!"),
            ("matt@lp.com", PASSWORD),
        ]:
            calls.clear()
            await test_app.app.test_client().get("/api/basic", headers=basic(identity, password))
            per_attempt.append(list(calls))
    finally:
        restore()
    assert per_attempt == [["dummy"], ["verify"], ["verify"]]


# ---------------------------------------------------------------------- the sign-in decides
async def test_a_refusal_at_sign_in_is_the_answer(test_app: Any, monkeypatch: Any) -> None:
    """If the account rules refuse at the moment of signing in (here: the password
    step hands over an inactive account), the login fails: no session, an error."""
    from quart_security.web.views import auth

    real = auth.authenticate_password

    async def hand_over_inactive(security: Any, field: str, identity: str, password: str) -> Any:
        await real(security, field, "matt@lp.com", PASSWORD)
        user = await security.store.find_user(email="tiya@lp.com")
        assert user is not None and not user.is_active
        return user

    monkeypatch.setattr(auth, "authenticate_password", hand_over_inactive)
    client = test_app.app.test_client()
    response = await json_login(client)
    assert response.status_code == 400
    generic = test_app.app.config["SECURITY_MSG_GENERIC_AUTHN_FAILED"][0]
    assert (await body(response))["response"]["errors"] == [generic]
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


# ---------------------------------------------------------------------- blank passwords
@pytest.mark.parametrize("password", [" ", "        ", "\t \n"])
async def test_a_password_of_only_spaces_is_not_provided(
    client: Any, app: Any, password: str
) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": password},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 400
    fields = (await body(response))["response"]["field_errors"]
    assert fields["password"] == [app.config["SECURITY_MSG_PASSWORD_NOT_PROVIDED"][0]]


# ---------------------------------------------------------------------- SameSite
def _cookie(response: Any, name: str) -> str:
    return next(c for c in set_cookie_headers(response) if c.startswith(name + "="))


async def test_session_and_remember_cookies_are_samesite_lax_by_default(client: Any) -> None:
    """A safer default than Flask-Security's (none): no cross-site POST, frame or
    websocket carries the login, while links into the app arrive signed in."""
    response = await json_login(client, remember=True)
    for name in ("session", "remember_token"):
        assert "SameSite=Lax" in _cookie(response, name), name


@pytest.mark.app_settings(session_cookie_samesite="Strict", remember_cookie_samesite="Strict")
async def test_the_apps_own_samesite_wins(client: Any) -> None:
    response = await json_login(client, remember=True)
    for name in ("session", "remember_token"):
        assert "SameSite=Strict" in _cookie(response, name), name


@pytest.mark.settings(default_cookie_samesite=None)
async def test_flask_securitys_cookies_without_samesite_can_be_restored(client: Any) -> None:
    response = await json_login(client, remember=True)
    for name in ("session", "remember_token"):
        assert "SameSite" not in _cookie(response, name), name
