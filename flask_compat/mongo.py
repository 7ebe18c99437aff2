"""A MongoDB datastore for Flask: the core's MongoUserDatastore over a sync PyMongo database.

Flask apps that use no ODM pass a ``pymongo.MongoClient(...)[name]`` database.
The core's async ``MongoUserDatastore`` is given that database behind an
AsyncDatabase look-alike whose coroutines call the sync method and return at
once, so its coroutines never suspend and flask_compat drives them without an
event loop (``driver.run_nonsuspending``), as it does the SQLAlchemy stores.
Every rule (the atomic compare-and-set of single-use tokens, case-insensitive
uniqueness through collation indexes, operator-injection checks, the
document layout MongoEngine and the async store share) stays in the core
class: this module only changes how a call reaches the server.

Imported lazily by ``flask_compat`` and ``flask_compat.datastore``, so SQL-only
Flask apps do not need PyMongo.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.collection import Collection
from pymongo.command_cursor import CommandCursor
from pymongo.cursor import Cursor
from pymongo.database import Database

from quart_security.clock import Clock
from quart_security.datastore.mongo import MongoUserDatastore
from quart_security.models.mongo import MongoRole, MongoUser, MongoWebAuthn

from .datastore import UserDatastore

__all__ = ["PyMongoUserDatastore"]


def _coroutine_names(cls: type) -> frozenset[str]:
    return frozenset(
        n for n, v in vars(cls).items() if inspect.iscoroutinefunction(v) and n[:2] != "__"
    )


def _wrap(value: Any) -> Any:
    """Sync PyMongo objects as their async look-alikes; anything else as is."""
    if isinstance(value, Collection):
        return _AwaitableCollection(value)
    if isinstance(value, Database):
        return _AwaitableDatabase(value)
    if isinstance(value, Cursor | CommandCursor):
        return _AwaitableCursor(value)
    return value


def _awaitable(method: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap(method(*args, **kwargs))

    return call


def _returning_wrapped(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap(method(*args, **kwargs))

    return call


class _AwaitableCursor:
    """What the core reads of an AsyncCommandCursor (``to_list``), over a sync cursor."""

    def __init__(self, cursor: Cursor[Any] | CommandCursor[Any]) -> None:
        self.sync_cursor = cursor

    async def to_list(self, length: int | None = None) -> list[Any]:
        return self.sync_cursor.to_list(length)


class _AwaitableCollection:
    """AsyncCollection's interface over a sync Collection."""

    _coroutines = _coroutine_names(AsyncCollection)

    def __init__(self, collection: Collection[Any]) -> None:
        self.sync_collection = collection

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sync_collection, name)
        if name in self._coroutines:
            return _awaitable(attr)
        return _returning_wrapped(attr) if callable(attr) else _wrap(attr)

    def __getitem__(self, name: str) -> _AwaitableCollection:
        return _AwaitableCollection(self.sync_collection[name])


class _AwaitableDatabase:
    """AsyncDatabase's interface over a sync Database: what MongoUserDatastore is given."""

    _coroutines = _coroutine_names(AsyncDatabase)

    def __init__(self, database: Database[Any]) -> None:
        self.sync_database = database

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sync_database, name)
        if name in self._coroutines:
            return _awaitable(attr)
        return _returning_wrapped(attr) if callable(attr) else _wrap(attr)

    def __getitem__(self, name: str) -> _AwaitableCollection:
        return _AwaitableCollection(self.sync_database[name])


def _check_database(db: Any) -> None:
    """Fail at construction on the usual mistakes, not on the first request."""
    if isinstance(db, MongoClient | AsyncMongoClient):
        raise TypeError("PyMongoUserDatastore needs a database, not a client: client[name]")
    if isinstance(db, AsyncDatabase) or "Motor" in type(db).__name__:
        raise TypeError(
            "PyMongoUserDatastore needs a sync database: pymongo.MongoClient(...)[name] "
            "(an async database belongs to quart_security.datastore.mongo.MongoUserDatastore)"
        )
    if not isinstance(db, Database):
        raise TypeError(
            f"PyMongoUserDatastore needs a pymongo Database, not {type(db).__name__}: "
            "pymongo.MongoClient(url)[name]"
        )


class PyMongoUserDatastore(UserDatastore):
    """MongoDB through plain PyMongo: ``(db, User, Role, WebAuthn=None)``, db a sync Database.

    The models are quart_security's ``MongoUser``/``MongoRole``/``MongoWebAuthn``
    (or subclasses): the same documents the async ``MongoUserDatastore`` and
    Flask-Security's MongoEngine datastore read and write. Writes are
    immediate (``transactional`` is False). Create the indexes once with
    ``datastore.create_indexes()``, or pass ``create_indexes_on_start=True``
    and ``Security`` creates them when it is set up.
    """

    def __init__(
        self,
        db: Database[Any],
        user_model: type[MongoUser],
        role_model: type[MongoRole],
        webauthn_model: type[MongoWebAuthn] | None = None,
        *,
        user_collection: str | None = None,
        role_collection: str | None = None,
        webauthn_collection: str | None = None,
        clock: Clock | None = None,
        create_indexes_on_start: bool = False,
    ) -> None:
        _check_database(db)
        store: MongoUserDatastore[Any, Any] = MongoUserDatastore(
            _AwaitableDatabase(db),
            user_model,
            role_model,
            webauthn_model,
            user_collection=user_collection,
            role_collection=role_collection,
            webauthn_collection=webauthn_collection,
            clock=clock,
            create_indexes_on_start=create_indexes_on_start,
        )
        super().__init__(store)
        #: The app's own sync database (the core store holds its async look-alike).
        self.db = db
