"""Flask-Security's ``password_util`` for Flask apps: ``PasswordUtil`` with a
plain ``validate``, so an app's override calls ``super().validate(...)`` as it
does with Flask-Security.

The library calls a plain ``validate`` on a worker thread (flows/context.py),
where this class runs the core's async checks to completion on that thread's
own loop (the breached-password round trip included). The request's context
goes with it, so messages are translated for the request as usual.
"""

from __future__ import annotations

from typing import Any

from quart_security.password_util import PasswordUtil as _AsyncPasswordUtil
from quart_security.password_util import (
    password_complexity_validator,
    password_length_validator,
)

from .api import password_breached_validator, pwned
from .driver import run

__all__ = [
    "PasswordUtil",
    "password_breached_validator",
    "password_complexity_validator",
    "password_length_validator",
    "pwned",
]


class PasswordUtil(_AsyncPasswordUtil):
    """Flask-Security's PasswordUtil, sync: ``validate`` returns ``(errors | None, password)``."""

    def validate(  # type: ignore[override]
        self, password: str, is_register: bool, **kwargs: Any
    ) -> tuple[list[str] | None, str]:
        return run(super().validate(password, is_register, **kwargs))
