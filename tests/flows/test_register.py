"""flows/register.py without an app: the new account, the generic answer for a taken
identity (and who is mailed), refusals that write nothing, and the signals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from quart_security import signals
from quart_security.errors import Problem
from quart_security.flows.confirm import confirm_email_token, confirmation_token
from quart_security.flows.recover import check_reset_token
from quart_security.flows.register import Registered, RegistrationInput, register_user
from quart_security.outbox import MailIntent
from tests.support.flow_context import PASSWORD, FlowEnv, keys, link_values, only
from tests.support.race import rendezvous

NEW = "newbie@example.com"
NEW_PASSWORD = "correct horse battery"
NOT_GENERIC = pytest.mark.settings(return_generic_responses=False)
WATCHED = (signals.user_registered, signals.user_not_registered)


def form(email: Any = NEW, password: Any = NEW_PASSWORD, **extra: Any) -> RegistrationInput:
    extra.setdefault("password_confirm", password)
    return RegistrationInput(email=email, password=password, **extra)


async def register(env: FlowEnv, data: RegistrationInput) -> tuple[Registered, list[MailIntent]]:
    return await env.run(register_user, data)


def follow(intent: MailIntent, link_key: str, endpoint: str, token_key: str) -> str:
    """The token of a link in a mail, checked to be the token the mail also carries."""
    where, values = link_values(intent.context[link_key])
    assert where == endpoint
    assert values["token"] == intent.context[token_key]
    return values["token"]


# ---------------------------------------------------------------------- a new account
async def test_a_new_account_gets_only_the_submitted_email_and_password(env: FlowEnv) -> None:
    before = await env.user_count()
    result, _ = await register(env, form("Newbie@EXAMPLE.com", next="/after"))
    assert result.email == "Newbie@example.com"
    stored = await env.user(email="Newbie@example.com")
    assert stored is not None and result.user is not None
    assert stored.fs_uniquifier == result.user.fs_uniquifier
    assert env.password_is(stored, NEW_PASSWORD)
    assert stored.active is True
    assert stored.confirmed_at is None
    assert list(stored.roles) == []
    assert stored.username is None
    assert stored.login_count is None
    assert await env.user_count() == before + 1


@pytest.mark.settings(username_enable=True)
async def test_a_new_account_gets_the_canonical_username(env: FlowEnv) -> None:
    await register(env, form(username=" Newbie "))
    stored = await env.user(email=NEW)
    assert stored.username == "Newbie"


async def test_the_welcome_mail_goes_to_the_canonical_address(env: FlowEnv) -> None:
    result, intents = await register(env, form("Newbie@EXAMPLE.com"))
    intent = only(intents)
    assert (intent.template, intent.subject) == ("welcome", "Welcome")
    assert intent.recipient == "Newbie@example.com"
    assert intent.deliver
    assert set(intent.context) == {"user", "confirmation_link", "confirmation_token"}
    assert intent.context["user"] is result.user
    assert intent.context["confirmation_link"] is None
    assert result.confirmation_token is None


@pytest.mark.settings(confirmable=True)
async def test_the_welcome_mail_links_to_the_confirmation_of_the_new_account(
    env: FlowEnv,
) -> None:
    result, intents = await register(env, form())
    token = follow(only(intents), "confirmation_link", "confirm_email", "confirmation_token")
    assert token == result.confirmation_token
    confirmed, _ = await env.run(confirm_email_token, token)
    assert confirmed.email == NEW
    assert (await env.user(email=NEW)).confirmed_at == env.context().now()


@pytest.mark.settings(send_register_email=False)
async def test_no_welcome_mail_when_it_is_switched_off(env: FlowEnv) -> None:
    result, intents = await register(env, form())
    assert result.user is not None
    assert intents == []


@pytest.mark.settings(confirmable=True, username_enable=True)
async def test_user_registered_is_sent_with_the_token_and_the_form(env: FlowEnv) -> None:
    with env.signals(*WATCHED) as sent:
        result, _ = await register(env, form(username="newbie", next="/after"))
    ((signal, kwargs),) = sent
    assert signal is signals.user_registered
    assert kwargs["user"] is result.user
    assert kwargs["confirm_token"] == kwargs["confirmation_token"] == result.confirmation_token
    assert kwargs["form_data"] == {"email": NEW, "next": "/after", "username": "newbie"}


async def test_one_hash_for_a_new_account(env: FlowEnv) -> None:
    await register(env, form())
    assert env.pool.calls == ["hash"]


# ---------------------------------------------------------------------- a taken identity
async def test_a_taken_email_is_answered_as_a_new_one_and_writes_nothing(env: FlowEnv) -> None:
    before = await env.user_count()
    result, _ = await register(env, form("MATT@LP.com"))
    assert result == Registered("MATT@lp.com")
    assert await env.user_count() == before
    matt = await env.user(email="matt@lp.com")
    assert env.password_is(matt, PASSWORD)
    assert env.pool.calls == ["hash"]  # the same work as a new account


async def test_the_owner_of_a_taken_email_is_mailed_at_the_stored_address(env: FlowEnv) -> None:
    _, intents = await register(env, form("MATT@LP.com"))
    intent = only(intents)
    assert (intent.template, intent.subject) == ("welcome_existing", "Welcome")
    assert intent.recipient == "matt@lp.com"
    assert intent.deliver
    assert intent.context["user"].email == "matt@lp.com"
    links = (
        "recovery_link",
        "reset_link",
        "reset_token",
        "confirmation_link",
        "confirmation_token",
    )
    assert set(intent.context) == {"user", *links}
    assert [intent.context[key] for key in links] == [""] * len(links)


@pytest.mark.settings(recoverable=True, confirmable=True)
async def test_the_mail_about_a_taken_email_links_to_reset_and_confirmation(
    env: FlowEnv,
) -> None:
    _, intents = await register(env, form("matt@lp.com"))
    intent = only(intents)
    assert link_values(intent.context["recovery_link"]) == ("forgot_password", {})
    reset = follow(intent, "reset_link", "reset_password", "reset_token")
    confirm = follow(intent, "confirmation_link", "confirm_email", "confirmation_token")
    # Confirmation comes first: an unconfirmed account may not reset (C-08).
    confirmed, _ = await env.run(confirm_email_token, confirm)
    assert confirmed.email == "matt@lp.com"
    owner, _ = await env.run(check_reset_token, reset)
    assert owner.email == "matt@lp.com"


@pytest.mark.settings(confirmable=True)
async def test_a_confirmed_owner_gets_no_confirmation_link(env: FlowEnv) -> None:
    token = confirmation_token(env.context(), await env.user(email="matt@lp.com"))
    await env.run(confirm_email_token, token)
    _, intents = await register(env, form("matt@lp.com"))
    assert only(intents).context["confirmation_link"] == ""


async def test_user_not_registered_names_the_existing_account(env: FlowEnv) -> None:
    with env.signals(*WATCHED) as sent:
        await register(env, form("Matt@lp.com", next="/after"))
    ((signal, kwargs),) = sent
    assert signal is signals.user_not_registered
    assert kwargs["user"].email == "matt@lp.com"
    assert (kwargs["existing_email"], kwargs["existing_username"]) == (True, False)
    assert kwargs["form_data"] == {"email": "Matt@lp.com", "next": "/after"}


@pytest.mark.settings(username_enable=True)
async def test_a_taken_username_mails_the_submitted_address_what_was_submitted(
    env: FlowEnv,
) -> None:
    before = await env.user_count()
    with env.signals(*WATCHED) as sent:
        result, intents = await register(env, form(username="MATT"))
    assert result == Registered(NEW)
    assert await env.user_count() == before
    intent = only(intents)
    assert (intent.template, intent.recipient) == ("welcome_existing_username", NEW)
    assert dict(intent.context) == {"email": NEW, "username": "MATT"}
    ((signal, kwargs),) = sent
    assert signal is signals.user_not_registered
    assert kwargs["user"] is None
    assert (kwargs["existing_email"], kwargs["existing_username"]) == (False, True)


@pytest.mark.settings(username_enable=True)
async def test_a_taken_email_and_username_mail_the_email_owner(env: FlowEnv) -> None:
    with env.signals(*WATCHED) as sent:
        _, intents = await register(env, form("joe@lp.com", username="matt"))
    assert (only(intents).template, only(intents).recipient) == ("welcome_existing", "joe@lp.com")
    ((_, kwargs),) = sent
    assert kwargs["user"].email == "joe@lp.com"
    assert (kwargs["existing_email"], kwargs["existing_username"]) == (True, True)


@pytest.mark.settings(send_register_email=False)
async def test_a_taken_email_sends_no_mail_when_register_mail_is_off(env: FlowEnv) -> None:
    with env.signals(*WATCHED) as sent:
        _, intents = await register(env, form("matt@lp.com"))
    assert intents == []
    assert [signal for signal, _ in sent] == [signals.user_not_registered]


@NOT_GENERIC
async def test_without_generic_responses_a_taken_email_is_refused(env: FlowEnv) -> None:
    before = await env.user_count()
    with env.signals(*WATCHED) as sent:
        error, intents = await env.refused(register_user, form("MATT@LP.com"))
    assert error.problems == [
        Problem("email", "EMAIL_ALREADY_ASSOCIATED", {"email": "MATT@lp.com"})
    ]
    assert (intents, sent) == ([], [])
    assert await env.user_count() == before


@NOT_GENERIC
@pytest.mark.settings(username_enable=True)
async def test_without_generic_responses_every_taken_identity_is_named(env: FlowEnv) -> None:
    error, _ = await env.refused(register_user, form("matt@lp.com", username="DAVE"))
    assert keys(error) == [
        ("email", "EMAIL_ALREADY_ASSOCIATED"),
        ("username", "USERNAME_ALREADY_ASSOCIATED"),
    ]
    assert error.problems[1].kwargs == {"username": "DAVE"}


# ---------------------------------------------------------------------- bad input
BAD_INPUT = [
    pytest.param(form(email="not an email"), [("email", "INVALID_EMAIL_ADDRESS")], id="email"),
    pytest.param(form(email="  "), [("email", "EMAIL_NOT_PROVIDED")], id="no-email"),
    pytest.param(form(email=["a@lp.com"]), [("email", "INVALID_INPUT")], id="email-list"),
    # Fullwidth "m": NFC keeps it distinct from matt@lp.com, NFKC does not.
    pytest.param(form(email="\uff4datt@lp.com"), [("email", "INVALID_EMAIL_ADDRESS")], id="nfkc"),
    pytest.param(form(password="short"), [("password", "PASSWORD_INVALID_LENGTH")], id="short"),
    pytest.param(form("passphrase@lp.com", "PassPhrase"), [("password", "PASSWORD_TOO_SIMPLE")],
                 id="context-word"),
    pytest.param(form(password=None), [("password", "PASSWORD_NOT_PROVIDED"),
                                       ("password_confirm", "PASSWORD_NOT_PROVIDED")], id="none"),
    pytest.param(form(password_confirm=NEW_PASSWORD + "!"),
                 [("password_confirm", "RETYPE_PASSWORD_MISMATCH")], id="retype"),
    pytest.param(form(password=12345678), [("password", "INVALID_INPUT"),
                                           ("password_confirm", "INVALID_INPUT")], id="not-str"),
    pytest.param(form(email="bad", password="short"),
                 [("email", "INVALID_EMAIL_ADDRESS"), ("password", "PASSWORD_INVALID_LENGTH")],
                 id="every-problem"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), BAD_INPUT)
async def test_bad_input_is_refused_and_nothing_is_written(
    env: FlowEnv, data: RegistrationInput, expected: list[tuple[str, str]]
) -> None:
    before = await env.user_count()
    with env.signals(*WATCHED) as sent:
        error, intents = await env.refused(register_user, data)
    assert keys(error) == expected
    assert await env.user_count() == before
    assert (intents, sent, env.pool.calls) == ([], [], [])


@pytest.mark.settings(username_enable=True)
@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("bob!", ("username", "USERNAME_DISALLOWED_CHARACTERS")),
        ("bob", ("username", "USERNAME_INVALID_LENGTH")),
        (42, ("username", "INVALID_INPUT")),
    ],
)
async def test_a_bad_username_is_refused(
    env: FlowEnv, username: Any, expected: tuple[str, str]
) -> None:
    before = await env.user_count()
    error, _ = await env.refused(register_user, form(username=username))
    assert keys(error) == [expected]
    assert await env.user_count() == before


@pytest.mark.settings(username_enable=True)
async def test_the_username_length_error_carries_the_limits(env: FlowEnv) -> None:
    error, _ = await env.refused(register_user, form(username="bob"))
    assert error.problems[0].kwargs == {"min": 4, "max": 32}


@pytest.mark.settings(username_enable=True, username_required=True)
async def test_a_required_username_must_be_given(env: FlowEnv) -> None:
    error, _ = await env.refused(register_user, form(username=""))
    assert keys(error) == [("username", "USERNAME_NOT_PROVIDED")]


async def test_with_generic_responses_a_taken_email_never_fails_a_request(env: FlowEnv) -> None:
    error, intents = await env.refused(register_user, form("matt@lp.com", password="short"))
    assert keys(error) == [("password", "PASSWORD_INVALID_LENGTH")]
    assert intents == []


@NOT_GENERIC
async def test_without_generic_responses_a_taken_email_joins_the_problems(env: FlowEnv) -> None:
    error, _ = await env.refused(register_user, form("matt@lp.com", password="short"))
    assert keys(error) == [
        ("password", "PASSWORD_INVALID_LENGTH"),
        ("email", "EMAIL_ALREADY_ASSOCIATED"),
    ]


# ---------------------------------------------------------------------- a race
def case_insensitive_email_lookup(**kwargs: Any) -> bool:
    return bool(kwargs.get("case_insensitive")) and "email" in kwargs


async def test_parallel_registrations_of_one_email_make_one_account(env: FlowEnv) -> None:
    before = await env.user_count()

    async def one(spelling: str) -> tuple[Registered, list[MailIntent]]:
        return await register(env, form(spelling))

    spellings = ["race@example.com", "Race@example.com", "RACE@example.com"]
    with rendezvous(env.store, "find_user", 3, when=case_insensitive_email_lookup) as held:
        results = await asyncio.gather(*(one(s) for s in spellings))
    assert held == [None, None, None]  # all three looked before any wrote
    assert await env.user_count() == before + 1
    created = [r for r, _ in results if r.user is not None]
    assert len(created) == 1
    templates = sorted(only(intents).template for _, intents in results)
    assert templates == ["welcome", "welcome_existing", "welcome_existing"]
    owner = created[0].user.email
    assert {only(i).recipient for r, i in results if r.user is None} == {owner}
