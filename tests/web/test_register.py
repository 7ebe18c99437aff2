"""/register: Flask-Security 5.9's RegisterFormV2 contract, over HTTP, with real mail.

Every test runs on Quart and on the flask_compat app, on each datastore
(tests/web/conftest.py). Mail is delivered inline (SECURITY_SEND_MAIL_INLINE) so
"exactly N mails" is known when the response arrives.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from quart_security import signals
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf, json_login
from tests.support.mail import SmtpSink
from tests.support.race import rendezvous

pytestmark = pytest.mark.settings(registerable=True, send_mail_inline=True)

NEW_PASSWORD = "correct horse battery"
BASE = "https://app.example"
CONFIRM_LINK = re.compile(r"https://app\.example/confirm/[A-Za-z0-9_.\-]+")
RESET_LINK = re.compile(r"https://app\.example/reset/[A-Za-z0-9_.\-]+")


# ---------------------------------------------------------------------- helpers
async def register_csrf(client: Any) -> str:
    response = await client.get("/register", headers=JSON)
    assert response.status_code == 200, await response.get_data(as_text=True)
    token: str = (await body(response))["response"]["csrf_token"]
    return token


def new_user(email: str = "new@lp.com", **extra: Any) -> dict[str, Any]:
    return {"email": email, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, **extra}


async def json_register(client: Any, payload: dict[str, Any], query: str = "") -> Any:
    csrf = await register_csrf(client)
    return await client.post("/register" + query, json=payload, headers={"X-CSRF-Token": csrf})


async def user_count(test_app: Any) -> int:
    store = test_app.store
    async with test_app.app.app_context():
        if hasattr(store, "db"):  # MongoDB
            return int(await store.db[store.user_collection].count_documents({}))
        from sqlalchemy import func, select

        async with store.unit_of_work():
            result = await store.session.execute(select(func.count()).select_from(store.user_model))
            return int(result.scalar_one())


async def stored_user(test_app: Any, **lookup: Any) -> Any:
    async with test_app.app.app_context():
        async with test_app.store.unit_of_work():
            return await test_app.store.find_user(case_insensitive=True, **lookup)


def msg(app: Any, key: str, **kwargs: Any) -> str:
    text: str = app.config["SECURITY_MSG_" + key][0]
    return text % kwargs if kwargs else text


def without_csrf(data: dict[str, Any]) -> dict[str, Any]:
    response = dict(data["response"])
    response.pop("csrf_token", None)
    return {**data, "response": response}


def confirm_path(mail: Any) -> str:
    found = CONFIRM_LINK.search(mail.text)
    assert found is not None, mail.text
    assert found.group(0) in mail.html
    return found.group(0)[len(BASE) :]


class Recorder:
    """Collects a signal's keyword arguments (sync receiver: Flask runs it on its thread)."""

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


# ---------------------------------------------------------------------- GET
async def test_get_json_gives_csrf_and_identity_attributes(client: Any) -> None:
    response = await client.get("/register", headers=JSON)
    assert response.status_code == 200
    data = (await body(response))["response"]
    assert data["csrf_token"]
    assert data["identity_attributes"] == ["email"]
    assert "user" not in data


async def test_get_html_form_has_the_v2_fields(client: Any) -> None:
    response = await client.get("/register?next=/api/public")
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert 'name="email"' in html
    assert 'name="password"' in html
    assert 'name="password_confirm"' in html
    assert 'name="username"' not in html
    assert 'autocomplete="new-password"' in html
    assert 'name="csrf_token"' in html
    assert 'value="/api/public"' in html


@pytest.mark.settings(password_confirm_required=False, username_enable=True)
async def test_get_html_form_follows_settings(client: Any) -> None:
    html = await (await client.get("/register")).get_data(as_text=True)
    assert 'name="password_confirm"' not in html
    assert 'name="username"' in html


@pytest.mark.settings(registerable=False)
async def test_route_absent_unless_registerable(client: Any) -> None:
    assert (await client.get("/register", headers=JSON)).status_code == 404


async def test_logged_in_user_is_refused(client: Any, app: Any, test_app: Any) -> None:
    assert (await json_login(client)).status_code == 200
    get = await client.get("/register", headers=JSON)
    assert get.status_code == 400
    assert (await body(get))["response"]["errors"] == [msg(app, "ANONYMOUS_USER_REQUIRED")]
    before = await user_count(test_app)
    csrf = await get_csrf(client)
    post = await client.post("/register", json=new_user(), headers={"X-CSRF-Token": csrf})
    assert post.status_code == 400
    assert await user_count(test_app) == before
    html = await client.get("/register")
    assert html.status_code == 302


async def test_post_needs_csrf(client: Any, test_app: Any) -> None:
    before = await user_count(test_app)
    await register_csrf(client)
    response = await client.post("/register", json=new_user(), headers=JSON)
    assert response.status_code == 400
    assert await user_count(test_app) == before


# ---------------------------------------------------------------------- success
async def test_json_register_logs_in_when_not_confirmable(
    client: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    before = await user_count(test_app)
    with Recorder(signals.user_authenticated) as authenticated:
        response = await json_register(client, new_user(), query="?include_auth_token")
    assert response.status_code == 200, await response.get_data(as_text=True)
    data = (await body(response))["response"]
    assert data["tf_required"] is False
    assert data["user"]["authentication_token"]
    assert await user_count(test_app) == before + 1
    assert authenticated.calls[0]["authn_via"] == ["register"]
    me = await client.get("/api/me", headers=JSON)
    assert (await me.get_json())["email"] == "new@lp.com"
    token_me = await test_app.app.test_client().get(
        "/api/token", headers={"Authentication-Token": data["user"]["authentication_token"]}
    )
    assert token_me.status_code == 200
    (mail,) = smtp_sink.messages
    assert mail.envelope_to == ["new@lp.com"]
    assert mail.message["Subject"] == "Welcome"
    assert "new@lp.com" in mail.text and "new@lp.com" in mail.html
    assert CONFIRM_LINK.search(mail.text) is None


async def test_no_token_unless_asked(client: Any, smtp_sink: SmtpSink) -> None:
    response = await json_register(client, new_user())
    assert response.status_code == 200
    assert "authentication_token" not in (await body(response))["response"]["user"]


@pytest.mark.settings(confirmable=True)
async def test_json_register_confirm_then_login(
    client: Any, app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    with Recorder(signals.user_registered) as registered:
        response = await json_register(client, new_user("Fresh.User@LP.com"))
    assert response.status_code == 200
    data = (await body(response))["response"]
    assert set(data) == {"csrf_token"}  # generic: the same as for a taken address
    assert (await client.get("/api/me", headers=JSON)).status_code == 401
    user = await stored_user(test_app, email="fresh.user@lp.com")
    assert user.email == "Fresh.User@lp.com"  # canonical: domain lower-cased
    assert user.confirmed_at is None and user.active
    (mail,) = smtp_sink.messages
    assert mail.envelope_to == ["Fresh.User@lp.com"]
    path = confirm_path(mail)
    (call,) = registered.calls
    assert call["confirm_token"] == call["confirmation_token"] == path.rsplit("/", 1)[1]
    assert call["user"].email == "Fresh.User@lp.com"
    assert call["form_data"]["email"] == "Fresh.User@lp.com"
    assert "password" not in call["form_data"]
    # Unconfirmed: the real login flow refuses, generically (the default).
    refused = await json_login(client, "fresh.user@lp.com", NEW_PASSWORD)
    assert refused.status_code == 400
    assert (await body(refused))["response"]["errors"] == [msg(app, "GENERIC_AUTHN_FAILED")]
    confirmed = await client.get(path)
    assert confirmed.status_code == 302
    assert confirmed.headers["Location"] == "/login"
    assert (await json_login(client, "fresh.user@lp.com", NEW_PASSWORD)).status_code == 200


@pytest.mark.settings(confirmable=True)
async def test_html_register_confirm_then_login(client: Any, smtp_sink: SmtpSink) -> None:
    page = await client.get("/register")
    html = await page.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf is not None
    response = await client.post(
        "/register",
        form={
            "email": "html@lp.com",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "csrf_token": csrf.group(1),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    (mail,) = smtp_sink.messages
    confirmed = await client.get(confirm_path(mail))
    assert confirmed.headers["Location"] == "/login"
    login_csrf = await get_csrf(client)
    login = await client.post(
        "/login",
        form={"email": "html@lp.com", "password": NEW_PASSWORD, "csrf_token": login_csrf},
    )
    assert login.status_code == 302
    assert (await client.get("/api/me", headers=JSON)).status_code == 200


@pytest.mark.settings(confirmable=True, login_without_confirmation=True)
async def test_login_without_confirmation_logs_in_and_still_mails_the_link(
    client: Any, smtp_sink: SmtpSink
) -> None:
    response = await json_register(client, new_user())
    assert response.status_code == 200
    assert (await body(response))["response"]["user"] == {}
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    (mail,) = smtp_sink.messages
    assert CONFIRM_LINK.search(mail.text)


async def test_html_register_follows_a_safe_next(app: Any, smtp_sink: SmtpSink) -> None:
    client = app.test_client()
    csrf = await register_csrf(client)
    response = await client.post(
        "/register",
        form={**new_user("next@lp.com"), "next": "/api/public", "csrf_token": csrf},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/api/public"


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "html"])
async def test_an_unsafe_next_fails_registration_and_writes_nothing(
    app: Any, test_app: Any, smtp_sink: SmtpSink, as_json: bool
) -> None:
    """Flask-Security's NextFormMixin: INVALID_REDIRECT on ``next``, as at /login."""
    client = app.test_client()
    csrf = await register_csrf(client)
    fields = {**new_user("evil-next@lp.com"), "next": "//evil.example"}
    if as_json:
        response = await client.post("/register", json=fields, headers={"X-CSRF-Token": csrf})
    else:
        response = await client.post("/register", form={**fields, "csrf_token": csrf})
    assert response.status_code == 400
    message = app.config["SECURITY_MSG_INVALID_REDIRECT"][0]
    if as_json:
        assert (await body(response))["response"]["field_errors"] == {"next": [message]}
    else:
        assert message in await response.get_data(as_text=True)
    assert await stored_user(test_app, email="evil-next@lp.com") is None
    assert smtp_sink.messages == []


@pytest.mark.settings(send_register_email=False, confirmable=True)
async def test_send_register_email_off(client: Any, smtp_sink: SmtpSink) -> None:
    assert (await json_register(client, new_user())).status_code == 200
    assert smtp_sink.messages == []


@pytest.mark.settings(password_confirm_required=False)
async def test_password_confirm_not_required(client: Any, smtp_sink: SmtpSink) -> None:
    response = await json_register(client, {"email": "a1@lp.com", "password": NEW_PASSWORD})
    assert response.status_code == 200


# ---------------------------------------------------------------------- field rules
FIELD_CASES = [
    pytest.param({"email": None}, "email", "EMAIL_NOT_PROVIDED", {}, id="no-email"),
    pytest.param({"email": "   "}, "email", "EMAIL_NOT_PROVIDED", {}, id="blank-email"),
    pytest.param({"email": "not-an-address"}, "email", "INVALID_EMAIL_ADDRESS", {}, id="bad"),
    pytest.param(
        {"email": "v@lp.com\r\nBcc: attacker@evil.example"},
        "email",
        "INVALID_EMAIL_ADDRESS",
        {},
        id="header-injection",
    ),
    pytest.param({"email": "a" * 400 + "@lp.com"}, "email", "INVALID_EMAIL_ADDRESS", {}, id="long"),
    pytest.param(
        {"email": "ｍａｔｔ@lp.com"}, "email", "INVALID_EMAIL_ADDRESS", {}, id="fullwidth"
    ),
    pytest.param(
        {"email": "vi\u200bctim@lp.com"}, "email", "INVALID_EMAIL_ADDRESS", {}, id="zero-width"
    ),
    pytest.param(
        {"password": None, "password_confirm": None},
        "password",
        "PASSWORD_NOT_PROVIDED",
        {},
        id="no-password",
    ),
    pytest.param(
        {"password": "          ", "password_confirm": "          "},
        "password",
        "PASSWORD_NOT_PROVIDED",
        {},
        id="only-spaces",
    ),
    pytest.param(
        {"password": "short", "password_confirm": "short"},
        "password",
        "PASSWORD_INVALID_LENGTH",
        {"length": 8},
        id="short",
    ),
    pytest.param(
        {"password": "x" * 129, "password_confirm": "x" * 129},
        "password",
        "PASSWORD_INVALID_LENGTH",
        {"length": 8},
        id="long-password",
    ),
    pytest.param(
        {"password": "new@lp.com", "password_confirm": "new@lp.com"},
        "password",
        "PASSWORD_TOO_SIMPLE",
        {},
        id="password-is-email",
    ),
    pytest.param(
        {"password_confirm": None}, "password_confirm", "PASSWORD_NOT_PROVIDED", {}, id="no-retype"
    ),
    pytest.param(
        {"password_confirm": NEW_PASSWORD + "!"},
        "password_confirm",
        "RETYPE_PASSWORD_MISMATCH",
        {},
        id="mismatch",
    ),
]


@pytest.mark.parametrize(("change", "field", "key", "kwargs"), FIELD_CASES)
async def test_field_rules_write_nothing(
    client: Any,
    app: Any,
    test_app: Any,
    smtp_sink: SmtpSink,
    change: dict[str, Any],
    field: str,
    key: str,
    kwargs: dict[str, Any],
) -> None:
    before = await user_count(test_app)
    payload = {k: v for k, v in {**new_user(), **change}.items() if v is not None}
    response = await json_register(client, payload)
    assert response.status_code == 400
    errors = (await body(response))["response"]["field_errors"]
    assert errors[field] == [msg(app, key, **kwargs)]
    assert await user_count(test_app) == before
    assert smtp_sink.messages == []
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.parametrize(
    "raw",
    [
        b'{"email": {"$ne": null}, "password": "correct horse battery"}',
        b'{"email": "n@lp.com", "password": 12345678, "password_confirm": 12345678}',
        b'{"email": "n@lp.com", "password": ["a", "b"]}',
        b"[1, 2]",
        b"{",
    ],
)
async def test_malformed_bodies_write_nothing(client: Any, test_app: Any, raw: bytes) -> None:
    before = await user_count(test_app)
    csrf = await register_csrf(client)
    response = await client.post(
        "/register",
        data=raw,
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf},
    )
    assert response.status_code == 400
    assert (await body(response))["response"]["errors"]
    assert await user_count(test_app) == before


async def test_html_errors_rerender_the_form(client: Any, app: Any) -> None:
    csrf = await register_csrf(client)
    response = await client.post(
        "/register",
        form={"email": "x@lp.com", "password": "shortpw", "password_confirm": "shortpw"}
        | {"csrf_token": csrf},
    )
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert msg(app, "PASSWORD_INVALID_LENGTH", length=8) in html
    assert 'value="x@lp.com"' in html
    assert "shortpw" not in html  # passwords are never echoed back


# ---------------------------------------------------------------------- usernames
@pytest.mark.settings(username_enable=True)
async def test_username_is_stored_canonical(
    test_app: Any, client: Any, smtp_sink: SmtpSink
) -> None:
    response = await json_register(client, new_user(username="Ｎｅｗｂｉｅ"))
    assert response.status_code == 200
    user = await stored_user(test_app, username="newbie")
    assert user is not None and user.username == "Newbie"  # NFKD folds fullwidth forms
    assert user.email == "new@lp.com"


@pytest.mark.settings(username_enable=True, username_required=True)
async def test_username_required(client: Any, app: Any, test_app: Any) -> None:
    before = await user_count(test_app)
    response = await json_register(client, new_user())
    assert response.status_code == 400
    errors = (await body(response))["response"]["field_errors"]
    assert errors == {"username": [msg(app, "USERNAME_NOT_PROVIDED")]}
    assert await user_count(test_app) == before


@pytest.mark.settings(username_enable=True)
@pytest.mark.parametrize(
    ("username", "key"),
    [
        ("abc", "USERNAME_INVALID_LENGTH"),
        ("a" * 33, "USERNAME_INVALID_LENGTH"),
        ("bad name!", "USERNAME_DISALLOWED_CHARACTERS"),
        ("{{7*7}}", "USERNAME_DISALLOWED_CHARACTERS"),
        ("<b>bold</b>", "USERNAME_DISALLOWED_CHARACTERS"),
    ],
)
async def test_username_rules(
    client: Any, app: Any, test_app: Any, username: str, key: str
) -> None:
    before = await user_count(test_app)
    response = await json_register(client, new_user(username=username))
    assert response.status_code == 400
    errors = (await body(response))["response"]["field_errors"]
    assert errors["username"] == [msg(app, key, min=4, max=32)]
    assert await user_count(test_app) == before


@pytest.mark.settings(username_enable=True)
async def test_password_may_not_be_the_username(client: Any, app: Any) -> None:
    response = await json_register(
        client,
        new_user(
            username="HorseBatteryX", password="horsebatteryx", password_confirm="horsebatteryx"
        ),
    )
    assert response.status_code == 400
    assert (await body(response))["response"]["field_errors"]["password"] == [
        msg(app, "PASSWORD_TOO_SIMPLE")
    ]


@pytest.mark.settings(username_enable=True, return_generic_responses=False)
async def test_taken_username_without_generic_responses(
    client: Any, app: Any, test_app: Any
) -> None:
    before = await user_count(test_app)
    response = await json_register(client, new_user(username="MATT"))
    assert response.status_code == 400
    errors = (await body(response))["response"]["field_errors"]
    assert errors == {"username": [msg(app, "USERNAME_ALREADY_ASSOCIATED", username="MATT")]}
    assert await user_count(test_app) == before


@pytest.mark.settings(username_enable=True, confirmable=True)
async def test_taken_username_with_generic_responses(
    client: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    before = await user_count(test_app)
    with Recorder(signals.user_not_registered) as not_registered:
        taken = await json_register(client, new_user("other@lp.com", username="Matt"))
    fresh = await json_register(app_client(test_app), new_user("third@lp.com", username="Fresh1"))
    assert taken.status_code == fresh.status_code == 200
    assert without_csrf(await body(taken)) == without_csrf(await body(fresh))
    assert await user_count(test_app) == before + 1
    (call,) = not_registered.calls
    assert call["user"] is None
    assert call["existing_email"] is False and call["existing_username"] is True
    mails = {m.envelope_to[0]: m for m in smtp_sink.messages}
    assert set(mails) == {"other@lp.com", "third@lp.com"}
    assert "Matt" in mails["other@lp.com"].text
    assert CONFIRM_LINK.search(mails["other@lp.com"].text) is None


def app_client(test_app: Any) -> Any:
    return test_app.app.test_client()


# ---------------------------------------------------------------------- taken emails
@pytest.mark.settings(return_generic_responses=False)
@pytest.mark.parametrize(
    "variant", ["matt@lp.com", "MATT@LP.COM", "Matt@lp.com", " matt@lp.com ", "matt@LP.com"]
)
async def test_taken_email_without_generic_responses(
    client: Any, app: Any, test_app: Any, variant: str, smtp_sink: SmtpSink
) -> None:
    before = await user_count(test_app)
    response = await json_register(client, new_user(variant))
    assert response.status_code == 400
    errors = (await body(response))["response"]["field_errors"]
    canonical = variant.strip().split("@")[0] + "@lp.com"
    assert errors == {"email": [msg(app, "EMAIL_ALREADY_ASSOCIATED", email=canonical)]}
    assert await user_count(test_app) == before
    assert smtp_sink.messages == []


@pytest.mark.settings(return_generic_responses=False)
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("jos\u00e9@lp.com", "jose\u0301@lp.com"),  # NFC vs NFD
        ("jose\u0301@lp.com", "JOS\u00c9@lp.com"),  # NFD vs upper-case NFC
        ("user@b\u00fccher.example", "user@xn--bcher-kva.example"),  # IDNA forms
        ("quack@lp.com", "quac\u212a@lp.com"),  # KELVIN SIGN folds to K
    ],
)
async def test_unicode_and_case_forms_are_one_identity(
    client: Any, test_app: Any, smtp_sink: SmtpSink, first: str, second: str
) -> None:
    assert (await json_register(client, new_user(first))).status_code == 200
    before = await user_count(test_app)
    other = app_client(test_app)
    response = await json_register(other, new_user(second))
    assert response.status_code == 400, await response.get_data(as_text=True)
    assert "email" in (await body(response))["response"]["field_errors"]
    assert await user_count(test_app) == before


@pytest.mark.settings(confirmable=True, recoverable=True)
async def test_generic_response_for_a_taken_email_is_identical(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    before = await user_count(test_app)
    with (
        Recorder(signals.user_not_registered) as not_registered,
        Recorder(signals.user_registered) as registered,
    ):
        taken = await json_register(app.test_client(), new_user("MATT@lp.com"))
        fresh = await json_register(app.test_client(), new_user("brand.new@lp.com"))
    assert taken.status_code == fresh.status_code == 200
    assert without_csrf(await body(taken)) == without_csrf(await body(fresh))
    assert sorted(taken.headers.keys()) == sorted(fresh.headers.keys())
    assert await user_count(test_app) == before + 1
    assert len(registered.calls) == 1
    (call,) = not_registered.calls
    assert call["user"].email == "matt@lp.com"
    assert call["existing_email"] is True and call["existing_username"] is False
    # One mail per request; the taken address's goes to the STORED spelling.
    assert len(smtp_sink.messages) == 2
    existing = smtp_sink.messages[0]
    assert existing.envelope_to == ["matt@lp.com"]
    assert existing.message["To"] == "matt@lp.com"
    assert RESET_LINK.search(existing.text) and RESET_LINK.search(existing.html)
    # matt is not confirmed yet: the mail carries a working confirmation link.
    confirmed = await app.test_client().get(confirm_path(existing))
    assert confirmed.headers["Location"] == "/login"
    assert (await stored_user(test_app, email="matt@lp.com")).confirmed_at is not None
    # ... and, once confirmed, a reset link that /reset/<token> accepts.
    reset_link = RESET_LINK.search(existing.text)
    assert reset_link is not None
    reset_page = await app.test_client().get(reset_link.group(0)[len(BASE) :])
    assert reset_page.status_code == 200
    assert smtp_sink.messages[1].envelope_to == ["brand.new@lp.com"]


@pytest.mark.settings(confirmable=True)
async def test_generic_html_answer_is_the_same_redirect(app: Any, smtp_sink: SmtpSink) -> None:
    locations = []
    for email in ("matt@lp.com", "someone.else@lp.com"):
        client = app.test_client()
        csrf = await register_csrf(client)
        response = await client.post("/register", form={**new_user(email), "csrf_token": csrf})
        assert response.status_code == 302
        locations.append(response.headers["Location"])
    assert locations[0] == locations[1] == "/"
    existing, fresh = smtp_sink.messages
    assert existing.envelope_to == ["matt@lp.com"]
    assert RESET_LINK.search(existing.text) is None  # RECOVERABLE is off
    assert CONFIRM_LINK.search(existing.text) and CONFIRM_LINK.search(fresh.text)


@pytest.mark.settings(confirmable=True, return_generic_responses=False)
async def test_json_answer_carries_user_when_not_generic(client: Any, smtp_sink: SmtpSink) -> None:
    response = await json_register(client, new_user(), query="?include_auth_token")
    assert response.status_code == 200
    data = (await body(response))["response"]
    assert data["user"] == {}  # Flask-Security's shape; no token: nobody is signed in
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.settings(confirmable=True)
async def test_generic_paths_cost_one_hash_each(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    passwords = test_app.security.passwords
    calls: list[str] = []
    original_hash, original_dummy = passwords.hash, passwords.dummy_verify

    async def counting_hash(password: str) -> str:
        calls.append("hash")
        return await original_hash(password)

    async def counting_dummy(password: object) -> None:
        calls.append("dummy")
        await original_dummy(password)

    passwords.hash, passwords.dummy_verify = counting_hash, counting_dummy
    try:
        per_request = []
        for email in ("joe@lp.com", "somebody@lp.com"):
            calls.clear()
            response = await json_register(app.test_client(), new_user(email))
            assert response.status_code == 200
            per_request.append(list(calls))
    finally:
        passwords.hash, passwords.dummy_verify = original_hash, original_dummy
    assert per_request == [["hash"], ["hash"]]


# ---------------------------------------------------------------------- mass assignment
async def test_mass_assignment_is_ignored(client: Any, test_app: Any, smtp_sink: SmtpSink) -> None:
    payload = new_user(
        "mass@lp.com",
        roles=["admin"],
        active=False,
        confirmed_at="2020-01-01T00:00:00",
        fs_uniquifier="attacker-chosen",
        fs_token_uniquifier="attacker-chosen-too",
        tf_primary_method="email",
        tf_totp_secret="AAAA",
        us_phone_number="+15555550100",
        password_hash="$plaintext$x",
        login_count="99",
        id="1",
    )
    response = await json_register(client, payload)
    assert response.status_code == 200
    user = await stored_user(test_app, email="mass@lp.com")
    assert list(user.roles) == []
    assert user.active is True
    assert user.confirmed_at is None
    assert user.fs_uniquifier != "attacker-chosen"
    assert getattr(user, "tf_primary_method", None) is None
    assert getattr(user, "tf_totp_secret", None) is None
    assert getattr(user, "us_phone_number", None) is None
    assert not getattr(user, "login_count", None)
    assert str(user.password).startswith("$argon2")
    admin = await client.get("/api/admin", headers=JSON)
    assert admin.status_code == 403


async def test_unknown_members_of_any_type_are_ignored(
    client: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    """docs/flows/register.md: extra members are ignored, whatever their JSON type."""
    payload = new_user(
        "typed@lp.com",
        login_count=99,
        active=False,
        roles=[{"name": "admin"}],
        confirmed_at={"$date": 0},
        id=1,
        ratio=0.5,
    )
    response = await json_register(client, payload)
    assert response.status_code == 200, await response.get_data(as_text=True)
    user = await stored_user(test_app, email="typed@lp.com")
    assert not getattr(user, "login_count", None)
    assert user.active is True
    assert list(user.roles) == []
    assert user.confirmed_at is None


async def test_a_refusing_user_registered_receiver_writes_nothing(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    """The request's one commit comes after the signal: a receiver that raises
    leaves no account behind and sends no mail (SQL; MongoDB writes at once)."""

    def refuse(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the app refuses this registration")

    before = await user_count(test_app)
    signals.user_registered.connect(refuse)
    try:
        try:
            response = await json_register(test_app.app.test_client(), new_user("refused@lp.com"))
        except RuntimeError:
            pass  # Flask's test client re-raises under TESTING
        else:
            assert response.status_code == 500  # Quart answers it
    finally:
        signals.user_registered.disconnect(refuse)
    await test_app.security.mailer.drain()
    assert smtp_sink.messages == []
    if test_app.store.transactional:
        assert await user_count(test_app) == before


# ---------------------------------------------------------------------- concurrency
@pytest.mark.settings(confirmable=True)
async def test_parallel_registrations_of_one_email_make_one_account(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    before = await user_count(test_app)
    clients = [app.test_client() for _ in range(10)]
    tokens = [await register_csrf(c) for c in clients]
    with Recorder(signals.user_registered) as registered:
        responses = await asyncio.gather(
            *(
                c.post("/register", json=new_user("race@lp.com"), headers={"X-CSRF-Token": t})
                for c, t in zip(clients, tokens, strict=True)
            )
        )
    assert [r.status_code for r in responses] == [200] * 10
    bodies = [without_csrf(await body(r)) for r in responses]
    assert all(b == bodies[0] for b in bodies)
    assert await user_count(test_app) == before + 1
    assert len(registered.calls) == 1
    # One welcome for the winner, a welcome-existing for each loser: all to one address.
    assert len(smtp_sink.messages) == 10
    assert {tuple(m.envelope_to) for m in smtp_sink.messages} == {("race@lp.com",)}
    assert sum(1 for m in smtp_sink.messages if "already belongs" in m.text) == 9


@pytest.mark.settings(return_generic_responses=False)
async def test_parallel_registrations_without_generic_responses(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    before = await user_count(test_app)
    clients = [app.test_client() for _ in range(10)]
    tokens = [await register_csrf(c) for c in clients]
    responses = await asyncio.gather(
        *(
            c.post("/register", json=new_user("race@lp.com"), headers={"X-CSRF-Token": t})
            for c, t in zip(clients, tokens, strict=True)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 9
    assert await user_count(test_app) == before + 1
    logged_in = [(await c.get("/api/me", headers=JSON)).status_code == 200 for c in clients]
    assert sum(logged_in) == 1


#: Ten spellings of one address (the domain is always folded; the local part is not).
CASE_VARIANTS = [
    "race@lp.com",
    "Race@lp.com",
    "RACE@lp.com",
    "rAce@lp.com",
    "raCe@lp.com",
    "racE@lp.com",
    "RaCe@lp.com",
    "rAcE@lp.com",
    "RACe@lp.com",
    "rACE@lp.com",
]


def case_insensitive_email_lookup(**kwargs: Any) -> bool:
    return kwargs.get("case_insensitive") is True and "email" in kwargs


@pytest.mark.settings(recoverable=True)
async def test_parallel_registrations_of_case_variants_make_one_account(
    app: Any, test_app: Any, smtp_sink: SmtpSink
) -> None:
    """Issue #11: the datastore itself must refuse a second spelling of one identity."""
    before = await user_count(test_app)
    clients = [app.test_client() for _ in CASE_VARIANTS]
    tokens = [await register_csrf(c) for c in clients]
    with (
        Recorder(signals.user_registered) as registered,
        # Five of them finish their "is it taken?" check before any of them writes.
        rendezvous(test_app.store, "find_user", 5, when=case_insensitive_email_lookup) as held,
    ):
        responses = await asyncio.gather(
            *(
                c.post("/register", json=new_user(email), headers={"X-CSRF-Token": t})
                for c, t, email in zip(clients, tokens, CASE_VARIANTS, strict=True)
            )
        )
    assert held == [None] * 5
    assert [r.status_code for r in responses] == [200] * 10
    assert await user_count(test_app) == before + 1
    assert len(registered.calls) == 1
    owner = str(registered.calls[0]["user"].email)
    # Only the winner was signed in; the others got the generic answer.
    logged_in = [(await c.get("/api/me", headers=JSON)).status_code == 200 for c in clients]
    assert logged_in.count(True) == 1
    assert CASE_VARIANTS[logged_in.index(True)] == owner
    # Everybody was answered about the one account, at its stored address.
    assert len(smtp_sink.messages) == 10
    assert {tuple(m.envelope_to) for m in smtp_sink.messages} == {(owner,)}
    assert sum(1 for m in smtp_sink.messages if "already belongs" in m.text) == 9
    # Any other spelling still names exactly that account.
    login = await json_login(app.test_client(), "RaCE@LP.com", NEW_PASSWORD)
    assert login.status_code == 200, await login.get_data(as_text=True)
    other = app.test_client()
    forgot = await other.post(
        "/reset",
        json={"email": "rACe@lp.com"},
        headers={**JSON, "X-CSRF-Token": await get_csrf(other)},
    )
    assert forgot.status_code == 200
    assert len(smtp_sink.messages) == 11
    assert smtp_sink.messages[-1].envelope_to == [owner]
    assert RESET_LINK.search(smtp_sink.messages[-1].text) is not None


# ---------------------------------------------------------------------- signals
@pytest.mark.settings(confirmable=True)
async def test_registration_does_not_echo_password_in_signal(
    client: Any, smtp_sink: SmtpSink
) -> None:
    with Recorder(signals.user_registered) as registered:
        await json_register(client, new_user())
    assert NEW_PASSWORD not in repr(registered.calls[0]["form_data"])
    assert PASSWORD not in repr(registered.calls[0]["form_data"])
