"""/reset and /reset/<token>: Flask-Security's forgot and reset password endpoints.

Both are usable signed in or not (Flask-Security 5.9: a long-lived session
may still need the password for /verify), with CSRF as on every endpoint
that works without a login. The link's GET only shows the form (or, for an
SPA, redirects to RESET_VIEW with the token): it never consumes the token,
so mail scanners that prefetch links cannot burn it. The POST consumes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response
from wtforms import PasswordField, StringField, SubmitField

from ...clock import format_duration
from ...crypto.password_policy import password_provided
from ...flows import recover as flow
from ...identity import validate_email_address
from .. import authn, guards, routes
from ..envelope import render_json, want_json
from ..forms import SecurityForm
from ..responses import (
    form_failure,
    json_errors,
    json_ok,
    render_page,
    view_redirect_url,
    wants_auth_token,
)

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort


class ForgotPasswordForm(SecurityForm):
    email = StringField("Email Address")
    submit = SubmitField("Recover Password")

    def check_fields(self) -> None:
        value = self.email.data
        if not isinstance(value, str) or not value.strip():
            self.add_error("email", "EMAIL_NOT_PROVIDED")


class ResetPasswordForm(SecurityForm):
    password = PasswordField("Password")
    password_confirm = PasswordField("Retype Password")
    submit = SubmitField("Reset Password")

    def check_fields(self) -> None:
        password, confirm = self.password.data, self.password_confirm.data
        for field, value in (("password", password), ("password_confirm", confirm)):
            if value is not None and not isinstance(value, str):
                self.add_error(field, "INVALID_INPUT")
            elif not password_provided(value):
                self.add_error(field, "PASSWORD_NOT_PROVIDED")
        if "password_confirm" not in self.key_errors and password != confirm:
            self.add_error("password_confirm", "RETYPE_PASSWORD_MISMATCH")


# ---------------------------------------------------------------------- helpers
def _is_spa(security: Security) -> bool:
    return bool(security.cv("REDIRECT_BEHAVIOR") == "spa")


def _token_error(security: Security, status: str) -> tuple[str, dict[str, Any]]:
    if status == "expired":
        within = format_duration(security.cv("RESET_PASSWORD_WITHIN"))
        return "PASSWORD_RESET_EXPIRED", {"within": within}
    return "INVALID_RESET_PASSWORD_TOKEN", {}


def _after_reset_url(security: Security, port: WebPort, fallback_key: str | None) -> str:
    target = security.cv("POST_RESET_VIEW")
    if target:
        return security.resolve_view_url(port, str(target() if callable(target) else target))
    if fallback_key is not None:
        return security.view_url(port, fallback_key)
    return security.url_for_security(port, "login")


# ---------------------------------------------------------------------- /reset
async def forgot_password(security: Security, port: WebPort) -> Response:
    """Ask for a reset link. Same answer for every address when generic responses are on."""
    is_json = want_json(security, port)
    current = await authn.load_request_user(security, port)
    if port.request.method == "GET":
        if is_json:
            return await json_ok(security, port)  # never user info: this is an open endpoint
        prefill = str(getattr(current, "email", "") or "") if current is not None else ""
        form = ForgotPasswordForm(formdata=None, email=prefill)
        return await _forgot_page(security, port, form)

    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    form = ForgotPasswordForm(formdata=await security.request_form(port))
    if not form.check():
        return await _forgot_failure(security, port, form)
    email, problem = validate_email_address(security, form.email.data)
    if problem is not None or email is None:
        # Syntax only: says nothing about which accounts exist.
        form.add_error("email", problem or "INVALID_EMAIL_ADDRESS")
        return await _forgot_failure(security, port, form)

    user, refusal = await flow.find_reset_candidate(security, email)
    generic = bool(security.cv("RETURN_GENERIC_RESPONSES"))
    if refusal is None:
        await flow.send_reset_instructions(security, port, user)
    else:
        await flow.rehearse_reset_instructions(security, port, email)
        if not generic:
            confirm_view = security.cv("REQUIRES_CONFIRMATION_ERROR_VIEW")
            if refusal == "CONFIRMATION_REQUIRED" and confirm_view and not is_json:
                params = {"email": str(user.email)}
                return port.redirect(view_redirect_url(security, port, str(confirm_view), params))
            form.add_error("email", refusal)
            return await _forgot_failure(security, port, form)
    await security.store.commit()
    if is_json:
        return await json_ok(security, port)
    if generic:
        notice = security.message("GENERIC_RECOVERY")
    else:
        notice = security.message("PASSWORD_RESET_REQUEST", email=str(user.email))
    return await _forgot_page(security, port, ForgotPasswordForm(formdata=None), notice=notice)


async def _forgot_page(
    security: Security,
    port: WebPort,
    form: ForgotPasswordForm,
    *,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    return await render_page(
        security,
        port,
        "FORGOT_PASSWORD_TEMPLATE",
        form=form,
        status=status,
        forgot_password_form=form,
        info_message=notice,
    )


async def _forgot_failure(security: Security, port: WebPort, form: ForgotPasswordForm) -> Response:
    if want_json(security, port):
        return await form_failure(security, port, form, "FORGOT_PASSWORD_TEMPLATE")
    return await _forgot_page(security, port, form, status=400)


# ---------------------------------------------------------------------- /reset/<token>
async def reset_password(security: Security, port: WebPort) -> Response:
    """Show the reset form for a live link (GET); set the new password (POST)."""
    token = routes.view_arg(port, "token")
    is_json = want_json(security, port)
    if port.request.method == "POST":
        failure = await guards.require_unauth_csrf(security, port)
        if failure is not None:
            return failure
    status, user = await flow.check_reset_token(security, token)

    if port.request.method == "GET":
        if status != "ok":
            key, kwargs = _token_error(security, status)
            error_view = security.cv("RESET_ERROR_VIEW")
            if _is_spa(security) and error_view:
                text, category = security.message_with_category(key, **kwargs)
                return port.redirect(
                    view_redirect_url(security, port, str(error_view), {category: text})
                )
            return port.redirect(security.url_for_security(port, "forgot_password"))
        reset_view = security.cv("RESET_VIEW")
        if _is_spa(security) and reset_view:
            # Only the token: no email or identity in a URL that mail relays log.
            return port.redirect(
                view_redirect_url(security, port, str(reset_view), {"token": token})
            )
        return await _reset_page(security, port, ResetPasswordForm(formdata=None), token)

    form = ResetPasswordForm(formdata=await security.request_form(port))
    if status != "ok":
        key, kwargs = _token_error(security, status)
        if is_json:
            return await json_errors(security, port, {"": [key]}, message_kwargs={key: kwargs})
        return port.redirect(security.url_for_security(port, "forgot_password"))
    if not form.check():
        return await _reset_failure(security, port, form, token)
    password = str(form.password.data)
    violations = await security.password_policy.validate(
        password, is_register=False, context={"user": user}
    )
    if violations:
        for violation in violations:
            form.add_error("password", violation.message_key, **violation.kwargs)
        return await _reset_failure(security, port, form, token)
    if not await flow.reset_password(security, port, user, password):
        # Another request used this link first: it is spent.
        if is_json:
            return await json_errors(security, port, {"": ["INVALID_RESET_PASSWORD_TOKEN"]})
        return port.redirect(security.url_for_security(port, "forgot_password"))

    if security.cv("AUTO_LOGIN_AFTER_RESET"):
        return await login_after_reset(security, port, user)
    await security.store.commit()
    if is_json:
        return await render_json(security, port, {}, 200)
    return port.redirect(_after_reset_url(security, port, None))


async def login_after_reset(security: Security, port: WebPort, user: Any) -> Response:
    """The one place a reset signs the user in (deprecated AUTO_LOGIN_AFTER_RESET).

    A reset proves control of the mailbox only: whatever a password login
    must still pass after the password (a second factor, C-07 / R-27) has
    to be enforced here, before ``login_user``, when it exists.
    """
    if not await authn.login_user(security, port, user, remember=False, authn_via=["reset"]):
        await security.store.commit()
        if want_json(security, port):
            return await render_json(security, port, {}, 200)
        return port.redirect(_after_reset_url(security, port, None))
    await security.store.commit()
    if want_json(security, port):
        return await json_ok(
            security, port, {"tf_required": False}, user=user, with_token=wants_auth_token(port)
        )
    return port.redirect(_after_reset_url(security, port, "POST_LOGIN_VIEW"))


async def _reset_page(
    security: Security,
    port: WebPort,
    form: ResetPasswordForm,
    token: str,
    status: int = 200,
) -> Response:
    return await render_page(
        security,
        port,
        "RESET_PASSWORD_TEMPLATE",
        form=form,
        status=status,
        reset_password_form=form,
        reset_password_token=token,
    )


async def _reset_failure(
    security: Security, port: WebPort, form: ResetPasswordForm, token: str
) -> Response:
    if want_json(security, port):
        return await form_failure(security, port, form, "RESET_PASSWORD_TEMPLATE")
    return await _reset_page(security, port, form, token, status=400)
