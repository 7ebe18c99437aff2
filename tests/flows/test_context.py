"""flows/context.py and outbox.py: what every flow relies on in its context."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from quart_security import signals
from quart_security.outbox import MailIntent, Outbox
from tests.support.flow_context import PASSWORD, FlowEnv, find


async def test_now_is_the_clock_as_a_naive_utc_datetime(env: FlowEnv) -> None:
    ctx = env.context()
    assert ctx.now() == datetime(2027, 1, 15, 8, 0)  # START, 1_800_000_000 s
    assert ctx.now().tzinfo is None
    env.clock.advance(timedelta(minutes=5))
    assert ctx.now() == datetime(2027, 1, 15, 8, 5)


@pytest.mark.settings(
    register_email_template="security/email/custom_welcome", email_subject_register="Hello"
)
async def test_mail_names_its_template_and_subject_by_their_settings(env: FlowEnv) -> None:
    ctx = env.context()
    ctx.mail("REGISTER_EMAIL_TEMPLATE", "EMAIL_SUBJECT_REGISTER", "a@lp.com", user=None)
    ctx.mail("EMAIL_TEMPLATE_CONFIRM", "EMAIL_SUBJECT_CONFIRM", "b@lp.com", deliver=False)
    assert list(ctx.outbox) == [
        MailIntent("custom_welcome", "Hello", "a@lp.com", {"user": None}, True),
        MailIntent("confirmation_instructions", "Please confirm your email", "b@lp.com", {}, False),
    ]


async def test_signal_is_sent_by_the_contexts_sender(env: FlowEnv) -> None:
    received: list[object] = []

    def any_sender(sender: object, **kwargs: object) -> None:
        received.append(sender)

    with signals.user_confirmed.connected_to(any_sender):
        await env.context().signal(signals.user_confirmed, user=None)
    assert received == [env.sender]


async def test_verify_password_costs_one_verification_whoever_asks(env: FlowEnv) -> None:
    async with env.request() as ctx:
        matt = await find(ctx, email="matt@lp.com")
        assert await ctx.verify_password(matt, PASSWORD)
        assert not await ctx.verify_password(matt, "wrong password")
        assert not await ctx.verify_password(None, PASSWORD)
        matt.password = None
        assert not await ctx.verify_password(matt, PASSWORD)
    assert env.pool.calls == ["verify_and_update"] * 2 + ["dummy_verify"] * 2


def test_an_outbox_is_taken_once_and_discarded_whole() -> None:
    outbox = Outbox()
    first, second = MailIntent("a", "A", "a@lp.com"), MailIntent("b", "B", "b@lp.com")
    outbox.add(first)
    outbox.add(second)
    assert (len(outbox), list(outbox)) == (2, [first, second])
    assert outbox.take() == [first, second]
    assert (len(outbox), outbox.take()) == (0, [])
    outbox.add(first)
    outbox.discard()
    assert outbox.take() == []
