"""/change-username: Flask-Security 5.9's contract, freshness, uniqueness and bad input."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import timedelta
from typing import Any

import pytest

from quart_security import signals
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf
from tests.support.mail import ReceivedMail, SmtpSink
from tests.support.race import rendezvous
from tests.support.signals import captured

pytestmark = pytest.mark.settings(username_enable=True, change_username=True)


# ---------------------------------------------------------------------- helpers
async def login(client: Any, identity: str, password: str = PASSWORD) -> Any:
    csrf = await get_csrf(client)
    field = "email" if "@" in identity else "username"
    return await client.post(
        "/login", json={field: identity, "password": password}, headers={"X-CSRF-Token": csrf}
    )


async def fresh_client(test_app: Any, email: str = "matt@lp.com") -> tuple[Any, str]:
    client = test_app.app.test_client()
    assert (await login(client, email)).status_code == 200
    page = await client.get("/change-username", headers=JSON)
    assert page.status_code == 200
    return client, (await body(page))["response"]["csrf_token"]


async def rename(client: Any, csrf: str, username: Any) -> Any:
    return await client.post(
        "/change-username", json={"username": username}, headers={**JSON, "X-CSRF-Token": csrf}
    )


async def settled(test_app: Any, sink: SmtpSink, count: int) -> list[ReceivedMail]:
    if count:
        await sink.wait_for(count)
    await test_app.security.mailer.drain()
    assert len(sink.messages) == count, [m.envelope_to for m in sink.messages]
    return list(sink.messages)


async def usernames(test_app: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        for email in ("matt@lp.com", "joe@lp.com", "dave@lp.com", "tiya@lp.com"):
            user = await test_app.store.find_user(email=email)
            out[email] = user.username
    return out


SEEDED = {
    "matt@lp.com": "matt",
    "joe@lp.com": "joe",
    "dave@lp.com": "dave",
    "tiya@lp.com": "tiya",
}


def msg(test_app: Any, key: str, **kwargs: Any) -> str:
    text: str = test_app.app.config[f"SECURITY_MSG_{key}"][0]
    return text % kwargs if kwargs else text


# ---------------------------------------------------------------------- GET
async def test_get_json(test_app: Any) -> None:
    client, _ = await fresh_client(test_app)
    data = await body(await client.get("/change-username", headers=JSON))
    assert data["response"]["current_username"] == "matt"
    assert data["response"]["user"] == {}
    assert data["response"]["csrf_token"]


async def test_get_html(test_app: Any) -> None:
    client, _ = await fresh_client(test_app)
    page = await client.get("/change-username")
    html = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="change_username_form"' in html and "matt" in html


async def test_requires_login(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert (await client.get("/change-username", headers=JSON)).status_code == 401
    assert (await client.post("/change-username", json={"username": "x"})).status_code == 401
    assert (await client.get("/change-username")).headers["Location"].startswith("/login?next=")


@pytest.mark.settings(username_enable=False)
async def test_needs_usernames_enabled(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert (await client.get("/change-username", headers=JSON)).status_code == 404


# ---------------------------------------------------------------------- the flow
async def test_json_flow(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, csrf = await fresh_client(test_app)
    with captured(signals.username_changed) as changed:
        response = await rename(client, csrf, "matthew")
    assert response.status_code == 200
    data = (await body(response))["response"]
    assert data["user"] == {}
    assert data["csrf_token"]
    assert (await usernames(test_app))["matt@lp.com"] == "matthew"
    assert len(changed) == 1
    assert changed[0]["old_username"] == "matt"
    assert changed[0]["user"].username == "matthew"
    (notice,) = await settled(test_app, smtp_sink, 1)
    # Sent to the account's stored address, never to anything typed.
    assert notice.envelope_to == ["matt@lp.com"]
    subject = test_app.app.config["SECURITY_EMAIL_SUBJECT_USERNAME_CHANGE_NOTICE"]
    assert notice.message["Subject"] == subject
    for part in (notice.text, notice.html):
        assert "matthew" in part and "matt " in part
    # The new name signs in, the old one no longer does.
    assert (await login(test_app.app.test_client(), "matthew")).status_code == 200
    assert (await login(test_app.app.test_client(), "MATTHEW")).status_code == 200
    assert (await login(test_app.app.test_client(), "matt")).status_code == 400
    page = await client.get("/change-username", headers=JSON)
    assert (await body(page))["response"]["current_username"] == "matthew"


async def test_html_flow(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, _ = await fresh_client(test_app)
    page = await client.get("/change-username")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
    assert csrf is not None
    response = await client.post(
        "/change-username", form={"username": "matthew", "csrf_token": csrf.group(1)}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert (await usernames(test_app))["matt@lp.com"] == "matthew"
    await settled(test_app, smtp_sink, 1)


@pytest.mark.settings(post_change_username_view="/renamed")
async def test_html_post_view(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, _ = await fresh_client(test_app)
    page = await client.get("/change-username")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
    assert csrf is not None
    response = await client.post(
        "/change-username", form={"username": "matthew", "csrf_token": csrf.group(1)}
    )
    assert response.headers["Location"] == "/renamed"


@pytest.mark.settings(send_username_change_email=False)
async def test_notice_can_be_turned_off(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, csrf = await fresh_client(test_app)
    assert (await rename(client, csrf, "matthew")).status_code == 200
    await settled(test_app, smtp_sink, 0)


async def test_own_name_in_another_case_is_allowed(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, csrf = await fresh_client(test_app)
    same = await rename(client, csrf, "matt")
    assert same.status_code == 400
    assert (await body(same))["response"]["field_errors"] == {
        "username": [msg(test_app, "USERNAME_ALREADY_ASSOCIATED", username="matt")]
    }
    assert (await rename(client, csrf, "Matt")).status_code == 200
    assert (await usernames(test_app))["matt@lp.com"] == "Matt"
    await settled(test_app, smtp_sink, 1)


# ---------------------------------------------------------------------- freshness, CSRF
async def test_freshness_required(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, _ = await fresh_client(test_app)
    test_app.clock.advance(timedelta(hours=25))
    stale = await client.get("/change-username", headers=JSON)
    assert stale.status_code == 401
    assert (await body(stale))["response"]["reauth_required"] is True
    assert (await client.get("/change-username")).headers["Location"].startswith("/verify?next=")
    csrf = (await body(await client.get("/verify", headers=JSON)))["response"]["csrf_token"]
    refused = await rename(client, csrf, "matthew")
    assert refused.status_code == 401
    assert (await usernames(test_app)) == SEEDED
    verified = await client.post(
        "/verify", json={"password": PASSWORD}, headers={**JSON, "X-CSRF-Token": csrf}
    )
    assert verified.status_code == 200
    csrf = (await body(verified))["response"]["csrf_token"]
    assert (await rename(client, csrf, "matthew")).status_code == 200
    await settled(test_app, smtp_sink, 1)


async def test_csrf_required(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, _ = await fresh_client(test_app)
    response = await client.post("/change-username", json={"username": "matthew"}, headers=JSON)
    assert response.status_code == 400
    assert (await usernames(test_app)) == SEEDED
    await settled(test_app, smtp_sink, 0)


# ---------------------------------------------------------------------- uniqueness
@pytest.mark.parametrize(
    "taken",
    [
        "dave",
        "DAVE",
        "Dave",
        " dave ",
        "\uff44\uff41\uff56\uff45",  # fullwidth "dave": NFKD makes it "dave"
        "\uff24\uff21\uff36\uff25",  # fullwidth "DAVE"
    ],
)
async def test_taken_in_any_case_or_form(test_app: Any, smtp_sink: SmtpSink, taken: str) -> None:
    client, csrf = await fresh_client(test_app)
    with captured(signals.username_changed) as changed:
        response = await rename(client, csrf, taken)
    assert response.status_code == 400
    canonical = unicodedata.normalize("NFKD", taken.strip())
    assert (await body(response))["response"]["field_errors"] == {
        "username": [msg(test_app, "USERNAME_ALREADY_ASSOCIATED", username=canonical)]
    }
    assert changed == []
    assert (await usernames(test_app)) == SEEDED
    await settled(test_app, smtp_sink, 0)


async def test_taken_composed_vs_decomposed(test_app: Any, smtp_sink: SmtpSink) -> None:
    """A name stored in canonical (NFKD) form is taken when typed precomposed (NFC)."""
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        await test_app.store.create_user(email="jose@lp.com", username="jose\u0301", password=None)
    client, csrf = await fresh_client(test_app)
    response = await rename(client, csrf, "jos\u00e9")
    assert response.status_code == 400
    assert list((await body(response))["response"]["field_errors"]) == ["username"]
    assert (await usernames(test_app)) == SEEDED
    await settled(test_app, smtp_sink, 0)


def case_insensitive_username_lookup(**kwargs: Any) -> bool:
    return kwargs.get("case_insensitive") is True and "username" in kwargs


@pytest.mark.parametrize(
    "variants",
    [("Racer", "rACER", "RAcer"), ("Ærøskøbing", "ærøskøbing", "ÆRØSKØBING")],
    ids=["ascii", "non-ascii"],
)
async def test_racing_renames_to_case_variants_leave_one_owner(
    test_app: Any, smtp_sink: SmtpSink, variants: tuple[str, ...]
) -> None:
    """Issue #11: three accounts check a free name at once; the datastore keeps one."""
    emails = ["matt@lp.com", "joe@lp.com", "dave@lp.com"]
    sessions = [await fresh_client(test_app, email) for email in emails]
    with (
        captured(signals.username_changed) as changed,
        rendezvous(test_app.store, "find_user", 3, when=case_insensitive_username_lookup) as held,
    ):
        answers = await asyncio.gather(
            *(
                rename(client, csrf, name)
                for (client, csrf), name in zip(sessions, variants, strict=True)
            )
        )
    assert held == [None] * 3  # every one of them saw the name free
    statuses = [a.status_code for a in answers]
    assert sorted(statuses) == [200, 400, 400]
    winner = statuses.index(200)
    for answer, name in zip(answers, variants, strict=True):
        if answer.status_code == 400:
            assert (await body(answer))["response"]["field_errors"] == {
                "username": [msg(test_app, "USERNAME_ALREADY_ASSOCIATED", username=name)]
            }
    assert len(changed) == 1
    names = await usernames(test_app)
    holders = [e for e, n in names.items() if n is not None and n.lower() == variants[0].lower()]
    assert holders == [emails[winner]]
    assert names[emails[winner]] == variants[winner]
    await settled(test_app, smtp_sink, 1)  # the winner's notice


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("", "USERNAME_NOT_PROVIDED"),
        ("   ", "USERNAME_NOT_PROVIDED"),
        ("abc", "USERNAME_INVALID_LENGTH"),
        ("a" * 33, "USERNAME_INVALID_LENGTH"),
        ("a" * 5000, "USERNAME_INVALID_LENGTH"),
        ("bad name", "USERNAME_DISALLOWED_CHARACTERS"),
        ("<script>", "USERNAME_DISALLOWED_CHARACTERS"),
        ("{{7*7}}", "USERNAME_DISALLOWED_CHARACTERS"),
        ("matt\r\nBcc: x", "USERNAME_DISALLOWED_CHARACTERS"),
        ("matt\u200bx", "USERNAME_DISALLOWED_CHARACTERS"),  # zero-width space
        ("m\u202eattx", "USERNAME_DISALLOWED_CHARACTERS"),  # bidi override
    ],
)
async def test_bad_usernames(test_app: Any, smtp_sink: SmtpSink, value: str, key: str) -> None:
    client, csrf = await fresh_client(test_app)
    response = await rename(client, csrf, value)
    assert response.status_code == 400
    kwargs = {"min": 4, "max": 32} if key == "USERNAME_INVALID_LENGTH" else {}
    assert (await body(response))["response"]["field_errors"] == {
        "username": [msg(test_app, key, **kwargs)]
    }
    assert (await usernames(test_app)) == SEEDED
    await settled(test_app, smtp_sink, 0)


@pytest.mark.parametrize("value", [7, {"$ne": ""}, [1], True])
async def test_non_string_values(test_app: Any, smtp_sink: SmtpSink, value: Any) -> None:
    client, csrf = await fresh_client(test_app)
    response = await rename(client, csrf, value)
    assert response.status_code == 400
    assert (await usernames(test_app)) == SEEDED
    await settled(test_app, smtp_sink, 0)


async def test_html_errors_are_escaped(test_app: Any, smtp_sink: SmtpSink) -> None:
    client, _ = await fresh_client(test_app)
    page = await client.get("/change-username")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
    assert csrf is not None
    response = await client.post(
        "/change-username", form={"username": "<b>x</b>", "csrf_token": csrf.group(1)}
    )
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert msg(test_app, "USERNAME_DISALLOWED_CHARACTERS") in html
    assert "<b>x</b>" not in html
    assert (await usernames(test_app)) == SEEDED
