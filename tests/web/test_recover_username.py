"""/recover-username: the 5.9 contract, anti-enumeration, mail to the stored address."""

from __future__ import annotations

import re
from typing import Any

import pytest

from quart_security import signals
from tests.support.http import JSON, body, get_csrf, json_login
from tests.support.mail import ReceivedMail, SmtpSink
from tests.support.signals import captured

pytestmark = pytest.mark.settings(username_recovery=True)

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


# ---------------------------------------------------------------------- helpers
async def recover(client: Any, email: Any, csrf: str | None = None) -> Any:
    csrf = csrf or await get_csrf(client)
    return await client.post(
        "/recover-username", json={"email": email}, headers={**JSON, "X-CSRF-Token": csrf}
    )


async def recover_html(client: Any, email: str) -> Any:
    page = await client.get("/recover-username")
    found = CSRF_FIELD.search(await page.get_data(as_text=True))
    assert found is not None
    return await client.post(
        "/recover-username", form={"email": email, "csrf_token": found.group(1)}
    )


async def settled(test_app: Any, sink: SmtpSink, count: int) -> list[ReceivedMail]:
    if count:
        await sink.wait_for(count)
    await test_app.security.mailer.drain()
    assert len(sink.messages) == count, [m.envelope_to for m in sink.messages]
    return list(sink.messages)


def msg(test_app: Any, key: str) -> str:
    text: str = test_app.app.config[f"SECURITY_MSG_{key}"][0]
    return text


async def without_csrf(response: Any) -> tuple[int, Any, list[str]]:
    """Status, body and header names with the CSRF token taken out (A-01)."""
    data = await response.get_json()
    if data is not None:
        data["response"].pop("csrf_token", None)
    else:
        data = CSRF_FIELD.sub("", await response.get_data(as_text=True))
    return response.status_code, data, sorted(response.headers.keys())


# ---------------------------------------------------------------------- GET
async def test_get_json(client: Any) -> None:
    response = await client.get("/recover-username", headers=JSON)
    assert response.status_code == 200
    data = (await body(response))["response"]
    assert list(data) == ["csrf_token"]


async def test_get_html(client: Any) -> None:
    page = await client.get("/recover-username")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert 'name="username_recovery_form"' in html and 'name="csrf_token"' in html


async def test_anonymous_only(test_app: Any, smtp_sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    assert (await json_login(client)).status_code == 200
    response = await client.get("/recover-username", headers=JSON)
    assert response.status_code == 400
    assert (await body(response))["response"]["errors"] == [
        msg(test_app, "ANONYMOUS_USER_REQUIRED")
    ]
    page = await client.get("/recover-username")
    assert page.status_code == 302
    await settled(test_app, smtp_sink, 0)


# ---------------------------------------------------------------------- the flow
async def test_json_flow(test_app: Any, smtp_sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    with captured(signals.username_recovery_email_sent) as sent:
        response = await recover(client, "matt@lp.com")
    assert response.status_code == 200
    data = (await body(response))["response"]
    assert list(data) == ["csrf_token"]  # never the user
    (mail,) = await settled(test_app, smtp_sink, 1)
    assert mail.envelope_to == ["matt@lp.com"]
    assert (
        mail.message["Subject"] == test_app.app.config["SECURITY_EMAIL_SUBJECT_USERNAME_RECOVERY"]
    )
    assert "matt" in mail.text and "matt" in mail.html
    assert len(sent) == 1 and sent[0]["user"].email == "matt@lp.com"


async def test_html_flow(test_app: Any, smtp_sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    response = await recover_html(client, "joe@lp.com")
    assert response.status_code == 200
    assert msg(test_app, "USERNAME_RECOVERY_REQUEST") in await response.get_data(as_text=True)
    (mail,) = await settled(test_app, smtp_sink, 1)
    assert mail.envelope_to == ["joe@lp.com"]
    assert "joe" in mail.text


@pytest.mark.parametrize("typed", ["MATT@lp.com", "matt@LP.COM", " Matt@Lp.Com "])
async def test_mail_goes_to_the_stored_address(
    test_app: Any, smtp_sink: SmtpSink, typed: str
) -> None:
    """C-27: whatever spelling was typed, the mail goes to the address on the account."""
    response = await recover(test_app.app.test_client(), typed)
    assert response.status_code == 200
    (mail,) = await settled(test_app, smtp_sink, 1)
    assert mail.envelope_to == ["matt@lp.com"]
    assert mail.message["To"] == "matt@lp.com"


async def test_unicode_look_alikes_get_nothing(test_app: Any, smtp_sink: SmtpSink) -> None:
    """A-08: dotless i, Kelvin sign, fullwidth letters do not reach matt@lp.com or themselves."""
    client = test_app.app.test_client()
    csrf = await get_csrf(client)
    for typed in ("m\u0131tt@lp.com", "mat\u212a@lp.com", "\uff4d\uff41\uff54\uff54@lp.com"):
        response = await recover(client, typed, csrf)
        assert response.status_code in (200, 400)
    await settled(test_app, smtp_sink, 0)


# ---------------------------------------------------------------------- enumeration
@pytest.mark.settings(confirmable=True, login_without_confirmation=False)
async def test_generic_answers_are_identical(test_app: Any, smtp_sink: SmtpSink) -> None:
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        from quart_security.clock import utcnow_naive

        matt = await test_app.store.find_user(email="matt@lp.com")
        matt.confirmed_at = utcnow_naive(test_app.clock)
        await test_app.store.put(matt)
    cases = {
        "known": "matt@lp.com",
        "unknown": "nobody@lp.com",
        "disabled": "tiya@lp.com",
        "unconfirmed": "joe@lp.com",
    }
    json_answers, html_answers = {}, {}
    with captured(signals.username_recovery_email_sent) as sent:
        for name, email in cases.items():
            client = test_app.app.test_client()
            json_answers[name] = await without_csrf(await recover(client, email))
            client = test_app.app.test_client()
            html_answers[name] = await without_csrf(await recover_html(client, email))
    assert len({repr(a) for a in json_answers.values()}) == 1, json_answers
    assert len({repr(a) for a in html_answers.values()}) == 1, html_answers
    assert json_answers["known"][0] == html_answers["known"][0] == 200
    # Only the active, confirmed account gets mail (once per request).
    mails = await settled(test_app, smtp_sink, 2)
    assert {tuple(m.envelope_to) for m in mails} == {("matt@lp.com",)}
    assert len(sent) == 2


@pytest.mark.settings(return_generic_responses=False, confirmable=True)
@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("nobody@lp.com", "USER_DOES_NOT_EXIST"),
        ("tiya@lp.com", "DISABLED_ACCOUNT"),
        ("joe@lp.com", "CONFIRMATION_REQUIRED"),
    ],
)
async def test_specific_errors_when_not_generic(
    test_app: Any, smtp_sink: SmtpSink, email: str, key: str
) -> None:
    response = await recover(test_app.app.test_client(), email)
    assert response.status_code == 400
    assert (await body(response))["response"]["field_errors"] == {"email": [msg(test_app, key)]}
    await settled(test_app, smtp_sink, 0)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("", "EMAIL_NOT_PROVIDED"),
        ("not-an-email", "INVALID_EMAIL_ADDRESS"),
        ("matt@lp.com\r\nBcc: attacker@evil.example", "INVALID_EMAIL_ADDRESS"),
        ("matt@lp.com\nSubject: x", "INVALID_EMAIL_ADDRESS"),
        ("x" * 400 + "@lp.com", "INVALID_EMAIL_ADDRESS"),
    ],
)
async def test_bad_addresses(test_app: Any, smtp_sink: SmtpSink, value: str, key: str) -> None:
    response = await recover(test_app.app.test_client(), value)
    assert response.status_code == 400
    assert (await body(response))["response"]["field_errors"] == {"email": [msg(test_app, key)]}
    await settled(test_app, smtp_sink, 0)


@pytest.mark.parametrize("value", [1, {"$regex": ".*"}, [2], {"$ne": None}])
async def test_non_string_values(test_app: Any, smtp_sink: SmtpSink, value: Any) -> None:
    response = await recover(test_app.app.test_client(), value)
    assert response.status_code == 400
    await settled(test_app, smtp_sink, 0)


async def test_csrf_required(test_app: Any, smtp_sink: SmtpSink) -> None:
    client = test_app.app.test_client()
    await client.get("/recover-username", headers=JSON)
    response = await client.post("/recover-username", json={"email": "matt@lp.com"}, headers=JSON)
    assert response.status_code == 400
    html = await client.post("/recover-username", form={"email": "matt@lp.com"})
    assert html.status_code == 400
    await settled(test_app, smtp_sink, 0)


async def test_html_bad_input_is_escaped(test_app: Any, smtp_sink: SmtpSink) -> None:
    response = await recover_html(test_app.app.test_client(), "<script>x</script>")
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert msg(test_app, "INVALID_EMAIL_ADDRESS") in html
    assert "<script>x</script>" not in html
    await settled(test_app, smtp_sink, 0)


@pytest.mark.settings(username_enable=True)
async def test_recovered_username_signs_in(test_app: Any, smtp_sink: SmtpSink) -> None:
    await recover(test_app.app.test_client(), "dave@lp.com")
    (mail,) = await settled(test_app, smtp_sink, 1)
    assert "dave" in mail.text
    client = test_app.app.test_client()
    csrf = await get_csrf(client)
    from tests.support.app_factory import PASSWORD

    login = await client.post(
        "/login", json={"username": "dave", "password": PASSWORD}, headers={"X-CSRF-Token": csrf}
    )
    assert login.status_code == 200
