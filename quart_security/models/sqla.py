"""Ready-made SQLAlchemy 2 declarative mixins with Flask-Security's schema.

Tables, column names, types, lengths and nullability are those of
Flask-Security's ``fsqla_v3`` models (what most existing Flask-Security
databases were created with), so such a database works unchanged::

    from sqlalchemy.orm import DeclarativeBase
    from quart_security.models.sqla import (
        FsModels, FsRoleMixin, FsUserMixin, FsWebAuthnMixin,
    )

    class Base(DeclarativeBase):
        pass

    FsModels.set_db_info(base_model=Base)   # optional unless renaming tables

    class Role(Base, FsRoleMixin):
        pass

    class User(Base, FsUserMixin):
        pass

    class WebAuthn(Base, FsWebAuthnMixin):   # only with passkeys
        pass

Create the tables the usual SQLAlchemy way (Alembic for real deployments)::

    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)

Differences from Flask-Security, each deliberate:

- Relationships never lazy-load (``lazy="raise_on_sql"``): under asyncio a lazy
  load raises MissingGreenlet deep inside a template. The datastore loads
  ``roles`` together with the user in one query.
- ``roles_users`` has a composite primary key (as Flask-Security's newer
  ``models.sqla`` has; fsqla_v3 had none), so a role cannot be linked twice.
  Existing tables without it keep working.
- ``fs_token_uniquifier`` is an opt-in mixin (``FsTokenUniquifierMixin``): the
  packaged Flask-Security models do not have the column, and adding it to
  ``FsUserMixin`` would break every existing database.
- Timestamps get a Python-side default too, so their value is known after an
  INSERT without a second query (no expired attribute to lazy-load).
- ``email`` and ``username`` are also unique case-insensitively: a unique
  index on the folded value (``uq_<table>_email_ci``, ``uq_<table>_username_ci``)
  is added to the user table, whatever ``__table_args__`` the model declares.
  The fold is the one ``find_user(case_insensitive=True)`` compares with
  (``fold_case``). A database created without them gets them from
  ``SQLAlchemyUserDatastore.create_indexes()`` (docs/datastores.md).
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Callable
from typing import Any, ClassVar

from sqlalchemy import (
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UnicodeText,
    event,
    types,
)
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.ext.mutable import MutableList
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Mapper,
    backref,
    declared_attr,
    mapped_column,
    registry,
    relationship,
)
from sqlalchemy.pool import ConnectionPoolEntry, Pool
from sqlalchemy.sql import func
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ..clock import system_utcnow_naive
from ..mixins import RoleMixin, UserMixin, WebAuthnMixin

__all__ = [
    "CASE_INSENSITIVE_IDENTITIES",
    "SQLITE_FOLD_FUNCTION",
    "AsaList",
    "FsModels",
    "FsRoleMixin",
    "FsTfCountersMixin",
    "FsTokenUniquifierMixin",
    "FsUserMixin",
    "FsWebAuthnMixin",
    "ensure_sqlite_fold",
    "fold_case",
    "identity_indexes",
    "naive_utcnow",
    "register_sqlite_fold",
]


#: Naive UTC now, what Flask-Security stores in DateTime columns (the one clock).
naive_utcnow = system_utcnow_naive


class AsaList(types.TypeDecorator[list[str]]):
    """A list of strings stored comma-joined in a UnicodeText column.

    Same storage as Flask-Security's ``AsaList``: NULL and "" read back as an
    empty list. Elements must not contain a comma (the datastore rejects them
    before writing, since they would read back as two elements).
    """

    impl = UnicodeText
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return ",".join(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str]:
        return value.split(",") if value else []

    @property
    def python_type(self) -> type[list[str]]:
        return list


# ---------------------------------------------------------------------- case-insensitive identities
#: Identities that are one identity whatever their case (Flask-Security looks
#: them up so), and so unique whatever their case.
CASE_INSENSITIVE_IDENTITIES = ("email", "username")
#: SQLite's own lower() folds ASCII only; this application function folds as
#: PostgreSQL's lower() does, and is registered on every SQLite connection.
SQLITE_FOLD_FUNCTION = "qs_lower"
#: Where ``metadata.create_all`` makes the folded unique indexes. Elsewhere
#: the app decides (MySQL's and MariaDB's default collations already compare
#: case-insensitively; MariaDB has no index on an expression).
FOLD_INDEX_DIALECTS = ("postgresql", "sqlite")
_IDENTITY_INFO = "quart_security_identity"


class fold_case(FunctionElement[str]):  # noqa: N801 - an SQL function, named like func.lower
    """An identity as case-insensitive lookups and the unique indexes both compare it.

    One construct for both, so they cannot fold differently: ``lower()`` on
    PostgreSQL (Unicode-aware under the database's LC_CTYPE), ``qs_lower()``
    (Python's ``str.lower``) on SQLite, whose built-in lower() would let
    "ZOË" and "zoë" be two identities to the index but one to a lookup.
    """

    type = String()
    inherit_cache = True
    name = "fold_case"


@compiles(fold_case)
def _compile_fold(element: fold_case, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(fold_case, "sqlite")
def _compile_fold_sqlite(element: fold_case, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FOLD_FUNCTION}({compiler.process(element.clauses, **kw)})"


def _sqlite_fold(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def register_sqlite_fold(dbapi_connection: Any) -> None:
    """Give one SQLite DBAPI connection ``qs_lower``.

    Without it SQLite refuses every INSERT into the user table and every
    UPDATE of an email or username ("unknown function: qs_lower()"), since
    the folded unique indexes call it.
    """
    dbapi_connection.create_function(SQLITE_FOLD_FUNCTION, 1, _sqlite_fold, deterministic=True)


def _register_on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # Process-wide, for every engine's pool: the connection metadata.create_all
    # uses, Flask-SQLAlchemy's sync engine and the app's own sessions need the
    # function as much as the datastore does. SQLAlchemy registers regexp()
    # and floor() on SQLite connections the same way.
    if isinstance(dbapi_connection, sqlite3.Connection | AsyncAdapt_aiosqlite_connection):
        register_sqlite_fold(dbapi_connection)
        record.info[SQLITE_FOLD_FUNCTION] = True


event.listen(Pool, "connect", _register_on_connect)


def ensure_sqlite_fold(connection: Connection) -> None:
    """Register ``qs_lower`` on a connection the listener missed (another SQLite driver)."""
    if connection.dialect.name != "sqlite":
        return
    pooled = connection.connection
    if not pooled.info.get(SQLITE_FOLD_FUNCTION):
        register_sqlite_fold(pooled.dbapi_connection)
        pooled.info[SQLITE_FOLD_FUNCTION] = True


def _fold_index_here(
    ddl: Any, target: Any, bind: Any, tables: Any = None, state: Any = None, **kw: Any
) -> bool:
    return bool(kw["dialect"].name in FOLD_INDEX_DIALECTS)


def identity_index_name(table: Table, attr: str) -> str:
    return f"uq_{table.name}_{attr}_ci"


def identity_indexes(table: Table) -> list[Index]:
    """The folded unique indexes of a user table, added to it first if missing.

    Idempotent. The packaged user models get them when they are declared; an
    app with a user model of its own may call this on its table.
    """
    indexes: list[Index] = []
    for attr in CASE_INSENSITIVE_IDENTITIES:
        if attr not in table.c:
            continue
        found = [i for i in table.indexes if i.info.get(_IDENTITY_INFO) == attr]
        if found:
            indexes.extend(found)
            continue
        index = Index(
            identity_index_name(table, attr),
            fold_case(table.c[attr]),
            unique=True,
            info={_IDENTITY_INFO: attr},
        )
        indexes.append(index.ddl_if(callable_=_fold_index_here))
    return indexes


def identity_of_index(table: Table, name: str) -> str | None:
    """The identity a folded unique index of ``table`` guards, by index name."""
    for attr in CASE_INSENSITIVE_IDENTITIES:
        if name == identity_index_name(table, attr):
            return attr
    for index in table.indexes:
        if index.name == name and index.info.get(_IDENTITY_INFO):
            return str(index.info[_IDENTITY_INFO])
    return None


def _list_column() -> Mapped[list[str] | None]:
    return mapped_column(MutableList.as_mutable(AsaList()), nullable=True)


def _created_column() -> Mapped[datetime.datetime]:
    return mapped_column(nullable=False, server_default=func.now(), default=naive_utcnow)


def _updated_column() -> Mapped[datetime.datetime]:
    return mapped_column(
        nullable=False,
        server_default=func.now(),
        default=naive_utcnow,
        onupdate=naive_utcnow,
    )


class FsModels:
    """Table names shared by the mixins, read when each model class is declared.

    Call ``set_db_info`` BEFORE declaring the models if you rename tables. The
    defaults are the names Flask-SQLAlchemy gives Flask-Security's packaged
    models (``User`` -> ``user``, ``WebAuthn`` -> ``web_authn``).
    """

    base_model: ClassVar[type[DeclarativeBase] | None] = None
    roles_users: ClassVar[Table | None] = None
    user_table_name: ClassVar[str] = "user"
    role_table_name: ClassVar[str] = "role"
    webauthn_table_name: ClassVar[str] = "web_authn"

    @classmethod
    def set_db_info(
        cls,
        *,
        base_model: type[DeclarativeBase],
        user_table_name: str = "user",
        role_table_name: str = "role",
        webauthn_table_name: str = "web_authn",
    ) -> None:
        cls.base_model = base_model
        cls.user_table_name = user_table_name
        cls.role_table_name = role_table_name
        cls.webauthn_table_name = webauthn_table_name
        cls.roles_users = roles_users_table(base_model.metadata)


def roles_users_table(metadata: MetaData) -> Table:
    """The user/role association table in ``metadata`` (created on first use)."""
    existing = metadata.tables.get("roles_users")
    if existing is not None:
        return existing
    return Table(
        "roles_users",
        metadata,
        Column(
            "user_id",
            Integer,
            ForeignKey(f"{FsModels.user_table_name}.id"),
            primary_key=True,
        ),
        Column(
            "role_id",
            Integer,
            ForeignKey(f"{FsModels.role_table_name}.id"),
            primary_key=True,
        ),
    )


def _class_for_table(reg: registry, table_name: str) -> Callable[[], type[Any]]:
    """Resolve a relationship target by table name, so model class names are free."""

    def resolve() -> type[Any]:
        found = [
            m.class_
            for m in reg.mappers
            if getattr(m.local_table, "name", None) == table_name and not m.inherits
        ]
        if len(found) != 1:
            raise LookupError(
                f"expected one mapped class for table {table_name!r}, found {len(found)}"
            )
        return found[0]

    return resolve


class FsRoleMixin(RoleMixin):
    """Role: name, description, permissions (comma-joined list)."""

    @declared_attr.directive
    def __tablename__(cls) -> str:  # noqa: N805 (declared_attr gets the class)
        return FsModels.role_table_name

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    permissions: Mapped[list[str] | None] = _list_column()
    update_datetime: Mapped[datetime.datetime] = _updated_column()


class FsUserMixin(UserMixin):
    """User with every Flask-Security feature's columns (fsqla_v3)."""

    @declared_attr.directive
    def __tablename__(cls) -> str:  # noqa: N805 (declared_attr gets the class)
        return FsModels.user_table_name

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    username: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    password: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(nullable=False)
    fs_uniquifier: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)

    # confirmable
    confirmed_at: Mapped[datetime.datetime | None] = mapped_column(nullable=True)

    # trackable
    last_login_at: Mapped[datetime.datetime | None] = mapped_column(nullable=True)
    current_login_at: Mapped[datetime.datetime | None] = mapped_column(nullable=True)
    last_login_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    current_login_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    login_count: Mapped[int | None] = mapped_column(Integer, nullable=True)

    # two-factor
    tf_primary_method: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tf_totp_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tf_phone_number: Mapped[str | None] = mapped_column(String(128), nullable=True)

    # unified sign in: secrets are a JSON object, the phone signs in so is unique
    us_totp_secrets: Mapped[str | None] = mapped_column(Text, nullable=True)
    us_phone_number: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)

    # webauthn user handle (the spec caps it at 64 bytes)
    fs_webauthn_user_handle: Mapped[str | None] = mapped_column(
        String(64), unique=True, nullable=True
    )

    # one-time recovery codes
    mf_recovery_codes: Mapped[list[str] | None] = _list_column()

    create_datetime: Mapped[datetime.datetime] = _created_column()
    update_datetime: Mapped[datetime.datetime] = _updated_column()

    @declared_attr
    def roles(cls) -> Mapped[list[Any]]:  # noqa: N805 (declared_attr gets the class)
        reg: registry = cls.registry  # type: ignore[attr-defined]
        metadata: MetaData = cls.metadata  # type: ignore[attr-defined]
        return relationship(
            _class_for_table(reg, FsModels.role_table_name),
            secondary=roles_users_table(metadata),
            lazy="raise_on_sql",
            backref=backref("users", lazy="raise_on_sql"),
        )


def _declare_identity_indexes(mapper: Mapper[Any], class_: type) -> None:
    table = mapper.local_table
    if isinstance(table, Table):
        identity_indexes(table)


# A mapper event, not ``__table_args__``: a model that declares its own
# table args keeps them and still gets the indexes.
event.listen(FsUserMixin, "after_mapper_constructed", _declare_identity_indexes, propagate=True)


class FsTfCountersMixin:
    """Opt-in two-factor counters (not in Flask-Security, docs/migrating.md).

    ``tf_totp_last_counter`` is the last accepted TOTP time step (a code is
    accepted once) and ``tf_code_attempts`` the code attempts of the pending
    sign-in, kept in the database because the session is a client-held
    cookie. Opt-in so that a Flask-Security database works unchanged until
    two-factor is turned on; then ``Security`` refuses to start without them
    unless TWO_FACTOR_REPLAY_PROTECTION and TWO_FACTOR_MAX_ATTEMPTS are off.
    Add them with ``class User(Base, FsUserMixin, FsTfCountersMixin)`` and
    two nullable integer columns.
    """

    tf_totp_last_counter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tf_code_attempts: Mapped[int | None] = mapped_column(Integer, nullable=True)


class FsTokenUniquifierMixin:
    """Opt-in ``fs_token_uniquifier``: auth tokens survive password changes.

    Flask-Security documents it as String(64), unique, not null; its packaged
    models leave it out. Add it with ``class User(Base, FsUserMixin,
    FsTokenUniquifierMixin)`` (and a migration that fills existing rows).
    """

    fs_token_uniquifier: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)


class FsWebAuthnMixin(WebAuthnMixin):
    """A registered passkey / security key.

    Adds ``webauthn`` (the user's credentials) to the user model through a
    backref, so a user model without passkeys needs no WebAuthn class.
    """

    @declared_attr.directive
    def __tablename__(cls) -> str:  # noqa: N805 (declared_attr gets the class)
        return FsModels.webauthn_table_name

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_id: Mapped[bytes] = mapped_column(
        LargeBinary(1024), index=True, unique=True, nullable=False
    )
    public_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sign_count: Mapped[int | None] = mapped_column(Integer, default=0, nullable=True)
    transports: Mapped[list[str] | None] = _list_column()
    backup_state: Mapped[bool] = mapped_column(nullable=False)
    device_type: Mapped[str] = mapped_column(String(64), nullable=False)
    # a JSON string as returned by registration
    extensions: Mapped[str | None] = mapped_column(String(255), nullable=True)
    create_datetime: Mapped[datetime.datetime] = _created_column()
    lastuse_datetime: Mapped[datetime.datetime] = mapped_column(nullable=False)
    # chosen by the user, unique per user (checked by the flow, as upstream)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    # "first" or "secondary"
    usage: Mapped[str] = mapped_column(String(64), nullable=False)

    @declared_attr
    def user_id(cls) -> Mapped[int]:  # noqa: N805 (declared_attr gets the class)
        return mapped_column(
            Integer,
            ForeignKey(f"{FsModels.user_table_name}.id", ondelete="CASCADE"),
            nullable=False,
        )

    @declared_attr
    def user(cls) -> Mapped[Any]:  # noqa: N805 (declared_attr gets the class)
        reg: registry = cls.registry  # type: ignore[attr-defined]
        return relationship(
            _class_for_table(reg, FsModels.user_table_name),
            lazy="raise_on_sql",
            backref=backref("webauthn", lazy="raise_on_sql", cascade="all, delete"),
        )
