"""Typed errors raised by the core.

Flows never touch HTTP; they raise these, and the web layer turns each into
the documented envelope (a message key resolved through SECURITY_MSG_*, an
optional form field, and an HTTP status).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: a field ("" for the whole form), a
    SECURITY_MSG_* key and its placeholders.

    ``text`` is set instead of a key for an error the app wrote itself (what a
    custom PasswordUtil or UsernameUtil returns): it is already in the app's
    words and reaches the client as it is, while a key is translated for each
    request.
    """

    field: str
    key: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    text: str | None = None

    @classmethod
    def from_message(cls, field: str, message: str) -> Problem:
        """The problem for one error string of a util: its key if it is one of
        ours (a ``MessageText``), else the app's own text."""
        if isinstance(message, MessageText):
            return cls(field, message.key, dict(message.kwargs))
        return cls(field, "", text=str(message))


class MessageText(str):
    """An error string of the library's own checks that remembers its message key.

    The utils return error *strings*, as in Flask-Security; the built-in ones
    are these, so the web layer can translate them per request through the
    one message path, while any other string is the app's text, shown as is.
    The string's value is the message as it read where it was made (the key
    itself when no ``Security`` was at hand, as in flow tests).
    """

    key: str
    kwargs: Mapping[str, Any]

    def __new__(cls, text: str, key: str, kwargs: Mapping[str, Any] | None = None) -> MessageText:
        made = super().__new__(cls, text)
        made.key = key
        made.kwargs = dict(kwargs or {})
        return made


class SecurityError(Exception):
    """A refusal the user is told about: the one failure style of the flows.

    It carries one or more problems (field + message key) and an HTTP status
    hint; the web layer turns it into the JSON envelope or the page
    (web/responses.py ``form_failure``) in one place.
    """

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
        self.problems: list[Problem] = [Problem(field or "", message_key, message_kwargs)]
        if status is not None:
            self.status = status

    @classmethod
    def of(cls, problems: Sequence[Problem], status: int | None = None) -> SecurityError:
        """A refusal for several problems at once (every field error of a form)."""
        if not problems:
            raise ValueError("a SecurityError needs at least one problem")
        first = problems[0]
        error = cls(first.key, field=first.field or None, status=status, **first.kwargs)
        error.problems = list(problems)
        return error


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


class TooManyRequests(Exception):
    """A rate limit or a lockout refuses this request: answer 429 with Retry-After.

    Not a SecurityError, like HashingOverloaded: no view may turn it into a
    form error, and it reads the same whatever the identity (no oracle).
    ``message_key`` is RATE_LIMITED, or RATE_LIMIT_UNAVAILABLE (503) when the
    counters cannot be read and the limits fail closed.
    """

    def __init__(
        self, retry_after: int = 1, *, status: int = 429, message_key: str = "RATE_LIMITED"
    ) -> None:
        super().__init__(message_key)
        self.retry_after = max(1, int(retry_after))
        self.status = status
        self.message_key = message_key


class HashingShareExceeded(HashingOverloaded):
    """This client already holds its share of the hashing pool: answer 429.

    A subclass so that every place that turns an overload into an answer
    handles it too; only the status and the message differ.
    """

    status = 429
    message_key = "HASHING_SHARE_EXCEEDED"


class DatastoreError(Exception):
    """A datastore document or row is unusable (missing or mistyped field)."""


class DuplicateIdentityError(DatastoreError):
    """A unique field (email, username, uniquifier, phone, credential) clashed.

    ``field`` names it when the backend can tell; the value is never put in the
    message (it is often an email address). The unit of work has been rolled
    back (SQL) when this is raised.
    """

    def __init__(self, field: str | None = None, *, collection: str | None = None) -> None:
        where = f" in collection {collection!r}" if collection else ""
        super().__init__(f"duplicate value for {field or 'a unique field'!r}{where}")
        self.field = field
        self.collection = collection


class InvalidFieldValueError(DatastoreError, ValueError):
    """A value cannot be stored in its field (type, length, NUL, required)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem
