"""/register: Flask-Security 5.9's registration endpoint (RegisterFormV2 semantics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.sansio.response import Response

from ...errors import SecurityError
from ...flows.authentication import Proof
from ...flows.register import check_registration, register_user
from .. import guards
from ..envelope import want_json
from ..flow_context import flow_context
from ..form_info import build_form, register_form_name
from ..login_session import sign_in
from ..responses import (
    flash,
    form_failure,
    json_ok,
    refuse_unsafe_next,
    render_page,
    wants_auth_token,
)
from ..urls import redirect_after, url_for_security

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

TEMPLATE_KEY = "REGISTER_USER_TEMPLATE"


async def register(security: Security, port: WebPort) -> Response:
    # Anonymous only, for GET too (Flask-Security's @anonymous_user_required).
    failure = await guards.require_anonymous(security, port)
    if failure is not None:
        return failure
    is_json = want_json(security, port)
    if port.request.method == "GET":
        if is_json:
            return await json_ok(security, port, {"identity_attributes": security.identity.names})
        form = await build_form(
            security,
            port,
            register_form_name(security, port),
            from_request=False,
            next=port.request.args.get("next", ""),
        )
        return await render_page(security, port, TEMPLATE_KEY, form=form, register_user_form=form)

    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    form = await build_form(security, port, register_form_name(security, port))
    await form.validate_async()  # the app's validators; the flow has the library's rules
    refuse_unsafe_next(security, port, form)
    if form.key_errors:  # nothing is looked up or written for a bad next
        return await form_failure(security, port, form, TEMPLATE_KEY, register_user_form=form)
    ctx = flow_context(security, port)
    try:
        if form.has_errors():
            # The app's fields are refused: report the library's verdict on
            # the rest too (as Flask-Security's one validate() does), write nothing.
            await check_registration(ctx, form.registration_input())
            return await form_failure(security, port, form, TEMPLATE_KEY, register_user_form=form)
        outcome = await register_user(ctx, form.registration_input())
    except SecurityError as exc:
        return await form_failure(
            security, port, form, TEMPLATE_KEY, error=exc, register_user_form=form
        )

    user = outcome.user
    # A new account signs in when the account rules let it (not while it
    # must still confirm its address), through the pipeline like any other.
    result = await sign_in(security, port, user, Proof.by("register")) if user else None
    if is_json:
        if result is not None and result.refusal is None:
            return await json_ok(
                security,
                port,
                result.payload(),
                user=result.user,
                with_token=wants_auth_token(port),
            )
        if user is not None and not security.cv("RETURN_GENERIC_RESPONSES"):
            return await json_ok(security, port, user=user)
        # Generic responses: a new and a taken identity must read the same.
        return await json_ok(security, port)
    if security.cv("CONFIRMABLE"):
        flash(security, port, "CONFIRM_REGISTRATION", email=outcome.email)
    if result is not None and result.decision.pending is not None:
        return port.redirect(url_for_security(security, port, result.decision.pending.endpoint))
    return redirect_after(
        security, port, "POST_REGISTER_VIEW", form.next.data, port.request.args.get("next")
    )
