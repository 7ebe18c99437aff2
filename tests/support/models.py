"""The models the HTTP tests use: Flask-Security's field set via our mixins."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from quart_security.models.sqla import FsModels, FsRoleMixin, FsUserMixin, FsWebAuthnMixin


class Base(DeclarativeBase):
    pass


FsModels.set_db_info(base_model=Base)


class Role(Base, FsRoleMixin):
    pass


class User(Base, FsUserMixin):
    pass


class WebAuthn(Base, FsWebAuthnMixin):
    pass
