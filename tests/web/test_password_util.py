"""password_util_cls over HTTP, on Quart and flask_compat: normalisation at every entry,
the app's own error text in field_errors and on the page, sync and async overrides,
and the breached-password check against a local range API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import flask_compat
from quart_security import PasswordUtil
from tests.support.app_factory import PASSWORD, create_test_app
from tests.support.flask_app_factory import flask_test_app
from tests.support.http import JSON, body, json_login
from tests.support.mail import SmtpSink
from tests.support.range_api import RangeApi, closed_port, range_api
from tests.web.test_recover import reset, reset_token

pytestmark = pytest.mark.settings(
    registerable=True,
    changeable=True,
    recoverable=True,
    send_register_email=False,
    send_password_change_email=False,
    send_password_reset_notice_email=False,
)

DIGITS = "Digits are not welcome here"


class Shouting(PasswordUtil):
    """Normalises by stripping and upper-casing (sync, as a Flask app writes it)."""

    def normalize(self, password: str) -> str:
        return super().normalize(password.strip().upper())


class NoDigitsSync(PasswordUtil):
    """A plain-def validate with its own rule and its own words (a Flask app's style)."""

    def validate(  # type: ignore[override]
        self, password: str, is_register: bool, **kwargs: Any
    ) -> tuple[list[str] | None, str]:
        if any(c.isdigit() for c in password):
            return [DIGITS], password
        return None, self.normalize(password)


class NoDigitsToo(PasswordUtil):
    """An async validate that adds its rule to the built-in ones."""

    seen: list[tuple[bool, dict[str, Any]]] = []

    async def validate(
        self, password: str, is_register: bool, **kwargs: Any
    ) -> tuple[list[str] | None, str]:
        # What it was given (a user by its email: the object dies with the request).
        given = {k: getattr(v, "email", v) for k, v in kwargs.items()}
        type(self).seen.append((is_register, given))
        errors, normalized = await super().validate(password, is_register, **kwargs)
        if any(c.isdigit() for c in password):
            errors = [*(errors or []), DIGITS]
        return errors or None, normalized


async def register(client: Any, password: str, email: str = "new@lp.com", **extra: Any) -> Any:
    page = await client.get("/register", headers=JSON)
    csrf = (await body(page))["response"]["csrf_token"]
    payload = {"email": email, "password": password, "password_confirm": password, **extra}
    return await client.post("/register", json=payload, headers={"X-CSRF-Token": csrf})


async def change(client: Any, old: str, new: str) -> Any:
    page = await client.get("/change", headers=JSON)
    csrf = (await body(page))["response"]["csrf_token"]
    payload = {"password": old, "new_password": new, "new_password_confirm": new}
    return await client.post("/change", json=payload, headers={**JSON, "X-CSRF-Token": csrf})


def message(test_app: Any, key: str, **kwargs: Any) -> str:
    text: str = test_app.app.config[f"SECURITY_MSG_{key}"][0]
    return text % kwargs if kwargs else text


async def status_of_login(test_app: Any, email: str, password: str) -> int:
    return int((await json_login(test_app.app.test_client(), email, password)).status_code)


# ---------------------------------------------------------------------- the hook
async def test_the_default_util_is_built_with_the_app(test_app: Any) -> None:
    security = test_app.security
    assert type(security.password_util) is PasswordUtil
    assert security.password_util_cls is PasswordUtil
    assert security.password_util.app is security.app


@pytest.mark.security_kwargs(password_util_cls=Shouting)
async def test_normalize_is_applied_at_register_login_change(test_app: Any) -> None:
    assert isinstance(test_app.security.password_util, Shouting)
    client = test_app.app.test_client()
    assert (await register(client, "  quiet words here ")).status_code == 200
    # Stored as normalised: every spelling that normalises the same signs in.
    assert await status_of_login(test_app, "new@lp.com", "QUIET WORDS HERE") == 200
    assert await status_of_login(test_app, "new@lp.com", "quiet words here") == 200
    assert await status_of_login(test_app, "new@lp.com", "quiet words there") == 400
    client = test_app.app.test_client()
    assert (await json_login(client, "new@lp.com", "Quiet Words Here")).status_code == 200
    same = await change(client, "quiet words here", " QUIET words HERE")
    assert same.status_code == 400
    assert (await body(same))["response"]["field_errors"] == {
        "password": [message(test_app, "PASSWORD_IS_THE_SAME")]
    }
    changed = await change(client, "quiet words here", "louder words now")
    assert changed.status_code == 200, await body(changed)
    assert await status_of_login(test_app, "new@lp.com", "LOUDER WORDS NOW") == 200


@pytest.mark.security_kwargs(password_util_cls=Shouting)
async def test_normalize_is_applied_at_reset(test_app: Any, smtp_sink: SmtpSink) -> None:
    token = await reset_token(test_app, smtp_sink)
    response = await reset(test_app.app.test_client(), token, "fresh start now")
    assert response.status_code == 200, await body(response)
    assert await status_of_login(test_app, "matt@lp.com", "FRESH START NOW") == 200


@pytest.mark.security_kwargs(password_util_cls=NoDigitsSync)
async def test_a_sync_util_text_reaches_the_client_as_is(test_app: Any) -> None:
    client = test_app.app.test_client()
    refused = await register(client, "long enough 123")
    assert refused.status_code == 400
    assert (await body(refused))["response"]["field_errors"] == {"password": [DIGITS]}
    # The same on the page (HTML), escaped like any text.
    page = await client.get("/register")
    csrf = (await page.get_data(as_text=True)).split('name="csrf_token" value="')[1].split('"')[0]
    form = {"email": "x@lp.com", "password": "abc1", "password_confirm": "abc1"}
    html = await client.post("/register", form={**form, "csrf_token": csrf})
    assert html.status_code == 400
    assert DIGITS in await html.get_data(as_text=True)
    # This util has no length rule: a short password without digits is fine.
    assert (await register(client, "tiny")).status_code == 200


@pytest.mark.security_kwargs(password_util_cls=NoDigitsToo)
async def test_app_text_travels_beside_translated_keys(test_app: Any) -> None:
    NoDigitsToo.seen.clear()
    client = test_app.app.test_client()
    refused = await register(client, "abc1")
    assert refused.status_code == 400
    errors = (await body(refused))["response"]["field_errors"]["password"]
    assert errors == [message(test_app, "PASSWORD_INVALID_LENGTH", length=8), DIGITS]
    assert NoDigitsToo.seen == [(True, {"email": "new@lp.com"})]


@pytest.mark.security_kwargs(password_util_cls=NoDigitsToo)
async def test_change_gets_the_user_and_shows_app_text(test_app: Any) -> None:
    NoDigitsToo.seen.clear()
    client = test_app.app.test_client()
    assert (await json_login(client)).status_code == 200
    refused = await change(client, PASSWORD, "a new password 42")
    assert refused.status_code == 400
    assert (await body(refused))["response"]["field_errors"] == {"new_password": [DIGITS]}
    ((is_register, kwargs),) = NoDigitsToo.seen
    assert is_register is False and kwargs == {"user": "matt@lp.com"}
    page = await client.get("/change")
    csrf = (await page.get_data(as_text=True)).split('name="csrf_token" value="')[1].split('"')[0]
    form = {
        "password": PASSWORD,
        "new_password": "x9x9x9x9x9",
        "new_password_confirm": "x9x9x9x9x9",
    }
    html = await client.post("/change", form={**form, "csrf_token": csrf})
    assert html.status_code == 400
    assert DIGITS in await html.get_data(as_text=True)
    assert await status_of_login(test_app, "matt@lp.com", PASSWORD) == 200  # unchanged


@pytest.mark.security_kwargs(password_util_cls=NoDigitsToo)
async def test_reset_gets_the_user_and_shows_app_text(test_app: Any, smtp_sink: SmtpSink) -> None:
    NoDigitsToo.seen.clear()
    token = await reset_token(test_app, smtp_sink)
    refused = await reset(test_app.app.test_client(), token, "a new password 42")
    assert refused.status_code == 400
    assert (await body(refused))["response"]["field_errors"] == {"password": [DIGITS]}
    ((is_register, kwargs),) = NoDigitsToo.seen
    assert is_register is False and kwargs == {"user": "matt@lp.com"}
    accepted = await reset(test_app.app.test_client(), token, "a new password")
    assert accepted.status_code == 200


# ---------------------------------------------------------------------- breached passwords
BREACHED = "password1234"
SETTINGS = dict(pytestmark.kwargs)


@pytest.fixture
def api() -> Iterator[RangeApi]:
    with range_api({BREACHED: 7}) as server:
        yield server


@pytest.fixture(params=["quart", "flask"])
async def breached_app(request: pytest.FixtureRequest, tmp_path: Any, api: RangeApi) -> Any:
    """An app checking new passwords against this test's range API (its URL is
    only known once the server runs, so not from a marker)."""
    settings = {
        **SETTINGS,
        "password_check_breached": True,
        "password_breached_count": 7,
        "password_breached_range_url": api.url,
    }
    if request.param == "flask":
        async with flask_test_app("sqlite", tmp_path, settings) as built:
            yield built
        return
    built = await create_test_app("sqlite", tmp_path, settings=settings)
    try:
        yield built
    finally:
        built.security.hashing_pool.shutdown()
        await built.close()


async def test_register_refuses_a_breached_password(breached_app: Any, api: RangeApi) -> None:
    client = breached_app.app.test_client()
    refused = await register(client, BREACHED)
    assert refused.status_code == 400
    assert (await body(refused))["response"]["field_errors"] == {
        "password": [message(breached_app, "PASSWORD_BREACHED")]
    }
    assert (await register(client, "never seen before")).status_code == 200
    # k-anonymity: only 5 hex digits of each SHA-1 left.
    assert [len(path.rsplit("/", 1)[-1]) for path in api.paths] == [5, 5]
    # Signing in is not a new password: the API is not asked.
    assert await status_of_login(breached_app, "new@lp.com", "never seen before") == 200
    assert len(api.paths) == 2


@pytest.mark.settings(password_check_breached="strict", password_breached_range_url=closed_port())
async def test_strict_refuses_when_the_site_is_down(test_app: Any) -> None:
    refused = await register(test_app.app.test_client(), "never seen before")
    assert refused.status_code == 400
    assert (await body(refused))["response"]["field_errors"] == {
        "password": [message(test_app, "PASSWORD_BREACHED_SITE_ERROR")]
    }


@pytest.mark.settings(password_check_breached=True, password_breached_range_url=closed_port())
async def test_true_lets_a_password_through_when_the_site_is_down(
    test_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="quart_security.crypto.password_policy"):
        response = await register(test_app.app.test_client(), "never seen before")
    assert response.status_code == 200
    assert any("breached-password check failed" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------- Flask-Security's pattern
class NoFlaskWord(flask_compat.PasswordUtil):
    """Flask-Security's documented pattern as a Flask app writes it: a plain ``def``
    that builds on ``super().validate``, with its imports changed only."""

    def validate(  # type: ignore[override]
        self, password: str, is_register: bool, **kwargs: Any
    ) -> tuple[list[str] | None, str]:
        errors, normalized = super().validate(password, is_register, **kwargs)
        if "flask" in password.lower():
            errors = [*(errors or []), "No framework names, please"]
        return errors or None, normalized


@pytest.mark.security_kwargs(password_util_cls=NoFlaskWord)
async def test_a_plain_override_builds_on_the_default_checks(test_app: Any) -> None:
    client = test_app.app.test_client()
    refused = await register(client, "flask")
    assert refused.status_code == 400
    errors = (await body(refused))["response"]["field_errors"]["password"]
    # The default's own (translated) length message, then the app's words.
    assert errors == [
        message(test_app, "PASSWORD_INVALID_LENGTH", length=8),
        "No framework names, please",
    ]
    assert (await register(client, "a long flask password")).status_code == 400
    assert (await register(client, "a long quart password")).status_code == 200
