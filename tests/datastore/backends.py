"""The datastore backends the conformance suite runs on.

``BACKENDS`` maps a backend name to a factory. Add a backend with::

    @backend("mongo")
    @asynccontextmanager
    async def mongo_datastore() -> AsyncIterator[UserDatastore[Any, Any]]:
        ...
        yield datastore

Factory contract (test_conformance.py relies on every point):

- Called with no arguments, it returns an async context manager that yields a
  ready datastore whose user, role and WebAuthn models carry every
  Flask-Security field (reference/flask-security.md §4.5), including
  ``fs_token_uniquifier``.
- Storage is fresh and empty (no users, roles or credentials), and nothing
  written survives the context: each test gets its own tables, schema or
  database.
- A backend that needs a service calls ``pytest.skip`` when, and only when,
  the service's environment variable is unset (CI always sets it).
- On exit it closes every session or connection the test left open, from any
  task context, and removes what it created.
- A backend that cannot roll back (MongoDB writes at once) sets the attribute
  ``transactional = False`` on the datastore; tests of rollback and of
  uncommitted-data isolation then skip for it. Absent means True.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_scoped_session,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from quart_security.datastore.base import UserDatastore
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
from quart_security.datastore.sqlalchemy_session import SQLAlchemySessionUserDatastore
from quart_security.models.sqla import (
    FsRoleMixin,
    FsTfCountersMixin,
    FsTokenUniquifierMixin,
    FsUserMixin,
    FsWebAuthnMixin,
)

DatastoreFactory = Callable[[], AbstractAsyncContextManager[UserDatastore[Any, Any]]]

BACKENDS: dict[str, DatastoreFactory] = {}


def backend(name: str) -> Callable[[DatastoreFactory], DatastoreFactory]:
    """Register a factory in ``BACKENDS`` under ``name``."""

    def register(factory: DatastoreFactory) -> DatastoreFactory:
        BACKENDS[name] = factory
        return factory

    return register


# ---------------------------------------------------------------------- SQL models
class Base(DeclarativeBase):
    pass


class Role(Base, FsRoleMixin):
    pass


class User(Base, FsUserMixin, FsTokenUniquifierMixin, FsTfCountersMixin):
    pass


class WebAuthn(Base, FsWebAuthnMixin):
    pass


SqlDatastore = SQLAlchemyUserDatastore[User, Role]


@asynccontextmanager
async def sql_datastore(
    engine: AsyncEngine, *, scoped: bool = False
) -> AsyncIterator[SqlDatastore]:
    """Create the tables on ``engine`` and yield a datastore over it.

    ``scoped``: SQLAlchemySessionUserDatastore over an ``async_scoped_session``
    scoped by task, as an app would build it; a "fresh" unit of work (a new
    task) then has its own session, as with the core's ContextVar.
    """
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        datastore: SqlDatastore
        if scoped:
            sessions = async_scoped_session(
                async_sessionmaker(engine, expire_on_commit=False), scopefunc=asyncio.current_task
            )
            datastore = SQLAlchemySessionUserDatastore(sessions, User, Role, WebAuthn)
        else:
            datastore = SQLAlchemyUserDatastore(async_sessionmaker(engine), User, Role, WebAuthn)
        try:
            yield datastore
        finally:
            await datastore.aclose()
    finally:
        await engine.dispose()


@backend("sqlite")
@asynccontextmanager
async def sqlite_datastore() -> AsyncIterator[SqlDatastore]:
    """aiosqlite on a file (not :memory:, so several connections share the data)."""
    with tempfile.TemporaryDirectory(prefix="qs-sqlite-") as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'qs.db'}")
        async with sql_datastore(engine) as datastore:
            yield datastore


@backend("sqlite-session")
@asynccontextmanager
async def sqlite_session_datastore() -> AsyncIterator[SqlDatastore]:
    """SQLAlchemySessionUserDatastore (an async_scoped_session) on aiosqlite."""
    with tempfile.TemporaryDirectory(prefix="qs-sqlite-") as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'qs.db'}")
        async with sql_datastore(engine, scoped=True) as datastore:
            yield datastore


def postgres_url() -> str:
    url = os.environ.get("QS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("QS_TEST_POSTGRES_URL is not set")
    return url


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[tuple[str, str]]:
    """A brand-new schema, dropped afterwards: yields (url, schema name)."""
    url = postgres_url()
    schema = f"qs_test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield url, schema
        finally:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


def postgres_engine(url: str, schema: str) -> AsyncEngine:
    """An engine whose unqualified tables live in ``schema``."""
    return create_async_engine(url, execution_options={"schema_translate_map": {None: schema}})


@backend("postgres")
@asynccontextmanager
async def postgres_datastore() -> AsyncIterator[SqlDatastore]:
    """asyncpg, each test in its own schema (``user`` is quoted by SQLAlchemy)."""
    async with postgres_schema() as (url, schema):
        async with sql_datastore(postgres_engine(url, schema)) as datastore:
            yield datastore


@backend("postgres-session")
@asynccontextmanager
async def postgres_session_datastore() -> AsyncIterator[SqlDatastore]:
    """SQLAlchemySessionUserDatastore (an async_scoped_session) on asyncpg."""
    async with postgres_schema() as (url, schema):
        async with sql_datastore(postgres_engine(url, schema), scoped=True) as datastore:
            yield datastore


@backend("mongo")
@asynccontextmanager
async def mongo_datastore() -> AsyncIterator[UserDatastore[Any, Any]]:
    """PyMongo's AsyncMongoClient on the MongoDB-wire server, one database per test."""
    from pymongo import AsyncMongoClient

    from quart_security.datastore.mongo import MongoUserDatastore
    from quart_security.models.mongo import MongoRole, MongoTokenUniquifierUser, MongoWebAuthn

    url = os.environ.get("QS_TEST_MONGO_URL")
    if not url:
        pytest.skip("QS_TEST_MONGO_URL is not set")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
    name = f"qs_test_{uuid.uuid4().hex[:16]}"
    try:
        datastore = MongoUserDatastore(
            client[name], MongoTokenUniquifierUser, MongoRole, MongoWebAuthn
        )
        await datastore.create_indexes()
        yield datastore
    finally:
        await client.drop_database(name)
        await client.close()
