"""flows/login.py: the password first factor and the record of a login, without an app."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import pytest

from quart_security.config import ConfigView
from quart_security.crypto.passwords import PasswordContext
from quart_security.errors import SecurityError
from quart_security.flows.authentication import Proof, decide
from quart_security.flows.login import authenticate_password, login_failure, record_login
from tests.support.flow_context import PASSWORD, FlowEnv, build_config, find, keys

NOT_GENERIC = pytest.mark.settings(return_generic_responses=False)


async def sign_in(env: FlowEnv, identity: str, password: str, field: str = "email") -> Any:
    user, _ = await env.run(authenticate_password, field, identity, password)
    return user


async def sign_in_error(
    env: FlowEnv, identity: str, password: str, field: str = "email"
) -> list[tuple[str, str]]:
    error, _ = await env.refused(authenticate_password, field, identity, password)
    return keys(error)


# ---------------------------------------------------------------------- the first factor
async def test_the_right_password_returns_the_account(env: FlowEnv) -> None:
    user = await sign_in(env, "matt@lp.com", PASSWORD)
    assert user.email == "matt@lp.com"


async def test_the_identity_is_canonicalised_before_the_lookup(env: FlowEnv) -> None:
    user = await sign_in(env, "  Matt@LP.COM ", PASSWORD)
    assert user.email == "matt@lp.com"


@pytest.mark.parametrize(
    ("identity", "password"),
    [("matt@lp.com", "not the password"), ("nobody@lp.com", PASSWORD), ("not an email", PASSWORD)],
    ids=["wrong-password", "unknown", "malformed"],
)
async def test_every_failure_is_the_generic_error(
    env: FlowEnv, identity: str, password: str
) -> None:
    assert await sign_in_error(env, identity, password) == [("", "GENERIC_AUTHN_FAILED")]


@NOT_GENERIC
async def test_without_generic_responses_an_unknown_identity_is_named(env: FlowEnv) -> None:
    assert await sign_in_error(env, "nobody@lp.com", PASSWORD, field="identity") == [
        ("identity", "USER_DOES_NOT_EXIST")
    ]


@NOT_GENERIC
async def test_without_generic_responses_a_wrong_password_is_named(env: FlowEnv) -> None:
    assert await sign_in_error(env, "matt@lp.com", PASSWORD + "!") == [
        ("password", "INVALID_PASSWORD")
    ]


async def test_the_password_is_verified_exactly_as_typed(env: FlowEnv) -> None:
    for variant in (PASSWORD.upper(), PASSWORD + " ", PASSWORD[:-1]):
        assert await sign_in_error(env, "matt@lp.com", variant) == [("", "GENERIC_AUTHN_FAILED")]


async def test_a_disabled_account_passes_the_first_factor_only(env: FlowEnv) -> None:
    # Whether it may sign in is the pipeline's question, asked after the password.
    user = await sign_in(env, "tiya@lp.com", PASSWORD)
    assert user.email == "tiya@lp.com"
    decision = await decide(env.context(), user, Proof.by("password"), [])
    assert decision.refusal == "DISABLED_ACCOUNT"
    error = login_failure(env.cv, decision.refusal, "email")
    assert keys(error) == [("", "GENERIC_AUTHN_FAILED")]


# ---------------------------------------------------------------------- timing
@pytest.mark.parametrize(
    ("identity", "password", "work"),
    [
        ("matt@lp.com", PASSWORD, "verify_and_update"),
        ("matt@lp.com", "not the password", "verify_and_update"),
        ("nobody@lp.com", PASSWORD, "dummy_verify"),
        ("not an email", PASSWORD, "dummy_verify"),
        ("tiya@lp.com", PASSWORD, "verify_and_update"),
    ],
    ids=["right", "wrong", "unknown", "malformed", "disabled"],
)
async def test_every_attempt_costs_exactly_one_verification(
    env: FlowEnv, identity: str, password: str, work: str
) -> None:
    async with env.request() as ctx:
        with contextlib.suppress(SecurityError):  # the outcome is checked above
            await authenticate_password(ctx, "email", identity, password)
    assert env.pool.calls == [work]


async def test_an_account_without_a_password_costs_one_dummy_verification(env: FlowEnv) -> None:
    await env.update("joe@lp.com", password=None)
    assert await sign_in_error(env, "joe@lp.com", PASSWORD) == [("", "GENERIC_AUTHN_FAILED")]
    assert env.pool.calls == ["dummy_verify"]


@pytest.mark.settings(username_enable=True)
async def test_a_username_signs_in_with_one_verification(env: FlowEnv) -> None:
    user = await sign_in(env, "Dave", PASSWORD, field="username")
    assert user.email == "dave@lp.com"
    assert env.pool.verifications == 1


# ---------------------------------------------------------------------- rehash
async def stale_hash(env: FlowEnv) -> str:
    """matt's password hashed with other argon2 parameters than the configured ones."""
    other = PasswordContext(
        salt=env.cv("PASSWORD_SALT"),
        hash_options={"argon2": {"time_cost": 2, "memory_cost": 8, "parallelism": 1}},
    )
    stale = other.hash(PASSWORD)
    await env.update("matt@lp.com", password=stale)
    return stale


async def test_a_successful_sign_in_upgrades_a_stale_hash(env: FlowEnv) -> None:
    stale = await stale_hash(env)
    await sign_in(env, "matt@lp.com", PASSWORD)
    stored = await env.user(email="matt@lp.com")
    assert stored.password != stale
    assert not env.passwords.context.needs_update(stored.password)
    assert env.password_is(stored, PASSWORD)
    assert env.pool.calls == ["verify_and_update"]  # the upgrade rides on the one call


async def test_a_failed_sign_in_leaves_a_stale_hash_alone(env: FlowEnv) -> None:
    stale = await stale_hash(env)
    await sign_in_error(env, "matt@lp.com", "not the password")
    assert (await env.user(email="matt@lp.com")).password == stale


# ---------------------------------------------------------------------- login_failure
# Settings only: no datastore needed.
ACCOUNT_REFUSALS = [
    "USER_DOES_NOT_EXIST",
    "INVALID_PASSWORD",
    "DISABLED_ACCOUNT",
    "CONFIRMATION_REQUIRED",
]


@pytest.mark.parametrize("key", ACCOUNT_REFUSALS)
def test_login_failure_hides_every_account_refusal(key: str) -> None:
    cv = ConfigView(build_config({}))
    assert keys(login_failure(cv, key, "email")) == [("", "GENERIC_AUTHN_FAILED")]


@pytest.mark.parametrize("key", ACCOUNT_REFUSALS)
def test_login_failure_names_the_refusal_when_not_generic(key: str) -> None:
    cv = ConfigView(build_config({"return_generic_responses": False}))
    assert keys(login_failure(cv, key, "email")) == [("email", key)]


def test_login_failure_never_hides_other_errors() -> None:
    cv = ConfigView(build_config({}))
    assert keys(login_failure(cv, "PASSWORD_NOT_PROVIDED", "password")) == [
        ("password", "PASSWORD_NOT_PROVIDED")
    ]


# ---------------------------------------------------------------------- record_login
async def record(env: FlowEnv, email: str, remote_addr: str | None) -> None:
    async with env.request() as ctx:
        user = await find(ctx, email=email)
        await record_login(ctx, user, remote_addr)


async def test_record_login_tracks_the_current_and_the_previous_login(env: FlowEnv) -> None:
    first = env.context().now()
    await record(env, "matt@lp.com", "192.0.2.1")
    stored = await env.user(email="matt@lp.com")
    assert (stored.last_login_at, stored.current_login_at) == (first, first)
    assert (stored.last_login_ip, stored.current_login_ip) == ("192.0.2.1", "192.0.2.1")
    assert stored.login_count == 1

    env.clock.advance(timedelta(hours=3))
    await record(env, "matt@lp.com", "198.51.100.7")
    stored = await env.user(email="matt@lp.com")
    assert stored.last_login_at == first
    assert stored.current_login_at == first + timedelta(hours=3)
    assert (stored.last_login_ip, stored.current_login_ip) == ("192.0.2.1", "198.51.100.7")
    assert stored.login_count == 2


async def test_record_login_touches_only_that_account(env: FlowEnv) -> None:
    await record(env, "matt@lp.com", "192.0.2.1")
    joe = await env.user(email="joe@lp.com")
    assert (joe.current_login_at, joe.current_login_ip, joe.login_count) == (None, None, None)
