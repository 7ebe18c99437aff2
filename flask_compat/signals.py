"""``flask_security.signals`` for Flask apps: the very signals of ``quart_security``.

Signals do not depend on the framework, so a receiver connected here hears
what the core sends in either. Receivers may be plain functions (as in
Flask-Security) or coroutine functions.
"""

from __future__ import annotations

from quart_security.signals import (
    change_email_confirmed,
    change_email_instructions_sent,
    confirm_instructions_sent,
    login_instructions_sent,
    mail_send_failed,
    password_changed,
    password_reset,
    refresh_tracker_created,
    refresh_tracker_revoked,
    reset_password_instructions_sent,
    signals,
    tf_code_confirmed,
    tf_disabled,
    tf_profile_changed,
    tf_security_token_sent,
    us_profile_changed,
    us_security_token_sent,
    user_authenticated,
    user_confirmed,
    user_failed_authn,
    user_not_registered,
    user_registered,
    user_unauthenticated,
    username_changed,
    username_recovery_email_sent,
    wan_deleted,
    wan_registered,
)

__all__ = [
    "change_email_confirmed",
    "change_email_instructions_sent",
    "confirm_instructions_sent",
    "login_instructions_sent",
    "mail_send_failed",
    "password_changed",
    "password_reset",
    "refresh_tracker_created",
    "refresh_tracker_revoked",
    "reset_password_instructions_sent",
    "signals",
    "tf_code_confirmed",
    "tf_disabled",
    "tf_profile_changed",
    "tf_security_token_sent",
    "us_profile_changed",
    "us_security_token_sent",
    "user_authenticated",
    "user_confirmed",
    "user_failed_authn",
    "user_not_registered",
    "user_registered",
    "user_unauthenticated",
    "username_changed",
    "username_recovery_email_sent",
    "wan_deleted",
    "wan_registered",
]
