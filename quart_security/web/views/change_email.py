"""/change-email and /change-email/<token> (CHANGE_EMAIL), as in Flask-Security 5.9.

The request needs a fresh authentication (FRESHNESS, FRESHNESS_GRACE_PERIOD)
and CSRF. The confirmation link is a GET, as in Flask-Security, so a mail
scanner that pre-fetches links confirms the change (docs/flows/change-email.md
discusses the trade-off); it always answers with a redirect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.sansio.response import Response

from ...errors import SecurityError
from ...flows.change_email import confirm_change, request_change
from .. import authn, guards, routes
from ..envelope import want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..responses import form_failure, json_ok, render_page
from ..urls import spa_url, url_for_security

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

TEMPLATE = "CHANGE_EMAIL_TEMPLATE"


async def change_email(security: Security, port: WebPort) -> Response:
    failure = await guards.require_auth(
        security,
        port,
        list(security.cv("API_ENABLED_METHODS")),
        within=security.cv("FRESHNESS"),
        grace=security.cv("FRESHNESS_GRACE_PERIOD"),
    )
    if failure is not None:
        return failure
    user = await authn.load_request_user(security, port)
    is_json = want_json(security, port)
    if port.request.method == "GET":
        if is_json:
            return await json_ok(security, port, {"current_email": user.email}, user=user)
        form = await build_form(security, port, "change_email_form", from_request=False)
        return await render_page(
            security, port, TEMPLATE, form=form, change_email_form=form, current_email=user.email
        )

    form = await build_form(security, port, "change_email_form")
    if not await form.validate_async():
        return await form_failure(
            security, port, form, TEMPLATE, change_email_form=form, current_email=user.email
        )
    try:
        new_email = await request_change(flow_context(security, port), user, form.email.data)
    except SecurityError as exc:
        return await form_failure(
            security,
            port,
            form,
            TEMPLATE,
            error=exc,
            change_email_form=form,
            current_email=user.email,
        )
    # The same answer whether the address was free or (generic responses)
    # already someone else's: the address has not changed yet.
    if is_json:
        return await json_ok(security, port, {"current_email": user.email}, user=user)
    return await render_page(
        security,
        port,
        TEMPLATE,
        form=await build_form(security, port, "change_email_form", from_request=False),
        current_email=user.email,
        info_message=security.message("CHANGE_EMAIL_SENT", email=new_email),
    )


async def change_email_confirm(security: Security, port: WebPort) -> Response:
    spa = security.cv("REDIRECT_BEHAVIOR") == "spa"
    try:
        done = await confirm_change(flow_context(security, port), routes.view_arg(port, "token"))
    except SecurityError as exc:
        text, category = security.message_with_category(exc.message_key, **exc.message_kwargs)
        error_view = security.cv("CHANGE_EMAIL_ERROR_VIEW")
        if spa and error_view:
            return port.redirect(spa_url(security, port, error_view, {category: text}))
        if error_view:
            return port.redirect(spa_url(security, port, error_view))
        return port.redirect(url_for_security(security, port, "change_email"))
    text, category = security.message_with_category("CHANGE_EMAIL_CONFIRMED")
    target = security.cv("POST_CHANGE_EMAIL_VIEW") or security.cv("POST_LOGIN_VIEW") or "/"
    qparams = done.user.get_redirect_qparams({category: text}) if spa else None
    return port.redirect(spa_url(security, port, target, qparams))
