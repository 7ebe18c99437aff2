"""flows/change_password.py without an app: the checks of a change, and what every
change does (new hash, sessions ended, the owner told, the signal)."""

from __future__ import annotations

from typing import Any

import pytest

from quart_security import signals
from quart_security.errors import SecurityError
from quart_security.flows.change_password import change_user_password, check_password_change
from quart_security.outbox import MailIntent
from tests.support.flow_context import PASSWORD, FlowEnv, find, keys, only, refusal

NEW_PASSWORD = "a brand new passphrase"


async def check_error(
    env: FlowEnv, current: Any, new_password: str, email: str = "matt@lp.com"
) -> SecurityError:
    async with env.request() as ctx:
        user = await find(ctx, email=email)
        return await refusal(check_password_change(ctx, user, current, new_password))


async def change(
    env: FlowEnv, new_password: str | None, email: str = "matt@lp.com", **kwargs: Any
) -> list[MailIntent]:
    async with env.request() as ctx:
        user = await find(ctx, email=email)
        await change_user_password(ctx, user, new_password, **kwargs)
    return ctx.outbox.take()


# ---------------------------------------------------------------------- check_password_change
async def test_the_right_current_password_and_a_good_new_one_pass(env: FlowEnv) -> None:
    async with env.request() as ctx:
        user = await find(ctx, email="matt@lp.com")
        await check_password_change(ctx, user, PASSWORD, NEW_PASSWORD)
    assert env.pool.calls == ["verify_and_update"]
    assert env.password_is(await env.user(email="matt@lp.com"), PASSWORD)  # nothing changed


async def test_a_wrong_current_password_is_refused(env: FlowEnv) -> None:
    error = await check_error(env, PASSWORD + "x", NEW_PASSWORD)
    assert keys(error) == [("password", "INVALID_PASSWORD")]
    assert env.pool.verifications == 1


@pytest.mark.parametrize("current", [None, "", "   "])
async def test_a_missing_current_password_is_refused_without_verifying(
    env: FlowEnv, current: Any
) -> None:
    error = await check_error(env, current, NEW_PASSWORD)
    assert keys(error) == [("password", "PASSWORD_NOT_PROVIDED")]
    assert env.pool.calls == []


async def test_the_current_password_is_taken_as_typed(env: FlowEnv) -> None:
    error = await check_error(env, f" {PASSWORD} ", NEW_PASSWORD)
    assert keys(error) == [("password", "INVALID_PASSWORD")]


async def test_the_same_password_is_refused(env: FlowEnv) -> None:
    error = await check_error(env, PASSWORD, PASSWORD)
    assert keys(error) == [("password", "PASSWORD_IS_THE_SAME")]


async def test_the_same_password_in_another_unicode_form_is_refused(env: FlowEnv) -> None:
    composed = "caf\u00e9 au lait, s'il vous pla\u00eet"
    decomposed = "cafe\u0301 au lait, s'il vous plai\u0302t"
    await change(env, composed, notify=False)
    error = await check_error(env, composed, decomposed)
    assert keys(error) == [("password", "PASSWORD_IS_THE_SAME")]


@pytest.mark.parametrize(
    ("new_password", "key", "kwargs"),
    [
        ("short", "PASSWORD_INVALID_LENGTH", {"length": 8}),
        ("MATT@lp.com", "PASSWORD_TOO_SIMPLE", {}),  # the account's own email
        ("a" * 129, "PASSWORD_INVALID_LENGTH", {"length": 8}),
        ("          ", "PASSWORD_NOT_PROVIDED", {}),
    ],
    ids=["short", "email", "too-long", "only-spaces"],
)
async def test_the_new_password_must_pass_the_policy(
    env: FlowEnv, new_password: str, key: str, kwargs: dict[str, Any]
) -> None:
    error = await check_error(env, PASSWORD, new_password)
    assert keys(error) == [("new_password", key)]
    assert error.problems[0].kwargs == kwargs


async def test_a_user_without_a_password_skips_the_current_password(env: FlowEnv) -> None:
    await env.update("joe@lp.com", password=None)
    async with env.request() as ctx:
        user = await find(ctx, email="joe@lp.com")
        await check_password_change(ctx, user, None, NEW_PASSWORD)
    assert env.pool.calls == []


async def test_a_user_without_a_password_still_meets_the_policy(env: FlowEnv) -> None:
    await env.update("joe@lp.com", password=None)
    error = await check_error(env, None, "short", email="joe@lp.com")
    assert keys(error) == [("new_password", "PASSWORD_INVALID_LENGTH")]


# ---------------------------------------------------------------------- change_user_password
async def test_a_change_stores_the_new_hash_and_ends_every_session(env: FlowEnv) -> None:
    before = await env.user(email="matt@lp.com")
    await change(env, NEW_PASSWORD)
    after = await env.user(email="matt@lp.com")
    assert env.password_is(after, NEW_PASSWORD)
    assert not env.password_is(after, PASSWORD)
    assert after.fs_uniquifier != before.fs_uniquifier
    # fs_token_uniquifier exists so auth tokens outlive a change (a reset rotates it).
    assert after.fs_token_uniquifier == before.fs_token_uniquifier
    assert env.pool.calls == ["hash"]


async def test_a_change_tells_the_owner_at_the_stored_address(env: FlowEnv) -> None:
    intent = only(await change(env, NEW_PASSWORD))
    assert (intent.template, intent.subject) == (
        "change_notice",
        "Your password has been changed",
    )
    assert (intent.recipient, intent.deliver) == ("matt@lp.com", True)
    assert set(intent.context) == {"user"}
    assert intent.context["user"].email == "matt@lp.com"


async def test_notify_false_sends_no_notice_but_still_signals(env: FlowEnv) -> None:
    with env.signals(signals.password_changed) as sent:
        assert await change(env, NEW_PASSWORD, notify=False) == []
    assert [kwargs["user"].email for _, kwargs in sent] == ["matt@lp.com"]


@pytest.mark.settings(send_password_change_email=False)
async def test_no_notice_when_it_is_switched_off(env: FlowEnv) -> None:
    assert await change(env, NEW_PASSWORD) == []


async def test_password_changed_is_sent_once(env: FlowEnv) -> None:
    with env.signals(signals.password_changed, signals.password_reset) as sent:
        await change(env, NEW_PASSWORD)
    assert [(signal, kwargs["user"].email) for signal, kwargs in sent] == [
        (signals.password_changed, "matt@lp.com")
    ]


async def test_no_new_password_removes_it_and_still_ends_every_session(env: FlowEnv) -> None:
    before = await env.user(email="matt@lp.com")
    await change(env, None)
    after = await env.user(email="matt@lp.com")
    assert after.password is None
    assert after.fs_uniquifier != before.fs_uniquifier
    assert env.pool.calls == []
