"""flows/confirm.py without an app: asking for instructions (and the generic answer),
and confirmation links that name one account and one address, expire, and work once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from quart_security import signals
from quart_security.crypto.tokens import TokenKit
from quart_security.errors import SecurityError
from quart_security.flows.confirm import (
    confirm_email_token,
    confirmation_token,
    request_confirmation,
)
from quart_security.outbox import MailIntent
from tests.support.flow_context import FlowEnv, find, keys, link_values, only, refusal
from tests.support.race import rendezvous

pytestmark = pytest.mark.settings(confirmable=True)

NOT_GENERIC = pytest.mark.settings(return_generic_responses=False)
WITHIN = timedelta(days=2)  # CONFIRM_EMAIL_WITHIN's default


async def token_for(env: FlowEnv, email: str) -> str:
    return confirmation_token(env.context(), await env.user(email=email))


async def confirm(env: FlowEnv, token: Any) -> Any:
    user, _ = await env.run(confirm_email_token, token)
    return user


async def confirm_error(env: FlowEnv, token: Any) -> SecurityError:
    error, _ = await env.refused(confirm_email_token, token)
    return error


async def ask(env: FlowEnv, email: Any) -> tuple[str, list[MailIntent]]:
    return await env.run(request_confirmation, email)


# ---------------------------------------------------------------------- instructions
async def test_instructions_go_to_the_stored_address(env: FlowEnv) -> None:
    with env.signals(signals.confirm_instructions_sent) as sent:
        asked_for, intents = await ask(env, "MATT@LP.com")
    assert asked_for == "MATT@lp.com"
    intent = only(intents)
    assert (intent.template, intent.subject) == (
        "confirmation_instructions",
        "Please confirm your email",
    )
    assert intent.recipient == "matt@lp.com"
    assert intent.deliver
    assert set(intent.context) == {"user", "confirmation_link", "confirmation_token", "within"}
    assert intent.context["within"] == "2 days"
    endpoint, values = link_values(intent.context["confirmation_link"])
    assert (endpoint, values["token"]) == ("confirm_email", intent.context["confirmation_token"])
    ((_, kwargs),) = sent
    assert kwargs["user"].email == "matt@lp.com"
    assert kwargs["token"] == kwargs["confirmation_token"] == values["token"]


async def test_the_mailed_link_confirms_the_account(env: FlowEnv) -> None:
    _, intents = await ask(env, "matt@lp.com")
    user = await confirm(env, only(intents).context["confirmation_token"])
    assert user.email == "matt@lp.com"
    assert (await env.user(email="matt@lp.com")).confirmed_at == env.context().now()
    assert (await env.user(email="joe@lp.com")).confirmed_at is None


@pytest.mark.settings(confirm_email_within="30 minutes")
async def test_instructions_state_the_configured_validity(env: FlowEnv) -> None:
    _, intents = await ask(env, "matt@lp.com")
    assert only(intents).context["within"] == "30 minutes"


async def confirmed(env: FlowEnv, email: str) -> None:
    await confirm(env, await token_for(env, email))


async def test_with_generic_responses_unknown_and_confirmed_get_the_same_answer(
    env: FlowEnv,
) -> None:
    await confirmed(env, "joe@lp.com")
    with env.signals(signals.confirm_instructions_sent) as sent:
        unknown, _ = await ask(env, "Nobody@LP.com")
        already, _ = await ask(env, "JOE@lp.com")
    assert (unknown, already) == ("Nobody@lp.com", "JOE@lp.com")
    assert sent == []


async def test_with_generic_responses_every_address_costs_the_same_mail_work(
    env: FlowEnv,
) -> None:
    # The outbox's deliver=False intent exists for this (A-01.3: every class of
    # address enqueues mail in the same way); /reset and /recover-username do it.
    await confirmed(env, "joe@lp.com")
    _, pending = await ask(env, "matt@lp.com")
    _, unknown = await ask(env, "nobody@lp.com")
    _, already = await ask(env, "joe@lp.com")

    def work(intents: list[MailIntent]) -> list[tuple[str, str]]:
        return [(i.template, i.subject) for i in intents]

    assert work(unknown) == work(already) == work(pending)
    assert [i.deliver for i in unknown + already] == [False, False]


@NOT_GENERIC
async def test_without_generic_responses_an_unknown_address_is_named(env: FlowEnv) -> None:
    error, intents = await env.refused(request_confirmation, "nobody@lp.com")
    assert keys(error) == [("email", "USER_DOES_NOT_EXIST")]
    assert intents == []


@NOT_GENERIC
async def test_without_generic_responses_a_confirmed_address_is_named(env: FlowEnv) -> None:
    await confirmed(env, "joe@lp.com")
    error, intents = await env.refused(request_confirmation, "joe@lp.com")
    assert keys(error) == [("email", "ALREADY_CONFIRMED")]
    assert intents == []


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("not an email", "INVALID_EMAIL_ADDRESS"),
        (None, "EMAIL_NOT_PROVIDED"),
        (42, "INVALID_INPUT"),
    ],
)
@pytest.mark.parametrize("generic", [True, pytest.param(False, marks=NOT_GENERIC)])
async def test_a_malformed_address_is_an_error_in_either_mode(
    env: FlowEnv, email: Any, key: str, generic: bool
) -> None:
    assert env.cv("RETURN_GENERIC_RESPONSES") is generic
    error, intents = await env.refused(request_confirmation, email)
    assert keys(error) == [("email", key)]
    assert intents == []


# ---------------------------------------------------------------------- one use
async def test_a_link_confirms_once(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    first = env.context().now()
    with env.signals(signals.user_confirmed) as sent:
        assert (await confirm(env, token)).email == "matt@lp.com"
        env.clock.advance(60)
        assert keys(await confirm_error(env, token)) == [("", "ALREADY_CONFIRMED")]
    assert (await env.user(email="matt@lp.com")).confirmed_at == first
    assert [kwargs["user"].email for _, kwargs in sent] == ["matt@lp.com"]


async def test_parallel_uses_of_one_link_confirm_once(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")

    async def use() -> Any:
        async with env.request() as ctx:
            try:
                return await confirm_email_token(ctx, token)
            except SecurityError as error:
                return keys(error)

    def by_uniquifier(**kwargs: Any) -> bool:
        return "fs_uniquifier" in kwargs

    with env.signals(signals.user_confirmed) as sent:
        with rendezvous(env.store, "find_user", 3, when=by_uniquifier) as held:
            outcomes = await asyncio.gather(use(), use(), use())
    # All three found the account before any wrote; the losers' copies never
    # saw the write, so they were refused by the compare-and-set itself.
    assert len(held) == 3
    assert sorted(u.confirmed_at is None for u in held) == [False, True, True]
    winners = [o for o in outcomes if not isinstance(o, list)]
    assert [w.email for w in winners] == ["matt@lp.com"]
    assert [o for o in outcomes if isinstance(o, list)] == [[("", "ALREADY_CONFIRMED")]] * 2
    assert len(sent) == 1


# ---------------------------------------------------------------------- expiry
async def test_a_link_works_until_it_expires(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    env.clock.advance(WITHIN - timedelta(seconds=1))
    assert (await confirm(env, token)).email == "matt@lp.com"


async def test_an_expired_link_says_so_and_confirms_nothing(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    env.clock.advance(WITHIN + timedelta(seconds=1))
    error = await confirm_error(env, token)
    assert keys(error) == [("", "CONFIRMATION_EXPIRED")]
    assert error.problems[0].kwargs == {"within": "2 days"}
    assert (await env.user(email="matt@lp.com")).confirmed_at is None


@pytest.mark.settings(confirm_email_within=timedelta(minutes=30))
async def test_expiry_follows_the_setting(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    env.clock.advance(timedelta(minutes=31))
    error = await confirm_error(env, token)
    assert error.problems[0].kwargs == {"within": "30 minutes"}


# ---------------------------------------------------------------------- what a link is bound to
async def test_a_link_dies_when_the_address_changes(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    await env.update("matt@lp.com", email="matt.new@lp.com")
    assert keys(await confirm_error(env, token)) == [("", "INVALID_CONFIRMATION_TOKEN")]
    assert (await env.user(email="matt.new@lp.com")).confirmed_at is None


async def test_a_link_dies_when_the_uniquifier_rotates(env: FlowEnv) -> None:
    token = await token_for(env, "matt@lp.com")
    async with env.request() as ctx:
        await ctx.store.set_uniquifier(await find(ctx, email="matt@lp.com"))
    assert keys(await confirm_error(env, token)) == [("", "INVALID_CONFIRMATION_TOKEN")]


def other_key_tokens(env: FlowEnv) -> TokenKit:
    return TokenKit(
        secret_key="another-secret-key-0123456789abcdef",
        fallbacks=[],
        salts={"confirm": env.cv("CONFIRM_SALT")},
        clock=env.clock,
        token_max_age=lambda: None,
        expire_timestamp=lambda user: 0,
        csrf_time_limit=lambda: None,
    )


async def malformed_tokens(env: FlowEnv) -> list[Any]:
    matt = await env.user(email="matt@lp.com")
    good_data = [matt.fs_uniquifier, env.tokens.fingerprint(matt.email)]
    dumps = env.tokens.dumps
    return [
        None,
        "",
        42,
        "garbage",
        (await token_for(env, "matt@lp.com"))[:-2],  # signature cut
        dumps("reset", good_data),  # another serializer's token
        other_key_tokens(env).dumps("confirm", good_data),  # another key
        dumps("confirm", good_data[:1]),
        dumps("confirm", [matt.fs_uniquifier, ""]),
        dumps("confirm", [matt.fs_uniquifier, env.tokens.fingerprint("joe@lp.com")]),
        dumps("confirm", {"uid": matt.fs_uniquifier}),
        dumps("confirm", [1, 2]),
        dumps("confirm", ["no-such-uniquifier", good_data[1]]),
    ]


async def test_malformed_links_are_invalid_and_confirm_nothing(env: FlowEnv) -> None:
    for token in await malformed_tokens(env):
        async with env.request() as ctx:
            error = await refusal(confirm_email_token(ctx, token))
        assert keys(error) == [("", "INVALID_CONFIRMATION_TOKEN")], token
    assert (await env.user(email="matt@lp.com")).confirmed_at is None
