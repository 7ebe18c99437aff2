"""Flask-Security's ``forms`` module: the form classes an app subclasses.

``from quart_security.forms import RegisterFormV2`` works as
``from flask_security.forms import RegisterFormV2`` does. The classes live
in web/forms.py (they bind request data, so they belong to the web layer);
``FormInfo`` is in web/form_info.py.
"""

from __future__ import annotations

from .web.form_info import FormInfo
from .web.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    ChangeUsernameForm,
    ConfirmRegisterForm,
    ForgotPasswordForm,
    Form,
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
    unique_identity_attribute,
)

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
