"""The models the HTTP tests use: Flask-Security's field set via our mixins."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from quart_security.models.mongo import MongoUser, doc_field
from quart_security.models.sqla import (
    FsModels,
    FsRoleMixin,
    FsTfCountersMixin,
    FsUserMixin,
    FsWebAuthnMixin,
)


class Base(DeclarativeBase):
    pass


FsModels.set_db_info(base_model=Base)


class Role(Base, FsRoleMixin):
    pass


class User(Base, FsUserMixin, FsTfCountersMixin):
    # An app's own profile fields (Flask-Security's extended register form).
    first_name: Mapped[str | None] = mapped_column(String(64), default=None)
    last_name: Mapped[str | None] = mapped_column(String(64), default=None)


class WebAuthn(Base, FsWebAuthnMixin):
    pass


class MongoProfileUser(MongoUser):
    """The MongoDB user with the same profile fields."""

    first_name: str | None = doc_field("str", max_length=64)
    last_name: str | None = doc_field("str", max_length=64)
