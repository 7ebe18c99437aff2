"""flows/authentication.py, without an app: may_authenticate (the one account rule
every way in asks) and decide (the account rules, then the second-factor plugins)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from quart_security.flows.authentication import (
    Decision,
    NoSecondFactor,
    PendingStep,
    Proof,
    decide,
    may_authenticate,
    requires_confirmation,
)
from quart_security.flows.context import FlowContext
from tests.support.flow_context import FlowEnv, find


def config(**values: Any) -> Any:
    settings = {"CONFIRMABLE": False, "LOGIN_WITHOUT_CONFIRMATION": False, **values}
    return settings.__getitem__


def user(*, active: bool = True, confirmed: bool = False) -> Any:
    return SimpleNamespace(
        is_active=active, confirmed_at=datetime(2026, 1, 1) if confirmed else None
    )


@pytest.mark.parametrize(
    ("settings", "account", "expected"),
    [
        ({}, user(), None),
        ({}, user(active=False), "DISABLED_ACCOUNT"),
        ({"CONFIRMABLE": True}, user(), "CONFIRMATION_REQUIRED"),
        ({"CONFIRMABLE": True}, user(confirmed=True), None),
        ({"CONFIRMABLE": True, "LOGIN_WITHOUT_CONFIRMATION": True}, user(), None),
        # Flask-Security's order: confirmation before the active flag.
        ({"CONFIRMABLE": True}, user(active=False), "CONFIRMATION_REQUIRED"),
        ({"CONFIRMABLE": True}, user(active=False, confirmed=True), "DISABLED_ACCOUNT"),
        ({}, None, "USER_DOES_NOT_EXIST"),
    ],
)
def test_may_authenticate(settings: dict[str, Any], account: Any, expected: str | None) -> None:
    assert may_authenticate(config(**settings), account) == expected


def test_requires_confirmation_only_when_confirmable() -> None:
    assert not requires_confirmation(config(), user())
    assert requires_confirmation(config(CONFIRMABLE=True), user())


# ---------------------------------------------------------------------- decide
class AskFor:
    """A second-factor plugin of the tests: a step for the listed accounts only."""

    def __init__(self, name: str, *emails: str) -> None:
        self.name = name
        self.emails = set(emails)
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    async def second_step(self, ctx: FlowContext, user: Any, proof: Proof) -> PendingStep | None:
        self.asked.append((str(user.email), proof.via))
        if user.email not in self.emails:
            return None
        return PendingStep(
            self.name,
            f"security.{self.name}_verify",
            payload={"tf_required": True},
            state={"plugin": self.name},
        )


class Broken:
    """A plugin whose backing service is down: it raises, it never answers None."""

    name = "broken"

    async def second_step(self, ctx: FlowContext, user: Any, proof: Proof) -> PendingStep | None:
        raise ConnectionError("the code service is down")


async def decision(
    env: FlowEnv, email: str, plugins: list[Any], proof: Proof | None = None
) -> Decision:
    async with env.request() as ctx:
        user = await find(ctx, email=email)
        return await decide(ctx, user, proof or Proof.by("password"), plugins)


async def test_decide_signs_in_when_no_plugin_asks_for_a_step(env: FlowEnv) -> None:
    plugin = AskFor("code")
    result = await decision(env, "matt@lp.com", [NoSecondFactor(), plugin])
    assert result.signs_in
    assert (result.refusal, result.pending) == (None, None)
    assert result.user.email == "matt@lp.com"
    assert plugin.asked == [("matt@lp.com", ("password",))]


async def test_decide_refuses_a_disabled_account_before_any_plugin(env: FlowEnv) -> None:
    plugin = AskFor("code", "tiya@lp.com")
    result = await decision(env, "tiya@lp.com", [plugin])
    assert result.refusal == "DISABLED_ACCOUNT"
    assert result.pending is None and not result.signs_in
    assert plugin.asked == []


@pytest.mark.settings(confirmable=True)
async def test_decide_refuses_an_unconfirmed_account_before_any_plugin(env: FlowEnv) -> None:
    plugin = AskFor("code", "matt@lp.com")
    result = await decision(env, "matt@lp.com", [plugin])
    assert result.refusal == "CONFIRMATION_REQUIRED"
    assert plugin.asked == []


async def test_decide_refuses_no_user(env: FlowEnv) -> None:
    plugin = AskFor("code")
    result = await decide(env.context(), None, Proof.by("password"), [plugin])
    assert result.refusal == "USER_DOES_NOT_EXIST"
    assert plugin.asked == []


async def test_decide_returns_the_pending_step_of_a_plugin(env: FlowEnv) -> None:
    result = await decision(env, "matt@lp.com", [AskFor("code", "matt@lp.com")])
    assert not result.signs_in and result.refusal is None
    assert result.pending is not None
    assert (result.pending.plugin, result.pending.endpoint) == ("code", "security.code_verify")
    assert dict(result.pending.payload) == {"tf_required": True}


async def test_a_step_is_asked_only_of_the_accounts_that_need_one(env: FlowEnv) -> None:
    plugin = AskFor("code", "matt@lp.com")
    assert (await decision(env, "joe@lp.com", [plugin])).signs_in
    assert not (await decision(env, "matt@lp.com", [plugin])).signs_in


async def test_plugins_are_asked_in_order_and_the_first_step_wins(env: FlowEnv) -> None:
    none, first, second = (
        AskFor("none"),
        AskFor("email", "matt@lp.com"),
        AskFor("sms", "matt@lp.com"),
    )
    result = await decision(env, "matt@lp.com", [none, first, second])
    assert result.pending is not None and result.pending.plugin == "email"
    assert [len(p.asked) for p in (none, first, second)] == [1, 1, 0]


async def test_a_renewed_proof_skips_the_plugins(env: FlowEnv) -> None:
    # A password change re-signs a session that already took its second step.
    plugin = AskFor("code", "matt@lp.com")
    result = await decision(env, "matt@lp.com", [plugin], Proof.by("change", renews=True))
    assert result.signs_in
    assert plugin.asked == []


async def test_a_renewed_proof_still_meets_the_account_rules(env: FlowEnv) -> None:
    result = await decision(env, "tiya@lp.com", [], Proof.by("change", renews=True))
    assert result.refusal == "DISABLED_ACCOUNT"


async def test_the_proof_reaches_the_plugins(env: FlowEnv) -> None:
    plugin = AskFor("code")
    proof = Proof.by("register", "confirm", remember=True)
    result = await decision(env, "matt@lp.com", [plugin], proof)
    assert result.proof is proof
    assert plugin.asked == [("matt@lp.com", ("register", "confirm"))]


async def test_a_plugin_that_cannot_decide_fails_the_decision(env: FlowEnv) -> None:
    with pytest.raises(ConnectionError):
        await decision(env, "matt@lp.com", [Broken()])
