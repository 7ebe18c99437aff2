"""The sync datastores: Flask-Security's sync methods over the core's SQLAlchemy logic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import scoped_session, sessionmaker
from sqlalchemy.schema import DropIndex

from flask_compat import (
    Security,
    SQLAlchemySessionUserDatastore,
    UserDatastore,
)
from flask_compat.datastore import SyncSessionStore
from flask_compat.driver import run_nonsuspending
from quart_security.datastore.sqlalchemy import DuplicateIdentityError
from quart_security.errors import ConfigurationError
from tests.support.app_factory import PASSWORD
from tests.support.flask_app_factory import Role, User, WebAuthn, db, flask_app_sync
from tests.support.flask_client import sync_json_login

JSON = {"Accept": "application/json"}


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Any]:
    with flask_app_sync("sqlite", tmp_path) as app:
        yield app


def test_methods_are_sync_and_share_the_app_session(built: Any) -> None:
    datastore = built.datastore
    with built.app.flask_app.app_context():
        user = datastore.create_user(email="new@lp.com", password=None, roles=["author"])
        assert not asyncio.iscoroutine(user)
        assert user in db.session  # staged in the app's own session
        db.session.commit()
        assert datastore.add_role_to_user(user, "editor") is True
        assert datastore.add_role_to_user(user, "editor") is False
        assert datastore.deactivate_user(user) is True
        datastore.commit()
    with built.app.flask_app.app_context():
        again = datastore.find_user(email="NEW@lp.com", case_insensitive=True)
        assert sorted(r.name for r in again.roles) == ["author", "editor"]
        assert again.active is False
        assert datastore.find_role("editor").name == "editor"


def test_core_rules_apply_through_the_facade(built: Any) -> None:
    datastore = built.datastore
    with built.app.flask_app.app_context():
        with pytest.raises(ValueError, match="exactly one"):
            datastore.find_user(email="a", username="b")
        datastore.create_user(email="matt@lp.com", password=None)
        with pytest.raises(DuplicateIdentityError):
            datastore.commit()
        # The failed unit of work was rolled back; the store stays usable.
        assert datastore.find_user(email="joe@lp.com").username == "joe"


def test_two_factor_counters_through_the_facade(built: Any) -> None:
    datastore = built.datastore
    assert datastore.supports_tf_counters() is True
    with built.app.flask_app.app_context():
        user = datastore.find_user(email="joe@lp.com")
        assert datastore.tf_advance_counter(user, 40) is True
        assert datastore.tf_advance_counter(user, 40) is False
        assert [datastore.tf_count_attempt(user) for _ in range(2)] == [1, 2]
        db.session.commit()  # the app's own commit keeps them: one session, one unit
    with built.app.flask_app.app_context():
        user = datastore.find_user(email="joe@lp.com")
        assert (user.tf_totp_last_counter, user.tf_code_attempts) == (40, 2)
        datastore.tf_reset_attempts(user)
        datastore.commit()
    with built.app.flask_app.app_context():
        assert datastore.find_user(email="joe@lp.com").tf_code_attempts is None


def test_unit_of_work_commits_or_rolls_back(built: Any) -> None:
    datastore = built.datastore
    with built.app.flask_app.app_context():
        with datastore.unit_of_work():
            datastore.create_user(email="kept@lp.com", password=None)
        with pytest.raises(RuntimeError, match="boom"), datastore.unit_of_work():
            datastore.create_user(email="dropped@lp.com", password=None)
            raise RuntimeError("boom")
    with built.app.flask_app.app_context():
        assert datastore.find_user(email="kept@lp.com") is not None
        assert datastore.find_user(email="dropped@lp.com") is None


def test_a_suspending_coroutine_is_refused_clearly() -> None:
    class WaitingStore:
        async def find_user(self, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return None

    facade = UserDatastore(WaitingStore())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="must never suspend"):
        facade.find_user(email="x")

    async def answer() -> int:
        return 42

    assert run_nonsuspending(answer()) == 42


def test_security_refuses_an_async_datastore() -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore as AsyncStore

    engine = create_async_engine("sqlite+aiosqlite://")
    store = AsyncStore(async_sessionmaker(engine), User, Role)
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="s")
    with pytest.raises(ConfigurationError, match="flask_compat datastore"):
        Security(app, store)
    asyncio.run(engine.dispose())


def test_user_and_roles_load_in_one_query_per_request(built: Any) -> None:
    app = built.app.flask_app
    client = app.test_client()
    assert sync_json_login(client, "dave@lp.com", PASSWORD).status_code == 200
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get("/api/admin-and-editor", headers=JSON)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    assert len(statements) == 1, statements
    assert "JOIN" in statements[0] and "role" in statements[0]


def test_session_datastore_over_a_plain_scoped_session(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/plain.db")
    db.metadata.create_all(engine)
    sessions = scoped_session(sessionmaker(bind=engine))
    datastore = SQLAlchemySessionUserDatastore(sessions, User, Role, WebAuthn)
    assert isinstance(datastore.async_store, SyncSessionStore)
    role = datastore.create_role(name="ops", permissions="read, write")
    user = datastore.create_user(email="ops@lp.com", password=None, roles=[role])
    datastore.commit()
    uniquifier = user.fs_uniquifier
    sessions.remove()
    found = datastore.find_user(email="ops@lp.com")
    assert found.has_permission("write") and found.roles[0].name == "ops"
    # Ending the core's unit of work ends the transaction but leaves the session to the app.
    datastore.set_uniquifier(found)
    run_nonsuspending(datastore.async_store.end_unit_of_work(commit=False))
    assert found in sessions()
    assert datastore.find_user(fs_uniquifier=uniquifier) is not None
    sessions.remove()
    engine.dispose()


def test_a_change_made_on_the_model_is_validated_when_the_app_flushes(built: Any) -> None:
    from quart_security.errors import InvalidFieldValueError

    datastore = built.datastore
    with built.app.flask_app.app_context():
        user = datastore.find_user(email="matt@lp.com")  # opens our unit on db.session
        user.username = "x" * 300  # longer than the column; never put()
        with pytest.raises(InvalidFieldValueError, match="username"):
            db.session.commit()
        db.session.rollback()
        assert datastore.find_user(email="matt@lp.com").username != "x" * 300


def test_fsqla_v3_models_refuse_a_second_spelling_of_an_identity(built: Any) -> None:
    """Issue #11 on Flask-SQLAlchemy: the fsqla_v3 models carry the folded unique indexes."""
    datastore = built.datastore
    for kwargs, field in (
        ({"email": "MATT@lp.com"}, "email"),
        ({"email": "new@lp.com", "username": "Matt"}, "username"),
    ):
        with built.app.flask_app.app_context():
            datastore.create_user(password=None, **kwargs)
            with pytest.raises(DuplicateIdentityError) as info:
                datastore.commit()
            assert info.value.field == field
    with built.app.flask_app.app_context():
        assert datastore.find_user(email="matt@LP.com", case_insensitive=True).username == "matt"


def test_create_indexes_through_the_sync_facade(built: Any) -> None:
    """The migration of a database created without the indexes, called as Flask code would."""
    names = {"uq_user_email_ci", "uq_user_username_ci"}
    with built.app.flask_app.app_context():
        with db.engine.begin() as conn:
            for index in User.__table__.indexes:
                if index.name in names:
                    conn.execute(DropIndex(index))
        built.datastore.create_indexes()
        built.datastore.create_indexes()
        found = db.session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user'")
        ).scalars()
        assert names <= set(found)
        built.datastore.create_user(email="Joe@lp.com", password=None)
        with pytest.raises(DuplicateIdentityError):
            built.datastore.commit()


def test_a_dropped_app_does_not_keep_its_datastore_alive(tmp_path: Path) -> None:
    import gc
    import weakref

    def build_and_drop() -> weakref.ref[Any]:
        with flask_app_sync("sqlite", tmp_path) as dropped:
            with dropped.app.flask_app.app_context():
                dropped.datastore.find_user(email="matt@lp.com")  # watches the session class
            return weakref.ref(dropped.datastore.async_store)

    store = build_and_drop()
    gc.collect()
    assert store() is None
