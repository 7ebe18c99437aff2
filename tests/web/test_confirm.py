"""/confirm and /confirm/<token>: Flask-Security 5.9's confirmation contract, with real mail.

The seeded users (matt, joe, dave, tiya @lp.com) have never confirmed, so with
CONFIRMABLE they are the "registered, not yet confirmed" accounts here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import zlib
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from quart_security import signals
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, json_login
from tests.support.mail import SmtpSink

pytestmark = pytest.mark.settings(confirmable=True, send_mail_inline=True)

BASE = "https://app.example"
CONFIRM_LINK = re.compile(r"https://app\.example/confirm/[A-Za-z0-9_.\-]+")
WITHIN = timedelta(days=2)  # CONFIRM_EMAIL_WITHIN: Flask-Security 5.9's default


# ---------------------------------------------------------------------- helpers
async def confirm_csrf(client: Any) -> str:
    response = await client.get("/confirm", headers=JSON)
    assert response.status_code == 200
    token: str = (await body(response))["response"]["csrf_token"]
    return token


async def ask(client: Any, email: Any) -> Any:
    csrf = await confirm_csrf(client)
    return await client.post("/confirm", json={"email": email}, headers={"X-CSRF-Token": csrf})


def msg(app: Any, key: str, **kwargs: Any) -> str:
    text: str = app.config["SECURITY_MSG_" + key][0]
    return text % kwargs if kwargs else text


def link_path(mail: Any) -> str:
    found = CONFIRM_LINK.search(mail.text)
    assert found is not None, mail.text
    assert found.group(0) in mail.html
    return found.group(0)[len(BASE) :]


async def stored_user(test_app: Any, email: str) -> Any:
    async with test_app.app.app_context():
        async with test_app.store.unit_of_work():
            return await test_app.store.find_user(email=email)


async def token_for(test_app: Any, email: str, smtp_sink: SmtpSink) -> str:
    """A confirmation link path for ``email``, from a real /confirm mail."""
    sent = len(smtp_sink.messages)
    response = await ask(test_app.app.test_client(), email)
    assert response.status_code == 200
    assert len(smtp_sink.messages) == sent + 1
    return link_path(smtp_sink.messages[-1])


def session_data(client: Any) -> dict[str, Any]:
    """The readable payload of the signed session cookie (for flashed messages)."""
    value = next(c.value for c in client.cookie_jar if c.name == "session")
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    data: dict[str, Any] = json.loads(zlib.decompress(raw) if compressed else raw)
    return data


class Recorder:
    def __init__(self, signal: Any) -> None:
        self.signal = signal
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def __enter__(self) -> Recorder:
        self.signal.connect(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.signal.disconnect(self)


# ---------------------------------------------------------------------- /confirm
async def test_get_json_gives_only_a_csrf_token(client: Any) -> None:
    response = await client.get("/confirm", headers=JSON)
    assert response.status_code == 200
    assert set((await body(response))["response"]) == {"csrf_token"}


async def test_get_html_prefills_and_escapes_email(client: Any) -> None:
    response = await client.get('/confirm?email="><script>alert(1)</script>')
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html or "&#34;&gt;&lt;script&gt;" in html
    assert 'name="csrf_token"' in html


@pytest.mark.settings(confirmable=False)
async def test_routes_absent_unless_confirmable(client: Any) -> None:
    assert (await client.get("/confirm", headers=JSON)).status_code == 404
    assert (await client.get("/confirm/abc")).status_code == 404


async def test_resend_then_follow_the_link_and_log_in(
    client: Any, app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    refused = await json_login(client, "joe@lp.com")
    # Generic responses (the default): the same answer as a wrong password.
    assert (await body(refused))["response"]["errors"] == [msg(app, "GENERIC_AUTHN_FAILED")]
    with Recorder(signals.confirm_instructions_sent) as sent:
        response = await ask(client, "JOE@lp.com")
    assert response.status_code == 200
    assert set((await body(response))["response"]) == {"csrf_token"}  # never user info
    (mail,) = smtp_sink.messages
    assert mail.envelope_to == ["joe@lp.com"]  # the STORED address
    assert mail.message["Subject"] == app.config["SECURITY_EMAIL_SUBJECT_CONFIRM"]
    assert "2 days" in mail.text
    path = link_path(mail)
    (call,) = sent.calls
    assert call["user"].email == "joe@lp.com"
    assert call["token"] == call["confirmation_token"] == path.rsplit("/", 1)[1]
    with Recorder(signals.user_confirmed) as confirmed:
        response = await client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert [c["user"].email for c in confirmed.calls] == ["joe@lp.com"]
    assert msg(app, "EMAIL_CONFIRMED") in json.dumps(session_data(client))  # flashed
    assert (await client.get("/api/me", headers=JSON)).status_code == 401  # no auto-login
    assert (await stored_user(test_app, "joe@lp.com")).confirmed_at is not None
    assert (await json_login(client, "joe@lp.com")).status_code == 200


async def test_html_resend_shows_the_notice(client: Any, app: Any, smtp_sink: SmtpSink) -> None:
    page = await client.get("/confirm")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
    assert csrf is not None
    response = await client.post("/confirm", form={"email": "dave@lp.com", "csrf_token": csrf[1]})
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert msg(app, "CONFIRMATION_REQUEST", email="dave@lp.com") in html
    (mail,) = smtp_sink.messages
    assert (await client.get(link_path(mail))).headers["Location"] == "/login"


async def test_resend_needs_csrf(client: Any, smtp_sink: SmtpSink) -> None:
    await confirm_csrf(client)
    response = await client.post("/confirm", json={"email": "joe@lp.com"}, headers=JSON)
    assert response.status_code == 400
    assert smtp_sink.messages == []


@pytest.mark.settings(csrf_ignore_unauth_endpoints=True, login_without_confirmation=True)
async def test_ignoring_unauth_csrf_never_covers_a_signed_in_user(
    app: Any, smtp_sink: SmtpSink
) -> None:
    """CSRF_IGNORE_UNAUTH_ENDPOINTS lifts CSRF for anonymous callers only."""
    anonymous = await app.test_client().post("/confirm", json={"email": "joe@lp.com"}, headers=JSON)
    assert anonymous.status_code == 200
    await smtp_sink.wait_for(1)
    signed_in = app.test_client()
    assert (await json_login(signed_in)).status_code == 200
    refused = await signed_in.post("/confirm", json={"email": "matt@lp.com"}, headers=JSON)
    assert refused.status_code == 400
    assert [m.envelope_to for m in smtp_sink.messages] == [["joe@lp.com"]]


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("", "EMAIL_NOT_PROVIDED"),
        ("not-an-address", "INVALID_EMAIL_ADDRESS"),
        ("joe@lp.com\r\nBcc: attacker@evil.example", "INVALID_EMAIL_ADDRESS"),
    ],
)
async def test_resend_rejects_malformed_addresses(
    client: Any, app: Any, smtp_sink: SmtpSink, email: str, key: str
) -> None:
    response = await ask(client, email)
    assert response.status_code == 400
    assert (await body(response))["response"]["field_errors"] == {"email": [msg(app, key)]}
    assert smtp_sink.messages == []


async def test_generic_answers_are_identical(app: Any, test_app: Any, smtp_sink: SmtpSink) -> None:
    path = await token_for(test_app, "dave@lp.com", smtp_sink)
    assert (await app.test_client().get(path)).status_code == 302  # dave is now confirmed
    smtp_sink.messages.clear()
    answers = []
    for email in ("joe@lp.com", "nobody@lp.com", "dave@lp.com"):
        response = await ask(app.test_client(), email)
        data = await body(response)
        data["response"].pop("csrf_token")
        answers.append((response.status_code, data, sorted(response.headers.keys())))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200
    # Only the unconfirmed account gets a mail.
    assert [m.envelope_to for m in smtp_sink.messages] == [["joe@lp.com"]]


@pytest.mark.settings(return_generic_responses=False)
async def test_specific_errors_without_generic_responses(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    unknown = await ask(app.test_client(), "nobody@lp.com")
    assert unknown.status_code == 400
    assert (await body(unknown))["response"]["field_errors"] == {
        "email": [msg(app, "USER_DOES_NOT_EXIST")]
    }
    path = await token_for(test_app, "dave@lp.com", smtp_sink)
    await app.test_client().get(path)
    done = await ask(app.test_client(), "dave@lp.com")
    assert done.status_code == 400
    assert (await body(done))["response"]["field_errors"] == {
        "email": [msg(app, "ALREADY_CONFIRMED")]
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    ],
)
async def test_links_ignore_the_host_header(
    client: Any, smtp_sink: SmtpSink, headers: dict[str, str]
) -> None:
    csrf = await confirm_csrf(client)
    # Sent as given: a cookie jar would not offer localhost's cookie to another host.
    cookie = next(c.value for c in client.cookie_jar if c.name == "session")
    response = await client.post(
        "/confirm",
        json={"email": "joe@lp.com"},
        headers={"X-CSRF-Token": csrf, "Cookie": f"session={cookie}", **headers},
    )
    assert response.status_code == 200
    (mail,) = smtp_sink.messages
    assert "evil.example" not in mail.text + mail.html
    assert CONFIRM_LINK.search(mail.text)


# ---------------------------------------------------------------------- /confirm/<token>
async def test_second_use_is_already_confirmed(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    first = await app.test_client().get(path)
    assert first.headers["Location"] == "/login"
    with Recorder(signals.user_confirmed) as confirmed:
        client = app.test_client()
        second = await client.get(path)
    assert second.status_code == 302
    assert second.headers["Location"] == "/confirm"
    assert confirmed.calls == []
    assert msg(app, "ALREADY_CONFIRMED") in json.dumps(session_data(client))


@pytest.mark.settings(auto_login_after_confirm=True)
async def test_ten_parallel_uses_give_one_success(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    clients = [app.test_client() for _ in range(10)]
    with Recorder(signals.user_confirmed) as confirmed:
        responses = await asyncio.gather(*(c.get(path) for c in clients))
    locations = sorted(r.headers["Location"] for r in responses)
    assert locations == ["/"] + ["/confirm"] * 9  # POST_LOGIN_VIEW once, "already" nine times
    assert len(confirmed.calls) == 1
    signed_in = [(await c.get("/api/me", headers=JSON)).status_code == 200 for c in clients]
    assert sum(signed_in) == 1


@pytest.mark.settings(auto_login_after_confirm=True)
async def test_auto_login_after_confirm(client: Any, test_app: Any, smtp_sink: SmtpSink) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    with Recorder(signals.user_authenticated) as authenticated:
        response = await client.get(path)
    assert response.headers["Location"] == "/"
    assert [c["authn_via"] for c in authenticated.calls] == [["confirm"]]
    me = await client.get("/api/me", headers=JSON)
    assert (await me.get_json())["email"] == "joe@lp.com"


@pytest.mark.settings(auto_login_after_confirm=True)
async def test_auto_login_replaces_another_signed_in_user(
    client: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    async with test_app.app.app_context():
        async with test_app.store.unit_of_work():
            dave = await test_app.store.find_user(email="dave@lp.com")
            await test_app.store.compare_and_set(dave, "confirmed_at", None, datetime(2024, 1, 1))
    assert (await json_login(client, "dave@lp.com")).status_code == 200
    await client.get(path)
    me = await client.get("/api/me", headers=JSON)
    assert (await me.get_json())["email"] == "joe@lp.com"


async def test_expiry_window(app: Any, test_app: Any, smtp_sink: SmtpSink) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    test_app.clock.advance(WITHIN - timedelta(seconds=1))
    assert (await app.test_client().get(path)).headers["Location"] == "/login"
    path = await token_for(test_app, "dave@lp.com", smtp_sink)
    sent = len(smtp_sink.messages)
    test_app.clock.advance(WITHIN + timedelta(seconds=1))
    client = app.test_client()
    expired = await client.get(path)
    assert expired.status_code == 302
    assert expired.headers["Location"] == "/confirm"
    assert msg(app, "CONFIRMATION_EXPIRED", within="2 days") in json.dumps(session_data(client))
    assert (await stored_user(test_app, "dave@lp.com")).confirmed_at is None
    # Flask-Security 5.9 sends nothing on an expired link: no mail flood from a leaked one.
    for _ in range(3):
        await app.test_client().get(path)
    assert len(smtp_sink.messages) == sent


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-1], id="truncated"),
        pytest.param(lambda t: t[: len(t) // 2], id="half"),
        pytest.param(lambda t: t + "A", id="appended"),
        # The third-last character: all its bits are signature bits (the last's may pad).
        pytest.param(lambda t: t[:-3] + ("A" if t[-3] != "A" else "B") + t[-2:], id="bit-flip"),
        pytest.param(lambda t: ".".join(reversed(t.split("."))), id="swapped"),
        pytest.param(lambda t: "garbage", id="garbage"),
        pytest.param(lambda t: "x" * 9000, id="huge"),
    ],
)
async def test_tampered_tokens_are_invalid(
    app: Any, test_app: Any, smtp_sink: SmtpSink, mangle: Any
) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    token = path.rsplit("/", 1)[1]
    with Recorder(signals.user_confirmed) as confirmed:
        response = await app.test_client().get("/confirm/" + mangle(token))
    assert response.status_code == 302
    assert response.headers["Location"] == "/confirm"
    assert confirmed.calls == []
    assert (await stored_user(test_app, "joe@lp.com")).confirmed_at is None


async def test_token_of_another_purpose_or_user_is_invalid(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    tokens = test_app.security.tokens
    joe = await stored_user(test_app, "joe@lp.com")
    dave = await stored_user(test_app, "dave@lp.com")
    forged = [
        # right shape, signed with the reset salt (cross-purpose)
        tokens.dumps("reset", [joe.fs_uniquifier, tokens.fingerprint(joe.email)]),
        # dave's account with joe's address fingerprint: A's token cannot confirm B
        tokens.dumps("confirm", [dave.fs_uniquifier, tokens.fingerprint(joe.email)]),
        tokens.dumps("confirm", [joe.fs_uniquifier]),
        tokens.dumps("confirm", {"uid": joe.fs_uniquifier}),
        tokens.dumps("confirm", ["no-such-user", tokens.fingerprint(joe.email)]),
    ]
    for token in forged:
        response = await app.test_client().get("/confirm/" + token)
        assert response.headers["Location"] == "/confirm"
    assert (await stored_user(test_app, "joe@lp.com")).confirmed_at is None
    assert (await stored_user(test_app, "dave@lp.com")).confirmed_at is None


async def test_token_dies_when_the_address_changes(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    async with test_app.app.app_context():
        async with test_app.store.unit_of_work():
            joe = await test_app.store.find_user(email="joe@lp.com")
            joe.email = "joe.new@lp.com"
            await test_app.store.put(joe)
    response = await app.test_client().get(path)
    assert response.headers["Location"] == "/confirm"
    assert (await stored_user(test_app, "joe.new@lp.com")).confirmed_at is None


async def test_unconfirmed_user_cannot_log_in_by_html_either(client: Any, app: Any) -> None:
    csrf = await confirm_csrf(client)
    response = await client.post(
        "/login", form={"email": "joe@lp.com", "password": PASSWORD, "csrf_token": csrf}
    )
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert msg(app, "GENERIC_AUTHN_FAILED") in html  # generic: no "please confirm" oracle
    assert msg(app, "CONFIRMATION_REQUIRED") not in html
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


# ---------------------------------------------------------------------- redirect settings
@pytest.mark.settings(
    redirect_behavior="spa",
    post_confirm_view="/confirmed",
    confirm_error_view="/confirm-error",
)
async def test_spa_redirects(app: Any, test_app: Any, smtp_sink: SmtpSink) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    ok = await app.test_client().get(path)
    target = urlsplit(ok.headers["Location"])
    assert target.path == "/confirmed"
    query = parse_qs(target.query)
    assert query["email"] == ["joe@lp.com"]
    assert query["identity"] == ["joe"]  # calc_username: username first
    assert query["success"] == [msg(app, "EMAIL_CONFIRMED")]
    again = urlsplit((await app.test_client().get(path)).headers["Location"])
    assert again.path == "/confirm-error"
    assert parse_qs(again.query) == {"info": [msg(app, "ALREADY_CONFIRMED")]}
    bad = urlsplit((await app.test_client().get("/confirm/nope")).headers["Location"])
    assert parse_qs(bad.query) == {"error": [msg(app, "INVALID_CONFIRMATION_TOKEN")]}
    path = await token_for(test_app, "dave@lp.com", smtp_sink)
    test_app.clock.advance(WITHIN + timedelta(seconds=1))
    expired = urlsplit((await app.test_client().get(path)).headers["Location"])
    assert parse_qs(expired.query) == {"error": [msg(app, "CONFIRMATION_EXPIRED", within="2 days")]}


@pytest.mark.settings(
    redirect_behavior="spa",
    post_confirm_view="/confirmed?from=mail",
    confirm_error_view="/confirm-error",
    redirect_host="localhost:8081",
)
async def test_spa_redirect_host(app: Any, test_app: Any, smtp_sink: SmtpSink) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    target = urlsplit((await app.test_client().get(path)).headers["Location"])
    assert target.netloc == "localhost:8081"
    assert target.path == "/confirmed"
    assert parse_qs(target.query)["from"] == ["mail"]


@pytest.mark.settings(post_confirm_view="/welcome", confirm_error_view="/oops")
async def test_html_views_from_settings(app: Any, test_app: Any, smtp_sink: SmtpSink) -> None:
    path = await token_for(test_app, "joe@lp.com", smtp_sink)
    assert (await app.test_client().get(path)).headers["Location"] == "/welcome"
    assert (await app.test_client().get(path)).headers["Location"] == "/oops"
