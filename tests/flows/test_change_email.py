"""flows/change_email.py without an app: asking for a new address (who is mailed, and
what is only rendered), and links that set one address, once, while still valid."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from quart_security import signals
from quart_security.errors import Problem, SecurityError
from quart_security.flows.change_email import (
    NOTICE_SUBJECT,
    NOTICE_TEMPLATE,
    Confirmed,
    confirm_change,
    make_token,
    request_change,
)
from quart_security.outbox import MailIntent
from tests.support.flow_context import FlowEnv, find, keys, link_values, refusal
from tests.support.race import rendezvous

pytestmark = pytest.mark.settings(change_email=True)

NOT_GENERIC = pytest.mark.settings(return_generic_responses=False)
NEW = "matt.new@example.com"
WITHIN = timedelta(hours=2)  # CHANGE_EMAIL_WITHIN's default
INVALID = [("", "API_ERROR")]


async def ask(
    env: FlowEnv, submitted: Any, email: str = "matt@lp.com"
) -> tuple[str, list[MailIntent]]:
    async with env.request() as ctx:
        result = await request_change(ctx, await find(ctx, email=email), submitted)
    return result, ctx.outbox.take()


async def ask_error(env: FlowEnv, submitted: Any) -> tuple[SecurityError, list[MailIntent]]:
    async with env.request() as ctx:
        user = await find(ctx, email="matt@lp.com")
        error = await refusal(request_change(ctx, user, submitted))
    return error, ctx.outbox.take()


async def token_for(env: FlowEnv, new_email: str, email: str = "matt@lp.com") -> str:
    return make_token(env.context(), await env.user(email=email), new_email)


async def confirm(env: FlowEnv, token: Any) -> Confirmed:
    result, _ = await env.run(confirm_change, token)
    return result


async def confirm_error(env: FlowEnv, token: Any) -> SecurityError:
    error, _ = await env.refused(confirm_change, token)
    return error


# ---------------------------------------------------------------------- request_change
async def test_a_free_address_is_sent_a_link_and_the_current_one_a_notice(env: FlowEnv) -> None:
    with env.signals(signals.change_email_instructions_sent) as sent:
        result, (link_mail, notice) = await ask(env, "Matt.New@EXAMPLE.com")
    assert result == "Matt.New@example.com"
    assert (link_mail.template, link_mail.subject) == (
        "change_email_instructions",
        "Confirm your new email address",
    )
    assert (link_mail.recipient, link_mail.deliver) == ("Matt.New@example.com", True)
    assert set(link_mail.context) == {"user", "link", "token", "within"}
    assert link_mail.context["within"] == "2 hours"
    endpoint, values = link_values(link_mail.context["link"])
    assert (endpoint, values["token"]) == ("change_email_confirm", link_mail.context["token"])
    assert (notice.template, notice.subject) == (NOTICE_TEMPLATE, NOTICE_SUBJECT)
    assert (notice.recipient, notice.deliver) == ("matt@lp.com", True)
    assert notice.context["new_email"] == "Matt.New@example.com"
    assert set(notice.context) == {"user", "new_email", "within"}
    ((_, kwargs),) = sent
    assert (kwargs["user"].email, kwargs["new_email"]) == ("matt@lp.com", "Matt.New@example.com")
    assert kwargs["token"] == values["token"]
    assert (await env.user(email="matt@lp.com")) is not None  # nothing changes yet


async def test_the_mailed_link_changes_the_address(env: FlowEnv) -> None:
    _, (link_mail, _) = await ask(env, NEW)
    result = await confirm(env, link_mail.context["token"])
    assert (result.old_email, result.new_email) == ("matt@lp.com", NEW)
    assert (await env.user(email=NEW)).fs_uniquifier == result.user.fs_uniquifier


async def test_a_taken_address_gets_the_same_answer_but_is_sent_nothing(env: FlowEnv) -> None:
    _, free = await ask(env, NEW)
    with env.signals(signals.change_email_instructions_sent) as sent:
        result, taken = await ask(env, "JOE@lp.com")
    assert result == "JOE@lp.com"
    assert [(i.template, i.subject, sorted(i.context)) for i in taken] == [
        (i.template, i.subject, sorted(i.context)) for i in free
    ]
    assert [(i.recipient, i.deliver) for i in taken] == [
        ("JOE@lp.com", False),  # rendered for the same cost, never sent
        ("matt@lp.com", True),  # the owner is told either way
    ]
    assert sent == []
    # And the rendered link opens nothing: the address belongs to joe.
    assert keys(await confirm_error(env, taken[0].context["token"])) == INVALID


@NOT_GENERIC
async def test_without_generic_responses_a_taken_address_is_refused(env: FlowEnv) -> None:
    error, intents = await ask_error(env, "JOE@lp.com")
    assert error.problems == [Problem("email", "EMAIL_ALREADY_ASSOCIATED", {"email": "JOE@lp.com"})]
    assert intents == []


@pytest.mark.parametrize("generic", [True, pytest.param(False, marks=NOT_GENERIC)])
async def test_the_own_address_is_refused_in_either_mode(env: FlowEnv, generic: bool) -> None:
    assert env.cv("RETURN_GENERIC_RESPONSES") is generic
    error, intents = await ask_error(env, "MATT@LP.com")
    assert keys(error) == [("email", "EMAIL_ALREADY_ASSOCIATED")]
    assert intents == []


@pytest.mark.parametrize(
    ("submitted", "key"),
    [
        ("not an email", "INVALID_EMAIL_ADDRESS"),
        ("", "EMAIL_NOT_PROVIDED"),
        (None, "EMAIL_NOT_PROVIDED"),
    ],
)
async def test_a_malformed_address_is_refused(env: FlowEnv, submitted: Any, key: str) -> None:
    error, intents = await ask_error(env, submitted)
    assert keys(error) == [("email", key)]
    assert intents == []


# ---------------------------------------------------------------------- confirm_change
async def test_a_confirmation_sets_the_address_and_confirms_it(env: FlowEnv) -> None:
    token = await token_for(env, NEW)
    env.clock.advance(60)
    with env.signals(signals.change_email_confirmed) as sent:
        result = await confirm(env, token)
    assert (result.old_email, result.new_email, result.user.email) == ("matt@lp.com", NEW, NEW)
    stored = await env.user(email=NEW)
    assert stored.confirmed_at == env.context().now()
    assert await env.user(email="matt@lp.com") is None
    ((_, kwargs),) = sent
    assert (kwargs["user"].email, kwargs["old_email"]) == (NEW, "matt@lp.com")


async def test_a_link_changes_the_address_once(env: FlowEnv) -> None:
    token = await token_for(env, NEW)
    await confirm(env, token)
    assert keys(await confirm_error(env, token)) == INVALID


async def test_a_link_works_until_it_expires(env: FlowEnv) -> None:
    token = await token_for(env, NEW)
    env.clock.advance(WITHIN - timedelta(seconds=1))
    assert (await confirm(env, token)).new_email == NEW


async def test_an_expired_link_says_so_and_changes_nothing(env: FlowEnv) -> None:
    token = await token_for(env, NEW)
    env.clock.advance(WITHIN + timedelta(seconds=1))
    error = await confirm_error(env, token)
    assert keys(error) == [("", "CHANGE_EMAIL_EXPIRED")]
    assert error.problems[0].kwargs == {"within": "2 hours"}
    assert await env.user(email=NEW) is None


async def test_every_other_link_dies_once_the_address_changes(env: FlowEnv) -> None:
    first, second = await token_for(env, NEW), await token_for(env, "matt.other@example.com")
    await confirm(env, first)
    assert keys(await confirm_error(env, second)) == INVALID
    assert await env.user(email="matt.other@example.com") is None


async def test_a_link_dies_when_the_address_is_changed_another_way(env: FlowEnv) -> None:
    token = await token_for(env, NEW)
    await env.update("matt@lp.com", email="matt.admin@lp.com")
    assert keys(await confirm_error(env, token)) == INVALID
    assert await env.user(email=NEW) is None


@pytest.mark.parametrize("spelling", [NEW, NEW.upper()])
async def test_an_address_taken_meanwhile_is_not_set(env: FlowEnv, spelling: str) -> None:
    token = await token_for(env, NEW)
    async with env.store.unit_of_work():
        await env.store.create_user(email=spelling, password=None)
    assert keys(await confirm_error(env, token)) == INVALID
    assert (await env.user(email="matt@lp.com")).email == "matt@lp.com"


async def test_an_inactive_account_cannot_change_its_address(env: FlowEnv) -> None:
    token = await token_for(env, NEW, email="tiya@lp.com")
    assert keys(await confirm_error(env, token)) == INVALID
    assert (await env.user(email="tiya@lp.com")) is not None


async def test_malformed_links_are_refused(env: FlowEnv) -> None:
    matt = await env.user(email="matt@lp.com")
    fingerprint = env.tokens.fingerprint(matt.email)
    dumps = env.tokens.dumps
    for token in [
        None,
        "",
        "garbage",
        (await token_for(env, NEW))[:-2],
        dumps("confirm", [matt.fs_uniquifier, fingerprint, NEW]),  # another serializer
        dumps("change_email", [matt.fs_uniquifier, fingerprint]),
        dumps("change_email", [matt.fs_uniquifier, fingerprint, 42]),
        dumps("change_email", ["no-such-uniquifier", fingerprint, NEW]),
        dumps("change_email", [matt.fs_uniquifier, env.tokens.fingerprint("x@lp.com"), NEW]),
    ]:
        assert keys(await confirm_error(env, token)) == INVALID, token
    assert await env.user(email=NEW) is None


# ---------------------------------------------------------------------- races
def case_insensitive_email_lookup(**kwargs: Any) -> bool:
    return bool(kwargs.get("case_insensitive")) and "email" in kwargs


async def attempt(env: FlowEnv, token: str) -> Confirmed | list[tuple[str, str]]:
    async with env.request() as ctx:
        try:
            return await confirm_change(ctx, token)
        except SecurityError as error:
            return keys(error)


async def test_parallel_uses_of_one_link_change_the_address_once(env: FlowEnv) -> None:
    token = await token_for(env, NEW)
    with env.signals(signals.change_email_confirmed) as sent:
        with rendezvous(env.store, "find_user", 3, when=case_insensitive_email_lookup) as held:
            outcomes = await asyncio.gather(*(attempt(env, token) for _ in range(3)))
    assert held == [None, None, None]  # all three found the address free
    assert [o.new_email for o in outcomes if isinstance(o, Confirmed)] == [NEW]
    assert outcomes.count(INVALID) == 2
    assert len(sent) == 1


async def test_two_accounts_racing_for_one_address_get_it_once(env: FlowEnv) -> None:
    # The unique index settles it: the loser's write raises DuplicateIdentityError.
    tokens = [await token_for(env, NEW, email) for email in ("matt@lp.com", "dave@lp.com")]
    with rendezvous(env.store, "find_user", 2, when=case_insensitive_email_lookup) as held:
        outcomes = await asyncio.gather(*(attempt(env, t) for t in tokens))
    assert held == [None, None]
    winners = [o for o in outcomes if isinstance(o, Confirmed)]
    assert len(winners) == 1 and outcomes.count(INVALID) == 1
    owner = await env.user(email=NEW)
    assert owner.fs_uniquifier == winners[0].user.fs_uniquifier
    loser = "dave@lp.com" if winners[0].old_email == "matt@lp.com" else "matt@lp.com"
    assert (await env.user(email=loser)).email == loser
