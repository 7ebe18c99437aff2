"""``flask_security.utils``'s public helpers, for apps that import them from there.

Re-exports only (the helpers live in api.py, helpers.py and identity.py), so
``from quart_security.utils import hash_password`` and ``from quart_security
import hash_password`` give the same coroutine function. Flask-Security's
utils names that are not built yet are listed in docs/api/public-names.md.
"""

from __future__ import annotations

from .api import (
    check_and_update_authn_fresh,
    get_request_attr,
    get_url,
    hash_password,
    login_user,
    logout_user,
    send_mail,
    url_for_security,
    verify_and_update_password,
    verify_password,
)
from .helpers import (
    check_and_get_token_status,
    get_hmac,
    naive_utcnow,
    transform_url,
)
from .identity import (
    lookup_identity,
    uia_email_mapper,
    uia_phone_mapper,
    uia_username_mapper,
)
from .password_util import (
    password_breached_validator,
    password_complexity_validator,
    password_length_validator,
    pwned,
)
from .sms import SmsSenderBaseClass, SmsSenderFactory

__all__ = [
    "SmsSenderBaseClass",
    "SmsSenderFactory",
    "check_and_get_token_status",
    "check_and_update_authn_fresh",
    "get_hmac",
    "get_request_attr",
    "get_url",
    "hash_password",
    "login_user",
    "logout_user",
    "lookup_identity",
    "naive_utcnow",
    "password_breached_validator",
    "password_complexity_validator",
    "password_length_validator",
    "pwned",
    "send_mail",
    "transform_url",
    "uia_email_mapper",
    "uia_phone_mapper",
    "uia_username_mapper",
    "url_for_security",
    "verify_and_update_password",
    "verify_password",
]
