"""Flask-Security's ``password_util`` module for Flask apps: the same classes as
quart_security's, and the sync validators of flask_compat."""

from __future__ import annotations

from quart_security.password_util import (
    PasswordUtil,
    password_complexity_validator,
    password_length_validator,
)

from .api import password_breached_validator, pwned

__all__ = [
    "PasswordUtil",
    "password_breached_validator",
    "password_complexity_validator",
    "password_length_validator",
    "pwned",
]
