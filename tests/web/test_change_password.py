"""/change and admin_change_password: Flask-Security 5.9's change password, and its attacks.

The current session stays signed in (under the new fs_uniquifier, keeping its
remember cookie) while every other session, remember cookie and auth token
ends (R-55); the owner gets the change_notice mail at the stored address
(R-24). Wrong, unchanged, too short and too long passwords write nothing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from quart_security import admin_change_password, signals
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, auth_token, body, get_csrf, json_login
from tests.support.mail import ReceivedMail, SmtpSink
from tests.support.signals import captured

pytestmark = pytest.mark.settings(changeable=True)

NEW_PASSWORD = "correct mule glacier"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


# ---------------------------------------------------------------------- helpers
@pytest.fixture
async def sink(test_app: Any, smtp_sink: SmtpSink) -> AsyncIterator[SmtpSink]:
    """The SMTP sink the app mails; background deliveries end before it stops."""
    yield smtp_sink
    await test_app.security.mailer.drain()


async def settled(test_app: Any, sink: SmtpSink, count: int) -> list[ReceivedMail]:
    if count:
        await sink.wait_for(count)
    await test_app.security.mailer.drain()
    assert len(sink.messages) == count, [m.envelope_to for m in sink.messages]
    return list(sink.messages)


async def signed_in(test_app: Any, email: str = "matt@lp.com", **kwargs: Any) -> tuple[Any, str]:
    """A client signed in as ``email``, and its CSRF token from GET /change."""
    client = test_app.app.test_client()
    assert (await json_login(client, email, **kwargs)).status_code == 200
    page = await client.get("/change", headers=JSON)
    assert page.status_code == 200
    return client, (await body(page))["response"]["csrf_token"]


async def change(
    client: Any,
    csrf: str,
    password: Any = PASSWORD,
    new: Any = NEW_PASSWORD,
    confirm: Any = None,
    query: str = "",
) -> Any:
    payload = {
        "password": password,
        "new_password": new,
        "new_password_confirm": new if confirm is None else confirm,
    }
    return await client.post(
        "/change" + query, json=payload, headers={**JSON, "X-CSRF-Token": csrf}
    )


async def stored(test_app: Any, **criteria: Any) -> Any:
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        return await test_app.store.find_user(**criteria)


async def login_status(test_app: Any, email: str, password: str) -> int:
    response = await json_login(test_app.app.test_client(), email, password)
    return int(response.status_code)


def message(test_app: Any, key: str, **kwargs: Any) -> str:
    text: str = test_app.app.config[f"SECURITY_MSG_{key}"][0]
    return text % kwargs if kwargs else text


def cookie(client: Any, name: str) -> str | None:
    return next((c.value for c in client.cookie_jar if c.name == name), None)


# ---------------------------------------------------------------------- GET
async def test_requires_authentication(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert (await client.get("/change", headers=JSON)).status_code == 401
    csrf = await get_csrf(client)
    refused = await change(client, csrf)
    assert refused.status_code == 401
    html = await client.get("/change")
    assert html.status_code == 302
    assert html.headers["Location"].startswith("/login?next=")


async def test_get_json(test_app: Any) -> None:
    client, _ = await signed_in(test_app)
    data = await body(await client.get("/change", headers=JSON))
    assert data["meta"] == {"code": 200}
    assert data["response"]["active_password"] is True
    assert data["response"]["user"] == {}
    assert data["response"]["csrf_token"]


async def test_get_html(test_app: Any) -> None:
    client, _ = await signed_in(test_app)
    page = await client.get("/change")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert 'name="change_password_form"' in html
    assert 'autocomplete="current-password"' in html
    assert html.count('autocomplete="new-password"') == 2


@pytest.mark.settings(changeable=False)
async def test_disabled_feature_has_no_route(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert (await json_login(client)).status_code == 200
    assert (await client.get("/change", headers=JSON)).status_code == 404


# ---------------------------------------------------------------------- the flow
async def test_json_change(test_app: Any, sink: SmtpSink) -> None:
    before = await stored(test_app, email="matt@lp.com")
    client, csrf = await signed_in(test_app)
    with (
        captured(signals.password_changed) as changed,
        captured(signals.user_authenticated) as logins,
    ):
        response = await change(client, csrf)
    assert response.status_code == 200
    data = (await body(response))["response"]
    assert data["user"] == {}
    assert data["csrf_token"] and data["csrf_token"] != csrf  # a new session, a new token
    assert len(changed) == 1 and changed[0]["user"].email == "matt@lp.com"
    assert [call["authn_via"] for call in logins] == [["change"]]
    after = await stored(test_app, email="matt@lp.com")
    assert after.fs_uniquifier != before.fs_uniquifier
    # The session that changed it stays signed in.
    me = await client.get("/api/me", headers=JSON)
    assert me.status_code == 200
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200
    assert await login_status(test_app, "matt@lp.com", PASSWORD) == 400
    (notice,) = await settled(test_app, sink, 1)
    assert notice.envelope_to == ["matt@lp.com"]
    config = test_app.app.config
    assert notice.message["Subject"] == config["SECURITY_EMAIL_SUBJECT_PASSWORD_CHANGE_NOTICE"]
    assert "matt@lp.com" in notice.text and "matt@lp.com" in notice.html
    assert NEW_PASSWORD not in notice.text and PASSWORD not in notice.text


async def test_the_new_csrf_token_works_and_the_old_does_not(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app)
    response = await change(client, csrf)
    fresh = (await body(response))["response"]["csrf_token"]
    stale = await change(client, csrf, NEW_PASSWORD, "third password here")
    assert stale.status_code == 400
    again = await change(client, fresh, NEW_PASSWORD, "third password here")
    assert again.status_code == 200
    await settled(test_app, sink, 2)


async def test_include_auth_token_returns_a_working_token(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app)
    response = await change(client, csrf, query="?include_auth_token")
    token = (await body(response))["response"]["user"]["authentication_token"]
    me = await test_app.app.test_client().get(
        "/api/me", headers={**JSON, "Authentication-Token": token}
    )
    assert me.status_code == 200
    await settled(test_app, sink, 1)


async def test_html_change(test_app: Any, sink: SmtpSink) -> None:
    client, _ = await signed_in(test_app)
    page = await (await client.get("/change")).get_data(as_text=True)
    match = CSRF_FIELD.search(page)
    assert match is not None
    response = await client.post(
        "/change",
        form={
            "password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
            "csrf_token": match.group(1),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # Flask-Security flashes PASSWORD_CHANGE; the next library page shows it once.
    changed = test_app.app.config["SECURITY_MSG_PASSWORD_CHANGE"][0]
    assert changed in await (await client.get("/change")).get_data(as_text=True)
    assert changed not in await (await client.get("/change")).get_data(as_text=True)
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200
    await settled(test_app, sink, 1)


@pytest.mark.settings(post_change_view="/account")
async def test_html_post_change_view(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app)
    response = await client.post(
        "/change",
        form={
            "password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert response.headers["Location"] == "/account"
    await settled(test_app, sink, 1)


async def test_html_failure_shows_the_error(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app)
    response = await client.post(
        "/change",
        form={
            "password": "not my password",
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert message(test_app, "INVALID_PASSWORD") in html
    assert "not my password" not in html and NEW_PASSWORD not in html
    await settled(test_app, sink, 0)


# ----------------------------------------------------------------------
async def test_other_sessions_cookies_and_tokens_end(test_app: Any, sink: SmtpSink) -> None:
    other, _ = await signed_in(test_app, remember=True)
    remember = cookie(other, "remember_token")
    assert remember
    api_token = await auth_token(test_app.app.test_client())
    client, csrf = await signed_in(test_app)
    assert (await change(client, csrf)).status_code == 200
    assert (await other.get("/api/me", headers=JSON)).status_code == 401
    fresh_browser = test_app.app.test_client()
    by_cookie = await fresh_browser.get(
        "/api/me", headers={**JSON, "Cookie": f"remember_token={remember}"}
    )
    assert by_cookie.status_code == 401
    by_token = await fresh_browser.get(
        "/api/me", headers={**JSON, "Authentication-Token": api_token}
    )
    assert by_token.status_code == 401
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    await settled(test_app, sink, 1)


async def test_current_remember_cookie_is_renewed(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app, remember=True)
    old = cookie(client, "remember_token")
    response = await change(client, csrf)
    assert response.status_code == 200
    new = cookie(client, "remember_token")
    assert new and new != old
    # The renewed cookie alone signs a new browser in; the old one does not.
    for value, status in ((new, 200), (old, 401)):
        me = await test_app.app.test_client().get(
            "/api/me", headers={**JSON, "Cookie": f"remember_token={value}"}
        )
        assert me.status_code == status
    await settled(test_app, sink, 1)


async def test_no_remember_cookie_is_invented(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app, remember=False)
    response = await change(client, csrf)
    assert response.status_code == 200
    assert not any(h.startswith("remember_token=") for h in response.headers.getlist("Set-Cookie"))
    await settled(test_app, sink, 1)


async def test_change_with_an_auth_token(test_app: Any, sink: SmtpSink) -> None:
    token = await auth_token(test_app.app.test_client())
    api = test_app.app.test_client()
    headers = {**JSON, "Authentication-Token": token}
    csrf = (await body(await api.get("/change", headers=headers)))["response"]["csrf_token"]
    response = await api.post(
        "/change?include_auth_token",
        json={
            "password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
        headers={**headers, "X-CSRF-Token": csrf},
    )
    assert response.status_code == 200
    new_token = (await body(response))["response"]["user"]["authentication_token"]
    fresh = test_app.app.test_client()
    assert (await fresh.get("/api/me", headers=headers)).status_code == 401
    ok = await fresh.get("/api/me", headers={**JSON, "Authentication-Token": new_token})
    assert ok.status_code == 200
    await settled(test_app, sink, 1)


# ---------------------------------------------------------------------- refusals
async def test_refusals_write_nothing(test_app: Any, sink: SmtpSink) -> None:
    before = await stored(test_app, email="matt@lp.com")
    client, csrf = await signed_in(test_app)
    cases = [
        ({"password": "wrong password!"}, "password", "INVALID_PASSWORD", {}),
        ({"password": " " + PASSWORD}, "password", "INVALID_PASSWORD", {}),  # no stripping
        ({"password": PASSWORD + " "}, "password", "INVALID_PASSWORD", {}),
        ({"password": ""}, "password", "PASSWORD_NOT_PROVIDED", {}),
        ({"new": PASSWORD}, "password", "PASSWORD_IS_THE_SAME", {}),
        ({"new": "short"}, "new_password", "PASSWORD_INVALID_LENGTH", {"length": 8}),
        ({"new": "x" * 129}, "new_password", "PASSWORD_INVALID_LENGTH", {"length": 8}),
        ({"new": "matt@lp.com"}, "new_password", "PASSWORD_TOO_SIMPLE", {}),
        ({"new": ""}, "new_password", "PASSWORD_NOT_PROVIDED", {}),
        ({"new": "          "}, "new_password", "PASSWORD_NOT_PROVIDED", {}),
        ({"password": "   "}, "password", "PASSWORD_NOT_PROVIDED", {}),
        ({"confirm": "something else"}, "new_password_confirm", "RETYPE_PASSWORD_MISMATCH", {}),
    ]
    for case, field, key, kwargs in cases:
        response = await change(client, csrf, **case)
        assert response.status_code == 400, case
        field_errors = (await body(response))["response"]["field_errors"]
        assert field_errors[field] == [message(test_app, key, **kwargs)], case
    for weird in ({"new_password": True}, {"password": True}):
        payload = {
            "password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
            **weird,
        }
        response = await client.post(
            "/change", json=payload, headers={**JSON, "X-CSRF-Token": csrf}
        )
        assert response.status_code == 400, weird
    huge = await change(client, csrf, new="z" * 20_000)
    assert huge.status_code == 400
    no_csrf = await client.post(
        "/change",
        json={
            "password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
        headers=JSON,
    )
    assert no_csrf.status_code == 400
    after = await stored(test_app, email="matt@lp.com")
    assert (after.password, after.fs_uniquifier) == (before.password, before.fs_uniquifier)
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    assert await login_status(test_app, "matt@lp.com", PASSWORD) == 200
    await settled(test_app, sink, 0)


async def test_normalised_forms_count_as_the_same_password(test_app: Any, sink: SmtpSink) -> None:
    # NFKD is applied before hashing, so a composed and a decomposed spelling
    # are one password: changing from one to the other is "the same".
    client, csrf = await signed_in(test_app)
    composed = "caf\u00e9 au lait 2024"
    assert (await change(client, csrf, new=composed)).status_code == 200
    csrf = (await body(await client.get("/change", headers=JSON)))["response"]["csrf_token"]
    decomposed = "cafe\u0301 au lait 2024"
    same = await change(client, csrf, composed, decomposed)
    assert (await body(same))["response"]["field_errors"] == {
        "password": [message(test_app, "PASSWORD_IS_THE_SAME")]
    }
    assert await login_status(test_app, "matt@lp.com", decomposed) == 200
    await settled(test_app, sink, 1)


@pytest.mark.settings(send_password_change_email=False)
async def test_no_notice_when_switched_off(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app)
    assert (await change(client, csrf)).status_code == 200
    await settled(test_app, sink, 0)


# ---------------------------------------------------------------------- no password
async def remove_password(test_app: Any, email: str = "matt@lp.com") -> None:
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        user = await test_app.store.find_user(email=email)
        user.password = None
        await test_app.store.put(user)


async def test_user_without_password_needs_freshness(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app)
    await remove_password(test_app)
    data = (await body(await client.get("/change", headers=JSON)))["response"]
    assert data["active_password"] is False
    html = await (await client.get("/change")).get_data(as_text=True)
    assert 'autocomplete="current-password"' not in html
    # Fresh: no old password needed.
    response = await change(client, csrf, password=None)
    assert response.status_code == 200
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200
    await settled(test_app, sink, 1)


async def test_user_without_password_must_reauthenticate(test_app: Any, sink: SmtpSink) -> None:
    client, csrf = await signed_in(test_app)
    await remove_password(test_app)
    test_app.clock.advance(timedelta(hours=26))  # past FRESHNESS and its grace period
    stale = await client.get("/change", headers=JSON)
    assert stale.status_code == 401
    assert (await body(stale))["response"]["reauth_required"] is True
    csrf = (await body(await client.get("/login", headers=JSON)))["response"]["csrf_token"]
    refused = await change(client, csrf, password=None)
    assert refused.status_code == 401
    html = await client.get("/change")
    assert html.status_code == 302
    assert html.headers["Location"].startswith("/verify?next=")
    assert (await stored(test_app, email="matt@lp.com")).password is None
    await settled(test_app, sink, 0)


# ---------------------------------------------------------------------- admin_change_password
@pytest.mark.quart_only
async def test_admin_change_password(test_app: Any, sink: SmtpSink) -> None:
    other, _ = await signed_in(test_app)
    with captured(signals.password_changed) as changed:
        async with test_app.app.app_context(), test_app.store.unit_of_work():
            user = await test_app.store.find_user(email="joe@lp.com")
            await admin_change_password(user, NEW_PASSWORD)
    assert len(changed) == 1 and changed[0]["user"].email == "joe@lp.com"
    (notice,) = await settled(test_app, sink, 1)
    assert notice.envelope_to == ["joe@lp.com"]
    assert await login_status(test_app, "joe@lp.com", NEW_PASSWORD) == 200
    assert await login_status(test_app, "joe@lp.com", PASSWORD) == 400
    # Nobody was signed in or out but Joe: Matt's session lives.
    assert (await other.get("/api/me", headers=JSON)).status_code == 200


@pytest.mark.quart_only
async def test_admin_change_password_ends_sessions_without_notice(
    test_app: Any, sink: SmtpSink
) -> None:
    joe, _ = await signed_in(test_app, "joe@lp.com")
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        user = await test_app.store.find_user(email="joe@lp.com")
        await admin_change_password(user, NEW_PASSWORD, notify=False)
    assert (await joe.get("/api/me", headers=JSON)).status_code == 401
    await settled(test_app, sink, 0)
