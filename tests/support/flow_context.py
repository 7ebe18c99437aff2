"""A real FlowContext with no app and no request, for the flow tests (tests/flows/).

Everything a flow gets is the real thing, built the way ``Security._build``
builds it: a datastore on a real database (SQLite through aiosqlite in the
test's tmp_path; PostgreSQL and MongoDB when QS_TEST_POSTGRES_URL and
QS_TEST_MONGO_URL are set), argon2 hashing in a HashingPool (fast
parameters), the signed tokens, the settings (``init_config``,
``validate_config`` and ``normalize_durations`` on a plain dict, read through
``ConfigView``), the password policy, the identity resolver, a FrozenClock and
an Outbox. Two small things stand in for the web layer:

- ``ExampleLinks`` for its link builder (url_for + SECURITY_EXTERNAL_BASE_URL):
  ``https://app.example/<endpoint>?<values>``, absolute, and parsed back by
  ``link_values`` so a test can follow a link's token;
- ``FlowEnv.request()`` for a request's unit of work: a fresh context (its own
  outbox) whose datastore work is committed when the block succeeds.

Settings come from ``@pytest.mark.settings(...)`` (SECURITY_* keys in lower
case, as the HTTP tests take them). The users and roles are those of the HTTP
test apps (tests/support/app_factory.py), seeded through the datastore API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from blinker import Signal
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from quart_security import config as config_module
from quart_security.clock import FrozenClock
from quart_security.config import ConfigView
from quart_security.crypto.hashing_pool import HashingPool
from quart_security.crypto.password_policy import PasswordPolicy, policy_from_config
from quart_security.crypto.passwords import PasswordContext, PasswordService
from quart_security.crypto.tokens import TokenKit
from quart_security.datastore.base import UserDatastore
from quart_security.errors import SecurityError
from quart_security.extension import SERIALIZER_SALTS
from quart_security.flows.context import FlowContext
from quart_security.identity import IdentityResolver
from quart_security.outbox import MailIntent, Outbox
from quart_security.password_util import PasswordUtil
from quart_security.username_util import UsernameUtil
from tests.datastore.backends import mongo_datastore, postgres_datastore, sql_datastore
from tests.support.app_factory import FAST_ARGON2, PASSWORD, ROLES, USERS

__all__ = [
    "BASE_URL",
    "FLOW_BACKENDS",
    "PASSWORD",
    "USERS",
    "CountingPool",
    "ExampleLinks",
    "FlowEnv",
    "build_config",
    "find",
    "flow_env",
    "keys",
    "link_values",
    "only",
    "refusal",
    "settings_of",
]

P = ParamSpec("P")
T = TypeVar("T")

BASE_URL = "https://app.example"
SECRET_KEY = "flow-tests-secret-key-0123456789abcdef"
#: A whole second (MongoDB keeps datetimes to the millisecond): what a flow
#: stores from the clock compares equal when read back.
START = 1_800_000_000.0

#: Backend name -> does it need a service (skipped when its variable is unset).
FLOW_BACKENDS = {"sqlite": None, "postgres": "QS_TEST_POSTGRES_URL", "mongo": "QS_TEST_MONGO_URL"}


# ---------------------------------------------------------------------- stand-ins
class ExampleLinks:
    """The LinkBuilder a flow gets, standing in for the web layer's ``PortLinks``.

    PortLinks joins SECURITY_EXTERNAL_BASE_URL and the route's path from
    url_for; here the endpoint is the path and the values are the query, so
    a link is as absolute as a real one and a test reads its token back with
    ``link_values``.
    """

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def external_url(self, endpoint: str, **values: Any) -> str:
        query = urlencode(sorted((k, str(v)) for k, v in values.items()))
        return f"{self.base}/{endpoint}" + (f"?{query}" if query else "")


def link_values(url: str) -> tuple[str, dict[str, str]]:
    """(endpoint, values) of a link built by ``ExampleLinks``; only absolute links parse."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL, url
    return parts.path.lstrip("/"), dict(parse_qsl(parts.query))


class CountingPool(HashingPool):
    """A real HashingPool that also notes the name of each call it runs.

    PasswordService sends ``hash``, ``verify``, ``verify_and_update`` and
    ``dummy_verify`` through it, so a test can count the hashing work of a
    flow ("exactly one verification per attempt", A-01.3) without mocking it.
    """

    def __init__(self) -> None:
        super().__init__(size=2, queue_size=32, nice=0)
        self.calls: list[str] = []

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        self.calls.append(getattr(fn, "__name__", repr(fn)))
        return await super().run(fn, *args, **kwargs)

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls

    @property
    def verifications(self) -> int:
        return sum(name in ("verify", "verify_and_update", "dummy_verify") for name in self.calls)

    @property
    def hashes(self) -> int:
        return self.calls.count("hash")


class FlowSender:
    """The sender of this context's signals (the app, in the web layer)."""


# ---------------------------------------------------------------------- settings
def build_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """An app config as ``Security.init_app`` leaves it, from SECURITY_* settings."""
    app_config: dict[str, Any] = {
        "SECRET_KEY": SECRET_KEY,
        "SECURITY_PASSWORD_SALT": "flow-tests-salt",
        "SECURITY_PASSWORD_HASH_OPTIONS": FAST_ARGON2,
        "SECURITY_EXTERNAL_BASE_URL": BASE_URL,
    }
    app_config.update({"SECURITY_" + k.upper(): v for k, v in settings.items()})
    config_module.init_config(app_config, {})
    config_module.validate_config(app_config, {})  # only settings Security would accept
    config_module.normalize_durations(app_config)
    return app_config


def _tokens(cv: ConfigView, clock: FrozenClock) -> TokenKit:
    def token_max_age() -> float | None:
        value = cv("TOKEN_MAX_AGE")
        return value.total_seconds() if value is not None else None

    return TokenKit(
        secret_key=SECRET_KEY,
        fallbacks=[],
        salts={name: cv(key) for name, key in SERIALIZER_SALTS.items()},
        clock=clock,
        token_max_age=token_max_age,
        expire_timestamp=lambda user: int(cv("TOKEN_EXPIRE_TIMESTAMP")(user) or 0),
        csrf_time_limit=lambda: 3600,
    )


def _passwords(cv: ConfigView, pool: HashingPool) -> PasswordService:
    context = PasswordContext(
        default_scheme=cv("PASSWORD_HASH"),
        schemes=list(cv("PASSWORD_SCHEMES")),
        deprecated=list(cv("DEPRECATED_PASSWORD_SCHEMES")),
        single_hash=cv("PASSWORD_SINGLE_HASH"),
        salt=cv("PASSWORD_SALT"),
        hash_options=cv("PASSWORD_HASH_OPTIONS") or {},
        normalize_form=cv("PASSWORD_NORMALIZE_FORM"),
        max_length=cv("PASSWORD_MAX_LENGTH"),
    )
    return PasswordService(context, pool)


def _policy(cv: ConfigView) -> PasswordPolicy:
    return policy_from_config(cv)  # as Security._build builds it


def _identity(cv: ConfigView) -> IdentityResolver:
    attributes = list(cv("USER_IDENTITY_ATTRIBUTES"))
    # As Security._build: USERNAME_ENABLE makes the username an identity too.
    if cv("USERNAME_ENABLE") and not any("username" in a for a in attributes):
        attributes.append(
            {
                "username": {
                    "mapper": "quart_security.identity.uia_username_mapper",
                    "case_insensitive": True,
                }
            }
        )
    return IdentityResolver(attributes)


# ---------------------------------------------------------------------- the environment
@dataclass
class FlowEnv:
    """The services of one test and a way to run flows as requests would."""

    backend: str
    store: UserDatastore[Any, Any]
    app_config: dict[str, Any]
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(START))
    pool: CountingPool = field(default_factory=CountingPool)
    sender: FlowSender = field(default_factory=FlowSender)
    #: The classes an app would pass as password_util_cls / username_util_cls
    #: (``@pytest.mark.utils(password_util_cls=...)`` in tests/flows).
    password_util_cls: type[PasswordUtil] = PasswordUtil
    username_util_cls: type[UsernameUtil] = UsernameUtil

    def __post_init__(self) -> None:
        self.cv = ConfigView(self.app_config)
        self.tokens = _tokens(self.cv, self.clock)
        self.passwords = _passwords(self.cv, self.pool)
        self.policy = _policy(self.cv)
        self.identity = _identity(self.cv)
        # Built and bound as Security._build does; no app, so no Security.
        self.password_util = self.password_util_cls(None)
        PasswordUtil.bind(self.password_util, self.cv, self.policy)
        self.username_util = self.username_util_cls(None)
        UsernameUtil.bind(self.username_util, self.cv)

    def context(self) -> FlowContext:
        """A context for one piece of work: its own outbox, the shared services."""
        return FlowContext(
            store=self.store,
            passwords=self.passwords,
            policy=self.policy,
            tokens=self.tokens,
            config=self.cv,
            clock=self.clock,
            identity=self.identity,
            outbox=Outbox(),
            links=ExampleLinks(self.cv("EXTERNAL_BASE_URL")),
            password_util=self.password_util,
            username_util=self.username_util,
            sender=self.sender,
        )

    @asynccontextmanager
    async def request(self) -> AsyncIterator[FlowContext]:
        """One request's unit of work: committed if the block succeeds, else rolled back.

        Catch an expected SecurityError inside the block (``refusal``), so
        whatever the refusing flow staged is committed and shows when the test
        reads back: a refusal must write nothing, on SQL as on MongoDB.
        """
        async with self.store.unit_of_work():
            yield self.context()

    async def run(
        self, flow: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> tuple[T, list[MailIntent]]:
        """``flow(ctx, *args)`` as one request: (its result, its mail intents)."""
        async with self.request() as ctx:
            result = await flow(ctx, *args, **kwargs)
        return result, ctx.outbox.take()

    async def refused(
        self, flow: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> tuple[SecurityError, list[MailIntent]]:
        """``flow(ctx, *args)`` as one request that must be refused: (the error, intents)."""
        async with self.request() as ctx:
            error = await refusal(flow(ctx, *args, **kwargs))
        return error, ctx.outbox.take()

    async def user(self, **criterion: Any) -> Any:
        """The stored user, read in a unit of work of its own (not a cached object)."""
        async with self.store.unit_of_work():
            return await self.store.find_user(**criterion)

    async def update(self, who: str, **values: Any) -> None:
        """Set fields of the account whose email is ``who`` (an admin's change, not a flow)."""
        async with self.store.unit_of_work():
            user = await self.store.find_user(email=who)
            assert user is not None, who
            for name, value in values.items():
                setattr(user, name, value)
            await self.store.put(user)

    async def user_count(self) -> int:
        async with self.store.unit_of_work():
            db = getattr(self.store, "db", None)
            if db is not None:  # MongoDB
                collection = self.store.user_collection  # type: ignore[attr-defined]
                return int(await db[collection].count_documents({}))
            session = self.store.session  # type: ignore[attr-defined]
            result = await session.execute(select(func.count()).select_from(self.store.user_model))
            return int(result.scalar_one())

    def password_is(self, user: Any, password: str) -> bool:
        """Whether ``password`` verifies against ``user``'s stored hash.

        Straight through the password context, outside the pool, so it is not
        counted as the flow's work (the fast argon2 takes well under 1 ms).
        """
        return self.passwords.context.verify(password, user.password)

    @contextlib.contextmanager
    def signals(self, *watched: Signal) -> Iterator[list[tuple[Signal, dict[str, Any]]]]:
        """Record (signal, kwargs) of every send of ``watched`` by this context's sender."""
        sent: list[tuple[Signal, dict[str, Any]]] = []
        with contextlib.ExitStack() as stack:
            for signal in watched:

                def receiver(sender: Any, _signal: Signal = signal, **kwargs: Any) -> None:
                    sent.append((_signal, kwargs))

                stack.enter_context(signal.connected_to(receiver, sender=self.sender))
            yield sent

    async def seed(self) -> None:
        """The roles and users of the HTTP test apps, through the datastore API."""
        async with self.store.unit_of_work():
            for name, permissions in ROLES:
                await self.store.create_role(name=name, permissions=permissions)
        async with self.store.unit_of_work():
            hashed = await self.passwords.hash(PASSWORD)
            for email, username, roles, active in USERS:
                await self.store.create_user(
                    email=email, username=username, password=hashed, roles=roles, active=active
                )
        self.pool.take()

    async def close(self) -> None:
        # shutdown(wait=True) joins the workers: at most one (fast) hash.
        await asyncio.to_thread(self.pool.shutdown)


# ---------------------------------------------------------------------- backends
@asynccontextmanager
async def _sqlite(tmp_path: Path) -> AsyncIterator[UserDatastore[Any, Any]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'flows.db'}")
    async with sql_datastore(engine) as store:
        yield store


def _datastore(
    backend: str, tmp_path: Path
) -> AbstractAsyncContextManager[UserDatastore[Any, Any]]:
    variable = FLOW_BACKENDS[backend]
    if variable is not None and not os.environ.get(variable):
        pytest.skip(f"{variable} is not set")
    if backend == "sqlite":
        return _sqlite(tmp_path)
    if backend == "postgres":
        return postgres_datastore()  # a schema of its own, dropped afterwards
    return mongo_datastore()  # a database of its own, dropped afterwards


def settings_of(request: pytest.FixtureRequest, marker_name: str = "settings") -> dict[str, Any]:
    """The merged ``@pytest.mark.settings`` (or ``marker_name``) of a test (closest wins)."""
    merged: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(marker_name))):
        merged.update(marker.kwargs)
    return merged


@asynccontextmanager
async def flow_env(
    backend: str,
    tmp_path: Path,
    settings: Mapping[str, Any],
    utils: Mapping[str, Any] | None = None,
) -> AsyncIterator[FlowEnv]:
    """A seeded FlowEnv on ``backend``; everything it opened is closed afterwards.

    ``utils`` are the app's util classes (``password_util_cls``, ``username_util_cls``).
    """
    app_config = build_config(settings)
    async with _datastore(backend, tmp_path) as store:
        env = FlowEnv(backend, store, app_config, **dict(utils or {}))
        try:
            await env.seed()
            yield env
        finally:
            await env.close()


# ---------------------------------------------------------------------- assertions
async def find(ctx: FlowContext, **criterion: Any) -> Any:
    """The user a request works on (it must exist), loaded in that request."""
    user = await ctx.store.find_user(**criterion)
    assert user is not None, criterion
    return user


async def refusal(awaitable: Awaitable[Any]) -> SecurityError:
    """The SecurityError ``awaitable`` raises (fails the test if it returns)."""
    try:
        result = await awaitable
    except SecurityError as error:
        return error
    raise AssertionError(f"expected a SecurityError, got {result!r}")


def keys(error: SecurityError) -> list[tuple[str, str]]:
    """(field, message key) of each problem, in order."""
    return [(p.field, p.key) for p in error.problems]


def only(intents: list[MailIntent]) -> MailIntent:
    """The one intent of a request."""
    assert len(intents) == 1, intents
    return intents[0]
