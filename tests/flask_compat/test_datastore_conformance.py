"""The datastore conformance suite, run on flask_compat's SyncSessionStore.

The same tests as tests/datastore/test_conformance.py (imported, not copied),
on the core's SQLAlchemy datastore driven over a synchronous session. The
scoped session here is scoped per task context, so the suite's "fresh unit of
work in a new context" means a new session, as it does for the async store;
a Flask app scopes it by app context (Flask-SQLAlchemy) or thread instead.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import close_all_sessions, scoped_session, sessionmaker

from flask_compat.datastore import SyncSessionStore
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


def _engine(backend: str, tmp_path: Path) -> Iterator[Any]:
    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path}/conformance.db")
        yield engine
        engine.dispose()
        return
    url = os.environ.get("QS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("QS_TEST_POSTGRES_URL is not set")
    url = url.replace("+asyncpg", "+psycopg", 1)
    schema = f"qs_flask_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, execution_options={"schema_translate_map": {None: schema}})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def datastore(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncSessionStore]:
    for engine in _engine(request.param, tmp_path):
        Base.metadata.create_all(engine)
        sessions = scoped_session(
            sessionmaker(bind=engine, expire_on_commit=False), scopefunc=_context_scope
        )
        yield SyncSessionStore(sessions, User, Role, WebAuthn)
        close_all_sessions()  # every context's session, so the schema can be dropped
