"""Async user datastores: the abstract contract and the SQLAlchemy backends.

The MongoDB backend lives in ``quart_security.datastore.mongo`` and is not
imported here, so SQL-only applications do not need PyMongo.
"""

from __future__ import annotations

from ..errors import DuplicateIdentityError, InvalidFieldValueError
from ..models.sqla import AsaList
from .base import UserDatastore, new_uniquifier
from .sqlalchemy import SQLAlchemyUserDatastore
from .sqlalchemy_session import SQLAlchemySessionUserDatastore

__all__ = [
    "AsaList",
    "DuplicateIdentityError",
    "InvalidFieldValueError",
    "SQLAlchemySessionUserDatastore",
    "SQLAlchemyUserDatastore",
    "UserDatastore",
    "new_uniquifier",
]
