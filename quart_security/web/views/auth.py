"""/login, /logout and /verify: Flask-Security's core authentication endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.sansio.response import Response

from ...errors import SecurityError
from ...flows.authentication import Proof
from ...flows.login import authenticate_password, login_failure
from ...state import request_state
from .. import authn, guards
from ..csrf import check_csrf, library_body_token
from ..envelope import render_json, want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..login_session import keep_next, logout_user, mark_fresh, sign_in
from ..responses import (
    csrf_failure,
    form_failure,
    json_ok,
    refuse_unsafe_next,
    render_page,
    wants_auth_token,
)
from ..urls import redirect_after, url_for_security, view_url

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

LOGIN_TEMPLATE = "LOGIN_USER_TEMPLATE"
VERIFY_TEMPLATE = "VERIFY_TEMPLATE"


def _request_csrf_cookie(security: Security, port: WebPort) -> None:
    # Flask-Security 5.5+: a GET of the login page (re)sends the CSRF cookie,
    # so an SPA never needs a second round trip before its first POST.
    if security.cv("CSRF_COOKIE_NAME"):
        port.session["fs_cc"] = "set"


async def login(security: Security, port: WebPort) -> Response:
    user = await authn.load_request_user(security, port)
    is_json = want_json(security, port)
    if port.request.method == "GET":
        _request_csrf_cookie(security, port)
        if is_json:
            payload = {"identity_attributes": security.identity.names}
            return await json_ok(security, port, payload, user=user)
        if user is not None:
            return port.redirect(view_url(security, port, "POST_LOGIN_VIEW"))
        form = await build_form(
            security, port, "login_form", from_request=False, next=port.request.args.get("next", "")
        )
        return await render_page(security, port, LOGIN_TEMPLATE, form=form, login_user_form=form)

    if user is not None:
        failure = await guards.require_anonymous(security, port)
        assert failure is not None
        return failure
    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    form = await build_form(security, port, "login_form")
    await form.validate_async()
    refuse_unsafe_next(security, port, form)
    if form.has_errors():
        return await form_failure(security, port, form, LOGIN_TEMPLATE, login_user_form=form)
    field, identity = form.identity()
    ctx = flow_context(security, port)
    try:
        user = await authenticate_password(ctx, field, identity, str(form.password.data))
        proof = Proof.by("password", remember=bool(form.remember.data))
        result = await sign_in(security, port, user, proof)
        if result.refusal is not None:
            raise login_failure(ctx.config, result.refusal, field)
    except SecurityError as exc:
        return await form_failure(
            security, port, form, LOGIN_TEMPLATE, error=exc, login_user_form=form
        )
    pending = result.decision.pending
    if pending is not None:
        keep_next(security, port, form.next.data, port.request.args.get("next"))
    if is_json:
        return await json_ok(
            security, port, result.payload(), user=result.user, with_token=wants_auth_token(port)
        )
    if pending is not None:
        return port.redirect(url_for_security(security, port, pending.endpoint))
    return redirect_after(
        security, port, "POST_LOGIN_VIEW", form.next.data, port.request.args.get("next")
    )


async def logout(security: Security, port: WebPort) -> Response:
    user = await authn.load_request_user(security, port)
    if (
        user is not None
        and port.request.method == "POST"
        and security.cv("LOGOUT_CSRF")
        and request_state(port.g).authn_via == "session"
    ):
        failure = await check_csrf(security, port, library_body_token(security, port))
        if failure is not None:
            return await csrf_failure(security, port, failure)
    if user is not None:
        await logout_user(security, port)
    if port.request.method == "POST" and want_json(security, port):
        return await render_json(security, port, {}, 200)
    return redirect_after(security, port, "POST_LOGOUT_VIEW", port.request.args.get("next"))


async def verify(security: Security, port: WebPort) -> Response:
    failure = await guards.require_auth(security, port, list(security.cv("API_ENABLED_METHODS")))
    if failure is not None:
        return failure
    user = await authn.load_request_user(security, port)
    is_json = want_json(security, port)
    if port.request.method == "GET":
        if is_json:
            payload = {
                "has_webauthn_verify_credential": False,
                "oauth_enabled": False,
                "oauth_providers": [],
            }
            return await json_ok(security, port, payload, user=user)
        form = await build_form(
            security,
            port,
            "verify_form",
            from_request=False,
            user=user,
            next=port.request.args.get("next", ""),
        )
        return await render_page(security, port, VERIFY_TEMPLATE, form=form, verify_form=form)
    form = await build_form(security, port, "verify_form", user=user)
    if not await form.validate_async():
        return await form_failure(security, port, form, VERIFY_TEMPLATE, verify_form=form)
    ctx = flow_context(security, port)
    await ctx.attempts.before("password", user)
    if not await ctx.verify_password(user, str(form.password.data)):
        await ctx.attempts.failed("password", user)
        error = SecurityError("INVALID_PASSWORD", field="password")
        return await form_failure(
            security, port, form, VERIFY_TEMPLATE, error=error, verify_form=form
        )
    mark_fresh(security, port)
    if is_json:
        return await json_ok(security, port, user=user, with_token=wants_auth_token(port))
    view_key = "POST_VERIFY_VIEW" if security.cv("POST_VERIFY_VIEW") else "POST_LOGIN_VIEW"
    return redirect_after(security, port, view_key, form.next.data, port.request.args.get("next"))
