"""Flask-Security's ``forms`` module for Flask apps: the same classes as
quart_security's (a form binds data and runs the app's validators; nothing
in it waits on the framework), and a plain ``unique_identity_attribute``."""

from __future__ import annotations

from typing import Any

from quart_security.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    ChangeUsernameForm,
    ConfirmRegisterForm,
    ForgotPasswordForm,
    Form,
    FormInfo,
    LoginForm,
    LogoutForm,
    MfRecoveryCodesForm,
    MfRecoveryForm,
    RegisterForm,
    RegisterFormV2,
    ResetPasswordForm,
    SendConfirmationForm,
    TwoFactorRescueForm,
    TwoFactorSelectForm,
    TwoFactorSetupForm,
    TwoFactorVerifyCodeForm,
    UsernameRecoveryForm,
    VerifyForm,
)
from quart_security.forms import unique_identity_attribute as _async_unique_identity_attribute

from .driver import run_nonsuspending

__all__ = [
    "ChangeEmailForm",
    "ChangePasswordForm",
    "ChangeUsernameForm",
    "ConfirmRegisterForm",
    "ForgotPasswordForm",
    "Form",
    "FormInfo",
    "LoginForm",
    "LogoutForm",
    "MfRecoveryCodesForm",
    "MfRecoveryForm",
    "RegisterForm",
    "RegisterFormV2",
    "ResetPasswordForm",
    "SendConfirmationForm",
    "TwoFactorRescueForm",
    "TwoFactorSelectForm",
    "TwoFactorSetupForm",
    "TwoFactorVerifyCodeForm",
    "UsernameRecoveryForm",
    "VerifyForm",
    "unique_identity_attribute",
]


def unique_identity_attribute(form: Any, field: Any) -> None:
    """Flask-Security's validator, plain as there: refuse a value an identity
    attribute maps to an existing account.

    flask_compat's datastores run over a sync session, so the core's lookup
    finishes without waiting and is driven here without an event loop.
    """
    run_nonsuspending(_async_unique_identity_attribute(form, field))
