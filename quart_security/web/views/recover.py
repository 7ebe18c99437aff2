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

from ...errors import SecurityError
from ...flows import recover as flow
from ...flows.authentication import Proof
from ...throttle import account_key
from .. import authn, guards, routes
from ..envelope import render_json, want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..forms import ForgotPasswordForm, ResetPasswordForm
from ..login_session import sign_in
from ..responses import flash, form_failure, json_ok, render_page, wants_auth_token
from ..urls import resolve_view, spa_url, url_for_security, view_url

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort


# ---------------------------------------------------------------------- helpers
FORGOT_TEMPLATE = "FORGOT_PASSWORD_TEMPLATE"
RESET_TEMPLATE = "RESET_PASSWORD_TEMPLATE"


def _is_spa(security: Security) -> bool:
    return bool(security.cv("REDIRECT_BEHAVIOR") == "spa")


def _after_reset_url(security: Security, port: WebPort, fallback_key: str | None) -> str:
    target = security.cv("POST_RESET_VIEW")
    if target:
        return resolve_view(security, port, str(target() if callable(target) else target))
    if fallback_key is not None:
        return view_url(security, port, fallback_key)
    return url_for_security(security, port, "login")


# ---------------------------------------------------------------------- /reset
async def forgot_password(security: Security, port: WebPort) -> Response:
    """Ask for a reset link. Same answer for every address when generic responses are on."""
    is_json = want_json(security, port)
    current = await authn.load_request_user(security, port)
    if port.request.method == "GET":
        if is_json:
            return await json_ok(security, port)  # never user info: this is an open endpoint
        prefill = str(getattr(current, "email", "") or "") if current is not None else ""
        form = await build_form(security, port, "forgot_password_form", from_request=False)
        form.email.data = prefill
        return await _forgot_page(security, port, form)

    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    form = await build_form(security, port, "forgot_password_form")
    if not await form.validate_async():
        return await form_failure(security, port, form, FORGOT_TEMPLATE, forgot_password_form=form)
    try:
        requested = await flow.request_password_reset(flow_context(security, port), form.email.data)
    except SecurityError as exc:
        return await form_failure(
            security, port, form, FORGOT_TEMPLATE, error=exc, forgot_password_form=form
        )
    if is_json:
        return await json_ok(security, port)
    if requested.user is None or security.cv("RETURN_GENERIC_RESPONSES"):
        notice = security.message("GENERIC_RECOVERY")
    else:
        notice = security.message("PASSWORD_RESET_REQUEST", email=str(requested.user.email))
    blank = await build_form(security, port, "forgot_password_form", from_request=False)
    return await _forgot_page(security, port, blank, notice=notice)


async def _forgot_page(
    security: Security, port: WebPort, form: ForgotPasswordForm, *, notice: str | None = None
) -> Response:
    return await render_page(
        security, port, FORGOT_TEMPLATE, form=form, forgot_password_form=form, info_message=notice
    )


# ---------------------------------------------------------------------- /reset/<token>
async def reset_password(security: Security, port: WebPort) -> Response:
    """Show the reset form for a live link (GET); set the new password (POST)."""
    token = routes.view_arg(port, "token")
    ctx = flow_context(security, port)
    if port.request.method == "POST":
        failure = await guards.require_unauth_csrf(security, port)
        if failure is not None:
            return failure
    try:
        user = await flow.check_reset_token(ctx, token)
    except SecurityError as exc:
        return await _dead_link(security, port, exc)

    if port.request.method == "GET":
        reset_view = security.cv("RESET_VIEW")
        if _is_spa(security) and reset_view:
            # Only the token: no email or identity in a URL that mail relays log.
            return port.redirect(spa_url(security, port, reset_view, {"token": token}))
        form = await build_form(
            security, port, "reset_password_form", from_request=False, user=user
        )
        return await render_page(security, port, RESET_TEMPLATE, form=form, **_context(form, token))

    form = await build_form(security, port, "reset_password_form", user=user)
    try:
        if await form.validate_async():
            await flow.reset_password(ctx, user, str(form.password.data))
    except SecurityError as exc:
        if exc.message_key == "INVALID_RESET_PASSWORD_TOKEN":
            return await _dead_link(security, port, exc)  # another request used it first
        return await form_failure(
            security, port, form, RESET_TEMPLATE, error=exc, **_context(form, token)
        )
    if form.has_errors():
        return await form_failure(security, port, form, RESET_TEMPLATE, **_context(form, token))
    # The mailbox is proven and the password is new: a lockout (by someone
    # guessing the old one) no longer protects anything, so it ends here.
    await security.throttle.unlock(account_key(security.identity, user, None))

    if security.cv("AUTO_LOGIN_AFTER_RESET"):
        return await _login_after_reset(security, port, user)
    if want_json(security, port):
        return await render_json(security, port, {}, 200)
    flash(security, port, "PASSWORD_RESET_NO_LOGIN")
    return port.redirect(_after_reset_url(security, port, None))


def _context(form: ResetPasswordForm, token: str) -> dict[str, Any]:
    return {"reset_password_form": form, "reset_password_token": token}


async def _dead_link(security: Security, port: WebPort, error: SecurityError) -> Response:
    """An expired, spent or otherwise dead link: its error (JSON), or back to /reset."""
    if port.request.method == "GET":
        error_view = security.cv("RESET_ERROR_VIEW")
        if _is_spa(security) and error_view:
            text, category = security.message_with_category(
                error.message_key, **error.message_kwargs
            )
            return port.redirect(spa_url(security, port, error_view, {category: text}))
    elif want_json(security, port):
        form = await build_form(security, port, "reset_password_form", from_request=False)
        return await form_failure(security, port, form, RESET_TEMPLATE, error=error)
    return port.redirect(url_for_security(security, port, "forgot_password"))


async def _login_after_reset(security: Security, port: WebPort, user: Any) -> Response:
    """The one place a reset signs the user in (deprecated AUTO_LOGIN_AFTER_RESET).

    A reset proves control of the mailbox only: what a password login must
    still pass after the password (a second factor, C-07 / R-27) is the
    pipeline's to ask, as for any other way in.
    """
    result = await sign_in(security, port, user, Proof.by("reset", remember=False))
    if want_json(security, port):
        if result.refusal is not None:
            return await render_json(security, port, {}, 200)
        return await json_ok(
            security, port, result.payload(), user=result.user, with_token=wants_auth_token(port)
        )
    pending = result.decision.pending
    if pending is not None:
        return port.redirect(url_for_security(security, port, pending.endpoint))
    signed_in = result.refusal is None
    flash(security, port, "PASSWORD_RESET" if signed_in else "PASSWORD_RESET_NO_LOGIN")
    return port.redirect(_after_reset_url(security, port, "POST_LOGIN_VIEW" if signed_in else None))
