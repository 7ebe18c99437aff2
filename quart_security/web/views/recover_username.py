"""/recover-username (USERNAME_RECOVERY), as in Flask-Security 5.9.

Anonymous only, CSRF as for the other unauthenticated endpoints. The answer
never includes a user. With RETURN_GENERIC_RESPONSES every well-formed
address gets the same answer, in JSON and in HTML (Flask-Security's HTML
answer redirects for a known address and renders the page for an unknown one,
which tells them apart; here both render the page with the same message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.sansio.response import Response

from ...errors import SecurityError
from ...flows.recover_username import recover_username as send_username
from .. import guards
from ..envelope import want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..responses import form_failure, json_ok, render_page

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

TEMPLATE = "USERNAME_RECOVERY_TEMPLATE"


async def recover_username(security: Security, port: WebPort) -> Response:
    failure = await guards.require_anonymous(security, port)
    if failure is not None:
        return failure
    is_json = want_json(security, port)
    if port.request.method == "GET":
        if is_json:
            return await json_ok(security, port)
        form = await build_form(security, port, "username_recovery_form", from_request=False)
        return await render_page(security, port, TEMPLATE, form=form, username_recovery_form=form)
    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    form = await build_form(security, port, "username_recovery_form")
    if not await form.validate_async():
        return await form_failure(security, port, form, TEMPLATE, username_recovery_form=form)
    try:
        await send_username(flow_context(security, port), form.email.data)
    except SecurityError as exc:
        return await form_failure(
            security, port, form, TEMPLATE, error=exc, username_recovery_form=form
        )
    if is_json:
        return await json_ok(security, port)
    return await render_page(
        security,
        port,
        TEMPLATE,
        form=await build_form(security, port, "username_recovery_form", from_request=False),
        info_message=security.message("USERNAME_RECOVERY_REQUEST"),
    )
