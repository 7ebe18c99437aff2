"""The app's util classes as the flows see them, without an app: a sync and an
async PasswordUtil (the sync one on a worker thread, never on the loop), the
app's own error text beside the library's keys, the extended form's fields in
the util's context and on the new user, and a UsernameUtil at registration."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from quart_security import PasswordUtil, UsernameUtil
from quart_security.flows.register import RegistrationInput, register_user
from tests.support.flow_context import FlowEnv

NEW_PASSWORD = "correct horse battery"
SEEN: list[dict[str, Any]] = []


class BlockingNoDigits(PasswordUtil):
    """A plain def that blocks (as a Flask app's may): it must not run on the loop."""

    def validate(  # type: ignore[override]
        self, password: str, is_register: bool, **kwargs: Any
    ) -> tuple[list[str] | None, str]:
        SEEN.append({"thread": threading.current_thread().name, **kwargs})
        if any(c.isdigit() for c in password):
            return ["No digits"], password
        return None, password.strip()


class AsyncNoNames(PasswordUtil):
    async def validate(
        self, password: str, is_register: bool, **kwargs: Any
    ) -> tuple[list[str] | None, str]:
        errors, normalized = await super().validate(password, is_register, **kwargs)
        name = str(kwargs.get("first_name") or "")
        if name and name.lower() in password.lower():
            errors = [*(errors or []), "No names"]
        return errors or None, normalized


class ReservedNames(UsernameUtil):
    def validate(self, username: str) -> tuple[str | None, str | None]:
        if username.lower() in {"admin", "root"}:
            return "That name is reserved", None
        return super().validate(username)


def form(password: str = NEW_PASSWORD, **extra: Any) -> RegistrationInput:
    return RegistrationInput(
        email="new@example.com", password=password, password_confirm=password, **extra
    )


@pytest.fixture(autouse=True)
def _fresh() -> None:
    SEEN.clear()


@pytest.mark.security_kwargs(password_util_cls=BlockingNoDigits)
async def test_a_plain_validate_runs_off_the_loop_and_its_text_is_kept(env: FlowEnv) -> None:
    error, _ = await env.refused(register_user, form("digits 1234 here"))
    assert [(p.field, p.key, p.text) for p in error.problems] == [("password", "", "No digits")]
    assert await env.user(email="new@example.com") is None
    assert SEEN[0]["thread"] != threading.main_thread().name
    assert SEEN[0]["email"] == "new@example.com"
    await env.run(register_user, form("  spaced words here  "))
    stored = await env.user(email="new@example.com")
    assert env.password_is(stored, "spaced words here")  # what validate returned is stored


@pytest.mark.security_kwargs(password_util_cls=AsyncNoNames)
async def test_the_forms_user_fields_reach_the_util(env: FlowEnv) -> None:
    data = form("ada wrote this passphrase", user_fields={"first_name": "Ada"})
    error, _ = await env.refused(register_user, data)
    assert [p.text for p in error.problems] == ["No names"]
    short, _ = await env.refused(register_user, form("ada", user_fields={"first_name": "Ada"}))
    # The library's own problem keeps its key (translated later), then the app's text.
    assert [(p.key, p.text) for p in short.problems] == [
        ("PASSWORD_INVALID_LENGTH", None),
        ("", "No names"),
    ]
    # (Storing the fields is the web tests' part: these models have no first_name.)
    await env.run(register_user, form("ada wrote this passphrase"))
    assert await env.user(email="new@example.com") is not None


@pytest.mark.settings(username_enable=True)
@pytest.mark.security_kwargs(username_util_cls=ReservedNames)
async def test_a_username_util_decides_at_registration(env: FlowEnv) -> None:
    error, _ = await env.refused(register_user, form(username="Admin"))
    assert [(p.field, p.text) for p in error.problems] == [("username", "That name is reserved")]
    await env.run(register_user, form(username="grace"))
    assert (await env.user(email="new@example.com")).username == "grace"


class Vanishing(PasswordUtil):
    """A broken util: it passes every password and normalises it to nothing."""

    def validate(  # type: ignore[override]
        self, password: str, is_register: bool, **kwargs: Any
    ) -> tuple[list[str] | None, str]:
        return None, ""


@pytest.mark.security_kwargs(password_util_cls=Vanishing)
async def test_a_util_that_normalises_to_nothing_is_refused_not_a_500(env: FlowEnv) -> None:
    error, _ = await env.refused(register_user, form())
    assert [(p.field, p.key) for p in error.problems] == [("password", "PASSWORD_NOT_PROVIDED")]
    assert await env.user(email="new@example.com") is None
