"""flows/change_username.py without an app: a new unique name at once, the owner told,
and a name taken in any case or Unicode form refused (by the lookup or the unique index)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from quart_security import signals
from quart_security.errors import Problem, SecurityError
from quart_security.flows.change_username import change_username
from quart_security.outbox import MailIntent
from tests.support.flow_context import FlowEnv, find, keys, only, refusal
from tests.support.race import rendezvous

pytestmark = pytest.mark.settings(username_enable=True, change_username=True)


async def rename(
    env: FlowEnv, submitted: Any, email: str = "matt@lp.com"
) -> tuple[str, list[MailIntent]]:
    async with env.request() as ctx:
        old = await change_username(ctx, await find(ctx, email=email), submitted)
    return old, ctx.outbox.take()


async def rename_error(env: FlowEnv, submitted: Any) -> SecurityError:
    with env.signals(signals.username_changed) as sent:
        async with env.request() as ctx:
            user = await find(ctx, email="matt@lp.com")
            error = await refusal(change_username(ctx, user, submitted))
    assert (ctx.outbox.take(), sent) == ([], [])
    assert (await env.user(email="matt@lp.com")).username == "matt"
    return error


async def test_a_new_name_is_set_and_the_owner_told(env: FlowEnv) -> None:
    with env.signals(signals.username_changed) as sent:
        old, intents = await rename(env, "  Matthew ")
    assert old == "matt"
    assert (await env.user(email="matt@lp.com")).username == "Matthew"
    intent = only(intents)
    assert (intent.template, intent.subject) == (
        "change_username_notice",
        "Your username has been changed",
    )
    assert (intent.recipient, intent.deliver) == ("matt@lp.com", True)
    assert set(intent.context) == {"user", "username", "old_username"}
    assert (intent.context["username"], intent.context["old_username"]) == ("Matthew", "matt")
    ((_, kwargs),) = sent
    assert (kwargs["user"].username, kwargs["old_username"]) == ("Matthew", "matt")


@pytest.mark.settings(send_username_change_email=False)
async def test_no_notice_when_it_is_switched_off(env: FlowEnv) -> None:
    _, intents = await rename(env, "Matthew")
    assert intents == []
    assert (await env.user(email="matt@lp.com")).username == "Matthew"


@pytest.mark.parametrize(
    ("submitted", "canonical"),
    [("dave", "dave"), ("DAVE", "DAVE"), ("\uff44\uff41\uff56\uff45", "dave")],
    ids=["same", "upper", "fullwidth"],
)
async def test_another_accounts_name_is_taken_in_any_form(
    env: FlowEnv, submitted: str, canonical: str
) -> None:
    error = await rename_error(env, submitted)
    assert error.problems == [
        Problem("username", "USERNAME_ALREADY_ASSOCIATED", {"username": canonical})
    ]


async def test_the_own_name_in_another_case_is_allowed(env: FlowEnv) -> None:
    old, _ = await rename(env, "Matt")
    assert old == "matt"
    assert (await env.user(email="matt@lp.com")).username == "Matt"


async def test_the_own_name_unchanged_is_refused(env: FlowEnv) -> None:
    assert keys(await rename_error(env, "matt")) == [("username", "USERNAME_ALREADY_ASSOCIATED")]


@pytest.mark.parametrize(
    ("submitted", "key", "kwargs"),
    [
        ("abc", "USERNAME_INVALID_LENGTH", {"min": 4, "max": 32}),
        ("x" * 33, "USERNAME_INVALID_LENGTH", {"min": 4, "max": 32}),
        ("bad name!", "USERNAME_DISALLOWED_CHARACTERS", {}),
        ("", "USERNAME_NOT_PROVIDED", {}),
        (None, "USERNAME_NOT_PROVIDED", {}),
    ],
    ids=["short", "long", "characters", "empty", "none"],
)
async def test_an_invalid_name_is_refused(
    env: FlowEnv, submitted: Any, key: str, kwargs: dict[str, Any]
) -> None:
    error = await rename_error(env, submitted)
    assert error.problems == [Problem("username", key, kwargs)]


def case_insensitive_username_lookup(**kwargs: Any) -> bool:
    return bool(kwargs.get("case_insensitive")) and "username" in kwargs


async def test_two_accounts_racing_for_one_name_get_it_once(env: FlowEnv) -> None:
    # Both find the name free; the unique index refuses the second write
    # (DuplicateIdentityError), which the flow answers as "taken".
    async def attempt(email: str, spelling: str) -> list[tuple[str, str]] | None:
        try:
            await rename(env, spelling, email=email)
        except SecurityError as error:
            return keys(error)
        return None

    racers = {"matt@lp.com": "racer", "joe@lp.com": "RACER"}
    with env.signals(signals.username_changed) as sent:
        with rendezvous(env.store, "find_user", 2, when=case_insensitive_username_lookup) as held:
            outcomes = await asyncio.gather(*(attempt(e, s) for e, s in racers.items()))
    assert held == [None, None]
    taken = [("username", "USERNAME_ALREADY_ASSOCIATED")]
    assert (outcomes.count(None), outcomes.count(taken)) == (1, 1)
    emails = list(racers)
    winner, loser = emails[outcomes.index(None)], emails[outcomes.index(taken)]
    assert (await env.user(email=winner)).username == racers[winner]
    assert (await env.user(email=loser)).username == loser.split("@")[0]
    assert [kwargs["user"].email for _, kwargs in sent] == [winner]
