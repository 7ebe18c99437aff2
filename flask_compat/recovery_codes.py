"""Flask-Security's ``recovery_codes`` util for Flask apps: the core's class, sync.

The methods that touch the datastore are plain functions here, as in
Flask-Security. They drive the core's coroutines without an event loop, as
flask_compat's datastores do (their coroutines never wait), so they work from
any Flask thread.
"""

from __future__ import annotations

from typing import Any

from quart_security.recovery_codes import MfRecoveryCodesUtil as _AsyncMfRecoveryCodesUtil

from .datastore import UserDatastore
from .driver import run_nonsuspending

__all__ = ["MfRecoveryCodesUtil"]


class MfRecoveryCodesUtil(_AsyncMfRecoveryCodesUtil):
    """Create, list, check and use up recovery codes (sync; Flask-Security's API)."""

    def bind(self, config: Any, security: Any = None, **kwargs: Any) -> None:
        """As the core's; a flask_compat datastore is used through its async store."""
        store = kwargs.get("datastore")
        if isinstance(store, UserDatastore):
            kwargs["datastore"] = store.async_store
        super().bind(config, security, **kwargs)

    def create_recovery_codes(self, user: Any) -> list[str]:  # type: ignore[override]
        return run_nonsuspending(super().create_recovery_codes(user))

    def get_recovery_codes(self, user: Any) -> list[str]:  # type: ignore[override]
        return run_nonsuspending(super().get_recovery_codes(user))

    def check_recovery_code(self, user: Any, code: str) -> bool:  # type: ignore[override]
        return run_nonsuspending(super().check_recovery_code(user, code))

    def delete_recovery_code(self, user: Any, code: str) -> bool:  # type: ignore[override]
        return run_nonsuspending(super().delete_recovery_code(user, code))
