"""The library's WTForms forms, under Flask-Security's names: data binding,
rendering and the app's own validators, never the library's I/O.

Flask-Security's forms look users up and verify passwords inside
``validate()``; that cannot be awaited. Here a form checks presence and shape
(``check_fields``, errors as SECURITY_MSG_* keys translated per request), and
the flows do the lookups and hashing. What an app adds when it subclasses a
form runs too: WTForms validators and ``validate_<field>`` methods, sync as
WTForms runs them, and async ones (a coroutine function, or an object whose
``__call__`` is one), which ``validate_async`` awaits. Their errors are the
app's own text and reach ``field_errors`` as they are, as do the errors
of a custom PasswordUtil/UsernameUtil.

Every form takes its configuration from ``security=`` (the views pass it;
an app's ``FormInfo`` instantiator passes every keyword on, as in
Flask-Security), never from a global.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    PasswordField,
    RadioField,
    StringField,
    SubmitField,
    TelField,
)
from wtforms import Form as WTForm
from wtforms.form import BaseForm
from wtforms.validators import StopValidation, ValidationError

from ..crypto.password_policy import password_provided
from ..errors import Problem
from ..flows.register import RegistrationInput
from .form_input import InvalidInput

if TYPE_CHECKING:
    from ..extension import Security

__all__ = [
    "ChangeEmailForm",
    "ChangePasswordForm",
    "ChangeUsernameForm",
    "ConfirmRegisterForm",
    "ForgotPasswordForm",
    "Form",
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


def _is_async(validator: Any) -> bool:
    return inspect.iscoroutinefunction(validator) or inspect.iscoroutinefunction(
        getattr(validator, "__call__", None)  # noqa: B004 - an object with async __call__
    )


class Form(WTForm):
    """Base of every library form (Flask-Security's ``Form``).

    Collects the library's errors as message keys per field instead of
    raising. A JSON value that none of its fields can take (a number, an
    object) is refused for a field this form has, with INVALID_INPUT on that
    field, and ignored for any other member of the body.
    """

    def __init__(
        self,
        formdata: Any = None,
        *,
        security: Security | None = None,
        omit: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(formdata=formdata, **kwargs)
        self.security = security
        for name in omit:  # fields this configuration does not have
            if name in self._fields:
                del self[name]
        #: The library's problems of each field, in order (keys with their
        #: placeholders, or a custom util's text).
        self.key_errors: dict[str, list[Problem]] = {}
        # Async validators are kept away from WTForms, which would call them
        # without awaiting and so skip them (fail open): validate_async runs them.
        self._async_validators: dict[str, list[Any]] = {}
        for name, field in self._fields.items():
            waiting = [v for v in field.validators if _is_async(v)]
            if waiting:
                field.validators = [v for v in field.validators if not _is_async(v)]
                self._async_validators[name] = waiting
            inline = getattr(self.__class__, f"validate_{name}", None)
            if inline is not None and _is_async(inline):
                self._async_validators.setdefault(name, []).append(inline)
        unusable = getattr(formdata, "unusable", ())
        refused = sorted(name for name in self._fields if name in unusable)
        if refused:
            raise InvalidInput(
                "INVALID_INPUT", field_errors={name: ["INVALID_INPUT"] for name in refused}
            )

    def add_error(self, field: str, message_key: str, **message_kwargs: Any) -> None:
        """Record SECURITY_MSG_<message_key> for ``field`` ("" is the whole form)."""
        self.add_problem(Problem(field, message_key, message_kwargs))

    def add_problem(self, problem: Problem) -> None:
        """Record a flow's problem (a key, or an app's text) for its field."""
        self.key_errors.setdefault(problem.field, []).append(problem)

    def check(self) -> bool:
        """The library's shape checks only (``check_fields``), as message keys."""
        self.key_errors = {}
        self.check_fields()
        return not self.key_errors

    def check_fields(self) -> None:
        """Add errors with ``add_error``."""

    def validate(self, extra_validators: Mapping[str, Any] | None = None) -> bool:
        """WTForms' validation (the app's sync validators), then the library's checks."""
        extra: dict[str, list[Any]] = {k: list(v) for k, v in (extra_validators or {}).items()}
        for name in self._fields:
            inline = getattr(self.__class__, f"validate_{name}", None)
            if inline is not None and not _is_async(inline):
                extra.setdefault(name, []).append(inline)
        BaseForm.validate(self, extra)
        self.check()
        return not self.has_errors()

    async def validate_async(self, **kwargs: Any) -> bool:
        """``validate()`` (awaited if an app made it async), then the async validators.

        A field's async validators run only when its sync ones passed, so no
        I/O is spent on input already refused.
        """
        outcome = self.validate(**kwargs)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if not outcome and not self.has_errors():
            # An app's validate() said no without saying why: still a refusal.
            self.add_error("", "API_ERROR")
        for name, validators in self._async_validators.items():
            field = self._fields.get(name)
            if field is None or field.errors:
                continue
            for validator in validators:
                try:
                    await validator(self, field)
                except StopValidation as exc:
                    if exc.args and exc.args[0]:
                        field.errors = [*field.errors, exc.args[0]]
                    break
                except ValidationError as exc:
                    field.errors = [*field.errors, exc.args[0] if exc.args else "Invalid value."]
        return not self.has_errors()

    def has_errors(self) -> bool:
        """Whether the library or the app's validators refused anything."""
        return bool(
            self.key_errors
            or self.form_errors
            or any(field.errors for field in self._fields.values())
        )

    def app_errors(self) -> dict[str, list[str]]:
        """The app's validators' messages per field ("" for the form's own), as text."""
        errors = {name: [str(m) for m in f.errors] for name, f in self._fields.items() if f.errors}
        if self.form_errors:
            errors.setdefault("", []).extend(str(m) for m in self.form_errors)
        return errors


async def unique_identity_attribute(form: Form, field: Field) -> None:
    """Flask-Security's validator: refuse a value that an identity attribute
    (USER_IDENTITY_ATTRIBUTES) maps to an existing account.

    Async (it looks the value up), so ``validate_async`` awaits it, on Quart
    and on Flask alike. It tells whoever submits the form that the account
    exists: use it where that is acceptable (RETURN_GENERIC_RESPONSES keeps
    the library's own forms from doing so).
    """
    from ..state import current_security

    security = form.security or current_security()
    value = field.data
    if not isinstance(value, str) or not value:
        return
    for attr, mapper, case_insensitive in security.identity.attributes:
        mapped = mapper(value)
        if mapped and await security.store.find_user(
            case_insensitive=case_insensitive, **{attr: mapped}
        ):
            raise ValidationError(
                security.message("IDENTITY_ALREADY_ASSOCIATED", attr=attr, value=mapped)
            )


class LoginForm(Form):
    email = StringField("Email Address")
    username = StringField("Username")
    password = PasswordField("Password")
    remember = BooleanField("Remember Me")
    next = HiddenField()
    submit = SubmitField("Sign In")

    def identity(self) -> tuple[str, str]:
        """(field, value) of the identity the user typed."""
        if self.email.data:
            return "email", str(self.email.data)
        if self.username.data:
            return "username", str(self.username.data)
        return "email", ""

    def check_fields(self) -> None:
        if not self.email.data and not self.username.data:
            self.add_error("email", "EMAIL_NOT_PROVIDED")
        if not password_provided(self.password.data):
            self.add_error("password", "PASSWORD_NOT_PROVIDED")


class VerifyForm(Form):
    password = PasswordField("Password")
    next = HiddenField()
    submit = SubmitField("Verify Password")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user  # Flask-Security passes the signed-in user

    def check_fields(self) -> None:
        if not password_provided(self.password.data):
            self.add_error("password", "PASSWORD_NOT_PROVIDED")


class LogoutForm(Form):
    submit = SubmitField("Sign Out")


# ---------------------------------------------------------------------- registration
#: Fields of the library's registration forms; anything else a subclass
#: declares is the app's (stored on the user when the model has it).
REGISTER_FIELDS = frozenset({"email", "username", "password", "password_confirm", "next", "submit"})

#: User attributes that only the library sets: a registration form that
#: declares one of them is refused at start-up (they would be mass-assigned).
PROTECTED_USER_ATTRIBUTES = frozenset(
    {
        "id",
        "active",
        "roles",
        "confirmed_at",
        "fs_uniquifier",
        "fs_token_uniquifier",
        "fs_webauthn_user_handle",
        "tf_primary_method",
        "tf_totp_secret",
        "tf_phone_number",
        "tf_totp_last_counter",
        "tf_code_attempts",
        "us_totp_secrets",
        "us_phone_number",
        "mf_recovery_codes",
        "last_login_at",
        "current_login_at",
        "last_login_ip",
        "current_login_ip",
        "login_count",
        "create_datetime",
        "update_datetime",
        "webauthn",
    }
)


class RegisterFormV2(Form):
    """Flask-Security 5.9's registration form; the rules live in flows/register.py.

    ``username`` exists only with USERNAME_ENABLE and ``password_confirm`` only
    with PASSWORD_CONFIRM_REQUIRED (the field is then None, as a template
    written for Flask-Security expects). Fields a subclass adds are the app's:
    their validators run, and their data is stored on the new user when the
    user model has an attribute of that name.
    """

    #: "config": PASSWORD_CONFIRM_REQUIRED decides; "always"/"never": the
    #: legacy RegisterForm / ConfirmRegisterForm.
    second_entry: ClassVar[Literal["config", "always", "never"]] = "config"

    email = EmailField("Email Address", render_kw={"autocomplete": "email"})
    username = StringField("Username", render_kw={"autocomplete": "username"})
    password = PasswordField("Password", render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField("Retype Password", render_kw={"autocomplete": "new-password"})
    next = HiddenField()
    submit = SubmitField("Register")

    def __init__(self, *args: Any, security: Security | None = None, **kwargs: Any) -> None:
        omit = list(kwargs.pop("omit", ()))
        if security is not None and not security.cv("USERNAME_ENABLE"):
            omit.append("username")
        if not self._retype_required(security):
            omit.append("password_confirm")
        super().__init__(*args, security=security, omit=omit, **kwargs)

    @classmethod
    def _retype_required(cls, security: Security | None) -> bool:
        if cls.second_entry != "config":
            return cls.second_entry == "always"
        return security is None or bool(security.cv("PASSWORD_CONFIRM_REQUIRED"))

    def app_fields(self) -> dict[str, Any]:
        """The data of the fields the app's subclass added."""
        return {
            name: field.data
            for name, field in self._fields.items()
            if name not in REGISTER_FIELDS and field.type not in ("SubmitField", "CSRFTokenField")
        }

    def to_dict(self, only_user: bool) -> dict[str, Any]:
        """Flask-Security's: the form's data, or only what the user model has.

        The password is never part of it (it is hashed by the flow, and a
        signal receiver has no business with the plain text).
        """
        data = {k: v for k, v in self.data.items() if k not in ("password", "password_confirm")}
        if not only_user:
            return data
        model = self.security.store.user_model if self.security is not None else None
        return {k: v for k, v in data.items() if model is not None and hasattr(model, k)}

    def registration_input(self) -> RegistrationInput:
        username = self._fields.get("username")
        retyped = self._fields.get("password_confirm")
        model = self.security.store.user_model if self.security is not None else None
        extra = self.app_fields()
        return RegistrationInput(
            email=self.email.data,
            password=self.password.data,
            password_confirm=retyped.data if retyped is not None else None,
            username=username.data if username is not None else None,
            next=self._fields["next"].data if "next" in self._fields else None,
            retype_required=retyped is not None,
            user_fields={k: v for k, v in extra.items() if model and hasattr(model, k)},
            form_data=extra,
        )


class ConfirmRegisterForm(RegisterFormV2):
    """Flask-Security's legacy form without the retyped password (deprecated there)."""

    second_entry: ClassVar[Literal["config", "always", "never"]] = "never"


class RegisterForm(ConfirmRegisterForm):
    """Flask-Security's legacy form with the retyped password (deprecated there)."""

    second_entry: ClassVar[Literal["config", "always", "never"]] = "always"


def declared_fields(form_class: type[WTForm]) -> list[str]:
    """The names of the fields a form class declares (its own and inherited)."""
    names = []
    for name in dir(form_class):
        value = getattr(form_class, name, None)
        if getattr(value, "field_class", None) is not None or isinstance(value, Field):
            names.append(name)
    return names


# ---------------------------------------------------------------------- account lifecycle
class SendConfirmationForm(Form):
    email = EmailField("Email Address", render_kw={"autocomplete": "email"})
    submit = SubmitField("Resend Confirmation Instructions")


class ForgotPasswordForm(Form):
    email = EmailField("Email Address", render_kw={"autocomplete": "email"})
    submit = SubmitField("Recover Password")

    def check_fields(self) -> None:
        value = self.email.data
        if not isinstance(value, str) or not value.strip():
            self.add_error("email", "EMAIL_NOT_PROVIDED")


class UsernameRecoveryForm(Form):
    email = EmailField("Email Address", render_kw={"autocomplete": "email"})
    submit = SubmitField("Recover Username")

    def check_fields(self) -> None:
        if not self.email.data:
            self.add_error("email", "EMAIL_NOT_PROVIDED")


class ResetPasswordForm(Form):
    password = PasswordField("Password", render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField("Retype Password", render_kw={"autocomplete": "new-password"})
    submit = SubmitField("Reset Password")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user  # the account of the link, once the view has checked it

    def check_fields(self) -> None:
        password, confirm = self.password.data, self.password_confirm.data
        for field, value in (("password", password), ("password_confirm", confirm)):
            if value is not None and not isinstance(value, str):
                self.add_error(field, "INVALID_INPUT")
            elif not password_provided(value):
                self.add_error(field, "PASSWORD_NOT_PROVIDED")
        if "password_confirm" not in self.key_errors and password != confirm:
            self.add_error("password_confirm", "RETYPE_PASSWORD_MISMATCH")


class ChangePasswordForm(Form):
    password = PasswordField("Password", render_kw={"autocomplete": "current-password"})
    new_password = PasswordField("New Password", render_kw={"autocomplete": "new-password"})
    new_password_confirm = PasswordField(
        "Retype Password", render_kw={"autocomplete": "new-password"}
    )
    submit = SubmitField("Change Password")

    def check_fields(self) -> None:
        for name in ("password", "new_password", "new_password_confirm"):
            value = self[name].data
            if value is not None and not isinstance(value, str):
                self.add_error(name, "INVALID_INPUT")
        if self.key_errors:
            return
        new, confirm = self.new_password.data, self.new_password_confirm.data
        if not password_provided(new):
            self.add_error("new_password", "PASSWORD_NOT_PROVIDED")
        if not password_provided(confirm):
            self.add_error("new_password_confirm", "PASSWORD_NOT_PROVIDED")
        elif password_provided(new) and new != confirm:
            self.add_error("new_password_confirm", "RETYPE_PASSWORD_MISMATCH")


class ChangeEmailForm(Form):
    email = EmailField("New Email Address", render_kw={"autocomplete": "email"})
    submit = SubmitField("Change Email")

    def check_fields(self) -> None:
        if not self.email.data:
            self.add_error("email", "EMAIL_NOT_PROVIDED")


class ChangeUsernameForm(Form):
    username = StringField("New Username", render_kw={"autocomplete": "username"})
    submit = SubmitField("Change Username")

    def check_fields(self) -> None:
        if not self.username.data:
            self.add_error("username", "USERNAME_NOT_PROVIDED")


# ---------------------------------------------------------------------- two-factor
#: Labels of the two-factor methods (what a select or radio shows).
METHOD_LABELS = {
    "disable": "Disable two-factor authentication",
    "email": "Set up using email",
    "authenticator": "Set up using an authenticator app (e.g. Google, Lastpass, Authy)",
    "sms": "Set up using SMS",
}


def _code_value(value: Any) -> bool:
    """A code as a form or JSON body may carry it: digits as a string or a number."""
    if isinstance(value, bool):
        return False
    return (isinstance(value, str) and bool(value.strip())) or isinstance(value, int)


def make_choices(pairs: Iterable[tuple[str, str]]) -> list[Any]:
    """RadioField choices from (value, label) pairs, in the form this WTForms wants
    (``SelectChoice`` since 3.3, which deprecates plain tuples)."""
    try:
        from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - WTForms before 3.3
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]


def _choice_values(choices: Any) -> set[Any]:
    """The values of a RadioField's choices (SelectChoice or (value, label))."""
    return {getattr(c, "value", None) or next(iter(c)) for c in choices or []}


class TwoFactorSetupForm(Form):
    """/tf-setup: the method to set up ("disable" to turn two-factor off), the phone for SMS.

    The view sets ``choices`` (what this user may pick); the flow decides.
    """

    setup = RadioField("Available Methods", validate_choice=False)
    phone = TelField("Phone Number", render_kw={"autocomplete": "tel"})
    submit = SubmitField("Submit")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

        self.offer(list(METHOD_LABELS))

    def offer(self, choices: list[str]) -> None:
        """Show only these methods (in this order)."""
        self.setup.choices = make_choices((c, METHOD_LABELS.get(c, c)) for c in choices)

    def check_fields(self) -> None:
        if not isinstance(self.setup.data, str) or not self.setup.data:
            self.add_error("setup", "TWO_FACTOR_METHOD_NOT_AVAILABLE")
        phone = self.phone.data
        if phone is not None and not isinstance(phone, str):
            self.add_error("phone", "INVALID_INPUT")


class TwoFactorVerifyCodeForm(Form):
    """/tf-validate and /tf-setup/<token>: the code."""

    code = StringField(
        "Authentication Code",
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"},
    )
    submit = SubmitField("Submit Code", id="submit-code")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def check_fields(self) -> None:
        if not _code_value(self.code.data):
            self.add_error("code", "TWO_FACTOR_INVALID_TOKEN")


class TwoFactorRescueForm(Form):
    """/tf-rescue: what to do when the second factor is out of reach (the view sets choices)."""

    help_setup = RadioField(
        "Trouble Accessing Your Account?/Lost Mobile Device?", validate_choice=False
    )
    submit = SubmitField("Submit", id="rescue")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

        self.offer([("help", "Contact Administrator")])

    def offer(self, options: list[tuple[str, str]]) -> None:
        self.help_setup.choices = make_choices(options)

    def check_fields(self) -> None:
        allowed = _choice_values(self.help_setup.choices)
        if self.help_setup.data not in allowed:
            self.add_error("help_setup", "TWO_FACTOR_METHOD_NOT_AVAILABLE")


class TwoFactorSelectForm(Form):
    """/tf-select: which of several set-up second factors to use now."""

    which = RadioField("Available Second Factor Methods:", validate_choice=False)
    submit = SubmitField("Select")

    def check_fields(self) -> None:
        allowed = _choice_values(self.which.choices)
        if self.which.data not in allowed:
            self.add_error("which", "TWO_FACTOR_METHOD_NOT_AVAILABLE")


class MfRecoveryCodesForm(Form):
    """/mf-recovery-codes: show (GET ?show_codes) or generate (POST) recovery codes."""

    show_codes = SubmitField("Show Recovery Codes")
    generate_new_codes = SubmitField("Generate New Recovery Codes")


class MfRecoveryForm(Form):
    """/mf-recovery: one recovery code instead of the second factor."""

    code = StringField("Recovery Code", render_kw={"autocomplete": "off"})
    submit = SubmitField("Submit Code")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def check_fields(self) -> None:
        if not isinstance(self.code.data, str) or not self.code.data.strip():
            self.add_error("code", "INVALID_RECOVERY_CODE")
