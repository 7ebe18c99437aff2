"""The SQLAlchemy datastore over the app's own ``async_scoped_session``.

Flask-Security's ``SQLAlchemySessionUserDatastore`` takes the app's
``scoped_session``; this one takes its asyncio twin::

    sessions = async_scoped_session(
        async_sessionmaker(engine, expire_on_commit=False), scopefunc=asyncio.current_task
    )
    datastore = SQLAlchemySessionUserDatastore(sessions, User, Role, WebAuthn)

It is the core ``SQLAlchemyUserDatastore`` with one change: the unit of work
is the scope's session, held by the app's registry instead of the core's
ContextVar, so app code using ``sessions`` and the library share one session
and one transaction per scope (a request's task, with ``current_task``), as
with Flask-Security. Every lookup, validation and error rule is the core's.

- Ending the unit of work (the extension does at the end of every request)
  commits or rolls back, closes the session and removes it from the registry,
  so a registry keyed by tasks does not keep every request's session alive.
- A session the app opened first is adopted as it is; the core's listeners
  (row validation, write tracking) are added to it.
- The session factory must have ``expire_on_commit=False``, refused otherwise:
  an expired attribute read after a commit raises MissingGreenlet in asyncio.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session
from sqlalchemy.orm import Session, UOWTransaction

from ..clock import Clock
from ..errors import ConfigurationError
from ..mixins import WebAuthnMixin
from .base import RoleT, UserT
from .sqlalchemy import _SESSION_LISTENERS, SQLAlchemyUserDatastore, _validate_before_flush

__all__ = ["SQLAlchemySessionUserDatastore"]

_ADOPTED = "quart_security_adopted_by"


class _ScopeVar:
    """Stands in for the core's session ContextVar: the app's registry holds the unit."""

    def __init__(self, scoped: async_scoped_session[Any]) -> None:
        self._registry = scoped.registry

    def get(self, default: Any = None) -> Any:
        return self._registry() if self._registry.has() else default

    def set(self, value: Any) -> None:
        if value is None:
            self._registry.clear()
        else:
            self._registry.set(value)


class SQLAlchemySessionUserDatastore(SQLAlchemyUserDatastore[UserT, RoleT]):
    """Flask-Security's session datastore, async: ``(session, User, Role, WebAuthn=None)``."""

    def __init__(
        self,
        session: async_scoped_session[Any],
        user_model: type[UserT],
        role_model: type[RoleT],
        webauthn_model: type[WebAuthnMixin] | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(session, async_scoped_session):
            raise ConfigurationError(
                "SQLAlchemySessionUserDatastore takes an async_scoped_session; for an"
                " async_sessionmaker use SQLAlchemyUserDatastore"
            )
        if session.session_factory.kw.get("expire_on_commit", True):
            raise ConfigurationError(
                "the async_scoped_session's sessionmaker needs expire_on_commit=False:"
                " objects read after a commit would otherwise reload lazily, which"
                " raises MissingGreenlet under asyncio"
            )
        super().__init__(
            session.session_factory, user_model, role_model, webauthn_model, clock=clock
        )
        #: What the app passed (Flask-Security names it ``db`` too).
        self.scoped_session = session
        self.db = session
        self._session_var = _ScopeVar(session)  # type: ignore[assignment]
        # Sessions the app removes itself must not stay alive here.
        self._open_sessions = weakref.WeakSet()  # type: ignore[assignment]

    @property
    def session(self) -> AsyncSession:
        """The scope's session: the app's if it opened one, else opened here."""
        session = super().session
        sync = session.sync_session
        if type(sync) is not self._session_class and id(self) not in sync.info.get(_ADOPTED, ()):
            self._adopt_session(sync)
        return session

    def _adopt_session(self, sync: Session) -> None:
        """The core's listeners on a session the app opened (per instance: its class is
        the app's, often plain Session, and must not change for every session)."""
        ref = weakref.ref(self)

        def validate(session: Session, context: UOWTransaction, instances: object) -> None:
            store = ref()
            if store is not None:
                store._before_flush(session, context, instances)

        for name, listener in _SESSION_LISTENERS:
            event.listen(sync, name, validate if listener is _validate_before_flush else listener)
        sync.info.setdefault(_ADOPTED, set()).add(id(self))
