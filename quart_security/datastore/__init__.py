"""Async user datastores: the abstract contract and the SQLAlchemy backend.

The MongoDB backend lives in ``quart_security.datastore.mongo`` and is not
imported here, so SQL-only applications do not need PyMongo.
"""

from __future__ import annotations

from ..errors import DuplicateIdentityError, InvalidFieldValueError
from .base import UserDatastore, new_uniquifier
from .sqlalchemy import SQLAlchemyUserDatastore

__all__ = [
    "DuplicateIdentityError",
    "InvalidFieldValueError",
    "SQLAlchemyUserDatastore",
    "UserDatastore",
    "new_uniquifier",
]
