"""Datastores for Flask: the core's SQLAlchemy datastore over the app's sync session.

Two thin layers, no datastore rule of their own:

- ``SyncSessionStore`` is quart_security's async ``SQLAlchemyUserDatastore``
  given the app's synchronous session (Flask-SQLAlchemy's ``db.session``, a
  ``scoped_session``, or a function returning the current one, as for
  Flask-SQLAlchemy-Lite's per-app-context ``db.session``) behind an
  AsyncSession look-alike whose coroutines call the sync method and return
  at once. Every lookup, validation, error translation and compare-and-set
  stays in the core class; its coroutines never suspend. The unit of work
  lives on the app's session (its ``info`` dict) instead of the core's
  ContextVar: the session's scope (app context, thread) is the unit of work,
  as in Flask-Security, and its lifetime stays the app's (Flask-SQLAlchemy
  removes it, Flask-SQLAlchemy-Lite closes it; ending a unit of work only
  commits or rolls back, it never closes the app's session under the app's
  feet).
- ``UserDatastore`` is the sync facade the app calls: every public coroutine
  method of the async store as a plain function, driven without an event loop.
  A method added to the core datastore later appears here by itself.

``PyMongoUserDatastore`` (MongoDB through a sync PyMongo database) lives in
``flask_compat.mongo`` and is loaded from here on first use, so SQL-only apps
do not need PyMongo.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, scoped_session

from quart_security.datastore.base import UserDatastore as AsyncUserDatastore
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore as AsyncSQLAStore
from quart_security.mixins import WebAuthnMixin
from quart_security.models.sqla import AsaList, ensure_sqlite_fold

from .driver import run_nonsuspending

if TYPE_CHECKING:  # loaded by __getattr__ at run time: PyMongo is optional
    from .mongo import PyMongoUserDatastore as PyMongoUserDatastore

__all__ = [
    "AsaList",  # Flask-Security's datastore module exports it too
    "FSQLALiteUserDatastore",
    "SQLAlchemySessionUserDatastore",
    "SQLAlchemyUserDatastore",
    "UserDatastore",
]

_UNIT_KEY = "quart_security_unit_of_work"

#: Where the app's session comes from: one Session, a ``scoped_session``, or a
#: function returning the current Session (raising RuntimeError when there is
#: none, as Flask-SQLAlchemy-Lite's ``db.session`` does outside an app context).
SessionSource = Session | scoped_session[Any] | Callable[[], Session]


def _coroutine_names(cls: type) -> frozenset[str]:
    return frozenset(
        n for n, v in vars(cls).items() if inspect.iscoroutinefunction(v) and n[:2] != "__"
    )


def _awaitable(method: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return method(*args, **kwargs)

    return call


class _AwaitableConnection:
    """AsyncConnection's interface over a sync Connection."""

    _coroutines = _coroutine_names(AsyncConnection)

    def __init__(self, connection: Any) -> None:
        self.sync_connection = connection

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sync_connection, name)
        return _awaitable(attr) if name in self._coroutines else attr

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.sync_connection, *args, **kwargs)


class _AwaitableSession:
    """AsyncSession's interface over the app's sync Session."""

    _coroutines = _coroutine_names(AsyncSession)

    def __init__(self, session: Session) -> None:
        self.sync_session = session

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sync_session, name)
        return _awaitable(attr) if name in self._coroutines else attr

    async def connection(self, **kwargs: Any) -> _AwaitableConnection:
        return _AwaitableConnection(self.sync_session.connection(**kwargs))

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.sync_session, *args, **kwargs)

    async def close(self) -> None:
        # End the transaction only: the app (or Flask-SQLAlchemy) owns the
        # session, and after_request/teardown code may still use its objects.
        self.sync_session.rollback()


class _SessionScope:
    """Stands in for the core's session ContextVar: the unit of work lives on the app's session."""

    def __init__(self, source: SessionSource) -> None:
        self._source = source

    def current(self) -> Session:
        source = self._source
        return source if isinstance(source, Session) else source()

    def _existing(self) -> Session | None:
        source = self._source
        if isinstance(source, Session):
            return source
        try:
            if isinstance(source, scoped_session):
                return source() if source.registry.has() else None
            # A getter cannot say whether it has a session without making one;
            # an empty Session holds no connection, and its owner closes it.
            return source()
        except RuntimeError:  # Flask-SQLAlchemy(-Lite) outside an app context
            return None

    def get(self, default: Any = None) -> Any:
        session = self._existing()
        return default if session is None else session.info.get(_UNIT_KEY, default)

    def set(self, value: Any) -> None:
        session = self._existing() if value is None else self.current()
        if session is None:
            return
        if value is None:
            session.info.pop(_UNIT_KEY, None)
        else:
            session.info[_UNIT_KEY] = value

    def open_unit(self, **options: Any) -> _AwaitableSession:
        # ``expire_on_commit=False`` is what the async core asks for; a sync
        # session may lazy-load, so the app's own session settings stand.
        return _AwaitableSession(self.current())


# Session class -> the stores validating its flushes. One listener per class,
# holding no store alive: Flask-SQLAlchemy gives every app the same Session
# class, and a test run builds hundreds of apps.
_watchers: weakref.WeakKeyDictionary[type[Session], weakref.WeakSet[SyncSessionStore]] = (
    weakref.WeakKeyDictionary()
)


def _watch_session_class(session_class: type[Session], store: SyncSessionStore) -> None:
    stores = _watchers.get(session_class)
    if stores is None:
        stores = _watchers[session_class] = weakref.WeakSet()
        event.listen(session_class, "before_flush", _validate_before_flush)
        event.listen(session_class, "after_begin", _fold_on_begin)
    stores.add(store)


def _fold_on_begin(session: Session, transaction: Any, connection: Any) -> None:
    # The core's fallback for a SQLite connection opened by a driver the
    # process-wide connect listener does not know: the app's session is not
    # the core's Session class, so it is hooked here.
    ensure_sqlite_fold(connection)


def _validate_before_flush(session: Session, context: Any, instances: object) -> None:
    for store in list(_watchers.get(type(session), ())):
        store._before_flush(session, context, instances)


class SyncSessionStore(AsyncSQLAStore[Any, Any]):
    """The core SQLAlchemy datastore, its coroutines running over a sync session."""

    def __init__(
        self,
        session: SessionSource,
        user_model: type[Any],
        role_model: type[Any],
        webauthn_model: type[WebAuthnMixin] | None = None,
    ) -> None:
        scope = _SessionScope(session)
        factory = cast("async_sessionmaker[AsyncSession]", scope.open_unit)
        super().__init__(factory, user_model, role_model, webauthn_model)
        self._session_var = scope  # type: ignore[assignment]
        # A unit the app never ended must not keep its session alive.
        self._open_sessions = weakref.WeakSet()  # type: ignore[assignment]

    def _open_session(self) -> AsyncSession:
        # The app's own session, often a new one per request: listening on each
        # costs more than the lookup, so its class is watched once instead.
        unit = self.session_factory()
        _watch_session_class(type(unit.sync_session), self)
        return unit

    def _needs_commit(self, session: AsyncSession) -> bool:
        # Ending a unit here rolls the app's session back, which expires every
        # object it loaded (the app may still read them after the request):
        # a commit keeps them, and on a sync driver costs no more.
        return True

    async def commit(self) -> None:
        """Flask-Security's ``commit()``: commits the app's session whoever staged the changes."""
        self.session  # noqa: B018 - opens the unit of work on the app's session
        await super().commit()


def __getattr__(name: str) -> Any:
    if name == "PyMongoUserDatastore":
        from .mongo import PyMongoUserDatastore

        return PyMongoUserDatastore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UserDatastore:
    """A sync view of an async quart_security datastore whose coroutines never suspend."""

    def __init__(self, async_store: AsyncUserDatastore[Any, Any]) -> None:
        self.async_store = async_store

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self.async_store, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return run_nonsuspending(attr(*args, **kwargs))

        return call

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Commit on success, roll back on error (code outside a request)."""
        manager = self.async_store.unit_of_work()
        run_nonsuspending(manager.__aenter__())
        try:
            yield
        except BaseException as exc:
            if not run_nonsuspending(manager.__aexit__(type(exc), exc, exc.__traceback__)):
                raise
        else:
            run_nonsuspending(manager.__aexit__(None, None, None))


class SQLAlchemyUserDatastore(UserDatastore):
    """Flask-Security's datastore over Flask-SQLAlchemy: ``(db, User, Role, WebAuthn=None)``."""

    def __init__(
        self,
        db: Any,
        user_model: type[Any],
        role_model: type[Any],
        webauthn_model: type[WebAuthnMixin] | None = None,
    ) -> None:
        super().__init__(SyncSessionStore(db.session, user_model, role_model, webauthn_model))
        self.db = db


class SQLAlchemySessionUserDatastore(UserDatastore):
    """Over a plain SQLAlchemy ``scoped_session`` (or one Session per datastore, single thread)."""

    def __init__(
        self,
        session: Session | scoped_session[Any],
        user_model: type[Any],
        role_model: type[Any],
        webauthn_model: type[WebAuthnMixin] | None = None,
    ) -> None:
        super().__init__(SyncSessionStore(session, user_model, role_model, webauthn_model))
        self.session = session


class FSQLALiteUserDatastore(UserDatastore):
    """Flask-Security's datastore over Flask-SQLAlchemy-Lite: ``(db, User, Role, WebAuthn=None)``.

    Flask-SQLAlchemy-Lite's ``db.session`` is a plain Session per app context
    (closed at its teardown), not a scoped_session, so the store asks ``db``
    for it on every use; the models are plain SQLAlchemy ones
    (``flask_compat.models.sqla``, Flask-Security's ``models.sqla``).
    """

    def __init__(
        self,
        db: Any,
        user_model: type[Any],
        role_model: type[Any],
        webauthn_model: type[WebAuthnMixin] | None = None,
    ) -> None:
        super().__init__(
            SyncSessionStore(lambda: db.session, user_model, role_model, webauthn_model)
        )
        self.db = db
