"""/confirm and /confirm/<token>: Flask-Security 5.9's email confirmation endpoints.

The link in the mail is opened with a GET, and, as in Flask-Security, that GET
confirms. Mail scanners that prefetch links therefore confirm too; that only
proves the mailbox received the link, which is what confirmation means. It is
why AUTO_LOGIN_AFTER_CONFIRM stays off by default: with it on, whoever opens
the link first (a scanner, or anyone the mail was forwarded to) gets the
session. See docs/flows/confirm.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

from ...errors import SecurityError
from ...flows.authentication import Proof
from ...flows.confirm import confirm_email_token, request_confirmation
from .. import authn, guards, routes
from ..envelope import want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..forms import SendConfirmationForm
from ..login_session import logout_user, sign_in
from ..responses import flash, form_failure, json_ok, render_page
from ..urls import spa_url, url_for_security, view_url

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

TEMPLATE_KEY = "SEND_CONFIRMATION_TEMPLATE"
#: The token is in the URL: keep it out of Referer headers of whatever comes next.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


# ---------------------------------------------------------------------- redirects
def _redirect(port: WebPort, location: str) -> Response:
    response = port.redirect(location)
    response.headers.update(NO_REFERRER)
    return response


def _error_redirect(security: Security, port: WebPort, error: SecurityError) -> Response:
    key, kwargs = error.message_key, error.message_kwargs
    text, category = security.message_with_category(key, **kwargs)
    error_view = security.cv("CONFIRM_ERROR_VIEW")
    if security.cv("REDIRECT_BEHAVIOR") == "spa" and error_view:
        # No identity in the query: anyone holding the link would read it.
        return _redirect(port, spa_url(security, port, error_view, {category: text}))
    flash(security, port, key, **kwargs)
    if error_view:
        return _redirect(port, spa_url(security, port, error_view))
    return _redirect(port, url_for_security(security, port, "send_confirmation"))


def _success_target(security: Security, port: WebPort, user: Any) -> str:
    text, category = security.message_with_category("EMAIL_CONFIRMED")
    view = security.cv("POST_CONFIRM_VIEW")
    if security.cv("REDIRECT_BEHAVIOR") == "spa" and view:
        return spa_url(security, port, view, user.get_redirect_qparams({category: text}))
    flash(security, port, "EMAIL_CONFIRMED")
    if view:
        return spa_url(security, port, view)
    if security.cv("AUTO_LOGIN_AFTER_CONFIRM"):
        return view_url(security, port, "POST_LOGIN_VIEW")
    return url_for_security(security, port, "login")


# ---------------------------------------------------------------------- views
async def send_confirmation(security: Security, port: WebPort) -> Response:
    """Resend the instructions. Usable signed in or not; never returns user data."""
    is_json = want_json(security, port)
    if port.request.method == "GET":
        if is_json:
            return await json_ok(security, port)
        email = port.request.args.get("email", "")
        form = await build_form(security, port, "send_confirmation_form", from_request=False)
        form.email.data = email
        return await _page(security, port, form)

    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    form = await build_form(security, port, "send_confirmation_form")
    if not await form.validate_async():
        return await form_failure(security, port, form, TEMPLATE_KEY, **_page_context(form))
    try:
        email = await request_confirmation(flow_context(security, port), form.email.data)
    except SecurityError as exc:
        return await form_failure(
            security, port, form, TEMPLATE_KEY, error=exc, **_page_context(form)
        )
    if is_json:
        return await json_ok(security, port)
    info = security.message("CONFIRMATION_REQUEST", email=email)
    return await _page(security, port, form, info_messages=[info])


def _page_context(form: SendConfirmationForm, info_messages: list[str] | None = None) -> Any:
    return {"send_confirmation_form": form, "info_messages": info_messages or []}


async def _page(
    security: Security,
    port: WebPort,
    form: SendConfirmationForm,
    info_messages: list[str] | None = None,
) -> Response:
    context = _page_context(form, info_messages)
    return await render_page(security, port, TEMPLATE_KEY, form=form, **context)


async def confirm_email(security: Security, port: WebPort) -> Response:
    """The link from the mail: always a redirect, as in Flask-Security."""
    try:
        user = await confirm_email_token(
            flow_context(security, port), routes.view_arg(port, "token")
        )
    except SecurityError as exc:
        return _error_redirect(security, port, exc)
    if security.cv("AUTO_LOGIN_AFTER_CONFIRM"):
        current = await authn.load_request_user(security, port)
        if current is None or current.fs_uniquifier != user.fs_uniquifier:
            if current is not None:
                await logout_user(security, port)
            result = await sign_in(security, port, user, Proof.by("confirm"))
            if result.decision.pending is not None:
                endpoint = result.decision.pending.endpoint
                return _redirect(port, url_for_security(security, port, endpoint))
    return _redirect(port, _success_target(security, port, user))
