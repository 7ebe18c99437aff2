"""WTForms forms: data binding and HTML rendering, never I/O.

Flask-Security's forms look users up and verify passwords inside ``validate()``;
that cannot be awaited. Here ``validate()`` only checks presence and shape, and
the flows do the lookups and hashing. Field errors are SECURITY_MSG_* keys,
resolved to text (and translated) by the view, or the app's own text from a
custom PasswordUtil/UsernameUtil, shown as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wtforms import BooleanField, Form, HiddenField, PasswordField, StringField, SubmitField

from ..crypto.password_policy import password_provided
from ..errors import Problem
from .form_input import InvalidInput


class SecurityForm(Form):
    """Base form: collects message keys per field instead of raising.

    A JSON value that none of its fields can take (a number, an object) is
    refused for a field this form has, with INVALID_INPUT on that field, and
    ignored for any other member of the body.
    """

    def __init__(self, formdata: Any = None, *, omit: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(formdata=formdata, **kwargs)
        for name in omit:  # fields this configuration does not have
            del self[name]
        #: The problems of each field, in order (keys with their placeholders,
        #: or an app's own text).
        self.key_errors: dict[str, list[Problem]] = {}
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
        """Shape checks only; override ``check_fields``."""
        self.key_errors = {}
        self.check_fields()
        return not self.key_errors

    def check_fields(self) -> None:
        """Add errors with ``add_error``."""


class LoginForm(SecurityForm):
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


class VerifyForm(SecurityForm):
    password = PasswordField("Password")
    next = HiddenField()
    submit = SubmitField("Verify Password")

    def check_fields(self) -> None:
        if not password_provided(self.password.data):
            self.add_error("password", "PASSWORD_NOT_PROVIDED")


class LogoutForm(SecurityForm):
    submit = SubmitField("Sign Out")
