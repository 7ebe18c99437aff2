"""flows/recover_username.py without an app: the username goes to the stored address
only; every other well-formed address gets the same answer and the same work."""

from __future__ import annotations

import pytest

from quart_security import signals
from quart_security.flows.recover_username import recover_username
from tests.support.flow_context import FlowEnv, keys, only

pytestmark = pytest.mark.settings(username_enable=True, username_recovery=True)

NOT_GENERIC = pytest.mark.settings(return_generic_responses=False)
NO_MAIL = [
    pytest.param("Nobody@LP.com", "USER_DOES_NOT_EXIST", id="unknown"),
    pytest.param("Tiya@LP.com", "DISABLED_ACCOUNT", id="disabled"),
    pytest.param(
        "Matt@LP.com",
        "CONFIRMATION_REQUIRED",
        id="unconfirmed",
        marks=pytest.mark.settings(confirmable=True),
    ),
]


async def test_the_username_goes_to_the_stored_address(env: FlowEnv) -> None:
    with env.signals(signals.username_recovery_email_sent) as sent:
        _, intents = await env.run(recover_username, "MATT@LP.com")
    intent = only(intents)
    assert (intent.template, intent.subject) == ("username_recovery", "Your requested username")
    assert (intent.recipient, intent.deliver) == ("matt@lp.com", True)
    assert set(intent.context) == {"user", "username"}
    assert intent.context["username"] == "matt"
    assert intent.context["user"].email == "matt@lp.com"
    assert [kwargs["user"].email for _, kwargs in sent] == ["matt@lp.com"]


@pytest.mark.parametrize(("email", "failure"), NO_MAIL)
async def test_an_address_that_gets_nothing_costs_the_same_work(
    env: FlowEnv, email: str, failure: str
) -> None:
    _, real = await env.run(recover_username, "joe@lp.com")
    with env.signals(signals.username_recovery_email_sent) as sent:
        result, intents = await env.run(recover_username, email)
    assert result is None
    intent = only(intents)
    assert (intent.template, intent.subject, sorted(intent.context)) == (
        only(real).template,
        only(real).subject,
        sorted(only(real).context),
    )
    assert (intent.recipient, intent.deliver) == (email[:-6] + "lp.com", False)
    assert (intent.context["user"], intent.context["username"]) == (None, None)
    assert sent == []


@NOT_GENERIC
@pytest.mark.parametrize(("email", "failure"), NO_MAIL)
async def test_without_generic_responses_the_failure_is_named(
    env: FlowEnv, email: str, failure: str
) -> None:
    with env.signals(signals.username_recovery_email_sent) as sent:
        error, intents = await env.refused(recover_username, email)
    assert keys(error) == [("email", failure)]
    assert (intents, sent) == ([], [])


@pytest.mark.parametrize("generic", [True, pytest.param(False, marks=NOT_GENERIC)])
@pytest.mark.parametrize(
    ("email", "key"), [("not an email", "INVALID_EMAIL_ADDRESS"), (None, "EMAIL_NOT_PROVIDED")]
)
async def test_a_malformed_address_is_an_error_in_either_mode(
    env: FlowEnv, email: str | None, key: str, generic: bool
) -> None:
    assert env.cv("RETURN_GENERIC_RESPONSES") is generic
    error, intents = await env.refused(recover_username, email)
    assert keys(error) == [("email", key)]
    assert intents == []
