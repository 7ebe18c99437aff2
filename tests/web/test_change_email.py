"""/change-email and /change-email/<token>: Flask-Security 5.9's contract and its attacks.

Every flow follows the link in the mail the SMTP sink received. Covers
freshness, single use under concurrency, expiry, tampering, stale tokens
after the address changed (C-46), cross-user use, anti-enumeration for an
address that belongs to another account (C-32), and the notice to the
current address (R-24).
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from quart_security import signals
from quart_security.clock import utcnow_naive
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, json_login
from tests.support.mail import ReceivedMail, SmtpSink
from tests.support.race import rendezvous
from tests.support.signals import captured

pytestmark = pytest.mark.settings(change_email=True)

LINK = re.compile(r"https://app\.example/change-email/([A-Za-z0-9_.\-]+)")
NEW = "new.matt@example.com"


# ---------------------------------------------------------------------- helpers
async def fresh_client(test_app: Any, email: str = "matt@lp.com") -> tuple[Any, str]:
    """A client logged in as ``email`` and its CSRF token."""
    client = test_app.app.test_client()
    assert (await json_login(client, email)).status_code == 200
    page = await client.get("/change-email", headers=JSON)
    assert page.status_code == 200
    return client, (await body(page))["response"]["csrf_token"]


async def ask(client: Any, csrf: str, email: Any) -> Any:
    return await client.post(
        "/change-email", json={"email": email}, headers={**JSON, "X-CSRF-Token": csrf}
    )


async def settled(test_app: Any, sink: SmtpSink, count: int) -> list[ReceivedMail]:
    """Exactly ``count`` mails, once background delivery is over."""
    if count:
        await sink.wait_for(count)
    await test_app.security.mailer.drain()
    assert len(sink.messages) == count, [m.envelope_to for m in sink.messages]
    return list(sink.messages)


def mail_to(mails: list[ReceivedMail], address: str) -> ReceivedMail:
    (found,) = [m for m in mails if m.envelope_to == [address]]
    return found


def token_in(mail: ReceivedMail) -> str:
    match = LINK.search(mail.text)
    assert match is not None, mail.text
    return match.group(1)


async def stored(test_app: Any, **criteria: Any) -> Any:
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        return await test_app.store.find_user(**criteria)


async def emails_of(test_app: Any, *uniquifiers: str) -> list[str]:
    out = []
    for uid in uniquifiers:
        user = await stored(test_app, fs_uniquifier=uid)
        out.append(user.email)
    return out


async def login_status(test_app: Any, email: str) -> int:
    response = await json_login(test_app.app.test_client(), email)
    return int(response.status_code)


def query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


# ---------------------------------------------------------------------- GET
async def test_get_json_gives_current_email_and_user(test_app: Any) -> None:
    client, _ = await fresh_client(test_app)
    data = await body(await client.get("/change-email", headers=JSON))
    assert data["meta"] == {"code": 200}
    assert data["response"]["current_email"] == "matt@lp.com"
    assert data["response"]["user"] == {}
    assert data["response"]["csrf_token"]


async def test_get_html_page(test_app: Any) -> None:
    client, _ = await fresh_client(test_app)
    page = await client.get("/change-email")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert 'name="change_email_form"' in html
    assert 'name="csrf_token"' in html
    assert "matt@lp.com" in html


async def test_requires_login(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert (await client.get("/change-email", headers=JSON)).status_code == 401
    assert (await client.post("/change-email", json={"email": NEW})).status_code == 401
    html = await client.get("/change-email")
    assert html.status_code == 302
    assert html.headers["Location"].startswith("/login?next=")


# ---------------------------------------------------------------------- the flow
async def test_json_flow_end_to_end(test_app: Any, smtp_sink: SmtpSink) -> None:
    matt = await stored(test_app, email="matt@lp.com")
    client, csrf = await fresh_client(test_app)
    with captured(signals.change_email_instructions_sent) as sent:
        response = await ask(client, csrf, NEW)
    assert response.status_code == 200
    data = (await body(response))["response"]
    # The address does not change until the link is opened.
    assert data["current_email"] == "matt@lp.com"
    assert data["user"] == {}
    mails = await settled(test_app, smtp_sink, 2)
    instructions = mail_to(mails, NEW)
    assert instructions.message["Subject"] == test_app.app.config["SECURITY_CHANGE_EMAIL_SUBJECT"]
    token = token_in(instructions)
    assert f'href="https://app.example/change-email/{token}"' in instructions.html
    assert "2 hours" in instructions.text
    # the current address hears about it.
    notice = mail_to(mails, "matt@lp.com")
    assert NEW in notice.text and NEW in notice.html
    assert LINK.search(notice.text) is None  # the link goes only to the new address
    assert len(sent) == 1
    assert sent[0]["new_email"] == NEW and sent[0]["token"] == token
    assert sent[0]["user"].fs_uniquifier == matt.fs_uniquifier
    assert (await stored(test_app, fs_uniquifier=matt.fs_uniquifier)).email == "matt@lp.com"
    # C-26: until the link is opened the new address is not an identity.
    assert await login_status(test_app, NEW) == 400
    assert await login_status(test_app, "matt@lp.com") == 200

    with captured(signals.change_email_confirmed) as confirmed:
        done = await test_app.app.test_client().get(f"/change-email/{token}")
    assert done.status_code == 302
    assert done.headers["Location"] == "/"  # POST_LOGIN_VIEW
    assert len(confirmed) == 1
    assert confirmed[0]["old_email"] == "matt@lp.com"
    assert confirmed[0]["user"].email == NEW
    user = await stored(test_app, fs_uniquifier=matt.fs_uniquifier)
    assert user.email == NEW
    # confirmed_at comes from the injected clock (DATETIME_FACTORY's default).
    assert abs((user.confirmed_at - utcnow_naive(test_app.clock)).total_seconds()) < 1
    # The new address signs in; the old one no longer does.
    assert await login_status(test_app, NEW) == 200
    assert await login_status(test_app, "matt@lp.com") == 400
    # The session that asked is still signed in (the email is not a factor).
    me = await client.get("/api/me", headers=JSON)
    assert (await me.get_json())["email"] == NEW
    # Used once: a second use is refused and changes nothing.
    again = await test_app.app.test_client().get(f"/change-email/{token}")
    assert again.headers["Location"] == "/change-email"
    assert (await stored(test_app, fs_uniquifier=matt.fs_uniquifier)).email == NEW


async def test_html_flow_end_to_end(test_app: Any, smtp_sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    assert (await json_login(client)).status_code == 200
    page = await client.get("/change-email")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
    assert csrf is not None
    response = await client.post("/change-email", form={"email": NEW, "csrf_token": csrf.group(1)})
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    sent_text = test_app.app.config["SECURITY_MSG_CHANGE_EMAIL_SENT"][0] % {"email": NEW}
    assert sent_text in html
    mails = await settled(test_app, smtp_sink, 2)
    href = re.search(r'href="(https://app\.example/change-email/[^"]+)"', mail_to(mails, NEW).html)
    assert href is not None
    done = await client.get(href.group(1).replace("https://app.example", ""))
    assert done.status_code == 302
    assert done.headers["Location"] == "/"
    assert (await stored(test_app, email=NEW)) is not None
    assert await login_status(test_app, NEW) == 200


@pytest.mark.settings(
    redirect_behavior="spa",
    post_change_email_view="/account?tab=email",
    change_email_error_view="/change-failed",
)
async def test_spa_redirects(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, csrf = await fresh_client(test_app)
    assert (await ask(client, csrf, NEW)).status_code == 200
    token = token_in(mail_to(await settled(test_app, smtp_sink, 2), NEW))
    done = await test_app.app.test_client().get(f"/change-email/{token}")
    location = done.headers["Location"]
    assert urlsplit(location).path == "/account"
    params = query(location)
    assert params["tab"] == ["email"]
    assert params["success"] == [test_app.app.config["SECURITY_MSG_CHANGE_EMAIL_CONFIRMED"][0]]
    assert params["email"] == [NEW]
    assert params["identity"] == ["matt"]
    bad = await test_app.app.test_client().get(f"/change-email/{token}")
    assert urlsplit(bad.headers["Location"]).path == "/change-failed"
    assert query(bad.headers["Location"])["error"] == [
        test_app.app.config["SECURITY_MSG_API_ERROR"][0]
    ]


@pytest.mark.settings(
    redirect_behavior="spa",
    post_change_email_view="/changed",
    change_email_error_view="/change-failed",
    redirect_host="localhost:8080",
)
async def test_spa_redirect_host(test_app: Any) -> None:
    bad = await test_app.app.test_client().get("/change-email/not-a-token")
    location = urlsplit(bad.headers["Location"])
    assert (location.netloc, location.path) == ("localhost:8080", "/change-failed")


@pytest.mark.settings(change_email_error_view="/change-failed")
async def test_html_error_view(test_app: Any) -> None:
    bad = await test_app.app.test_client().get("/change-email/not-a-token")
    assert bad.status_code == 302
    assert bad.headers["Location"] == "/change-failed"


# ---------------------------------------------------------------------- freshness
async def test_freshness_required(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, csrf = await fresh_client(test_app)
    test_app.clock.advance(timedelta(hours=25))  # past FRESHNESS and the grace period
    stale = await client.get("/change-email", headers=JSON)
    assert stale.status_code == 401
    assert (await body(stale))["response"]["reauth_required"] is True
    html = await client.get("/change-email")
    assert html.status_code == 302
    assert html.headers["Location"].startswith("/verify?next=")
    csrf = (await body(await client.get("/verify", headers=JSON)))["response"]["csrf_token"]
    refused = await ask(client, csrf, NEW)
    assert refused.status_code == 401
    assert (await body(refused))["response"]["reauth_required"] is True
    await settled(test_app, smtp_sink, 0)
    verified = await client.post(
        "/verify", json={"password": PASSWORD}, headers={**JSON, "X-CSRF-Token": csrf}
    )
    assert verified.status_code == 200
    csrf = (await body(verified))["response"]["csrf_token"]
    assert (await ask(client, csrf, NEW)).status_code == 200
    await settled(test_app, smtp_sink, 2)


async def test_csrf_required(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, _ = await fresh_client(test_app)
    response = await client.post("/change-email", json={"email": NEW}, headers=JSON)
    assert response.status_code == 400
    await settled(test_app, smtp_sink, 0)


# ---------------------------------------------------------------------- duplicates
@pytest.mark.parametrize("taken", ["joe@lp.com", "JOE@lp.com", "Joe@LP.COM", " joe@lp.com "])
async def test_address_of_another_account_generic(
    test_app: Any, smtp_sink: SmtpSink, taken: str
) -> None:
    """C-32: the same answer as a free address, and nothing sent to it."""
    client, csrf = await fresh_client(test_app)
    with captured(signals.change_email_instructions_sent) as sent:
        free = await ask(client, csrf, NEW)
        free_mails = await settled(test_app, smtp_sink, 2)
        smtp_sink.messages.clear()
        used = await ask(client, csrf, taken)
    assert free.status_code == used.status_code == 200
    assert sorted(free.headers.keys()) == sorted(used.headers.keys())
    free_body, used_body = await body(free), await body(used)
    free_body["response"].pop("csrf_token")
    used_body["response"].pop("csrf_token")
    assert free_body == used_body
    # Only the notice to the account's own address, as in the free case.
    (notice,) = await settled(test_app, smtp_sink, 1)
    assert notice.envelope_to == ["matt@lp.com"]
    assert mail_to(free_mails, "matt@lp.com").message["Subject"] == notice.message["Subject"]
    assert len(sent) == 1  # the free address only
    assert (await stored(test_app, email="matt@lp.com")) is not None
    assert (await stored(test_app, email="joe@lp.com")) is not None


async def test_address_of_another_account_generic_html(test_app: Any, smtp_sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    await json_login(client)
    pages = []
    for address in (NEW, "joe@lp.com"):
        page = await client.get("/change-email")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
        assert csrf is not None
        response = await client.post(
            "/change-email", form={"email": address, "csrf_token": csrf.group(1)}
        )
        assert response.status_code == 200
        html = re.sub(r'value="[^"]*"', "", await response.get_data(as_text=True))
        pages.append(html.replace(address, "ADDRESS"))
    assert pages[0] == pages[1]
    mails = await settled(test_app, smtp_sink, 3)
    assert not [m for m in mails if m.envelope_to == ["joe@lp.com"]]


@pytest.mark.settings(return_generic_responses=False)
async def test_address_of_another_account_not_generic(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, csrf = await fresh_client(test_app)
    response = await ask(client, csrf, "JOE@lp.com")
    assert response.status_code == 400
    fields = (await body(response))["response"]["field_errors"]
    message = test_app.app.config["SECURITY_MSG_EMAIL_ALREADY_ASSOCIATED"][0]
    assert fields == {"email": [message % {"email": "JOE@lp.com"}]}
    await settled(test_app, smtp_sink, 0)


@pytest.mark.parametrize("own", ["matt@lp.com", "MATT@LP.COM"])
async def test_own_address_is_an_error(test_app: Any, smtp_sink: SmtpSink, own: str) -> None:
    client, csrf = await fresh_client(test_app)
    response = await ask(client, csrf, own)
    assert response.status_code == 400
    assert list((await body(response))["response"]["field_errors"]) == ["email"]
    await settled(test_app, smtp_sink, 0)


async def test_unicode_forms_are_one_address(test_app: Any, smtp_sink: SmtpSink) -> None:
    """An address stored in NFC is taken when typed in NFD (A-08)."""
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        await test_app.store.create_user(email="jos\u00e9@lp.com", password=None)
    client, csrf = await fresh_client(test_app)
    with captured(signals.change_email_instructions_sent) as sent:
        response = await ask(client, csrf, "jose\u0301@lp.com")
    assert response.status_code == 200
    (notice,) = await settled(test_app, smtp_sink, 1)
    assert notice.envelope_to == ["matt@lp.com"]
    assert sent == []


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("", "EMAIL_NOT_PROVIDED"),
        ("not-an-email", "INVALID_EMAIL_ADDRESS"),
        ("a@b", "INVALID_EMAIL_ADDRESS"),
        ("victim@example.com\r\nBcc: attacker@evil.example", "INVALID_EMAIL_ADDRESS"),
        ("victim@example.com\nSubject: x", "INVALID_EMAIL_ADDRESS"),
        ('"a\r\nb"@example.com', "INVALID_EMAIL_ADDRESS"),
        ("x" * 400 + "@example.com", "INVALID_EMAIL_ADDRESS"),
    ],
)
async def test_bad_addresses(test_app: Any, smtp_sink: SmtpSink, value: str, key: str) -> None:
    client, csrf = await fresh_client(test_app)
    response = await ask(client, csrf, value)
    assert response.status_code == 400
    fields = (await body(response))["response"]["field_errors"]
    assert fields == {"email": [test_app.app.config[f"SECURITY_MSG_{key}"][0]]}
    await settled(test_app, smtp_sink, 0)
    assert (await stored(test_app, email="matt@lp.com")) is not None


@pytest.mark.parametrize("value", [5, {"$ne": ""}, [1]])
async def test_non_string_values(test_app: Any, smtp_sink: SmtpSink, value: Any) -> None:
    client, csrf = await fresh_client(test_app)
    response = await ask(client, csrf, value)
    assert response.status_code == 400
    assert "email" in (await body(response))["response"]["field_errors"]
    await settled(test_app, smtp_sink, 0)


async def test_html_bad_input_renders_the_form(test_app: Any, smtp_sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    await json_login(client)
    page = await client.get("/change-email")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
    assert csrf is not None
    response = await client.post(
        "/change-email", form={"email": "<b>nope", "csrf_token": csrf.group(1)}
    )
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert test_app.app.config["SECURITY_MSG_INVALID_EMAIL_ADDRESS"][0] in html
    assert "<b>nope" not in html  # escaped
    await settled(test_app, smtp_sink, 0)


# ---------------------------------------------------------------------- the token
@pytest.mark.settings(post_change_email_view="/changed", change_email_error_view="/change-failed")
async def test_ten_parallel_uses_give_one_change(test_app: Any, smtp_sink: SmtpSink) -> None:
    matt = await stored(test_app, email="matt@lp.com")
    client, csrf = await fresh_client(test_app)
    await ask(client, csrf, NEW)
    token = token_in(mail_to(await settled(test_app, smtp_sink, 2), NEW))
    clients = [test_app.app.test_client() for _ in range(10)]
    with captured(signals.change_email_confirmed) as confirmed:
        answers = await asyncio.gather(*(c.get(f"/change-email/{token}") for c in clients))
    locations = sorted(a.headers["Location"] for a in answers)
    assert locations == ["/change-failed"] * 9 + ["/changed"]
    assert len(confirmed) == 1
    assert await emails_of(test_app, matt.fs_uniquifier) == [NEW]


def case_insensitive_email_lookup(**kwargs: Any) -> bool:
    return kwargs.get("case_insensitive") is True and "email" in kwargs


@pytest.mark.settings(post_change_email_view="/changed", change_email_error_view="/change-failed")
async def test_racing_confirmations_of_case_variants_leave_one_owner(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    """Issue #11: three accounts confirm spellings of one free address at once."""
    emails = ["matt@lp.com", "joe@lp.com", "dave@lp.com"]
    variants = ["Shared@example.com", "shared@example.com", "SHARED@example.com"]
    uniquifiers = [(await stored(test_app, email=e)).fs_uniquifier for e in emails]
    tokens = []
    for n, (email, variant) in enumerate(zip(emails, variants, strict=True)):
        client, csrf = await fresh_client(test_app, email)
        assert (await ask(client, csrf, variant)).status_code == 200
        tokens.append(token_in(mail_to(await settled(test_app, smtp_sink, 2 * (n + 1)), variant)))
    clients = [test_app.app.test_client() for _ in tokens]
    with (
        captured(signals.change_email_confirmed) as confirmed,
        rendezvous(test_app.store, "find_user", 3, when=case_insensitive_email_lookup) as held,
    ):
        answers = await asyncio.gather(
            *(c.get(f"/change-email/{t}") for c, t in zip(clients, tokens, strict=True))
        )
    assert held == [None] * 3  # every one of them saw the address free
    locations = [a.headers["Location"] for a in answers]
    assert sorted(locations) == ["/change-failed"] * 2 + ["/changed"]
    winner = locations.index("/changed")
    assert len(confirmed) == 1
    now = await emails_of(test_app, *uniquifiers)
    assert [e for e in now if e.lower() == "shared@example.com"] == [variants[winner]]
    assert [e for n, e in enumerate(now) if n != winner] == [
        e for n, e in enumerate(emails) if n != winner
    ]


@pytest.mark.settings(
    redirect_behavior="spa",
    post_change_email_view="/changed",
    change_email_error_view="/change-failed",
)
async def test_expiry(test_app: Any, smtp_sink: SmtpSink) -> None:
    within = timedelta(hours=2)  # CHANGE_EMAIL_WITHIN
    client, csrf = await fresh_client(test_app)
    await ask(client, csrf, NEW)
    expired = token_in(mail_to(await settled(test_app, smtp_sink, 2), NEW))
    test_app.clock.advance(within + timedelta(seconds=1))
    late = await test_app.app.test_client().get(f"/change-email/{expired}")
    assert urlsplit(late.headers["Location"]).path == "/change-failed"
    expected = test_app.app.config["SECURITY_MSG_CHANGE_EMAIL_EXPIRED"][0] % {"within": "2 hours"}
    assert query(late.headers["Location"])["error"] == [expected]
    assert (await stored(test_app, email="matt@lp.com")) is not None
    # Just inside the window it works (the session is still fresh; CSRF
    # tokens live an hour, so the SPA takes a new one).
    smtp_sink.messages.clear()
    csrf = (await body(await client.get("/change-email", headers=JSON)))["response"]["csrf_token"]
    assert (await ask(client, csrf, NEW)).status_code == 200
    timely = token_in(mail_to(await settled(test_app, smtp_sink, 2), NEW))
    test_app.clock.advance(within - timedelta(seconds=1))
    ok = await test_app.app.test_client().get(f"/change-email/{timely}")
    assert urlsplit(ok.headers["Location"]).path == "/changed"
    assert (await stored(test_app, email=NEW)) is not None


def _tampered(token: str) -> list[str]:
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    head, _, rest = token.partition(".")
    return [
        token[:-1],
        token[: len(token) // 2],
        token + "x",
        flipped,
        rest + "." + head,
        "",
        "x" * 9000,
    ]


@pytest.mark.settings(change_email_error_view="/change-failed")
async def test_tampered_and_foreign_tokens(test_app: Any, smtp_sink: SmtpSink) -> None:
    matt = await stored(test_app, email="matt@lp.com")
    client, csrf = await fresh_client(test_app)
    await ask(client, csrf, NEW)
    token = token_in(mail_to(await settled(test_app, smtp_sink, 2), NEW))
    security = test_app.security
    # Same data under another purpose's salt, and a token naming another address.
    data = [str(matt.fs_uniquifier), security.tokens.fingerprint("matt@lp.com"), NEW]
    foreign = [
        security.tokens.dumps("confirm", data),
        security.tokens.dumps("reset", data),
        security.tokens.dumps("change_email", data[:2]),
        security.tokens.dumps("change_email", {"a": 1}),
        security.tokens.dumps("change_email", [data[0], "0" * 32, NEW]),
        security.tokens.dumps("change_email", ["nobody", data[1], NEW]),
    ]
    for bad in _tampered(token) + foreign:
        response = await test_app.app.test_client().get(f"/change-email/{bad}")
        assert response.status_code in (302, 404), bad
        if response.status_code == 302:
            assert response.headers["Location"] == "/change-failed", bad
    assert await emails_of(test_app, matt.fs_uniquifier) == ["matt@lp.com"]
    # The genuine token still works afterwards.
    ok = await test_app.app.test_client().get(f"/change-email/{token}")
    assert ok.headers["Location"] == "/"
    assert await emails_of(test_app, matt.fs_uniquifier) == [NEW]


@pytest.mark.settings(change_email_error_view="/change-failed")
async def test_old_tokens_die_when_the_address_changes(test_app: Any, smtp_sink: SmtpSink) -> None:
    """C-46: a token for address A can never set address B, and A's change kills B's token."""
    matt = await stored(test_app, email="matt@lp.com")
    client, csrf = await fresh_client(test_app)
    await ask(client, csrf, "first@example.com")
    await ask(client, csrf, "second@example.com")
    mails = await settled(test_app, smtp_sink, 4)
    first = token_in(mail_to(mails, "first@example.com"))
    second = token_in(mail_to(mails, "second@example.com"))
    assert (await test_app.app.test_client().get(f"/change-email/{first}")).headers[
        "Location"
    ] == "/"
    stale = await test_app.app.test_client().get(f"/change-email/{second}")
    assert stale.headers["Location"] == "/change-failed"
    assert await emails_of(test_app, matt.fs_uniquifier) == ["first@example.com"]


@pytest.mark.settings(change_email_error_view="/change-failed")
async def test_address_taken_before_confirmation(test_app: Any, smtp_sink: SmtpSink) -> None:
    matt = await stored(test_app, email="matt@lp.com")
    client, csrf = await fresh_client(test_app)
    await ask(client, csrf, NEW)
    token = token_in(mail_to(await settled(test_app, smtp_sink, 2), NEW))
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        joe = await test_app.store.find_user(email="joe@lp.com")
        joe.email = NEW.upper().replace("EXAMPLE.COM", "example.com")
        await test_app.store.put(joe)
    response = await test_app.app.test_client().get(f"/change-email/{token}")
    assert response.headers["Location"] == "/change-failed"
    assert await emails_of(test_app, matt.fs_uniquifier) == ["matt@lp.com"]


@pytest.mark.settings(change_email_error_view="/change-failed")
async def test_disabled_account_token_refused(test_app: Any, smtp_sink: SmtpSink) -> None:
    matt = await stored(test_app, email="matt@lp.com")
    client, csrf = await fresh_client(test_app)
    await ask(client, csrf, NEW)
    token = token_in(mail_to(await settled(test_app, smtp_sink, 2), NEW))
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        user = await test_app.store.find_user(email="matt@lp.com")
        await test_app.store.deactivate_user(user)
    response = await test_app.app.test_client().get(f"/change-email/{token}")
    assert response.headers["Location"] == "/change-failed"
    assert await emails_of(test_app, matt.fs_uniquifier) == ["matt@lp.com"]


async def test_token_of_one_user_in_another_session(test_app: Any, smtp_sink: SmtpSink) -> None:
    """Joe opening Matt's link changes nothing of Joe's and gives Joe nothing of Matt's."""
    matt = await stored(test_app, email="matt@lp.com")
    joe = await stored(test_app, email="joe@lp.com")
    client, csrf = await fresh_client(test_app)
    await ask(client, csrf, NEW)
    token = token_in(mail_to(await settled(test_app, smtp_sink, 2), NEW))
    joe_client, _ = await fresh_client(test_app, "joe@lp.com")
    response = await joe_client.get(f"/change-email/{token}")
    assert response.status_code == 302
    me = await joe_client.get("/api/me", headers=JSON)
    assert (await me.get_json())["email"] == "joe@lp.com"
    # The token names Matt's account: only Matt's address moved, to the one Matt asked for.
    assert await emails_of(test_app, joe.fs_uniquifier, matt.fs_uniquifier) == [
        "joe@lp.com",
        NEW,
    ]


async def test_links_ignore_the_host_header(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, csrf = await fresh_client(test_app)
    response = await client.post(
        "/change-email",
        json={"email": NEW},
        headers={
            **JSON,
            "X-CSRF-Token": csrf,
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http",
        },
    )
    assert response.status_code == 200
    mail = mail_to(await settled(test_app, smtp_sink, 2), NEW)
    assert "evil.example" not in mail.text and "evil.example" not in mail.html
    assert LINK.search(mail.text) is not None


async def test_auth_token_client(test_app: Any, smtp_sink: SmtpSink) -> None:
    """An SPA with an auth token (fresh when issued) can change its address too."""
    from tests.support.http import auth_token

    token = await auth_token(test_app.app.test_client())
    client = test_app.app.test_client()
    headers = {**JSON, "Authentication-Token": token}
    page = await client.get("/change-email", headers=headers)
    assert (await body(page))["response"]["current_email"] == "matt@lp.com"
    response = await client.post("/change-email", json={"email": NEW}, headers=headers)
    # Token authentication is CSRF-protected by default (CSRF_PROTECT_MECHANISMS).
    assert response.status_code == 400
    csrf = (await body(page))["response"]["csrf_token"]
    response = await client.post(
        "/change-email", json={"email": NEW}, headers={**headers, "X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    await settled(test_app, smtp_sink, 2)
