"""Typed errors raised by the core.

Flows never touch HTTP; they raise these, and the web layer turns each into
the documented envelope (a message key resolved through SECURITY_MSG_*, an
optional form field, and an HTTP status).
"""

from __future__ import annotations

from typing import Any


class SecurityError(Exception):
    """A user-facing failure named by a SECURITY_MSG_* key."""

    status: int = 400

    def __init__(
        self,
        message_key: str,
        *,
        field: str | None = None,
        status: int | None = None,
        **message_kwargs: Any,
    ) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.field = field
        self.message_kwargs = message_kwargs
        if status is not None:
            self.status = status


class ConfigurationError(ValueError):
    """An invalid combination of settings, raised at init_app time."""


class HashingOverloaded(Exception):
    """The password hashing queue is full: answer 503 with Retry-After.

    Deliberately not a SecurityError: it is about the server, not the user's
    input, so no view may turn it into a form error.
    """

    status = 503
    message_key = "HASHING_OVERLOADED"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(self.message_key)
        self.retry_after = retry_after


class DatastoreError(Exception):
    """A datastore document or row is unusable (missing or mistyped field)."""
