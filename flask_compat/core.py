"""``flask_security.core``'s public names for Flask apps (re-exports only)."""

from __future__ import annotations

from quart_security.mixins import AnonymousUser, RoleMixin, UserMixin, WebAuthnMixin
from quart_security.proxies import current_user
from quart_security.web.form_info import FormInfo

from .extension import Security

__all__ = [
    "AnonymousUser",
    "FormInfo",
    "RoleMixin",
    "Security",
    "UserMixin",
    "WebAuthnMixin",
    "current_user",
]
