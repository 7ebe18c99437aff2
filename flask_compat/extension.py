"""``Security`` for Flask apps: the same extension, with the Flask adapter and a sync datastore."""

from __future__ import annotations

from typing import Any, ClassVar

import quart_security.extension as core
from quart_security.datastore.base import UserDatastore as AsyncUserDatastore
from quart_security.errors import ConfigurationError

from .adapter import FlaskAdapter
from .datastore import UserDatastore


class Security(core.Security):
    """``Security(app, datastore)``; ``security.datastore`` is the sync datastore the app passed."""

    adapter_class: ClassVar[type[core.Adapter] | None] = FlaskAdapter

    def _async_store(self, datastore: Any) -> AsyncUserDatastore[Any, Any]:
        if isinstance(datastore, UserDatastore):
            return datastore.async_store
        raise ConfigurationError(
            "flask_compat.Security needs a flask_compat datastore, e.g. "
            "SQLAlchemyUserDatastore(db, User, Role) or SQLAlchemySessionUserDatastore(session, "
            "User, Role); an async quart_security datastore cannot be shared by Flask's threads"
        )
