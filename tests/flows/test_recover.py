"""flows/recover.py without an app: asking for a link (the same work for every address),
links bound to the current password that expire, and a reset that happens once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from quart_security import signals
from quart_security.errors import SecurityError
from quart_security.flows.recover import (
    ResetRequested,
    check_reset_token,
    request_password_reset,
    reset_password,
    reset_token_for,
)
from quart_security.outbox import MailIntent
from tests.support.flow_context import PASSWORD, FlowEnv, keys, link_values, only, refusal
from tests.support.race import rendezvous

pytestmark = pytest.mark.settings(recoverable=True)

NOT_GENERIC = pytest.mark.settings(return_generic_responses=False)
WITHIN = timedelta(days=1)  # RESET_PASSWORD_WITHIN's default
NEW_PASSWORD = "a brand new passphrase"
INVALID = [("", "INVALID_RESET_PASSWORD_TOKEN")]


async def token_for(env: FlowEnv, email: str) -> str:
    return reset_token_for(env.context(), await env.user(email=email))


async def check(env: FlowEnv, token: Any) -> Any:
    user, _ = await env.run(check_reset_token, token)
    return user


async def check_error(env: FlowEnv, token: Any) -> list[tuple[str, str]]:
    error, _ = await env.refused(check_reset_token, token)
    return keys(error)


async def reset(env: FlowEnv, token: str, new_password: str) -> list[MailIntent]:
    """The /reset/<token> POST: check the link, then consume it."""
    async with env.request() as ctx:
        user = await check_reset_token(ctx, token)
        await reset_password(ctx, user, new_password)
    return ctx.outbox.take()


async def reset_error(env: FlowEnv, token: str, new_password: str) -> SecurityError:
    async with env.request() as ctx:
        user = await check_reset_token(ctx, token)
        error = await refusal(reset_password(ctx, user, new_password))
    assert ctx.outbox.take() == []
    return error


def shape(intent: MailIntent) -> tuple[str, str, list[str]]:
    """What rendering an intent costs: its template, subject and context keys."""
    return intent.template, intent.subject, sorted(intent.context)


# ---------------------------------------------------------------------- asking for a link
async def test_a_real_account_is_mailed_a_working_link(env: FlowEnv) -> None:
    with env.signals(signals.reset_password_instructions_sent) as sent:
        result, intents = await env.run(request_password_reset, "MATT@LP.com")
    assert result.email == "MATT@lp.com"
    assert result.user.email == "matt@lp.com"
    intent = only(intents)
    assert (intent.template, intent.subject) == (
        "reset_instructions",
        "Password reset instructions",
    )
    assert intent.recipient == "matt@lp.com"
    assert intent.deliver
    assert set(intent.context) == {"user", "reset_link", "reset_token", "within"}
    assert intent.context["within"] == "1 day"
    endpoint, values = link_values(intent.context["reset_link"])
    assert (endpoint, values["token"]) == ("reset_password", intent.context["reset_token"])
    assert (await check(env, values["token"])).email == "matt@lp.com"
    ((_, kwargs),) = sent
    assert kwargs["user"].email == "matt@lp.com"
    assert kwargs["token"] == kwargs["reset_token"] == values["token"]


@pytest.mark.settings(send_password_reset_email=False)
async def test_without_the_reset_mail_only_the_signal_carries_the_token(env: FlowEnv) -> None:
    with env.signals(signals.reset_password_instructions_sent) as sent:
        _, intents = await env.run(request_password_reset, "matt@lp.com")
    assert intents == []
    ((_, kwargs),) = sent
    assert (await check(env, kwargs["token"])).email == "matt@lp.com"


NO_RESET = [
    pytest.param("Nobody@LP.com", "USER_DOES_NOT_EXIST", id="unknown"),
    pytest.param("Tiya@LP.com", "DISABLED_ACCOUNT", id="disabled"),
    pytest.param(
        "Matt@LP.com",
        "CONFIRMATION_REQUIRED",
        id="unconfirmed",
        marks=pytest.mark.settings(confirmable=True),
    ),
]


@pytest.mark.parametrize(("email", "refusal_key"), NO_RESET)
async def test_an_address_that_may_not_reset_gets_the_same_answer_and_work(
    env: FlowEnv, email: str, refusal_key: str
) -> None:
    _, real = await env.run(request_password_reset, "joe@lp.com")
    before = await env.user_count()
    with env.signals(signals.reset_password_instructions_sent) as sent:
        result, intents = await env.run(request_password_reset, email)
    canonical = email[:-6] + "lp.com"
    assert result == ResetRequested(canonical)
    intent = only(intents)
    assert shape(intent) == shape(only(real))
    assert (intent.recipient, intent.deliver) == (canonical, False)
    assert sent == []
    assert await env.user_count() == before  # the stand-in user is never stored
    # The rehearsed link opens nothing.
    assert await check_error(env, intent.context["reset_token"]) == INVALID


@NOT_GENERIC
@pytest.mark.parametrize(("email", "refusal_key"), NO_RESET)
async def test_without_generic_responses_the_refusal_is_named(
    env: FlowEnv, email: str, refusal_key: str
) -> None:
    with env.signals(signals.reset_password_instructions_sent) as sent:
        error, intents = await env.refused(request_password_reset, email)
    assert keys(error) == [("email", refusal_key)]
    # The answer names the refusal anyway: no stand-in mail to render (a
    # refused request's outbox is never rendered).
    assert intents == []
    assert sent == []


@pytest.mark.parametrize("generic", [True, pytest.param(False, marks=NOT_GENERIC)])
@pytest.mark.parametrize(
    ("email", "key"), [("not an email", "INVALID_EMAIL_ADDRESS"), ("", "EMAIL_NOT_PROVIDED")]
)
async def test_a_malformed_address_is_an_error_in_either_mode(
    env: FlowEnv, email: str, key: str, generic: bool
) -> None:
    assert env.cv("RETURN_GENERIC_RESPONSES") is generic
    error, intents = await env.refused(request_password_reset, email)
    assert keys(error) == [("email", key)]
    assert intents == []


# ---------------------------------------------------------------------- checking a link
async def test_a_link_works_until_it_expires(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    env.clock.advance(WITHIN - timedelta(seconds=1))
    assert (await check(env, token)).email == "matt@lp.com"
    env.clock.advance(timedelta(seconds=2))
    error, _ = await env.refused(check_reset_token, token)
    assert keys(error) == [("", "PASSWORD_RESET_EXPIRED")]
    assert error.problems[0].kwargs == {"within": "1 day"}


async def test_a_link_dies_when_the_stored_hash_changes(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    # Even a new hash of the same password (a rehash) ends the link.
    await env.update("matt@lp.com", password=await env.passwords.hash(PASSWORD))
    assert await check_error(env, token) == INVALID


async def test_a_link_dies_when_the_account_is_disabled(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    await env.update("matt@lp.com", active=False)
    assert await check_error(env, token) == INVALID


@pytest.mark.settings(confirmable=True)
async def test_a_link_does_not_open_an_unconfirmed_account(env: FlowEnv) -> None:
    assert await check_error(env, await token_for(env, "matt@lp.com")) == INVALID


async def test_a_passwordless_account_gets_a_link_until_a_password_is_set(env: FlowEnv) -> None:
    await env.update("joe@lp.com", password=None)
    token = await token_for(env, "joe@lp.com")
    assert (await check(env, token)).email == "joe@lp.com"
    await env.update("joe@lp.com", password=await env.passwords.hash(PASSWORD))
    assert await check_error(env, token) == INVALID


async def test_malformed_links_are_invalid(env: FlowEnv) -> None:
    matt = await env.user(email="matt@lp.com")
    good = [matt.fs_uniquifier, env.tokens.fingerprint(matt.password)]
    dumps = env.tokens.dumps
    for token in [
        None,
        "",
        "garbage",
        (await token_for(env, "matt@lp.com"))[:-2],
        dumps("confirm", good),  # another serializer's token
        dumps("reset", good[:1]),
        dumps("reset", [matt.fs_uniquifier, None]),  # matt has a password
        dumps("reset", [matt.fs_uniquifier, env.tokens.fingerprint("other hash")]),
        dumps("reset", {"uid": matt.fs_uniquifier}),
        dumps("reset", [42, good[1]]),
        dumps("reset", ["no-such-uniquifier", good[1]]),
    ]:
        assert await check_error(env, token) == INVALID, token


# ---------------------------------------------------------------------- resetting
async def test_a_reset_sets_the_password_and_ends_every_session_and_token(env: FlowEnv) -> None:
    before = await env.user(email="matt@lp.com")
    with env.signals(signals.password_reset) as sent:
        intents = await reset(env, await token_for(env, "matt@lp.com"), NEW_PASSWORD)
    after = await env.user(email="matt@lp.com")
    assert env.password_is(after, NEW_PASSWORD)
    assert not env.password_is(after, PASSWORD)
    assert after.fs_uniquifier != before.fs_uniquifier
    assert after.fs_token_uniquifier != before.fs_token_uniquifier
    intent = only(intents)
    assert (intent.template, intent.subject) == ("reset_notice", "Your password has been reset")
    assert (intent.recipient, intent.deliver) == ("matt@lp.com", True)
    assert set(intent.context) == {"user"}
    assert [kwargs["user"].email for _, kwargs in sent] == ["matt@lp.com"]


@pytest.mark.settings(send_password_reset_notice_email=False)
async def test_no_notice_when_it_is_switched_off(env: FlowEnv) -> None:
    assert await reset(env, await token_for(env, "matt@lp.com"), NEW_PASSWORD) == []


async def test_a_link_resets_once(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    await reset(env, token, NEW_PASSWORD)
    assert await check_error(env, token) == INVALID
    assert env.password_is(await env.user(email="matt@lp.com"), NEW_PASSWORD)


async def test_parallel_resets_with_one_link_change_the_password_once(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")

    async def use(new_password: str) -> list[tuple[str, str]] | None:
        try:
            await reset(env, token, new_password)
        except SecurityError as error:
            return keys(error)
        return None

    def by_uniquifier(**kwargs: Any) -> bool:
        return "fs_uniquifier" in kwargs

    candidates = ["first new passphrase", "second new passphrase"]
    with rendezvous(env.store, "find_user", 2, when=by_uniquifier) as held:
        outcomes = await asyncio.gather(*(use(p) for p in candidates))
    assert len(held) == 2  # both links were checked before either reset
    assert (outcomes.count(None), outcomes.count(INVALID)) == (1, 1)
    winner = candidates[outcomes.index(None)]
    loser = candidates[outcomes.index(INVALID)]
    stored = await env.user(email="matt@lp.com")
    assert env.password_is(stored, winner)
    assert not env.password_is(stored, loser)


@pytest.mark.parametrize(
    ("new_password", "key", "kwargs"),
    [
        ("short", "PASSWORD_INVALID_LENGTH", {"length": 8}),
        ("Matt@LP.com", "PASSWORD_TOO_SIMPLE", {}),
        ("MATT", "PASSWORD_INVALID_LENGTH", {"length": 8}),
        ("          ", "PASSWORD_NOT_PROVIDED", {}),
    ],
    ids=["short", "email", "short-context-word", "only-spaces"],
)
async def test_a_password_against_the_policy_changes_nothing(
    env: FlowEnv, new_password: str, key: str, kwargs: dict[str, Any]
) -> None:
    before = await env.user(email="matt@lp.com")
    token = await token_for(env, "matt@lp.com")
    error = await reset_error(env, token, new_password)
    assert keys(error) == [("password", key)]
    assert error.problems[0].kwargs == kwargs
    after = await env.user(email="matt@lp.com")
    assert (after.password, after.fs_uniquifier) == (before.password, before.fs_uniquifier)
    assert env.pool.hashes == 0
    assert (await check(env, token)).email == "matt@lp.com"  # the link still works
