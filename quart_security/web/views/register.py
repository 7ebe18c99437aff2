"""/register: Flask-Security 5.9's registration endpoint (RegisterFormV2 semantics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField

from ...flows.register import RegistrationInput, RegistrationRefused, register_user
from .. import authn, guards
from ..envelope import want_json
from ..forms import SecurityForm
from ..responses import (
    flash,
    json_errors,
    json_ok,
    redirect_after,
    refuse_unsafe_next,
    render_page,
    wants_auth_token,
)

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

TEMPLATE_KEY = "REGISTER_USER_TEMPLATE"


class RegisterFormV2(SecurityForm):
    """Data binding and rendering only; the rules live in flows/register.py.

    ``username`` exists only with USERNAME_ENABLE and ``password_confirm`` only
    with PASSWORD_CONFIRM_REQUIRED (the field is then None, as a template
    written for Flask-Security expects).
    """

    email = EmailField("Email Address", render_kw={"autocomplete": "email"})
    username = StringField("Username", render_kw={"autocomplete": "username"})
    password = PasswordField("Password", render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField("Retype Password", render_kw={"autocomplete": "new-password"})
    next = HiddenField()
    submit = SubmitField("Register")

    def __init__(self, security: Security, formdata: Any = None, **kwargs: Any) -> None:
        omit = [] if security.cv("USERNAME_ENABLE") else ["username"]
        if not security.cv("PASSWORD_CONFIRM_REQUIRED"):
            omit.append("password_confirm")
        super().__init__(formdata=formdata, omit=omit, **kwargs)

    def registration_input(self) -> RegistrationInput:
        username = self._fields.get("username")
        retyped = self._fields.get("password_confirm")
        return RegistrationInput(
            email=self.email.data,
            password=self.password.data,
            password_confirm=retyped.data if retyped is not None else None,
            username=username.data if username is not None else None,
            next=self.next.data,
        )


async def _page(security: Security, port: WebPort, form: RegisterFormV2, status: int) -> Response:
    return await render_page(
        security, port, TEMPLATE_KEY, form=form, status=status, register_user_form=form
    )


async def register(security: Security, port: WebPort) -> Response:
    # Anonymous only, for GET too (Flask-Security's @anonymous_user_required).
    failure = await guards.require_anonymous(security, port)
    if failure is not None:
        return failure
    is_json = want_json(security, port)
    if port.request.method == "GET":
        if is_json:
            return await json_ok(security, port, {"identity_attributes": security.identity.names})
        form = RegisterFormV2(security, next=port.request.args.get("next", ""))
        return await _page(security, port, form, 200)

    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    form = RegisterFormV2(security, formdata=await security.request_form(port))
    refuse_unsafe_next(security, port, form)
    try:
        if form.key_errors:  # nothing is looked up or written for a bad next
            raise RegistrationRefused([])
        outcome = await register_user(security, port, form.registration_input())
    except RegistrationRefused as exc:
        for problem in exc.problems:
            form.add_error(problem.field, problem.key, **problem.kwargs)
        if is_json:
            return await json_errors(security, port, form.key_errors, 400, form.message_kwargs)
        return await _page(security, port, form, 400)

    user = outcome.user
    logged_in = False
    if user is not None and (
        not security.cv("CONFIRMABLE") or security.cv("LOGIN_WITHOUT_CONFIRMATION")
    ):
        logged_in = await authn.login_user(security, port, user, authn_via=["register"])
    await security.store.commit()

    if is_json:
        if logged_in:
            return await json_ok(
                security,
                port,
                {"tf_required": False},
                user=user,
                with_token=wants_auth_token(port),
            )
        if user is not None and not security.cv("RETURN_GENERIC_RESPONSES"):
            return await json_ok(security, port, user=user)
        # Generic responses: a new and a taken identity must read the same.
        return await json_ok(security, port)
    if security.cv("CONFIRMABLE"):
        flash(security, port, "CONFIRM_REGISTRATION", email=outcome.email)
    return redirect_after(
        security, port, "POST_REGISTER_VIEW", form.next.data, port.request.args.get("next")
    )
