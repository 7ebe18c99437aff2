"""What only SQLAlchemySessionUserDatastore can get wrong: sharing the app's
async_scoped_session. Its datastore behaviour is the conformance suite's
(backends "sqlite-session" and "postgres-session")."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from quart import Quart, jsonify
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_scoped_session,
    async_sessionmaker,
    create_async_engine,
)

from quart_security import (
    Security,
    SQLAlchemySessionUserDatastore,
    auth_required,
    current_user,
    hash_password,
)
from quart_security.errors import ConfigurationError, InvalidFieldValueError
from tests.datastore.backends import Base, Role, User, WebAuthn
from tests.support.app_factory import FAST_ARGON2, PASSWORD
from tests.support.http import JSON, json_login

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'qs.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


def scoped(engine: AsyncEngine, **kw: Any) -> async_scoped_session[Any]:
    kw.setdefault("expire_on_commit", False)
    return async_scoped_session(async_sessionmaker(engine, **kw), scopefunc=asyncio.current_task)


async def in_new_task(coro: Any) -> Any:
    return await asyncio.create_task(coro, context=contextvars.Context())


async def count_users(engine: AsyncEngine) -> int:
    async with async_sessionmaker(engine)() as session:
        return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


def test_refuses_what_it_cannot_honour(engine: AsyncEngine) -> None:
    with pytest.raises(ConfigurationError, match="expire_on_commit=False"):
        SQLAlchemySessionUserDatastore(scoped(engine, expire_on_commit=True), User, Role)
    with pytest.raises(ConfigurationError, match="async_scoped_session"):
        SQLAlchemySessionUserDatastore(async_sessionmaker(engine), User, Role)  # type: ignore[arg-type]


async def test_the_datastore_and_the_app_share_the_scope_session(engine: AsyncEngine) -> None:
    sessions = scoped(engine)
    datastore = SQLAlchemySessionUserDatastore(sessions, User, Role, WebAuthn)
    # The app stages a row through its own session; the datastore's commit
    # commits it (Flask-Security's commit is the session's).
    sessions.add(Role(name="from-the-app"))
    assert datastore.session is sessions()
    await datastore.create_user(email="alice@example.com", password=HASH)
    await datastore.commit()
    assert await in_new_task(datastore.find_role("from-the-app")) is not None
    assert await count_users(engine) == 1
    # Another task is another scope: another session.
    other = await in_new_task(_session_of(datastore))
    assert other is not sessions()
    await datastore.aclose()


async def _session_of(datastore: Any) -> Any:
    session = datastore.session
    await datastore.end_unit_of_work()
    return session


async def test_ending_the_unit_of_work_removes_the_scope_session(engine: AsyncEngine) -> None:
    sessions = scoped(engine)
    datastore = SQLAlchemySessionUserDatastore(sessions, User, Role)
    await datastore.create_user(email="alice@example.com", password=HASH)
    assert sessions.registry.has()
    await datastore.end_unit_of_work(commit=True)
    assert not sessions.registry.has()
    assert sessions.registry.registry == {}  # nothing kept for the ended task
    assert await count_users(engine) == 1


async def test_a_session_the_app_opened_first_is_adopted(engine: AsyncEngine) -> None:
    sessions = scoped(engine)
    datastore = SQLAlchemySessionUserDatastore(sessions, User, Role)
    app_session = sessions()  # opened by the app, of the app's Session class
    await app_session.execute(select(1))
    user = await datastore.create_user(email="alice@example.com", password=HASH)
    assert datastore.session is app_session
    # Write tracking works on it: a flushed write is still committed at the end.
    await datastore.flush()
    await datastore.end_unit_of_work(commit=True)
    assert await count_users(engine) == 1
    # Row validation works on it: a bad value set by hand is refused at the flush.
    app_session = sessions()
    found = await datastore.find_user(email="alice@example.com")
    assert found is not None and found is not user
    found.email = "bad\x00address@example.com"
    with pytest.raises(InvalidFieldValueError, match="email"):
        await datastore.commit()
    await datastore.end_unit_of_work()


async def test_a_quart_app_on_the_session_datastore(engine: AsyncEngine) -> None:
    sessions = scoped(engine)
    datastore = SQLAlchemySessionUserDatastore(sessions, User, Role, WebAuthn)
    app = Quart(__name__)
    app.config.update(
        SECRET_KEY="test-secret-key-0123456789abcdef",
        SECURITY_PASSWORD_SALT="test-salt",
        SECURITY_PASSWORD_HASH_OPTIONS=FAST_ARGON2,
        SECURITY_PASSWORD_HASH_POOL_SIZE=2,
        SECURITY_EXTERNAL_BASE_URL="https://app.example",
        TESTING=True,
    )
    security = Security(app, datastore)

    @app.route("/mine")
    @auth_required()
    async def mine() -> Any:
        # The app's session is the one that loaded current_user.
        same = sessions() is datastore.session
        return jsonify(email=current_user.email, same=same)

    try:
        async with app.app_context():
            async with datastore.unit_of_work():
                await datastore.create_user(
                    email="joe@lp.com", password=await hash_password(PASSWORD)
                )
        client = app.test_client()
        assert (await json_login(client, "joe@lp.com")).status_code == 200
        response = await client.get("/mine", headers=JSON)
        assert (await response.get_json()) == {"email": "joe@lp.com", "same": True}
        # Every request ended its scope: the registry keeps no session.
        assert sessions.registry.registry == {}
    finally:
        security.hashing_pool.shutdown()
        await datastore.aclose()
