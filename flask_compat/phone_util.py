"""Flask-Security's ``phone_util`` module for Flask apps (the core's class: no I/O, sync)."""

from __future__ import annotations

from quart_security.phone_util import PhoneUtil

__all__ = ["PhoneUtil"]
