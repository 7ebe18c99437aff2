"""The datastore conformance suite, run on flask_compat's SyncSessionStore.

The same tests as tests/datastore/test_conformance.py (imported, not copied),
on the core's SQLAlchemy datastore driven over a synchronous session: a plain
scoped session, and FSQLALiteUserDatastore's over Flask-SQLAlchemy-Lite's
per-app-context ``db.session``. The scoped session here is scoped per task
context, so the suite's "fresh unit of work in a new context" means a new
session, as it does for the async store; a Flask app scopes it by app context
(Flask-SQLAlchemy, Flask-SQLAlchemy-Lite) or thread instead.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, has_app_context
from flask_sqlalchemy_lite import SQLAlchemy as LiteSQLAlchemy
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, close_all_sessions, scoped_session, sessionmaker

from flask_compat.datastore import FSQLALiteUserDatastore, SyncSessionStore
from tests.datastore.backends import Base, Role, User, WebAuthn
from tests.datastore.test_conformance import *  # noqa: F403 - the tests themselves

_scope: contextvars.ContextVar[int] = contextvars.ContextVar("conformance_scope")
_ids = itertools.count()


def _context_scope() -> int:
    scope = _scope.get(None)
    if scope is None:
        scope = next(_ids)
        _scope.set(scope)
    return scope


def _engine_options(backend: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``create_engine`` options on a fresh database: a SQLite file or a new schema."""
    if backend == "sqlite":
        yield {"url": f"sqlite:///{tmp_path}/conformance.db"}
        return
    url = os.environ.get("QS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("QS_TEST_POSTGRES_URL is not set")
    url = url.replace("+asyncpg", "+psycopg", 1)
    schema = f"qs_flask_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {"url": url, "execution_options": {"schema_translate_map": {None: schema}}}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class _RequestScopedDb:
    """Flask-SQLAlchemy-Lite's ``db`` as each request sees it: its own app context.

    The suite's "fresh unit of work" is a task in an empty contextvars
    context, as a new request is; Flask gives each request an app context,
    and with it its own ``db.session``. This pushes one in any context that
    has none, so the store meets the real per-app-context sessions.
    """

    def __init__(self, app: Flask, db: LiteSQLAlchemy) -> None:
        self._app = app
        self._db = db

    @property
    def session(self) -> Session:
        if not has_app_context():
            self._app.app_context().push()  # dies with its context, as a request's does
        return self._db.session


@contextmanager
def _lite_store(options: dict[str, Any]) -> Iterator[SyncSessionStore]:
    app = Flask(__name__)
    app.config["SQLALCHEMY_ENGINES"] = {"default": options}
    db = LiteSQLAlchemy(app, session_options={"expire_on_commit": False})
    with app.app_context():
        engine = db.engine
    Base.metadata.create_all(engine)
    datastore = FSQLALiteUserDatastore(_RequestScopedDb(app, db), User, Role, WebAuthn)
    try:
        yield datastore.async_store
    finally:
        close_all_sessions()  # every context's session, so the schema can be dropped
        engine.dispose()


@contextmanager
def _scoped_store(options: dict[str, Any]) -> Iterator[SyncSessionStore]:
    engine = create_engine(options.pop("url"), **options)
    Base.metadata.create_all(engine)
    sessions = scoped_session(
        sessionmaker(bind=engine, expire_on_commit=False), scopefunc=_context_scope
    )
    try:
        yield SyncSessionStore(sessions, User, Role, WebAuthn)
    finally:
        close_all_sessions()  # every context's session, so the schema can be dropped
        engine.dispose()


_postgres = pytest.mark.postgres


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=_postgres),
        "sqlite-fsqla-lite",
        pytest.param("postgres-fsqla-lite", marks=_postgres),
    ]
)
def datastore(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncSessionStore]:
    """A scoped session's SyncSessionStore, or FSQLALiteUserDatastore's (Flask-SQLAlchemy-Lite)."""
    backend, _, variant = str(request.param).partition("-")
    build = _lite_store if variant else _scoped_store
    for options in _engine_options(backend, tmp_path):
        with build(options) as store:
            yield store
