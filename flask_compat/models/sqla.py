"""Flask-Security's ``models.sqla`` mixins for plain SQLAlchemy models (Flask-SQLAlchemy-Lite).

Usage is Flask-Security's::

    from sqlalchemy.orm import DeclarativeBase

    from flask_compat.models import sqla

    class Model(DeclarativeBase):
        pass

    sqla.FsModels.set_db_info(base_model=Model)

    class Role(Model, sqla.FsRoleMixin):
        pass

    class User(Model, sqla.FsUserMixin):
        pass

The columns, tables and ``FsModels`` are ``quart_security.models.sqla``'s
(one schema for the Quart and the Flask app). Only the relationships differ,
as in ``fsqla_v3``: a sync app may lazy-load (``role.users``,
``user.webauthn``, as in Flask-Security), where the async models refuse to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Mapped, backref, declared_attr, relationship

from quart_security.models import sqla
from quart_security.models.sqla import (
    AsaList,
    FsModels,
    FsTfCountersMixin,
    FsTokenUniquifierMixin,
)

__all__ = [
    "AsaList",
    "FsModels",
    "FsRoleMixin",
    "FsTfCountersMixin",
    "FsTokenUniquifierMixin",
    "FsUserMixin",
    "FsWebAuthnMixin",
]


class FsRoleMixin(sqla.FsRoleMixin):
    pass


class FsUserMixin(sqla.FsUserMixin):
    @declared_attr
    def roles(cls) -> Mapped[list[Any]]:  # noqa: N805 (declared_attr gets the class)
        return relationship(
            sqla._class_for_table(cls.registry, sqla.FsModels.role_table_name),  # type: ignore[attr-defined]
            secondary=sqla.roles_users_table(cls.metadata),  # type: ignore[attr-defined]
            backref="users",
        )


class FsWebAuthnMixin(sqla.FsWebAuthnMixin):
    @declared_attr
    def user(cls) -> Mapped[Any]:  # noqa: N805 (declared_attr gets the class)
        return relationship(
            sqla._class_for_table(cls.registry, sqla.FsModels.user_table_name),  # type: ignore[attr-defined]
            backref=backref("webauthn", cascade="all, delete"),
        )
