"""/reset and /reset/<token>: Flask-Security 5.9's forgot/reset password, and its attacks.

Every flow follows the link in the mail the SMTP sink received, in JSON and in
HTML. Covers single use (also under ten parallel uses), expiry on the injected
clock, links dying when the password changes by another path, tampered,
truncated, cross-user and cross-purpose tokens, host-header poisoning of the
link (A-05), anti-enumeration (A-01), disabled and unconfirmed accounts (C-08),
and every session, remember cookie and auth token ending on a reset (R-55).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart, jsonify

from quart_security import Security, auth_token_required, current_user, hash_password, signals
from quart_security.clock import FrozenClock
from tests.support.app_factory import FAST_ARGON2, PASSWORD
from tests.support.http import JSON, auth_token, body, get_csrf, json_login
from tests.support.mail import ReceivedMail, SmtpSink
from tests.support.signals import captured

pytestmark = pytest.mark.settings(recoverable=True)

LINK = re.compile(r"https://app\.example/reset/([A-Za-z0-9_.\-]+)")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW_PASSWORD = "correct mule glacier"


# ---------------------------------------------------------------------- helpers
@pytest.fixture
async def sink(test_app: Any, smtp_sink: SmtpSink) -> AsyncIterator[SmtpSink]:
    """The SMTP sink the app mails; background deliveries end before it stops."""
    yield smtp_sink
    await test_app.security.mailer.drain()


async def settled(test_app: Any, sink: SmtpSink, count: int) -> list[ReceivedMail]:
    """Exactly ``count`` mails, once background delivery is over."""
    if count:
        await sink.wait_for(count)
    await test_app.security.mailer.drain()
    assert len(sink.messages) == count, [m.envelope_to for m in sink.messages]
    return list(sink.messages)


def token_in(mail: ReceivedMail) -> str:
    match = LINK.search(mail.text)
    assert match is not None, mail.text
    assert f'href="https://app.example/reset/{match.group(1)}"' in mail.html
    return match.group(1)


async def forgot(client: Any, email: Any, headers: dict[str, str] | None = None) -> Any:
    csrf = await get_csrf(client)
    return await client.post(
        "/reset",
        json={"email": email},
        headers={**JSON, "X-CSRF-Token": csrf, **(headers or {})},
    )


async def reset_token(test_app: Any, sink: SmtpSink, email: str = "matt@lp.com") -> str:
    """Ask for a link for ``email`` and return the token of the mail it got."""
    before = len(sink.messages)
    response = await forgot(test_app.app.test_client(), email)
    assert response.status_code == 200
    mails = await settled(test_app, sink, before + 1)
    assert mails[-1].envelope_to == [email]
    return token_in(mails[-1])


async def reset(
    client: Any, token: str, password: Any = NEW_PASSWORD, confirm: Any = None, **extra: Any
) -> Any:
    csrf = await get_csrf(client)
    payload = {"password": password, "password_confirm": password if confirm is None else confirm}
    return await client.post(
        f"/reset/{token}", json={**payload, **extra}, headers={**JSON, "X-CSRF-Token": csrf}
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


def errors_of(data: dict[str, Any]) -> list[str]:
    errors: list[str] = data["response"]["errors"]
    return errors


def without_csrf(data: dict[str, Any]) -> dict[str, Any]:
    response = {k: v for k, v in data["response"].items() if k != "csrf_token"}
    return {**data, "response": response}


def html_csrf(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match is not None, html
    return match.group(1)


# ---------------------------------------------------------------------- GET /reset
async def test_get_forgot_json_gives_only_csrf(client: Any) -> None:
    response = await client.get("/reset", headers=JSON)
    assert response.status_code == 200
    data = await body(response)
    assert set(data["response"]) == {"csrf_token"}


async def test_get_forgot_html_page(client: Any) -> None:
    page = await client.get("/reset")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert 'name="forgot_password_form"' in html
    assert 'name="csrf_token"' in html
    assert 'autocomplete="email"' in html


async def test_forgot_page_prefills_the_signed_in_users_email(client: Any) -> None:
    # Flask-Security 5.9: a signed-in user may ask for a link too.
    assert (await json_login(client)).status_code == 200
    html = await (await client.get("/reset")).get_data(as_text=True)
    assert 'value="matt@lp.com"' in html


@pytest.mark.settings(recoverable=False)
async def test_disabled_feature_has_no_routes(client: Any) -> None:
    assert (await client.get("/reset", headers=JSON)).status_code == 404
    assert (await client.get("/reset/x", headers=JSON)).status_code == 404


# ---------------------------------------------------------------------- end to end
async def test_json_flow_end_to_end(test_app: Any, sink: SmtpSink) -> None:
    matt = await stored(test_app, email="matt@lp.com")
    client = test_app.app.test_client()
    with captured(signals.reset_password_instructions_sent) as sent:
        response = await forgot(client, "matt@lp.com")
    assert response.status_code == 200
    data = await body(response)
    assert set(data["response"]) == {"csrf_token"}  # an open endpoint: never user info
    (mail,) = await settled(test_app, sink, 1)
    assert mail.envelope_to == ["matt@lp.com"]
    config = test_app.app.config
    assert mail.message["Subject"] == config["SECURITY_EMAIL_SUBJECT_PASSWORD_RESET"]
    assert "1 day" in mail.text and "1 day" in mail.html
    token = token_in(mail)
    assert len(sent) == 1
    assert sent[0]["user"].fs_uniquifier == matt.fs_uniquifier
    assert sent[0]["token"] == sent[0]["reset_token"] == token

    # The link's page (what a browser opening the mail gets).
    page = await test_app.app.test_client().get(f"/reset/{token}")
    assert page.status_code == 200
    assert 'name="reset_password_form"' in await page.get_data(as_text=True)

    with captured(signals.password_reset) as done_signal:
        done = await reset(client, token)
    assert done.status_code == 200
    assert await body(done) == {"meta": {"code": 200}, "response": {}}
    assert len(done_signal) == 1
    assert done_signal[0]["user"].email == "matt@lp.com"
    mails = await settled(test_app, sink, 2)
    notice = mails[1]
    assert notice.envelope_to == ["matt@lp.com"]
    assert notice.message["Subject"] == config["SECURITY_EMAIL_SUBJECT_PASSWORD_NOTICE"]
    assert LINK.search(notice.text) is None
    # New password in, old one out; the reset itself signed nobody in.
    assert await login_status(test_app, "matt@lp.com", PASSWORD) == 400
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200
    assert (await client.get("/api/me", headers=JSON)).status_code == 401
    # Other accounts are untouched.
    assert await login_status(test_app, "joe@lp.com", PASSWORD) == 200


async def test_html_flow_end_to_end(test_app: Any, sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    page = await client.get("/reset")
    response = await client.post(
        "/reset",
        form={"email": "matt@lp.com", "csrf_token": html_csrf(await page.get_data(as_text=True))},
    )
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert message(test_app, "GENERIC_RECOVERY") in html
    (mail,) = await settled(test_app, sink, 1)
    href = re.search(r'href="(https://app\.example/reset/[^"]+)"', mail.html)
    assert href is not None
    path = href.group(1).replace("https://app.example", "")

    browser = test_app.app.test_client()
    form_page = await browser.get(path)
    assert form_page.status_code == 200
    assert form_page.headers["Cache-Control"] == "private, no-store"  # CACHE_CONTROL
    form_html = await form_page.get_data(as_text=True)
    assert f'action="{path}"' in form_html
    assert 'autocomplete="new-password"' in form_html
    assert 'name="referrer" content="no-referrer"' in form_html  # the token stays out of Referer
    done = await browser.post(
        path,
        form={
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "csrf_token": html_csrf(form_html),
        },
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/login"
    # Flask-Security flashes PASSWORD_RESET_NO_LOGIN; the sign-in page shows it.
    login_page = await (await browser.get("/login")).get_data(as_text=True)
    assert message(test_app, "PASSWORD_RESET_NO_LOGIN") in login_page
    await settled(test_app, sink, 2)
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200
    assert await login_status(test_app, "matt@lp.com", PASSWORD) == 400
    # The spent link now leads back to the forgot page.
    again = await browser.get(path)
    assert again.status_code == 302
    assert again.headers["Location"] == "/reset"


async def test_html_validation_failure_keeps_the_form(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    browser = test_app.app.test_client()
    form_html = await (await browser.get(f"/reset/{token}")).get_data(as_text=True)
    bad = await browser.post(
        f"/reset/{token}",
        form={"password": "short", "password_confirm": "short", "csrf_token": html_csrf(form_html)},
    )
    assert bad.status_code == 400
    html = await bad.get_data(as_text=True)
    assert message(test_app, "PASSWORD_INVALID_LENGTH", length=8) in html
    assert f'action="/reset/{token}"' in html
    assert "short" not in html  # a password is never echoed into the page


@pytest.mark.settings(post_reset_view="/welcome-back")
async def test_html_post_reset_view(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    browser = test_app.app.test_client()
    form_html = await (await browser.get(f"/reset/{token}")).get_data(as_text=True)
    done = await browser.post(
        f"/reset/{token}",
        form={
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "csrf_token": html_csrf(form_html),
        },
    )
    assert done.headers["Location"] == "/welcome-back"


# ---------------------------------------------------------------------- single use
async def test_token_is_single_use(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    assert (await reset(test_app.app.test_client(), token)).status_code == 200
    second = await reset(test_app.app.test_client(), token, "another fine password")
    assert second.status_code == 400
    data = await body(second)
    assert data["response"]["field_errors"] == {
        "": [message(test_app, "INVALID_RESET_PASSWORD_TOKEN")]
    }
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200
    assert await login_status(test_app, "matt@lp.com", "another fine password") == 400


async def test_ten_parallel_uses_give_one_success(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    passwords = [f"parallel password {i:02d}" for i in range(10)]
    clients = [test_app.app.test_client() for _ in passwords]
    tokens = [await get_csrf(c) for c in clients]

    async def use(client: Any, csrf: str, password: str) -> int:
        response = await client.post(
            f"/reset/{token}",
            json={"password": password, "password_confirm": password},
            headers={**JSON, "X-CSRF-Token": csrf},
        )
        return int(response.status_code)

    with captured(signals.password_reset) as resets:
        statuses = await asyncio.gather(
            *(use(c, t, p) for c, t, p in zip(clients, tokens, passwords, strict=True))
        )
    assert sorted(statuses) == [200] + [400] * 9
    winner = passwords[statuses.index(200)]
    assert len(resets) == 1
    # The password left behind is the winner's, and only one notice went out.
    mails = await settled(test_app, sink, 2)
    assert [m.envelope_to for m in mails] == [["matt@lp.com"]] * 2
    assert await login_status(test_app, "matt@lp.com", winner) == 200
    for loser in passwords:
        if loser != winner:
            assert await login_status(test_app, "matt@lp.com", loser) == 400


async def test_get_never_consumes_the_token(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    scanner = test_app.app.test_client()
    for headers in ({}, JSON, {"Accept": "text/html"}):
        assert (await scanner.get(f"/reset/{token}", headers=headers)).status_code == 200
    assert (await reset(test_app.app.test_client(), token)).status_code == 200


async def test_other_outstanding_links_die_with_the_reset(test_app: Any, sink: SmtpSink) -> None:
    first = await reset_token(test_app, sink)
    second = await reset_token(test_app, sink)
    assert (await reset(test_app.app.test_client(), second)).status_code == 200
    stale = await reset(test_app.app.test_client(), first, "yet another password")
    assert stale.status_code == 400
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200


@pytest.mark.settings(changeable=True)
async def test_token_dies_when_the_password_changes_by_another_path(
    test_app: Any, sink: SmtpSink
) -> None:
    token = await reset_token(test_app, sink)
    client = test_app.app.test_client()
    assert (await json_login(client)).status_code == 200
    csrf = (await body(await client.get("/change", headers=JSON)))["response"]["csrf_token"]
    changed = await client.post(
        "/change",
        json={
            "password": PASSWORD,
            "new_password": "changed by the owner",
            "new_password_confirm": "changed by the owner",
        },
        headers={**JSON, "X-CSRF-Token": csrf},
    )
    assert changed.status_code == 200
    stale = await reset(test_app.app.test_client(), token)
    assert stale.status_code == 400
    assert errors_of(await body(stale)) == [message(test_app, "INVALID_RESET_PASSWORD_TOKEN")]
    assert (await test_app.app.test_client().get(f"/reset/{token}")).status_code == 302
    assert await login_status(test_app, "matt@lp.com", "changed by the owner") == 200


async def test_token_dies_when_the_stored_hash_changes_without_a_uniquifier_rotation(
    test_app: Any, sink: SmtpSink
) -> None:
    """The link is bound to the password hash it was issued for, not to the
    uniquifier: an app (or another flow) that only writes a new hash kills it."""
    token = await reset_token(test_app, sink)
    async with test_app.app.app_context():
        user = await test_app.store.find_user(email="matt@lp.com")
        uniquifier = user.fs_uniquifier
        user.password = await hash_password("set by the app itself")
        await test_app.store.put(user)
        await test_app.store.commit()
        await test_app.store.end_unit_of_work()
    assert (await stored(test_app, email="matt@lp.com")).fs_uniquifier == uniquifier
    stale = await reset(test_app.app.test_client(), token)
    assert stale.status_code == 400
    assert errors_of(await body(stale)) == [message(test_app, "INVALID_RESET_PASSWORD_TOKEN")]
    assert await login_status(test_app, "matt@lp.com", "set by the app itself") == 200


async def test_account_without_password_resets_once(test_app: Any, sink: SmtpSink) -> None:
    # A passwordless account's link is bound to "no password": it works once,
    # and dies as soon as a password exists.
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        user = await test_app.store.find_user(email="matt@lp.com")
        user.password = None
        await test_app.store.put(user)
    first = await reset_token(test_app, sink)
    second = await reset_token(test_app, sink)
    assert (await reset(test_app.app.test_client(), first)).status_code == 200
    assert (await reset(test_app.app.test_client(), second, "a later password")).status_code == 400
    assert (await reset(test_app.app.test_client(), first, "a later password")).status_code == 400
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200


# ---------------------------------------------------------------------- expiry
async def test_expiry_on_the_injected_clock(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    day = timedelta(days=1)
    test_app.clock.advance(day - timedelta(seconds=1))
    assert (await test_app.app.test_client().get(f"/reset/{token}")).status_code == 200
    test_app.clock.advance(timedelta(seconds=2))
    page = await test_app.app.test_client().get(f"/reset/{token}")
    assert page.status_code == 302 and page.headers["Location"] == "/reset"
    expired = await reset(test_app.app.test_client(), token)
    assert expired.status_code == 400
    assert errors_of(await body(expired)) == [
        message(test_app, "PASSWORD_RESET_EXPIRED", within="1 day")
    ]
    assert await login_status(test_app, "matt@lp.com", PASSWORD) == 200


@pytest.mark.settings(reset_password_within="2 hours")
async def test_expiry_follows_the_setting(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    assert "2 hours" in sink.messages[0].text
    test_app.clock.advance(timedelta(hours=2, seconds=1))
    expired = await reset(test_app.app.test_client(), token)
    assert errors_of(await body(expired)) == [
        message(test_app, "PASSWORD_RESET_EXPIRED", within="2 hours")
    ]


# ---------------------------------------------------------------------- bad tokens
def tampered(token: str) -> list[str]:
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    payload, _, rest = token.partition(".")
    return [
        flipped,
        token[:-5],
        token[: len(token) // 2],
        token + "x",
        rest + "." + payload,  # swapped segments
        "",
        "not-a-token",
        "a" * 5000,
    ]


async def test_tampered_and_truncated_tokens(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    invalid = message(test_app, "INVALID_RESET_PASSWORD_TOKEN")
    for bad in tampered(token):
        if not bad:
            continue  # /reset/ is not the token route
        page = await test_app.app.test_client().get(f"/reset/{bad}")
        assert page.status_code == 302, bad
        response = await reset(test_app.app.test_client(), bad)
        assert response.status_code == 400, bad
        assert errors_of(await body(response)) == [invalid]
    assert await login_status(test_app, "matt@lp.com", PASSWORD) == 200
    # The genuine link still works after all that.
    assert (await reset(test_app.app.test_client(), token)).status_code == 200


async def test_cross_purpose_tokens_are_refused(test_app: Any) -> None:
    matt = await stored(test_app, email="matt@lp.com")
    tokens = test_app.security.tokens
    fingerprint = tokens.fingerprint(matt.password)
    forged = [
        tokens.dumps("confirm", [matt.fs_uniquifier, fingerprint]),
        tokens.dumps("change_email", [matt.fs_uniquifier, fingerprint]),
        tokens.dumps("login", [matt.fs_uniquifier, fingerprint]),
        await auth_token(test_app.app.test_client()),
    ]
    for bad in forged:
        response = await reset(test_app.app.test_client(), bad)
        assert response.status_code == 400
        assert errors_of(await body(response)) == [
            message(test_app, "INVALID_RESET_PASSWORD_TOKEN")
        ]
    assert await login_status(test_app, "matt@lp.com", PASSWORD) == 200


async def test_a_token_only_ever_resets_its_own_account(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    # Joe is signed in and names himself: the link still resets Matt only.
    joe = test_app.app.test_client()
    assert (await json_login(joe, "joe@lp.com")).status_code == 200
    response = await reset(joe, token, email="joe@lp.com", fs_uniquifier="x")
    assert response.status_code == 200
    assert await login_status(test_app, "joe@lp.com", PASSWORD) == 200
    assert await login_status(test_app, "joe@lp.com", NEW_PASSWORD) == 400
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200
    assert (await joe.get("/api/me", headers=JSON)).status_code == 200  # Joe's session lives


async def test_forged_token_with_another_users_uniquifier(test_app: Any) -> None:
    # A token whose password fingerprint does not match the named account's
    # current hash is refused, even with a valid signature.
    joe = await stored(test_app, email="joe@lp.com")
    tokens = test_app.security.tokens
    forged = tokens.dumps("reset", [joe.fs_uniquifier, tokens.fingerprint("$argon2id$other")])
    response = await reset(test_app.app.test_client(), forged)
    assert response.status_code == 400
    malformed = [
        tokens.dumps("reset", [joe.fs_uniquifier]),
        tokens.dumps("reset", {"uid": joe.fs_uniquifier}),
        tokens.dumps("reset", [joe.fs_uniquifier, None]),  # joe has a password
        tokens.dumps("reset", [123, None]),
    ]
    for bad in malformed:
        assert (await reset(test_app.app.test_client(), bad)).status_code == 400
    assert await login_status(test_app, "joe@lp.com", PASSWORD) == 200


# ---------------------------------------------------------------------- host poisoning
@pytest.mark.settings(csrf_ignore_unauth_endpoints=True)
async def test_host_header_never_reaches_the_link(test_app: Any, sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    poisoned = [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
        {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil"},
    ]
    for headers in poisoned:
        response = await client.post(
            "/reset", json={"email": "matt@lp.com"}, headers={**JSON, **headers}
        )
        assert response.status_code == 200
    absolute = await client.post("http://evil.example/reset", json={"email": "matt@lp.com"})
    assert absolute.status_code == 200
    mails = await settled(test_app, sink, 4)
    for mail in mails:
        assert "evil" not in mail.text and "evil" not in mail.html
        assert LINK.search(mail.text) is not None
        token_in(mail)


# ---------------------------------------------------------------------- enumeration
async def test_generic_answers_are_identical(test_app: Any, sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    answers = []
    for email in ("matt@lp.com", "nobody@lp.com", "tiya@lp.com"):  # active, unknown, inactive
        response = await forgot(client, email)
        answers.append(
            (
                response.status_code,
                without_csrf(await body(response)),
                sorted(response.headers.keys()),
            )
        )
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200
    # Only the active account gets mail; the inactive one is told nothing (C-08).
    (mail,) = await settled(test_app, sink, 1)
    assert mail.envelope_to == ["matt@lp.com"]


async def test_generic_html_answers_are_identical(test_app: Any, sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    csrf = html_csrf(await (await client.get("/reset")).get_data(as_text=True))
    pages = []
    for email in ("matt@lp.com", "nobody@lp.com", "tiya@lp.com"):
        response = await client.post("/reset", form={"email": email, "csrf_token": csrf})
        pages.append((response.status_code, await response.get_data(as_text=True)))
    assert pages[0] == pages[1] == pages[2]
    assert pages[0][0] == 200
    await settled(test_app, sink, 1)


@pytest.mark.settings(return_generic_responses=False)
async def test_specific_errors_without_generic_responses(test_app: Any, sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    unknown = await forgot(client, "nobody@lp.com")
    assert unknown.status_code == 400
    assert (await body(unknown))["response"]["field_errors"] == {
        "email": [message(test_app, "USER_DOES_NOT_EXIST")]
    }
    inactive = await forgot(client, "tiya@lp.com")
    assert inactive.status_code == 400
    assert (await body(inactive))["response"]["field_errors"] == {
        "email": [message(test_app, "DISABLED_ACCOUNT")]
    }
    ok = await forgot(client, "matt@lp.com")
    assert ok.status_code == 200
    html = await client.post(
        "/reset",
        form={"email": "joe@lp.com", "csrf_token": await get_csrf(client)},
    )
    assert message(test_app, "PASSWORD_RESET_REQUEST", email="joe@lp.com") in (
        await html.get_data(as_text=True)
    )
    mails = await settled(test_app, sink, 2)
    assert [m.envelope_to for m in mails] == [["matt@lp.com"], ["joe@lp.com"]]


@pytest.mark.settings(confirmable=True)
async def test_unconfirmed_accounts_get_no_mail(test_app: Any, sink: SmtpSink) -> None:
    # The seeded users are unconfirmed: with confirmation required they cannot reset.
    response = await forgot(test_app.app.test_client(), "matt@lp.com")
    assert response.status_code == 200
    await settled(test_app, sink, 0)


# REQUIRES_CONFIRMATION_ERROR_VIEW is refused at start-up (not built yet: only
# /reset would redirect, /login and /recover-username do not), so the HTML
# form answers like the JSON one.
@pytest.mark.settings(confirmable=True, return_generic_responses=False)
async def test_unconfirmed_specific_error(test_app: Any, sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    response = await forgot(client, "MATT@lp.com")
    assert (await body(response))["response"]["field_errors"] == {
        "email": [message(test_app, "CONFIRMATION_REQUIRED")]
    }
    html = await client.post(
        "/reset", form={"email": "MATT@lp.com", "csrf_token": await get_csrf(client)}
    )
    assert html.status_code == 400
    assert message(test_app, "CONFIRMATION_REQUIRED") in (await html.get_data(as_text=True))
    await settled(test_app, sink, 0)


async def test_mail_goes_to_the_stored_address(test_app: Any, sink: SmtpSink) -> None:
    # C-27: a differently spelled address finds the account, but the mail goes
    # to the address on record, never to the string that was typed.
    response = await forgot(test_app.app.test_client(), "  MATT@LP.COM ")
    assert response.status_code == 200
    # Dotless i does not fold to "i": no account, no mail.
    await forgot(test_app.app.test_client(), "m\u0131tt@lp.com")
    (mail,) = await settled(test_app, sink, 1)
    assert mail.envelope_to == ["matt@lp.com"]
    assert mail.message["To"] == "matt@lp.com"


# ---------------------------------------------------------------------- disabled accounts
async def test_pre_issued_link_dies_when_the_account_is_disabled(
    test_app: Any, sink: SmtpSink
) -> None:
    token = await reset_token(test_app, sink, "joe@lp.com")
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        joe = await test_app.store.find_user(email="joe@lp.com")
        await test_app.store.deactivate_user(joe)
    assert (await test_app.app.test_client().get(f"/reset/{token}")).status_code == 302
    refused = await reset(test_app.app.test_client(), token)
    assert refused.status_code == 400
    joe = await stored(test_app, email="joe@lp.com")
    assert await test_app.security.passwords.verify(PASSWORD, joe.password)


# ----------------------------------------------------------------------
async def test_every_session_cookie_and_token_ends(test_app: Any, sink: SmtpSink) -> None:
    browser = test_app.app.test_client()
    assert (await json_login(browser, remember=True)).status_code == 200
    remember = next(c for c in browser.cookie_jar if c.name == "remember_token").value
    api_token = await auth_token(test_app.app.test_client())
    token = await reset_token(test_app, sink)
    # The reset is done from the browser that is signed in: it ends too.
    assert (await reset(browser, token)).status_code == 200
    assert (await browser.get("/api/me", headers=JSON)).status_code == 401
    other = test_app.app.test_client()
    cookie_only = await other.get(
        "/api/me", headers={**JSON, "Cookie": f"remember_token={remember}"}
    )
    assert cookie_only.status_code == 401
    by_token = await other.get("/api/me", headers={**JSON, "Authentication-Token": api_token})
    assert by_token.status_code == 401


@asynccontextmanager
async def token_uniquifier_app(sink: SmtpSink) -> AsyncIterator[Any]:
    """A Quart app whose User model has fs_token_uniquifier (SQLite)."""
    from tests.datastore.backends import BACKENDS

    async with BACKENDS["sqlite"]() as datastore:
        app = Quart(__name__)
        app.config.update(
            SECRET_KEY="test-secret-key-0123456789abcdef",
            SECURITY_PASSWORD_SALT="test-salt",
            SECURITY_PASSWORD_HASH_OPTIONS=FAST_ARGON2,
            SECURITY_PASSWORD_HASH_POOL_SIZE=2,
            SECURITY_RECOVERABLE=True,
            TESTING=True,
            **sink.app_settings(),
        )
        security = Security(app, datastore, clock=FrozenClock())

        @app.route("/api/token")
        @auth_token_required
        async def token_only() -> Any:
            return jsonify(email=current_user.email)

        async with app.app_context(), datastore.unit_of_work():
            await datastore.create_user(email="matt@lp.com", password=await hash_password(PASSWORD))
        try:
            yield app, security
        finally:
            await security.mailer.drain()
            security.hashing_pool.shutdown()


@pytest.mark.quart_only
async def test_reset_rotates_the_token_uniquifier(smtp_sink: SmtpSink) -> None:
    # fs_token_uniquifier lets auth tokens survive a *change*, never a reset.
    async with token_uniquifier_app(smtp_sink) as (app, _security):
        api_token = await auth_token(app.test_client())
        headers = {**JSON, "Authentication-Token": api_token}
        assert (await app.test_client().get("/api/token", headers=headers)).status_code == 200
        assert (await forgot(app.test_client(), "matt@lp.com")).status_code == 200
        await smtp_sink.wait_for(1)
        token = token_in(smtp_sink.messages[0])
        assert (await reset(app.test_client(), token)).status_code == 200
        assert (await app.test_client().get("/api/token", headers=headers)).status_code == 401


# ---------------------------------------------------------------------- bad input
async def test_bad_forgot_input(test_app: Any, sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    cases = [
        ("", "EMAIL_NOT_PROVIDED"),
        ("   ", "EMAIL_NOT_PROVIDED"),
        ("not-an-email", "INVALID_EMAIL_ADDRESS"),
        ("matt@lp.com\r\nBcc: attacker@evil.example", "INVALID_EMAIL_ADDRESS"),
        ("a" * 400 + "@lp.com", "INVALID_EMAIL_ADDRESS"),
    ]
    for email, key in cases:
        response = await forgot(client, email)
        assert response.status_code == 400, email
        assert (await body(response))["response"]["field_errors"] == {
            "email": [message(test_app, key)]
        }
    for weird in (5, True, {"$ne": None}, [5]):
        response = await forgot(client, weird)
        assert response.status_code == 400, weird
    await settled(test_app, sink, 0)


async def test_bad_new_passwords_write_nothing(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    before = await stored(test_app, email="matt@lp.com")
    cases = [
        ({"password": "short"}, "password", "PASSWORD_INVALID_LENGTH", {"length": 8}),
        ({"password": "x" * 129}, "password", "PASSWORD_INVALID_LENGTH", {"length": 8}),
        ({"password": "matt@lp.com"}, "password", "PASSWORD_TOO_SIMPLE", {}),
        (
            {"password": NEW_PASSWORD, "confirm": "something else"},
            "password_confirm",
            "RETYPE_PASSWORD_MISMATCH",
            {},
        ),
        ({"password": ""}, "password", "PASSWORD_NOT_PROVIDED", {}),
        ({"password": "          "}, "password", "PASSWORD_NOT_PROVIDED", {}),
    ]
    for case, field, key, kwargs in cases:
        response = await reset(test_app.app.test_client(), token, **case)
        assert response.status_code == 400, case
        field_errors = (await body(response))["response"]["field_errors"]
        assert field_errors[field] == [message(test_app, key, **kwargs)], case
    csrf = await get_csrf(client := test_app.app.test_client())
    typed = await client.post(
        f"/reset/{token}",
        json={"password": True, "password_confirm": True},
        headers={**JSON, "X-CSRF-Token": csrf},
    )
    assert typed.status_code == 400
    huge = await reset(test_app.app.test_client(), token, "y" * 30_000)
    assert huge.status_code == 400
    after = await stored(test_app, email="matt@lp.com")
    assert (after.password, after.fs_uniquifier) == (before.password, before.fs_uniquifier)
    await settled(test_app, sink, 1)  # no notice mail
    # Nothing was consumed: the link still works.
    assert (await reset(test_app.app.test_client(), token)).status_code == 200


async def test_csrf_is_required(test_app: Any, sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    await client.get("/reset", headers=JSON)
    no_csrf = await client.post("/reset", json={"email": "matt@lp.com"}, headers=JSON)
    assert no_csrf.status_code == 400
    form = await client.post("/reset", form={"email": "matt@lp.com"})
    assert form.status_code == 400
    await settled(test_app, sink, 0)
    token = await reset_token(test_app, sink)
    refused = await client.post(
        f"/reset/{token}",
        json={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        headers=JSON,
    )
    assert refused.status_code == 400
    assert await login_status(test_app, "matt@lp.com", PASSWORD) == 200
    assert (await reset(client, token)).status_code == 200


@pytest.mark.settings(csrf_ignore_unauth_endpoints=True)
async def test_ignoring_unauth_csrf_never_covers_a_signed_in_user(
    test_app: Any, sink: SmtpSink
) -> None:
    """CSRF_IGNORE_UNAUTH_ENDPOINTS lifts CSRF for anonymous callers only."""
    anonymous = test_app.app.test_client()
    assert (
        await anonymous.post("/reset", json={"email": "joe@lp.com"}, headers=JSON)
    ).status_code == 200
    await settled(test_app, sink, 1)
    token = await reset_token(test_app, sink, "joe@lp.com")
    signed_in = test_app.app.test_client()
    assert (await json_login(signed_in)).status_code == 200
    asked = await signed_in.post("/reset", json={"email": "matt@lp.com"}, headers=JSON)
    assert asked.status_code == 400
    used = await signed_in.post(
        f"/reset/{token}",
        json={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        headers=JSON,
    )
    assert used.status_code == 400
    assert await login_status(test_app, "joe@lp.com", PASSWORD) == 200


# ---------------------------------------------------------------------- settings
@pytest.mark.settings(
    redirect_behavior="spa", reset_view="/reset-view", reset_error_view="/reset-error"
)
async def test_spa_redirects(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    good = await test_app.app.test_client().get(f"/reset/{token}")
    assert good.status_code == 302
    location = urlsplit(good.headers["Location"])
    assert location.path == "/reset-view"
    assert parse_qs(location.query) == {"token": [token]}  # no email or identity in the URL
    bad = await test_app.app.test_client().get("/reset/not-a-token")
    location = urlsplit(bad.headers["Location"])
    assert location.path == "/reset-error"
    assert parse_qs(location.query) == {
        "error": [message(test_app, "INVALID_RESET_PASSWORD_TOKEN")]
    }
    test_app.clock.advance(timedelta(days=2))
    expired = await test_app.app.test_client().get(f"/reset/{token}")
    assert parse_qs(urlsplit(expired.headers["Location"]).query) == {
        "error": [message(test_app, "PASSWORD_RESET_EXPIRED", within="1 day")]
    }


@pytest.mark.settings(
    redirect_behavior="spa",
    reset_view="/reset-view",
    reset_error_view="/reset-error",
    redirect_host="localhost:8080",
)
async def test_spa_redirect_host(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    good = await test_app.app.test_client().get(f"/reset/{token}")
    location = urlsplit(good.headers["Location"])
    assert (location.netloc, location.path) == ("localhost:8080", "/reset-view")


@pytest.mark.settings(send_password_reset_email=False, send_password_reset_notice_email=False)
async def test_mail_switches(test_app: Any, sink: SmtpSink) -> None:
    with captured(signals.reset_password_instructions_sent) as sent:
        assert (await forgot(test_app.app.test_client(), "matt@lp.com")).status_code == 200
    # No mail, but the signal still carries the token (an app may deliver it itself).
    (call,) = sent
    assert (await reset(test_app.app.test_client(), call["token"])).status_code == 200
    await settled(test_app, sink, 0)
    assert await login_status(test_app, "matt@lp.com", NEW_PASSWORD) == 200


@pytest.mark.settings(auto_login_after_reset=True)
async def test_auto_login_after_reset(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    client = test_app.app.test_client()
    csrf = await get_csrf(client)
    with captured(signals.user_authenticated) as logins:
        done = await client.post(
            f"/reset/{token}?include_auth_token",
            json={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
            headers={**JSON, "X-CSRF-Token": csrf},
        )
    assert done.status_code == 200
    data = (await body(done))["response"]
    assert data["tf_required"] is False
    assert data["user"]["authentication_token"]
    assert [call["authn_via"] for call in logins] == [["reset"]]
    me = await client.get("/api/me", headers=JSON)
    assert (await me.get_json())["email"] == "matt@lp.com"


@pytest.mark.settings(auto_login_after_reset=True)
async def test_auto_login_after_reset_html_says_so(test_app: Any, sink: SmtpSink) -> None:
    token = await reset_token(test_app, sink)
    browser = test_app.app.test_client()
    form_html = await (await browser.get(f"/reset/{token}")).get_data(as_text=True)
    done = await browser.post(
        f"/reset/{token}",
        form={
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "csrf_token": html_csrf(form_html),
        },
    )
    assert done.status_code == 302
    # Signed in: Flask-Security's PASSWORD_RESET, shown on the next library page.
    page = await (await browser.get("/verify")).get_data(as_text=True)
    assert message(test_app, "PASSWORD_RESET") in page
    assert message(test_app, "PASSWORD_RESET_NO_LOGIN") not in page
