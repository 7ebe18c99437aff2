"""``flask_security.core``'s public names, for apps that import them from there.

Re-exports only. (Flask-Security's core module holds the extension; here it
is extension.py, the mixins are in mixins.py and ``current_user`` in proxies.py.)
"""

from __future__ import annotations

from .extension import Security
from .mixins import AnonymousUser, RoleMixin, UserMixin, WebAuthnMixin
from .proxies import current_user
from .web.form_info import FormInfo

__all__ = [
    "AnonymousUser",
    "FormInfo",
    "RoleMixin",
    "Security",
    "UserMixin",
    "WebAuthnMixin",
    "current_user",
]
