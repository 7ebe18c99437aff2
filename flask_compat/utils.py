"""``flask_security.utils``'s public helpers for Flask apps: sync, as Flask-Security's.

Re-exports only: the sync helpers of flask_compat.api, and the core's
framework-neutral ones (the same objects as in ``quart_security.utils``).
"""

from __future__ import annotations

from quart_security import (
    SmsSenderBaseClass,
    SmsSenderFactory,
    check_and_get_token_status,
    get_hmac,
    naive_utcnow,
    password_complexity_validator,
    password_length_validator,
    transform_url,
    uia_email_mapper,
    uia_phone_mapper,
    uia_username_mapper,
)

from .api import (
    check_and_update_authn_fresh,
    get_request_attr,
    get_url,
    hash_password,
    login_user,
    logout_user,
    lookup_identity,
    password_breached_validator,
    pwned,
    send_mail,
    url_for_security,
    verify_and_update_password,
    verify_password,
)

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
