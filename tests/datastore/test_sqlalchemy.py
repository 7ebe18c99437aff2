"""What only the SQLAlchemy datastore can get wrong.

Statement counts come from a ``before_cursor_execute`` listener on the engine,
so "one round trip" and "no query at all" are measured, not assumed. The
schema is compared with Flask-Security's fsqla_v3 twice: with a literal
description written from its source, and with the DDL Flask-Security itself
produced (data/fsqla_v3_sqlite.sql, made by data/make_fsqla_v3_sqlite.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import (
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, InvalidRequestError, SAWarning
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.schema import CreateIndex, DropIndex

from quart_security.datastore.sqlalchemy import (
    DuplicateIdentityError,
    InvalidFieldValueError,
    SQLAlchemyUserDatastore,
)
from quart_security.errors import DatastoreError
from quart_security.models.sqla import (
    AsaList,
    FsRoleMixin,
    FsTfCountersMixin,
    FsUserMixin,
    FsWebAuthnMixin,
)
from tests.datastore.backends import (
    BACKENDS,
    Base,
    Role,
    SqlDatastore,
    User,
    WebAuthn,
    postgres_engine,
    postgres_schema,
    sql_datastore,
)

DATA = Path(__file__).parent / "data"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
LEGACY_STAMP = datetime(2024, 5, 17, 9, 30, 15)


# ---------------------------------------------------------------------- fsqla_v3 facts
# Written from flask_security/models/fsqla.py, fsqla_v2.py and fsqla_v3.py
# (5.9.2) as Flask-SQLAlchemy names the tables: column -> (type, length, nullable).
FSQLA_V3_COLUMNS: dict[str, dict[str, tuple[str, int | None, bool]]] = {
    "role": {
        "id": ("INTEGER", None, False),
        "name": ("VARCHAR", 80, False),
        "description": ("VARCHAR", 255, True),
        "permissions": ("TEXT", None, True),
        "update_datetime": ("DATETIME", None, False),
    },
    "user": {
        "id": ("INTEGER", None, False),
        "email": ("VARCHAR", 255, False),
        "username": ("VARCHAR", 255, True),
        "password": ("VARCHAR", 255, True),
        "active": ("BOOLEAN", None, False),
        "fs_uniquifier": ("VARCHAR", 64, False),
        "confirmed_at": ("DATETIME", None, True),
        "last_login_at": ("DATETIME", None, True),
        "current_login_at": ("DATETIME", None, True),
        "last_login_ip": ("VARCHAR", 64, True),
        "current_login_ip": ("VARCHAR", 64, True),
        "login_count": ("INTEGER", None, True),
        "tf_primary_method": ("VARCHAR", 64, True),
        "tf_totp_secret": ("VARCHAR", 255, True),
        "tf_phone_number": ("VARCHAR", 128, True),
        "us_totp_secrets": ("TEXT", None, True),
        "us_phone_number": ("VARCHAR", 128, True),
        "fs_webauthn_user_handle": ("VARCHAR", 64, True),
        "mf_recovery_codes": ("TEXT", None, True),
        "create_datetime": ("DATETIME", None, False),
        "update_datetime": ("DATETIME", None, False),
    },
    # fsqla_v3 has no primary key here, so both columns are nullable; ours
    # has the composite key of Flask-Security's newer models.sqla.
    "roles_users": {
        "user_id": ("INTEGER", None, True),
        "role_id": ("INTEGER", None, True),
    },
    "web_authn": {
        "id": ("INTEGER", None, False),
        "credential_id": ("BINARY", None, False),
        "public_key": ("BINARY", None, False),
        "sign_count": ("INTEGER", None, True),
        "transports": ("TEXT", None, True),
        "backup_state": ("BOOLEAN", None, False),
        "device_type": ("VARCHAR", 64, False),
        "extensions": ("VARCHAR", 255, True),
        "create_datetime": ("DATETIME", None, False),
        "lastuse_datetime": ("DATETIME", None, False),
        "name": ("VARCHAR", 64, False),
        "usage": ("VARCHAR", 64, False),
        "user_id": ("INTEGER", None, False),
    },
}
FSQLA_V3_UNIQUE: dict[str, set[tuple[str, ...]]] = {
    "role": {("name",)},
    "user": {
        ("email",),
        ("username",),
        ("fs_uniquifier",),
        ("us_phone_number",),
        ("fs_webauthn_user_handle",),
    },
    "roles_users": set(),
    "web_authn": {("credential_id",)},  # a unique index, ix_web_authn_credential_id
}
FSQLA_V3_FOREIGN_KEYS: dict[str, set[tuple[str, str, str, str | None]]] = {
    "role": set(),
    "user": set(),
    "roles_users": {("user_id", "user", "id", None), ("role_id", "role", "id", None)},
    "web_authn": {("user_id", "user", "id", "CASCADE")},
}
FSQLA_V3_SERVER_DEFAULTS = {
    "role": {"update_datetime"},
    "user": {"create_datetime", "update_datetime"},
    "roles_users": set(),
    "web_authn": {"create_datetime"},
}
OUR_DIFFERENCES = {("roles_users", "user_id"), ("roles_users", "role_id")}
# With the opt-in FsTfCountersMixin: the two-factor counters, columns
# Flask-Security does not have (docs/migrating.md gives the ALTER TABLE).
OUR_ADDED_COLUMNS: dict[str, dict[str, tuple[str, int | None, bool]]] = {
    "user": {
        "tf_totp_last_counter": ("INTEGER", None, True),
        "tf_code_attempts": ("INTEGER", None, True),
    },
}
#: docs/migrating.md's statements for SQLite (and PostgreSQL, quoting "user").
TF_COUNTER_MIGRATION = (
    'ALTER TABLE "user" ADD COLUMN tf_totp_last_counter INTEGER;',
    'ALTER TABLE "user" ADD COLUMN tf_code_attempts INTEGER;',
)
# Ours also: email and username are unique case-insensitively (issue #11).
OUR_FOLDED_UNIQUE: dict[str, set[str]] = {
    "role": set(),
    "user": {"email", "username"},
    "roles_users": set(),
    "web_authn": set(),
}


# ---------------------------------------------------------------------- plain fsqla_v3 models
class LegacyBase(DeclarativeBase):
    """The mixins exactly as a Flask-Security user would declare them."""


class LegacyRole(LegacyBase, FsRoleMixin):
    pass


class LegacyUser(LegacyBase, FsUserMixin):
    pass


class LegacyWebAuthn(LegacyBase, FsWebAuthnMixin):
    pass


LegacyDatastore = SQLAlchemyUserDatastore[LegacyUser, LegacyRole]


# ---------------------------------------------------------------------- helpers
def engine_of(datastore: SQLAlchemyUserDatastore[Any, Any]) -> AsyncEngine:
    bind = datastore.session_factory.kw["bind"]
    assert isinstance(bind, AsyncEngine)
    return bind


@contextmanager
def engine_events(engine: AsyncEngine, name: str, pick: Any) -> Iterator[list[Any]]:
    """``pick(*event args)`` for every ``name`` event of the engine inside the block."""
    seen: list[Any] = []

    def record(*args: Any) -> None:
        seen.append(pick(*args))

    event.listen(engine.sync_engine, name, record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, name, record)


def statements(engine: AsyncEngine) -> Any:
    """Every SQL statement sent to the database inside the block."""
    return engine_events(engine, "before_cursor_execute", lambda conn, cur, sql, *rest: sql)


def commits(engine: AsyncEngine) -> Any:
    """One entry per COMMIT the engine's connections run inside the block."""
    return engine_events(engine, "commit", lambda conn: 1)


async def in_new_context(coro: Any) -> Any:
    return await asyncio.create_task(coro, context=contextvars.Context())


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[SqlDatastore]:
    async with BACKENDS[request.param]() as datastore:
        assert isinstance(datastore, SQLAlchemyUserDatastore)
        yield datastore


async def user_with_roles(store: SqlDatastore) -> User:
    await store.create_role(name="admin", permissions="read,write")
    await store.create_role(name="editor", permissions=["edit"])
    user = await store.create_user(email="alice@example.com", password=HASH, roles=["admin"])
    await store.add_role_to_user(user, "editor")
    await store.commit()
    return user


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    ("attr", "case_insensitive"),
    [("email", False), ("email", True), ("fs_uniquifier", False), ("id", False)],
)
async def test_find_user_loads_user_and_roles_in_one_statement(
    store: SqlDatastore, attr: str, case_insensitive: bool
) -> None:
    user = await user_with_roles(store)
    value = getattr(user, attr)
    await store.end_unit_of_work()
    await store.find_role("admin")  # check out a connection first
    with statements(engine_of(store)) as seen:
        found = await store.find_user(case_insensitive=case_insensitive, **{attr: value})
    assert len(seen) == 1, seen
    await store.end_unit_of_work()
    # The session is gone: the roles were loaded, not left for a lazy load.
    assert found is not None
    assert sorted(r.name for r in found.roles) == ["admin", "editor"]
    assert found.get_permissions() == {"read", "write", "edit"}


@pytest.mark.parametrize(
    "value", ["a\x00b", "x" * 256, "\ud800", None], ids=["nul", "too-long", "surrogate", "none"]
)
async def test_impossible_lookups_send_no_statement(store: SqlDatastore, value: Any) -> None:
    await user_with_roles(store)
    with statements(engine_of(store)) as seen:
        assert await store.find_user(email=value) is None
        assert await store.find_user(email=value, case_insensitive=True) is None
        assert await store.find_role(value) is None
    assert seen == []


async def test_find_user_completes_roles_of_a_user_already_in_the_session(
    store: SqlDatastore,
) -> None:
    user = await user_with_roles(store)
    await store.end_unit_of_work()
    plain = await store.session.get(User, user.id)
    assert plain is not None and "roles" in inspect(plain).unloaded
    found = await store.find_user(fs_uniquifier=user.fs_uniquifier)
    assert found is plain
    assert sorted(r.name for r in found.roles) == ["admin", "editor"]


async def test_unloaded_relationship_raises_clearly_instead_of_missing_greenlet(
    store: SqlDatastore,
) -> None:
    user = await user_with_roles(store)
    await store.end_unit_of_work()
    plain = (await store.session.execute(select(User).where(User.id == user.id))).scalar_one()
    with pytest.raises(InvalidRequestError, match="raise_on_sql"):
        _ = plain.roles
    # The datastore loads it explicitly when it needs it.
    assert await store.add_role_to_user(plain, "admin") is False
    assert sorted(r.name for r in plain.roles) == ["admin", "editor"]


# ---------------------------------------------------------------------- unit of work
async def test_no_missing_greenlet_after_commit_or_end(store: SqlDatastore) -> None:
    user = await user_with_roles(store)
    cred = await store.create_webauthn(
        user,
        credential_id=b"cred",
        public_key=b"key",
        name="key",
        sign_count=0,
        usage="first",
        device_type="single_device",
        backup_state=False,
    )
    await store.deactivate_user(user)
    await store.commit()
    mapped = [a.key for a in inspect(User).column_attrs]
    values = {key: getattr(user, key) for key in mapped}  # would raise if expired
    assert values["active"] is False
    assert isinstance(values["create_datetime"], datetime)
    assert isinstance(values["update_datetime"], datetime)
    assert isinstance(cred.create_datetime, datetime)  # type: ignore[attr-defined]
    await store.end_unit_of_work(commit=True)
    assert [getattr(user, key) for key in mapped] == list(values.values())
    assert sorted(r.name for r in user.roles) == ["admin", "editor"]


async def test_expire_on_commit_is_off_even_if_the_factory_says_otherwise(
    store: SqlDatastore,
) -> None:
    expiring = SQLAlchemyUserDatastore(
        async_sessionmaker(engine_of(store), expire_on_commit=True), User, Role, WebAuthn
    )
    try:
        user = await expiring.create_user(email="alice@example.com", password=HASH)
        await expiring.commit()
        assert expiring.session.sync_session.expire_on_commit is False
        assert user.email == "alice@example.com"
    finally:
        await expiring.aclose()


async def test_commit_keeps_the_session_and_end_closes_it(store: SqlDatastore) -> None:
    session = store.session
    user = await store.create_user(email="alice@example.com", password=HASH)
    await store.commit()
    assert store.session is session  # a discarded session loses later writes
    user.login_count = 1
    await store.put(user)
    await store.end_unit_of_work(commit=True)
    assert store.session is not session
    await store.end_unit_of_work()

    async def read() -> int | None:
        found = await store.find_user(email="alice@example.com")
        await store.end_unit_of_work()
        return None if found is None else found.login_count

    assert await in_new_context(read()) == 1


async def test_each_task_context_gets_its_own_session(store: SqlDatastore) -> None:
    async def grab() -> int:
        return id(store.session)

    mine = id(store.session)
    others = await asyncio.gather(in_new_context(grab()), in_new_context(grab()))
    assert len({mine, *others}) == 3
    await store.aclose()  # closes the two sessions left open in other contexts
    assert store._open_sessions == set()


async def test_detached_user_from_an_earlier_unit_of_work_is_still_usable(
    store: SqlDatastore,
) -> None:
    user = await user_with_roles(store)
    await store.end_unit_of_work()
    assert inspect(user).detached
    assert await store.remove_role_from_user(user, "editor") is True
    await store.end_unit_of_work(commit=True)
    found = await store.find_user(email="alice@example.com")
    assert found is not None and [r.name for r in found.roles] == ["admin"]


async def test_stale_copy_next_to_a_fresh_one_is_refused_clearly(store: SqlDatastore) -> None:
    user = await user_with_roles(store)
    await store.end_unit_of_work()
    fresh_copy = await store.find_user(email="alice@example.com")
    assert fresh_copy is not None and fresh_copy is not user
    with pytest.raises(DatastoreError, match="find it again"):
        await store.add_role_to_user(user, "admin")
    with pytest.raises(DatastoreError, match="find it again"):
        await store.deactivate_user(user)
    assert await store.remove_role_from_user(fresh_copy, "admin") is True


async def test_direct_attribute_change_is_validated_at_flush(store: SqlDatastore) -> None:
    user = await user_with_roles(store)
    uniquifier = user.fs_uniquifier
    user.email = "x" * 300  # no put(): the before_flush check still sees it
    with pytest.raises(InvalidFieldValueError) as info:
        await store.commit()
    assert info.value.field == "email"
    # Rolled back: the object is expired (read it again), the row is untouched.
    assert inspect(user).expired_attributes
    await store.end_unit_of_work()
    found = await store.find_user(fs_uniquifier=uniquifier)
    assert found is not None and found.email == "alice@example.com"


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("mf_recovery_codes", ["ok", "a,b"], "comma"),
        ("mf_recovery_codes", ["ok", 5], "list of strings"),
        ("confirmed_at", datetime.now(UTC), "naive"),
        ("login_count", 2**40, "range"),
        ("login_count", True, "integer"),
        ("fs_uniquifier", "a\x00b", "NUL"),
        ("tf_totp_secret", "\udc80", "Unicode"),
    ],
)
async def test_values_a_column_cannot_hold_are_refused_before_the_driver(
    store: SqlDatastore, field: str, value: Any, problem: str
) -> None:
    user = await user_with_roles(store)
    setattr(user, field, value)
    with statements(engine_of(store)) as seen, pytest.raises(InvalidFieldValueError) as info:
        await store.put(user)
    assert seen == []
    assert info.value.field == field and problem in info.value.problem
    assert isinstance(info.value, ValueError)


async def test_recovery_codes_must_be_a_list_not_a_string(store: SqlDatastore) -> None:
    user = await user_with_roles(store)
    with pytest.raises(ValueError, match="not a string"):
        await store.mf_set_recovery_codes(user, "abcd")
    assert await store.mf_get_recovery_codes(user) == []


async def test_duplicate_credential_names_its_column(store: SqlDatastore) -> None:
    user = await user_with_roles(store)
    for name in ("one", "two"):
        await store.create_webauthn(
            user,
            credential_id=b"same",
            public_key=b"key",
            name=name,
            sign_count=0,
            usage="first",
            device_type="single_device",
            backup_state=False,
        )
    with pytest.raises(DuplicateIdentityError) as info:
        await store.commit()
    assert info.value.field == "credential_id"


async def test_stale_recovery_code_list_cannot_consume(store: SqlDatastore) -> None:
    user = await user_with_roles(store)
    await store.mf_set_recovery_codes(user, ["aaaa", "bbbb", "cccc"])
    await store.commit()

    async def consume_first() -> bool:
        other = await store.find_user(email="alice@example.com")
        assert other is not None
        ok = await store.mf_delete_recovery_code(other, 0)
        await store.end_unit_of_work(commit=True)
        return ok

    assert await in_new_context(consume_first()) is True
    # This unit of work still holds the old list: its compare-and-set fails,
    # and the object is brought up to date instead.
    assert await store.mf_delete_recovery_code(user, 1) is False
    assert await store.mf_get_recovery_codes(user) == ["bbbb", "cccc"]
    assert await store.mf_delete_recovery_code(user, 0) is True
    assert await store.mf_get_recovery_codes(user) == ["cccc"]


async def test_user_passkeys_are_listed_and_deleted_with_the_user(store: SqlDatastore) -> None:
    user = await user_with_roles(store)
    for cid in (b"k1", b"k2"):
        await store.create_webauthn(
            user,
            credential_id=cid,
            public_key=b"key",
            name=cid.decode(),
            sign_count=0,
            usage="secondary",
            device_type="single_device",
            backup_state=False,
        )
    await store.commit()
    assert [c.name for c in await store.find_user_webauthns(user)] == ["k1", "k2"]  # type: ignore[attr-defined]
    await store.delete_user(user)
    await store.commit()
    async with engine_of(store).connect() as conn:
        counts = [
            (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (WebAuthn.__table__, Base.metadata.tables["roles_users"])
        ]
    assert counts == [0, 0]


# ---------------------------------------------------------------------- schema
def describe(conn: Connection) -> dict[str, Any]:
    """Tables as the database reports them, in comparable terms."""

    def kind(sqltype: Any) -> tuple[str, int | None]:
        if isinstance(sqltype, Text):
            return "TEXT", None
        if isinstance(sqltype, String):
            return "VARCHAR", sqltype.length
        for generic, name in (
            (Integer, "INTEGER"),
            (Boolean, "BOOLEAN"),
            (DateTime, "DATETIME"),
            (LargeBinary, "BINARY"),
        ):
            if isinstance(sqltype, generic):
                return name, None
        return repr(sqltype), None

    inspector = inspect(conn)
    out: dict[str, Any] = {}
    for table in inspector.get_table_names():
        columns = {
            c["name"]: (*kind(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
        }
        with warnings.catch_warnings():
            # SQLite's reflection skips indexes on expressions: folded_unique() reads them.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            constraints = inspector.get_unique_constraints(table)
            indexes = inspector.get_indexes(table)
        unique = {tuple(u["column_names"]) for u in constraints}
        unique |= {
            tuple(str(c) for c in i["column_names"])
            for i in indexes
            if i["unique"] and None not in i["column_names"]
        }
        fks = {
            (
                fk["constrained_columns"][0],
                fk["referred_table"],
                fk["referred_columns"][0],
                (fk.get("options") or {}).get("ondelete"),
            )
            for fk in inspector.get_foreign_keys(table)
        }
        defaults = {
            c["name"]
            for c in inspector.get_columns(table)
            if c.get("default") and not str(c["default"]).startswith("nextval(")
        }
        out[table] = {
            "columns": columns,
            "unique": unique,
            "folded_unique": folded_unique(conn, table, indexes),
            "fks": fks,
            "defaults": defaults,
        }
    return out


FOLDED_INDEX = re.compile(r"(?:lower|qs_lower)\((\w+)(?:::text)?\)")


def folded_unique(conn: Connection, table: str, indexes: list[Any]) -> set[str]:
    """Columns with a unique index on their case-folded value."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql LIKE 'CREATE UNIQUE INDEX%'",
            (table,),
        )
        expressions = [str(sql).partition(" ON ")[2].partition("(")[2][:-1] for (sql,) in rows]
    else:
        expressions = [e for i in indexes if i["unique"] for e in i.get("expressions") or ()]
    return {m.group(1) for e in expressions if (m := FOLDED_INDEX.fullmatch(e.strip()))}


def expected_fsqla_v3(*, ours: bool, counters: bool = False) -> dict[str, Any]:
    expected: dict[str, Any] = {}
    for table, columns in FSQLA_V3_COLUMNS.items():
        cols = {
            name: (kind, length, False if ours and (table, name) in OUR_DIFFERENCES else nullable)
            for name, (kind, length, nullable) in columns.items()
        }
        if counters:
            cols.update(OUR_ADDED_COLUMNS.get(table, {}))
        expected[table] = {
            "columns": cols,
            "unique": FSQLA_V3_UNIQUE[table],
            "folded_unique": OUR_FOLDED_UNIQUE[table] if ours else set(),
            "fks": FSQLA_V3_FOREIGN_KEYS[table],
            "defaults": FSQLA_V3_SERVER_DEFAULTS[table],
        }
    return expected


@asynccontextmanager
async def sqlite_engine() -> AsyncIterator[AsyncEngine]:
    with tempfile.TemporaryDirectory(prefix="qs-schema-") as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'db.sqlite'}")
        try:
            yield engine
        finally:
            await engine.dispose()


async def test_our_schema_matches_fsqla_v3_on_sqlite() -> None:
    async with sqlite_engine() as engine:
        async with engine.begin() as conn:
            await conn.run_sync(LegacyBase.metadata.create_all)
            actual = await conn.run_sync(describe)
    assert actual == expected_fsqla_v3(ours=True)


@pytest.mark.postgres
async def test_our_schema_matches_fsqla_v3_on_postgres() -> None:
    async with postgres_schema() as (url, schema):
        engine = postgres_engine(url, schema)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(LegacyBase.metadata.create_all)

            def describe_schema(conn: Connection) -> dict[str, Any]:
                conn.exec_driver_sql(f'SET search_path TO "{schema}"')
                return describe(conn)

            async with engine.connect() as conn:
                actual = await conn.run_sync(describe_schema)
        finally:
            await engine.dispose()
    assert actual == expected_fsqla_v3(ours=True)


async def load_flask_security_database(path: Path, *, migrate: bool = False) -> None:
    """Flask-Security's own database; ``migrate`` adds our two-factor columns."""
    script = (DATA / "fsqla_v3_sqlite.sql").read_text()
    if migrate:
        script += "\n".join(TF_COUNTER_MIGRATION)

    def load() -> None:
        with sqlite3.connect(path) as con:
            con.executescript(script)
        con.close()

    await asyncio.to_thread(load)


async def test_literal_description_matches_what_flask_security_created() -> None:
    with tempfile.TemporaryDirectory(prefix="qs-fsqla-") as tmp:
        await load_flask_security_database(Path(tmp) / "fs.db")
        engine = create_async_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'fs.db'}")
        try:
            async with engine.connect() as conn:
                actual = await conn.run_sync(describe)
        finally:
            await engine.dispose()
    assert actual == expected_fsqla_v3(ours=False)


def test_token_uniquifier_is_opt_in() -> None:
    assert "fs_token_uniquifier" not in LegacyBase.metadata.tables["user"].c
    column = User.__table__.c.fs_token_uniquifier
    assert isinstance(column.type, String)
    assert (column.type.length, column.nullable, column.unique) == (64, False, True)


def test_table_names_follow_set_db_info() -> None:
    from quart_security.models.sqla import FsModels

    class Base(DeclarativeBase):
        pass

    saved = (FsModels.user_table_name, FsModels.role_table_name, FsModels.webauthn_table_name)
    FsModels.set_db_info(
        base_model=Base,
        user_table_name="accounts",
        role_table_name="groups",
        webauthn_table_name="passkeys",
    )
    try:

        class Group(Base, FsRoleMixin):
            pass

        class Account(Base, FsUserMixin):
            pass

        class Passkey(Base, FsWebAuthnMixin):
            pass

    finally:
        FsModels.user_table_name, FsModels.role_table_name, FsModels.webauthn_table_name = saved
    metadata: MetaData = Base.metadata
    assert set(metadata.tables) == {"accounts", "groups", "passkeys", "roles_users"}
    targets = {fk.target_fullname for fk in metadata.tables["roles_users"].foreign_keys}
    assert targets == {"accounts.id", "groups.id"}
    assert {fk.target_fullname for fk in metadata.tables["passkeys"].foreign_keys} == {
        "accounts.id"
    }
    # Relationships find their targets by table, whatever the classes are called.
    assert inspect(Account).relationships["roles"].mapper.class_ is Group
    assert inspect(Passkey).relationships["user"].mapper.class_ is Account
    assert inspect(Account).relationships["webauthn"].mapper.class_ is Passkey


def test_asalist_storage_is_flask_securitys() -> None:
    codec = AsaList()
    dialect = create_async_engine("sqlite+aiosqlite://").dialect
    assert codec.process_bind_param(["a", "b"], dialect) == "a,b"
    assert codec.process_bind_param([], dialect) == ""
    assert codec.process_bind_param(None, dialect) is None
    assert codec.process_result_value("a,b", dialect) == ["a", "b"]
    assert codec.process_result_value("", dialect) == []
    assert codec.process_result_value(None, dialect) == []


# ---------------------------------------------------------------------- two-factor counters
class CounterlessBase(DeclarativeBase):
    """A user model declared without the two-factor counters."""


class CounterlessRole(CounterlessBase, FsRoleMixin):
    pass


class CounterlessUser(CounterlessBase, FsUserMixin):
    """FsUserMixin alone: the counters are the opt-in FsTfCountersMixin."""


def test_a_model_can_leave_the_counters_out() -> None:
    columns = CounterlessBase.metadata.tables["user"].c
    assert "tf_totp_last_counter" not in columns and "tf_code_attempts" not in columns


async def test_a_model_without_the_counters_says_so_clearly() -> None:
    async with sqlite_engine() as engine:
        async with engine.begin() as conn:
            await conn.run_sync(CounterlessBase.metadata.create_all)
        store = SQLAlchemyUserDatastore(
            async_sessionmaker(engine), CounterlessUser, CounterlessRole
        )
        try:
            assert store.supports_tf_counters() is False
            user = await store.create_user(email="a@example.com", password=HASH)
            await store.commit()
            calls = {
                "tf_advance_counter": lambda: store.tf_advance_counter(user, 5),
                "tf_count_attempt": lambda: store.tf_count_attempt(user),
                "tf_reset_attempts": lambda: store.tf_reset_attempts(user),
            }
            for name, call in calls.items():
                with pytest.raises(ValueError, match=f"{name}: CounterlessUser has no column"):
                    await call()
            # What does not need the counters still works on such a model.
            await store.tf_set(user, "authenticator", totp_secret="s-1")
            await store.tf_set(user, "authenticator", totp_secret="s-2")
            await store.tf_reset(user)
            await store.commit()
            found = await in_new_context(store.find_user(email="a@example.com"))
            assert found is not None and found.tf_totp_secret is None
        finally:
            await store.aclose()


async def test_count_attempt_is_one_statement(store: SqlDatastore) -> None:
    user = await store.create_user(email="a@example.com", password=HASH)
    await store.commit()
    with statements(engine_of(store)) as sent:
        assert await store.tf_count_attempt(user) == 1
    assert len(sent) == 1 and "RETURNING" in sent[0].upper()


async def test_counters_keep_staged_changes_without_autoflush() -> None:
    async with sqlite_engine() as engine:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        store = SQLAlchemyUserDatastore(async_sessionmaker(engine, autoflush=False), User, Role)
        try:
            user = await store.create_user(email="a@example.com", password=HASH)
            await store.commit()
            assert await store.tf_count_attempt(user) == 1
            await store.tf_reset_attempts(user)  # staged, not flushed
            assert await store.tf_count_attempt(user) == 1
            await store.commit()
            found = await in_new_context(store.find_user(email="a@example.com"))
            assert found is not None and found.tf_code_attempts == 1
        finally:
            await store.aclose()


class MigratedBase(DeclarativeBase):
    """Flask-Security's models plus the opt-in counters, after docs/migrating.md's ALTER TABLE."""


class MigratedRole(MigratedBase, FsRoleMixin):
    pass


class MigratedUser(MigratedBase, FsUserMixin, FsTfCountersMixin):
    pass


class MigratedWebAuthn(MigratedBase, FsWebAuthnMixin):
    pass


async def test_counters_on_a_migrated_flask_security_database() -> None:
    with tempfile.TemporaryDirectory(prefix="qs-fsqla-") as tmp:
        path = Path(tmp) / "fs.db"
        await load_flask_security_database(path, migrate=True)
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        migrated = SQLAlchemyUserDatastore(
            async_sessionmaker(engine), MigratedUser, MigratedRole, MigratedWebAuthn
        )
        try:
            user = await migrated.find_user(username="legacy")
            assert user is not None and migrated.supports_tf_counters()
            assert await migrated.tf_advance_counter(user, 7) is True
            assert await migrated.tf_count_attempt(user) == 1
            await migrated.commit()
            found = await in_new_context(migrated.find_user(username="legacy"))
            assert (found.tf_totp_last_counter, found.tf_code_attempts) == (7, 1)
        finally:
            await migrated.aclose()
            await engine.dispose()


def test_flask_security_models_without_the_mixin_have_no_counters() -> None:
    columns = LegacyBase.metadata.tables["user"].c
    assert "tf_totp_last_counter" not in columns and "tf_code_attempts" not in columns


# ---------------------------------------------------------------------- Flask-Security's database
@pytest_asyncio.fixture
async def legacy() -> AsyncIterator[LegacyDatastore]:
    with tempfile.TemporaryDirectory(prefix="qs-fsqla-") as tmp:
        path = Path(tmp) / "fs.db"
        await load_flask_security_database(path)  # unchanged: no migration needed
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        datastore = SQLAlchemyUserDatastore(
            async_sessionmaker(engine), LegacyUser, LegacyRole, LegacyWebAuthn
        )
        try:
            yield datastore
        finally:
            await datastore.aclose()
            await engine.dispose()


async def test_flask_security_database_reads_unchanged(legacy: LegacyDatastore) -> None:
    user = await legacy.find_user(email="legacy.user@example.com", case_insensitive=True)
    assert user is not None
    assert (user.email, user.username, user.active) == ("Legacy.User@example.com", "legacy", True)
    assert user.password is not None and user.password.startswith("$argon2id$")
    assert user.fs_uniquifier == "0f3c1d8e9a7b4c2d8e1f0a9b8c7d6e5f"
    assert user.fs_webauthn_user_handle == "b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0"
    assert (user.confirmed_at, user.last_login_at, user.create_datetime) == (
        LEGACY_STAMP,
        LEGACY_STAMP,
        LEGACY_STAMP,
    )
    assert user.current_login_at == LEGACY_STAMP.replace(day=18)
    assert (user.last_login_ip, user.current_login_ip, user.login_count) == (
        "192.0.2.1",
        "2001:db8::1",
        7,
    )
    assert (user.tf_primary_method, user.tf_totp_secret, user.tf_phone_number) == (
        "authenticator",
        "tf-secret-ciphertext",
        "+15551230000",
    )
    assert await legacy.us_get_totp_secrets(user) == {
        "authenticator": "us-secret-ciphertext",
        "email": "us-email-secret",
    }
    assert user.us_phone_number == "+15551239999"
    assert await legacy.mf_get_recovery_codes(user) == ["code-one", "code-two", "code-three"]
    assert sorted(r.name for r in user.roles) == ["admin", "editor"]
    assert user.get_permissions() == {"admin-read", "admin-write", "edit"}
    unused = await legacy.find_role("unused")
    assert unused is not None and unused.get_permissions() == set()

    cred = await legacy.find_webauthn(bytes(range(32)))
    assert cred is not None
    assert (cred.name, cred.sign_count, cred.usage, cred.device_type, cred.backup_state) == (  # type: ignore[attr-defined]
        "laptop key",
        12,
        "first",
        "single_device",
        False,
    )
    assert cred.transports == ["usb", "nfc"]  # type: ignore[attr-defined]
    assert cred.lastuse_datetime == LEGACY_STAMP  # type: ignore[attr-defined]
    owner = await legacy.find_user_from_webauthn(cred)
    assert owner is user
    assert [c.name for c in await legacy.find_user_webauthns(user)] == ["laptop key"]  # type: ignore[attr-defined]


async def test_flask_security_database_takes_our_writes(legacy: LegacyDatastore) -> None:
    user = await legacy.find_user(username="legacy")
    assert user is not None
    assert await legacy.add_role_to_user(user, "unused") is True
    assert await legacy.mf_delete_recovery_code(user, 0) is True
    await legacy.us_reset(user, "email")
    await legacy.create_webauthn(
        user,
        credential_id=b"new-credential",
        public_key=b"key",
        name="phone",
        sign_count=0,
        usage="secondary",
        device_type="multi_device",
        backup_state=True,
        transports=["internal", "hybrid"],
    )
    second = await legacy.find_user(email="second@example.com")
    assert second is not None
    await legacy.delete_user(second)
    await legacy.create_user(email="third@example.com", password=None)
    await legacy.end_unit_of_work(commit=True)

    engine = engine_of(legacy)
    async with engine.connect() as conn:
        rows = {
            "links": sorted(
                tuple(r)
                for r in await conn.execute(text("SELECT user_id, role_id FROM roles_users"))
            ),
            "user": (
                await conn.execute(
                    text(
                        "SELECT mf_recovery_codes, us_totp_secrets FROM user"
                        " WHERE username = 'legacy'"
                    )
                )
            ).one(),
            "transports": (
                await conn.execute(text("SELECT transports FROM web_authn WHERE name = 'phone'"))
            ).scalar_one(),
            "emails": sorted(r[0] for r in await conn.execute(text("SELECT email FROM user"))),
        }
    assert rows["links"] == [(1, 1), (1, 2), (1, 3)]
    assert tuple(rows["user"]) == (
        "code-two,code-three",
        '{"authenticator": "us-secret-ciphertext"}',
    )
    assert rows["transports"] == "internal,hybrid"
    assert rows["emails"] == ["Legacy.User@example.com", "third@example.com"]


# ---------------------------------------------------------------------- case-insensitive identities
IDENTITY_INDEXES = {"uq_user_email_ci", "uq_user_username_ci"}


def test_the_indexes_come_with_the_model_whatever_its_table_args() -> None:
    """Issue #11: ``create_all`` makes them, and a model's own ``__table_args__`` stay."""

    class OwnBase(DeclarativeBase):
        pass

    class OwnRole(OwnBase, FsRoleMixin):
        pass

    class OwnUser(OwnBase, FsUserMixin):
        __table_args__ = (Index("ix_user_last_login_at", "last_login_at"), {"comment": "people"})

    table = OwnUser.__table__
    assert table.comment == "people"
    assert {i.name for i in table.indexes} == {"ix_user_last_login_at", *IDENTITY_INDEXES}
    email = next(i for i in table.indexes if i.name == "uq_user_email_ci")
    assert email.unique
    # The fold of find_user(case_insensitive=True) on each dialect, not SQLite's ASCII lower().
    assert str(CreateIndex(email).compile(dialect=postgresql.dialect())) == (
        'CREATE UNIQUE INDEX uq_user_email_ci ON "user" (lower(email))'
    )
    assert str(CreateIndex(email).compile(dialect=sqlite.dialect())) == (
        "CREATE UNIQUE INDEX uq_user_email_ci ON user (qs_lower(email))"
    )


async def identity_index_names(store: SqlDatastore) -> set[str]:
    """The folded unique indexes the database has on the user table."""
    engine = engine_of(store)
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = await conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user'")
            )
        else:
            schema = engine.sync_engine.get_execution_options()["schema_translate_map"][None]
            rows = await conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = :s AND tablename = 'user'"
                ),
                {"s": schema},
            )
        return {str(r[0]) for r in rows} & IDENTITY_INDEXES


async def drop_identity_indexes(store: SqlDatastore) -> None:
    """Make the database one created before the indexes existed."""
    async with engine_of(store).begin() as conn:
        for index in User.__table__.indexes:
            if index.name in IDENTITY_INDEXES:
                await conn.execute(DropIndex(index))
    assert await identity_index_names(store) == set()


async def test_create_indexes_refuses_rows_that_already_clash(store: SqlDatastore) -> None:
    """The migration fails clearly, changing nothing, until the clash is resolved."""
    await drop_identity_indexes(store)
    await store.create_user(email="Bob@example.com", password=HASH, username="bob")
    clash = await store.create_user(email="bOB@example.com", password=HASH)
    await store.commit()
    await store.end_unit_of_work()
    # Without the index such rows keep working, and a lookup never guesses between them.
    third_spelling = store.find_user(email="BOB@example.com", case_insensitive=True)
    assert await in_new_context(third_spelling) is None
    await store.aclose()

    with pytest.raises(DatastoreError) as info:
        await store.create_indexes()
    message = str(info.value)
    assert "email" in message and "username" not in message, message
    assert "bob" not in message.lower()  # no address in logs
    assert await identity_index_names(store) == set()
    assert store._session_var.get() is None  # its unit of work is over

    await store.delete_user(await store.find_user(fs_uniquifier=clash.fs_uniquifier))
    await store.end_unit_of_work(commit=True)
    await store.create_indexes()
    await store.create_indexes()  # idempotent
    assert await identity_index_names(store) == IDENTITY_INDEXES
    with pytest.raises(DuplicateIdentityError) as duplicate:
        await store.create_user(email="BOB@example.com", password=HASH)
        await store.commit()
    assert duplicate.value.field == "email"


async def test_create_indexes_migrates_a_flask_security_database(legacy: LegacyDatastore) -> None:
    """Flask-Security wrote this database: its tables have no folded indexes until now."""
    from quart_security.models.sqla import register_sqlite_fold

    assert await identity_index_names(legacy) == set()
    await legacy.create_indexes()
    await legacy.create_indexes()
    assert await identity_index_names(legacy) == IDENTITY_INDEXES
    for kwargs, field in (
        ({"email": "LEGACY.USER@example.com"}, "email"),
        ({"email": "new@example.com", "username": "LEGACY"}, "username"),
    ):
        with pytest.raises(DuplicateIdentityError) as info:
            await legacy.create_user(password=None, **kwargs)
            await legacy.commit()
        assert info.value.field == field
    user = await legacy.find_user(email="legacy.user@EXAMPLE.com", case_insensitive=True)
    assert user is not None and user.username == "legacy"

    # A tool outside the app (the sqlite3 shell, a script) reads as before, but
    # cannot write an identity until it registers qs_lower.
    path = engine_of(legacy).url.database
    assert path is not None
    with sqlite3.connect(path) as outside:
        assert outside.execute("SELECT count(*) FROM user").fetchone() == (2,)
        with pytest.raises(sqlite3.OperationalError, match="qs_lower"):
            outside.execute("UPDATE user SET email = 'other@example.com' WHERE id = 2")
        register_sqlite_fold(outside)
        outside.execute("UPDATE user SET email = 'other@example.com' WHERE id = 2")
    outside.close()


def test_connections_outside_the_datastore_fold_too(tmp_path: Path) -> None:
    """create_all's connection and an app's own sync session get qs_lower when they connect."""
    engine = create_engine(f"sqlite:///{tmp_path}/own.db")
    try:
        LegacyBase.metadata.create_all(engine)
        with Session(engine) as session:
            session.add(LegacyUser(email="Zoë@example.com", active=True, fs_uniquifier="a"))
            session.commit()
            session.add(LegacyUser(email="ZOË@example.com", active=True, fs_uniquifier="b"))
            with pytest.raises(IntegrityError, match="uq_user_email_ci"):
                session.commit()
    finally:
        engine.dispose()


async def test_the_datastore_registers_qs_lower_where_the_listener_did_not(
    tmp_path: Path,
) -> None:
    """The fallback: a SQLite connection the process-wide listener never saw."""
    from sqlalchemy.pool import Pool

    from quart_security.models import sqla

    url = f"sqlite+aiosqlite:///{tmp_path}/missed.db"
    async with sql_datastore(create_async_engine(url)):
        pass  # the tables, with their indexes
    event.remove(Pool, "connect", sqla._register_on_connect)
    engine = create_async_engine(url)
    store = SQLAlchemyUserDatastore(async_sessionmaker(engine), User, Role, WebAuthn)
    try:
        await store.create_user(email="Zoë@example.com", password=HASH)
        await store.commit()
        with pytest.raises(DuplicateIdentityError):
            await store.create_user(email="ZOË@example.com", password=HASH)
            await store.commit()
        found = await store.find_user(email="zoË@example.com", case_insensitive=True)
        assert found is not None and found.email == "Zoë@example.com"
    finally:
        event.listen(Pool, "connect", sqla._register_on_connect)
        await store.aclose()
        await engine.dispose()


async def test_release_connection_returns_the_connection_to_the_pool(tmp_path: Any) -> None:
    """A login waiting for its hash must not hold a pooled connection (login storms)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
    from tests.support.models import Base, Role, User, WebAuthn

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/pool.db")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    store = SQLAlchemyUserDatastore(async_sessionmaker(engine), User, Role, WebAuthn)
    try:
        async with store.unit_of_work():
            await store.create_user(email="pool@example.com", password="x")
        assert await store.find_user(email="pool@example.com") is not None
        assert engine.pool.checkedout() == 1
        await store.release_connection()
        assert engine.pool.checkedout() == 0
        await store.end_unit_of_work()
    finally:
        await store.aclose()
        await engine.dispose()


# ---------------------------------------------------------------------- read-only units
async def test_a_unit_of_work_that_only_read_ends_without_a_commit(store: SqlDatastore) -> None:
    await store.create_user(email="alice@example.com", password=HASH)
    await store.end_unit_of_work(commit=True)
    with commits(engine_of(store)) as seen:
        assert await store.find_user(email="alice@example.com") is not None
        await store.end_unit_of_work(commit=True)
    assert seen == []


async def test_a_read_after_a_commit_does_not_commit_again(store: SqlDatastore) -> None:
    with commits(engine_of(store)) as seen:
        await store.create_user(email="alice@example.com", password=HASH)
        await store.commit()
        assert await store.find_user(email="alice@example.com") is not None
        await store.end_unit_of_work(commit=True)
    assert seen == [1]


@pytest.mark.parametrize("how", ["orm_update", "text", "dirty_object"])
async def test_writes_not_yet_flushed_are_committed_at_the_end(
    store: SqlDatastore, how: str
) -> None:
    await store.create_user(email="alice@example.com", password=HASH)
    await store.end_unit_of_work(commit=True)
    user = await store.find_user(email="alice@example.com")
    assert user is not None
    if how == "orm_update":
        await store.session.execute(update_login_count(7))
    elif how == "text":
        schemas = engine_of(store).sync_engine.get_execution_options().get("schema_translate_map")
        table = f'"{schemas[None]}"."user"' if schemas else '"user"'
        await store.session.execute(text(f"UPDATE {table} SET login_count = 7"))
    else:
        user.login_count = 7  # changed in place, never put() or flushed
    await store.end_unit_of_work(commit=True)

    async def read() -> int | None:
        found = await store.find_user(email="alice@example.com")
        await store.end_unit_of_work()
        return None if found is None else found.login_count

    assert await in_new_context(read()) == 7


def update_login_count(value: int) -> Any:
    return update(User).values(login_count=value)


async def test_a_rolled_back_write_does_not_force_a_later_commit(store: SqlDatastore) -> None:
    await store.create_user(email="alice@example.com", password=HASH)
    await store.end_unit_of_work(commit=True)
    await store.session.execute(update_login_count(3))
    await store.rollback()
    with commits(engine_of(store)) as seen:
        await store.find_user(email="alice@example.com")
        await store.end_unit_of_work(commit=True)
    assert seen == []


async def test_a_dropped_datastore_is_freed_with_its_session_class(store: SqlDatastore) -> None:
    import gc
    import weakref

    async def use_and_drop() -> weakref.ref[Any]:
        other = SQLAlchemyUserDatastore(async_sessionmaker(engine_of(store)), User, Role, WebAuthn)
        await other.find_user(email="nobody@example.com")
        await other.end_unit_of_work()
        return weakref.ref(other)

    refs = [await use_and_drop() for _ in range(3)]
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]


async def test_release_connection_never_commits_a_flushed_write(store: SqlDatastore) -> None:
    await store.create_user(email="alice@example.com", password=HASH)
    await store.end_unit_of_work(commit=True)
    user = await store.find_user(email="alice@example.com")
    assert user is not None
    user.login_count = 5
    await store.put(user)
    await store.session.flush()  # written to the transaction, nothing pending any more
    with commits(engine_of(store)) as seen:
        await store.release_connection()
    assert seen == []
    await store.rollback()
    await store.end_unit_of_work()

    async def read() -> int | None:
        found = await store.find_user(email="alice@example.com")
        await store.end_unit_of_work()
        return None if found is None else found.login_count

    assert await in_new_context(read()) != 5
