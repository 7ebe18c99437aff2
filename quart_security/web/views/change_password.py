"""/change: Flask-Security's change password endpoint (CHANGEABLE).

The caller must be signed in (API_ENABLED_METHODS) and prove the current
password; a user without one (passwordless registration) must have signed in
recently instead (FRESHNESS). Every other session, remember cookie and auth
token ends; this one stays signed in under the new fs_uniquifier, keeping its
remember cookie if it had one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

from ...errors import SecurityError
from ...flows import change_password as flow
from ...flows.authentication import Proof
from ...state import request_state
from .. import authn, guards
from ..envelope import want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..login_session import sign_in
from ..responses import flash, form_failure, json_ok, render_page, wants_auth_token
from ..urls import view_url

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort


TEMPLATE = "CHANGE_PASSWORD_TEMPLATE"


def _keeps_remember_cookie(security: Security, port: WebPort, uniquifier: str) -> bool:
    """Whether this request carries a live remember cookie of this very user."""
    value = port.request.cookies.get(security.remember_cookie_name)
    if not value:
        return False
    duration = security.remember_duration.total_seconds()
    return security.tokens.read_remember_cookie(value, duration) == uniquifier


async def change_password(security: Security, port: WebPort) -> Response:
    failure = await guards.require_auth(security, port, list(security.cv("API_ENABLED_METHODS")))
    if failure is not None:
        return failure
    user = await authn.load_request_user(security, port)
    active_password = bool(getattr(user, "password", None))
    if not active_password:
        # Nothing to prove with: a recent sign-in stands in for the old password.
        within, grace = security.cv("FRESHNESS"), security.cv("FRESHNESS_GRACE_PERIOD")
        via = request_state(port.g).authn_via
        if not authn.check_and_update_authn_fresh(security, port, within, grace, via):
            return await guards.reauthentication_required(security, port, within, grace)

    context: dict[str, Any] = {"active_password": active_password}
    if port.request.method == "GET":
        if want_json(security, port):
            return await json_ok(security, port, context, user=user)
        form = await build_form(security, port, "change_password_form", from_request=False)
        return await render_page(
            security, port, TEMPLATE, form=form, change_password_form=form, **context
        )

    form = await build_form(security, port, "change_password_form")
    if not await form.validate_async():
        return await form_failure(
            security, port, form, TEMPLATE, change_password_form=form, **context
        )
    ctx = flow_context(security, port)
    try:
        # What is stored is the new password as the PasswordUtil normalised it.
        new_password = await flow.check_password_change(
            ctx, user, form.password.data, str(form.new_password.data)
        )
    except SecurityError as exc:
        return await form_failure(
            security, port, form, TEMPLATE, error=exc, change_password_form=form, **context
        )
    remember = _keeps_remember_cookie(security, port, str(user.fs_uniquifier))
    await flow.change_user_password(ctx, user, new_password)
    # Sign this session in again under the new uniquifier (new session, CSRF
    # token and, if it had one, remember cookie); everything else has ended.
    await sign_in(security, port, user, Proof.by("change", remember=remember, renews=True))
    if want_json(security, port):
        return await json_ok(security, port, user=user, with_token=wants_auth_token(port))
    flash(security, port, "PASSWORD_CHANGE")
    return port.redirect(view_url(security, port, "POST_CHANGE_VIEW"))
