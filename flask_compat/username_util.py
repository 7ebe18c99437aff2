"""Flask-Security's ``username_util`` module for Flask apps (the core's class)."""

from __future__ import annotations

from quart_security.username_util import UsernameUtil

__all__ = ["UsernameUtil"]
