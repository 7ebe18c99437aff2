"""Flask-Security's ``fsqla_v3`` models for Flask-SQLAlchemy, from the core's columns.

Usage is Flask-Security's::

    from flask_compat.models import fsqla_v3 as fsqla

    fsqla.FsModels.set_db_info(db)

    class Role(db.Model, fsqla.FsRoleMixin):
        pass

    class User(db.Model, fsqla.FsUserMixin):
        pass

Columns and tables come from ``quart_security.models.sqla`` unchanged (same
schema, so one database serves the Quart and the Flask app). Only the
relationships differ: in a sync app a lazy load is a plain query, so they load
lazily as in Flask-Security (``role.users`` is a query, as upstream) instead of
raising; the datastore still loads a user's roles with the user in one query.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy.orm import Mapped, backref, declared_attr, relationship

from quart_security.models import sqla
from quart_security.models.sqla import AsaList, FsTfCountersMixin, FsTokenUniquifierMixin

__all__ = [
    "AsaList",
    "FsModels",
    "FsRoleMixin",
    "FsTfCountersMixin",
    "FsTokenUniquifierMixin",
    "FsUserMixin",
    "FsWebAuthnMixin",
]


class FsModels(sqla.FsModels):
    """``FsModels.set_db_info(db)``: call it before declaring the models."""

    db: ClassVar[Any] = None
    fs_model_version: ClassVar[int] = 3

    @classmethod
    def set_db_info(
        cls,
        appdb: Any = None,
        *,
        user_table_name: str = "user",
        role_table_name: str = "role",
        webauthn_table_name: str = "web_authn",
        base_model: Any = None,
    ) -> None:
        cls.db = appdb
        sqla.FsModels.set_db_info(
            base_model=base_model if base_model is not None else appdb.Model,
            user_table_name=user_table_name,
            role_table_name=role_table_name,
            webauthn_table_name=webauthn_table_name,
        )


class FsRoleMixin(sqla.FsRoleMixin):
    pass


class FsUserMixin(sqla.FsUserMixin):
    @declared_attr
    def roles(cls) -> Mapped[list[Any]]:  # noqa: N805 (declared_attr gets the class)
        return relationship(
            sqla._class_for_table(cls.registry, sqla.FsModels.role_table_name),  # type: ignore[attr-defined]
            secondary=sqla.roles_users_table(cls.metadata),  # type: ignore[attr-defined]
            backref=backref("users", lazy="dynamic"),
        )


class FsWebAuthnMixin(sqla.FsWebAuthnMixin):
    @declared_attr
    def user(cls) -> Mapped[Any]:  # noqa: N805 (declared_attr gets the class)
        return relationship(
            sqla._class_for_table(cls.registry, sqla.FsModels.user_table_name),  # type: ignore[attr-defined]
            backref=backref("webauthn", cascade="all, delete"),
        )
