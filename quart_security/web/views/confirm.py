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
from wtforms import EmailField, SubmitField

from ...clock import format_duration
from ...errors import SecurityError
from ...flows.confirm import confirm_email_token, request_confirmation
from .. import authn, guards, routes
from ..envelope import want_json
from ..forms import SecurityForm
from ..responses import flash, json_errors, json_ok, render_page, view_redirect_url

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

TEMPLATE_KEY = "SEND_CONFIRMATION_TEMPLATE"
#: The token is in the URL: keep it out of Referer headers of whatever comes next.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


class SendConfirmationForm(SecurityForm):
    email = EmailField("Email Address", render_kw={"autocomplete": "email"})
    submit = SubmitField("Resend Confirmation Instructions")


# ---------------------------------------------------------------------- redirects
def _redirect(port: WebPort, location: str) -> Response:
    response = port.redirect(location)
    response.headers.update(NO_REFERRER)
    return response


def _error_redirect(security: Security, port: WebPort, key: str, **kwargs: Any) -> Response:
    text, category = security.message_with_category(key, **kwargs)
    error_view = security.cv("CONFIRM_ERROR_VIEW")
    if security.cv("REDIRECT_BEHAVIOR") == "spa" and error_view:
        # No identity in the query: anyone holding the link would read it.
        return _redirect(port, view_redirect_url(security, port, error_view, {category: text}))
    flash(security, port, key, **kwargs)
    if error_view:
        return _redirect(port, view_redirect_url(security, port, error_view))
    return _redirect(port, security.url_for_security(port, "send_confirmation"))


def _success_target(security: Security, port: WebPort, user: Any) -> str:
    text, category = security.message_with_category("EMAIL_CONFIRMED")
    view = security.cv("POST_CONFIRM_VIEW")
    if security.cv("REDIRECT_BEHAVIOR") == "spa" and view:
        return view_redirect_url(security, port, view, user.get_redirect_qparams({category: text}))
    flash(security, port, "EMAIL_CONFIRMED")
    if view:
        return view_redirect_url(security, port, view)
    if security.cv("AUTO_LOGIN_AFTER_CONFIRM"):
        return security.post_login_url(port)
    return security.url_for_security(port, "login")


# ---------------------------------------------------------------------- views
async def send_confirmation(security: Security, port: WebPort) -> Response:
    """Resend the instructions. Usable signed in or not; never returns user data."""
    is_json = want_json(security, port)
    if port.request.method == "GET":
        if is_json:
            return await json_ok(security, port)
        form = SendConfirmationForm(email=port.request.args.get("email", ""))
        return await _page(security, port, form)

    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    form = SendConfirmationForm(formdata=await security.request_form(port))
    try:
        email = await request_confirmation(security, port, form.email.data)
    except SecurityError as exc:
        form.add_error(exc.field or "", exc.message_key, **exc.message_kwargs)
        if is_json:
            return await json_errors(
                security, port, form.key_errors, exc.status, form.message_kwargs
            )
        return await _page(security, port, form, exc.status)
    await security.store.commit()
    if is_json:
        return await json_ok(security, port)
    info = security.message("CONFIRMATION_REQUEST", email=email)
    return await _page(security, port, form, info_messages=[info])


async def _page(
    security: Security,
    port: WebPort,
    form: SendConfirmationForm,
    status: int = 200,
    info_messages: list[str] | None = None,
) -> Response:
    return await render_page(
        security,
        port,
        TEMPLATE_KEY,
        form=form,
        status=status,
        send_confirmation_form=form,
        info_messages=info_messages or [],
    )


async def confirm_email(security: Security, port: WebPort) -> Response:
    """The link from the mail: always a redirect, as in Flask-Security."""
    outcome = await confirm_email_token(security, routes.view_arg(port, "token"))
    if outcome.status == "expired":
        within = format_duration(security.cv("CONFIRM_EMAIL_WITHIN"))
        return _error_redirect(security, port, "CONFIRMATION_EXPIRED", within=within)
    if outcome.status == "invalid":
        return _error_redirect(security, port, "INVALID_CONFIRMATION_TOKEN")
    if outcome.status == "already_confirmed":
        return _error_redirect(security, port, "ALREADY_CONFIRMED")
    user = outcome.user
    await security.store.commit()
    if security.cv("AUTO_LOGIN_AFTER_CONFIRM"):
        current = await authn.load_request_user(security, port)
        if current is None or current.fs_uniquifier != user.fs_uniquifier:
            if current is not None:
                await authn.logout_user(security, port)
            await authn.login_user(security, port, user, authn_via=["confirm"])
            await security.store.commit()
    return _redirect(port, _success_target(security, port, user))
