"""/change-username (CHANGE_USERNAME with USERNAME_ENABLE), as in Flask-Security 5.9.

Fresh authentication (FRESHNESS, FRESHNESS_GRACE_PERIOD) and CSRF required.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.sansio.response import Response

from ...errors import SecurityError
from ...flows.change_username import change_username as change_user_username
from .. import authn, guards
from ..envelope import error_payload, render_json, want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..responses import form_failure, json_ok, render_page
from ..urls import view_url

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

TEMPLATE = "CHANGE_USERNAME_TEMPLATE"


async def _not_found(security: Security, port: WebPort) -> Response:
    # Usernames are off: there is nothing to change (Flask-Security needs
    # USERNAME_ENABLE for this feature too).
    if want_json(security, port):
        return await render_json(security, port, error_payload("Not Found"), 404)
    return port.make_response("Not Found", 404, {"Content-Type": "text/plain; charset=utf-8"})


async def change_username(security: Security, port: WebPort) -> Response:
    if not security.cv("USERNAME_ENABLE"):
        return await _not_found(security, port)
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
    current = user.username
    if port.request.method == "GET":
        if want_json(security, port):
            return await json_ok(security, port, {"current_username": current}, user=user)
        form = await build_form(security, port, "change_username_form", from_request=False)
        return await render_page(
            security, port, TEMPLATE, form=form, change_username_form=form, current_username=current
        )

    form = await build_form(security, port, "change_username_form")
    if not await form.validate_async():
        return await form_failure(
            security, port, form, TEMPLATE, change_username_form=form, current_username=current
        )
    try:
        await change_user_username(flow_context(security, port), user, form.username.data)
    except SecurityError as exc:
        return await form_failure(
            security,
            port,
            form,
            TEMPLATE,
            error=exc,
            change_username_form=form,
            current_username=current,
        )
    if want_json(security, port):
        return await json_ok(security, port, user=user)
    return port.redirect(view_url(security, port, "POST_CHANGE_USERNAME_VIEW"))
