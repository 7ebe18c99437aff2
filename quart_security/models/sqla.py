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
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, ClassVar

from sqlalchemy import (
    Column,
    Dialect,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UnicodeText,
    types,
)
from sqlalchemy.ext.mutable import MutableList
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    backref,
    declared_attr,
    mapped_column,
    registry,
    relationship,
)
from sqlalchemy.sql import func

from ..mixins import RoleMixin, UserMixin, WebAuthnMixin

__all__ = [
    "AsaList",
    "FsModels",
    "FsRoleMixin",
    "FsTokenUniquifierMixin",
    "FsUserMixin",
    "FsWebAuthnMixin",
    "naive_utcnow",
]


def naive_utcnow() -> datetime.datetime:
    """Naive UTC now: what Flask-Security stores in DateTime columns."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


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
