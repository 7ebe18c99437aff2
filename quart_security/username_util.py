"""``UsernameUtil``: Flask-Security's hook for normalising and validating usernames.

Apps pass ``username_util_cls=`` to ``Security``; the class is built once,
with the app (``UsernameUtil(app)``). The library asks ``validate`` for the
username given at /register and /change-username, and ``normalize`` for the
username typed at sign-in (the identity mapper, ``uia_username_mapper``).
Uniqueness is the flows' business (case-insensitive, on what ``validate``
returns), as it is the forms' in Flask-Security.

``validate`` and ``check_username`` may be overridden with ``async def`` (a
check that asks a database, say) or a plain ``def``; the library awaits
what returns an awaitable. ``normalize`` must stay a plain function: it maps
identities where nothing can wait (refused at start-up otherwise). Errors
are strings: the library's are ``MessageText`` (translated per request),
any other string is the app's own text, shown as it is.

The default is this project's: no HTML sanitiser (Flask-Security needs
nh3/bleach), only the Unicode categories of USERNAME_ALLOWED_CHARS (combining
marks kept, as NFKD makes them from accented letters), INPUT_NORMALIZE_FORM,
and the length USERNAME_MIN_LENGTH..USERNAME_MAX_LENGTH after normalising.
"""

from __future__ import annotations

import inspect

from .app_util import AppUtil
from .identity import MAX_IDENTITY_LENGTH, normalize_username, validate_username

__all__ = ["UsernameUtil"]

class UsernameUtil(AppUtil):
    """Normalise and validate usernames (subclass to customise; Flask-Security's API)."""

    def check_username(self, username: str) -> str | None:
        """An error when ``username`` has characters USERNAME_ALLOWED_CHARS does not allow."""
        form, allowed = self._cv("INPUT_NORMALIZE_FORM"), self._cv("USERNAME_ALLOWED_CHARS")
        if normalize_username(username, form, allowed) is None:
            return self._text("USERNAME_DISALLOWED_CHARACTERS")
        return None

    def normalize(self, username: str) -> str | None:
        """The canonical username (stored and looked up), or None when it cannot be one."""
        return normalize_username(
            username, self._cv("INPUT_NORMALIZE_FORM"), self._cv("USERNAME_ALLOWED_CHARS")
        )

    def validate(self, username: str) -> tuple[str | None, str | None]:
        """(error or None, the normalised username); (None, None) for an empty one.

        Characters first (``check_username``), then the length after
        normalising; an absurdly long input is refused before normalising.
        """
        if not username:
            return None, None
        low, high = self._cv("USERNAME_MIN_LENGTH"), self._cv("USERNAME_MAX_LENGTH")
        if not isinstance(username, str) or len(username) > max(4 * high, MAX_IDENTITY_LENGTH):
            return self._text("USERNAME_INVALID_LENGTH", min=low, max=high), None
        message = self.check_username(username)
        if inspect.isawaitable(message):
            getattr(message, "close", lambda: None)()
            raise TypeError(
                "an async check_username needs an async validate too: override validate"
                " with async def and await it there"
            )
        if message:
            return message, None
        canonical, key = validate_username(self._cv, username)
        if key is not None or canonical is None:
            key = key or "USERNAME_DISALLOWED_CHARACTERS"
            kwargs = {"min": low, "max": high} if key == "USERNAME_INVALID_LENGTH" else {}
            return self._text(key, **kwargs), None
        return None, canonical

    #: Quick and without I/O: the flows call it in place, not on a worker
    #: thread (an override, which may block, goes to one).
    validate.runs_inline = True  # type: ignore[attr-defined]
