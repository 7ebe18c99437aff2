"""Which form class each view uses, and how it is built: Flask-Security's
``FormInfo``, the ``*_form`` arguments and ``set_form_info``.

Each form has Flask-Security's name (``login_form``, ``register_form``, ...).
Its class is the library's, or the app's subclass given to ``Security(...)``,
``init_app``, ``SECURITY_<NAME>`` or ``set_form_info``; an app may also give
an instantiator (sync or async) that builds the form itself. Everything is
checked when it is set, so a class the views could not use (not a subclass
of the library's form, or a registration form that declares an attribute
only the library may set) is refused at start-up, not at the first request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .form_input import is_json_mimetype, request_form
from .forms import (
    PROTECTED_USER_ATTRIBUTES,
    ChangeEmailForm,
    ChangePasswordForm,
    ChangeUsernameForm,
    ForgotPasswordForm,
    Form,
    LoginForm,
    MfRecoveryCodesForm,
    MfRecoveryForm,
    RegisterFormV2,
    ResetPasswordForm,
    SendConfirmationForm,
    TwoFactorRescueForm,
    TwoFactorSelectForm,
    TwoFactorSetupForm,
    TwoFactorVerifyCodeForm,
    UsernameRecoveryForm,
    VerifyForm,
    declared_fields,
)

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort


def default_instantiator(name: str, cls: type[Form] | None, *args: Any, **kwargs: Any) -> Form:
    """Flask-Security's default: the class called with every keyword."""
    if cls is None:
        raise ConfigurationError(f"the form {name} has no class")
    return cls(*args, **kwargs)


@dataclass
class FormInfo:
    """How to build one form (Flask-Security's ``FormInfo``).

    ``instantiator(name, cls, **kwargs)`` gets ``formdata`` and ``security``
    among its keywords and must pass them all to the form's constructor;
    it must not validate (the views validate, after their own checks).
    """

    instantiator: Callable[..., Any] = default_instantiator
    cls: type[Form] | None = None


#: The forms of the built features, and the class each must extend (the
#: views rely on its fields and methods). Unified sign-in, WebAuthn and
#: passwordless forms arrive with their features;
#: so does logout_form, whose only field in Flask-Security is a refresh token
#: (a logout here needs no form, so a class given for it would do nothing).
FORM_BASES: Mapping[str, type[Form]] = {
    "login_form": LoginForm,
    "verify_form": VerifyForm,
    "register_form": RegisterFormV2,
    "confirm_register_form": RegisterFormV2,
    "forgot_password_form": ForgotPasswordForm,
    "reset_password_form": ResetPasswordForm,
    "change_password_form": ChangePasswordForm,
    "change_email_form": ChangeEmailForm,
    "change_username_form": ChangeUsernameForm,
    "send_confirmation_form": SendConfirmationForm,
    "username_recovery_form": UsernameRecoveryForm,
    "two_factor_setup_form": TwoFactorSetupForm,
    "two_factor_verify_code_form": TwoFactorVerifyCodeForm,
    "two_factor_rescue_form": TwoFactorRescueForm,
    "two_factor_select_form": TwoFactorSelectForm,
    "mf_recovery_codes_form": MfRecoveryCodesForm,
    "mf_recovery_form": MfRecoveryForm,
}

#: Forms with no class unless the app gives one (Flask-Security 5.9's default).
OPTIONAL_FORMS = frozenset({"confirm_register_form"})


def check_form_class(name: str, cls: Any, user_model: Any) -> None:
    """ConfigurationError unless ``cls`` can serve as the ``name`` form."""
    base = FORM_BASES[name]
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise ConfigurationError(
            f"{name} must be a subclass of {base.__module__}.{base.__name__}, not {cls!r}"
        )
    if issubclass(cls, RegisterFormV2):
        protected = sorted(
            f
            for f in declared_fields(cls)
            if f in PROTECTED_USER_ATTRIBUTES and user_model is not None and hasattr(user_model, f)
        )
        if protected:
            raise ConfigurationError(
                f"{name} {cls.__name__} declares {', '.join(protected)}: only the library sets"
                " these on a user, a registration form must not (rename the field)"
            )


def configure_forms(
    arguments: Mapping[str, Any], app_config: Mapping[str, Any], user_model: Any
) -> dict[str, FormInfo]:
    """Every form's FormInfo from the Security() arguments, else SECURITY_<NAME>, else ours."""
    forms: dict[str, FormInfo] = {}
    for name, base in FORM_BASES.items():
        cls = arguments.get(name) or app_config.get("SECURITY_" + name.upper())
        if cls is None and name not in OPTIONAL_FORMS:
            cls = base
        if cls is not None:
            check_form_class(name, cls, user_model)
        forms[name] = FormInfo(cls=cls)
    return forms


def check_form_info(name: str, info: Any, user_model: Any) -> None:
    """What ``set_form_info`` accepts: a FormInfo for a form of a built feature."""
    if name not in FORM_BASES:
        raise ConfigurationError(
            f"set_form_info: {name!r} is not a form of a built feature here (known: "
            + ", ".join(sorted(FORM_BASES))
            + ")"
        )
    if not isinstance(info, FormInfo) or not callable(info.instantiator):
        raise ConfigurationError("set_form_info takes a FormInfo(instantiator=..., cls=...)")
    if info.cls is not None:
        check_form_class(name, info.cls, user_model)
    elif info.instantiator is default_instantiator and name not in OPTIONAL_FORMS:
        raise ConfigurationError(f"set_form_info: {name} needs a cls or an instantiator")


async def build_form(
    security: Security, port: WebPort, name: str, *, from_request: bool = True, **kwargs: Any
) -> Any:
    """The ``name`` form, filled from the request body (or not), through its instantiator.

    The result is checked against the library's class for that form: an
    instantiator that returns something else is a programming error.
    """
    info = security.forms[name]
    formdata = await request_form(security, port) if from_request else None
    form = info.instantiator(name, info.cls, formdata=formdata, security=security, **kwargs)
    if inspect.isawaitable(form):
        form = await form
    base = FORM_BASES[name]
    if not isinstance(form, base):
        raise ConfigurationError(
            f"the instantiator of {name} returned {type(form).__name__}, not a {base.__name__}"
        )
    if form.security is None:
        form.security = security
    return form


def register_form_name(security: Security, port: WebPort) -> str:
    """Flask-Security's choice: confirm_register_form (when the app gave one) for
    CONFIRMABLE or a JSON request, else register_form."""
    wants_confirm_form = security.cv("CONFIRMABLE") or is_json_mimetype(port.request.mimetype)
    if wants_confirm_form and security.forms["confirm_register_form"].cls is not None:
        return "confirm_register_form"
    return "register_form"
