"""``flask_security.totp``: the same ``Totp`` class as ``quart_security.totp``
(it does no I/O, so one class serves both frameworks)."""

from __future__ import annotations

from quart_security.totp import Totp

__all__ = ["Totp"]
