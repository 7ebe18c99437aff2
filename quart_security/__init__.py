"""quart_security: Flask-Security's API, async-first on Quart.

Names mirror ``flask_security``; the ones that do I/O are coroutines.
"""

from __future__ import annotations

from .api import (
    admin_change_password,
    check_and_update_authn_fresh,
    hash_password,
    login_user,
    logout_user,
    send_mail,
    url_for_security,
    verify_and_update_password,
    verify_password,
)
from .datastore.base import UserDatastore
from .decorators import (
    anonymous_user_required,
    auth_required,
    auth_token_required,
    http_auth_required,
    login_required,
    permissions_accepted,
    permissions_required,
    roles_accepted,
    roles_required,
    unauth_csrf,
)
from .extension import Security
from .identity import lookup_identity, uia_email_mapper, uia_username_mapper
from .mail_util import EmailValidateException, MailUtil
from .mixins import AnonymousUser, RoleMixin, UserMixin, WebAuthnMixin
from .password_util import (
    PasswordUtil,
    password_breached_validator,
    password_complexity_validator,
    password_length_validator,
    pwned,
)
from .proxies import current_user
from .signals import (
    change_email_confirmed,
    change_email_instructions_sent,
    confirm_instructions_sent,
    login_instructions_sent,
    password_changed,
    password_reset,
    reset_password_instructions_sent,
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
from .username_util import UsernameUtil
from .web.forms import LoginForm, LogoutForm, VerifyForm

__version__ = "0.1.0"

__all__ = [
    "AnonymousUser",
    "EmailValidateException",
    "LoginForm",
    "LogoutForm",
    "MailUtil",
    "PasswordUtil",
    "RoleMixin",
    "Security",
    "UserDatastore",
    "UserMixin",
    "UsernameUtil",
    "VerifyForm",
    "WebAuthnMixin",
    "admin_change_password",
    "anonymous_user_required",
    "auth_required",
    "auth_token_required",
    "change_email_confirmed",
    "change_email_instructions_sent",
    "check_and_update_authn_fresh",
    "confirm_instructions_sent",
    "current_user",
    "hash_password",
    "http_auth_required",
    "login_instructions_sent",
    "login_required",
    "login_user",
    "logout_user",
    "lookup_identity",
    "password_breached_validator",
    "password_changed",
    "password_complexity_validator",
    "password_length_validator",
    "password_reset",
    "permissions_accepted",
    "permissions_required",
    "pwned",
    "reset_password_instructions_sent",
    "roles_accepted",
    "roles_required",
    "send_mail",
    "tf_code_confirmed",
    "tf_disabled",
    "tf_profile_changed",
    "tf_security_token_sent",
    "uia_email_mapper",
    "uia_username_mapper",
    "unauth_csrf",
    "url_for_security",
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
    "verify_and_update_password",
    "verify_password",
    "wan_deleted",
    "wan_registered",
]
