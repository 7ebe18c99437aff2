"""The checks behind the decorators, written once for every framework.

Each guard returns None when the request may proceed, or the response to send
instead (401 / 403 / 400 / redirect). The Quart and Flask decorators only
decide how to call these and how to call the wrapped view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

from .. import signals
from ..state import request_state
from . import authn
from .basic_auth import challenge
from .csrf import (
    CSRFError,
    app_body_token,
    check_csrf,
    csrf_enabled,
    library_body_token,
    mark_csrf_not_needed,
)
from .envelope import error_payload, render_json, want_json
from .hooks import call_app_hook
from .responses import apply_cache_control, csrf_failure, error_page, flash
from .urls import redirect_to_come_back, resolve_view, view_url

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

Within = int | float | timedelta | Callable[[], timedelta] | None


def _minutes(value: Within, default: timedelta) -> timedelta:
    if value is None:
        return default
    if callable(value):
        return value()
    if isinstance(value, timedelta):
        return value
    return timedelta(minutes=value)


# ---------------------------------------------------------------------- answers
# Each refusal goes to the app's callback when it registered one (with
# Flask-Security's signature, web/hooks.py), else to the default below.


async def unauthenticated(
    security: Security, port: WebPort, mechanisms: list[str], headers: dict[str, str] | None
) -> Response:
    """Not authenticated by any of ``mechanisms``: the unauthn handler's answer."""
    if security.hooks.unauthn is not None:
        return await call_app_hook(port, security.hooks.unauthn, mechanisms, headers)
    return await default_unauthn_handler(security, port, mechanisms, headers)


async def unauthorized(
    security: Security, port: WebPort, func_name: str, params: list[str] | None
) -> Response:
    """A role or permission is missing: the unauthz handler's answer."""
    if security.hooks.unauthz is not None:
        return await call_app_hook(port, security.hooks.unauthz, func_name, params)
    return await default_unauthz_handler(security, port, func_name, params)


async def reauthentication_required(
    security: Security, port: WebPort, within: timedelta, grace: timedelta
) -> Response:
    """The authentication is not fresh enough: the reauthn handler's answer."""
    if security.hooks.reauthn is not None:
        return await call_app_hook(port, security.hooks.reauthn, within, grace)
    return await default_reauthn_handler(security, port, within, grace)


async def default_unauthn_handler(
    security: Security, port: WebPort, mechanisms: list[str], headers: dict[str, str] | None
) -> Response:
    """Flask-Security's: 401 for JSON, and for Basic (a browser then asks for the
    credentials); otherwise a redirect to /login that comes back here."""
    await signals.send(signals.user_unauthenticated, security.app)
    headers = dict(headers or {})
    msg = security.message("UNAUTHENTICATED")
    if want_json(security, port) or port.is_websocket:
        return await render_json(security, port, error_payload(msg), 401, headers)
    if "WWW-Authenticate" in headers:
        # The browser asks for the credentials; this page shows if they cancel.
        response = await error_page(security, port, "unauthenticated", msg, 401)
        response.headers.update(headers)
        return response
    flash(security, port, "UNAUTHENTICATED")
    return redirect_to_come_back(security, port, "login")


async def default_unauthz_handler(
    security: Security, port: WebPort, func_name: str, params: list[str] | None
) -> Response:
    msg = security.message("UNAUTHORIZED")
    if want_json(security, port) or port.is_websocket:
        return await render_json(security, port, error_payload(msg), 403)
    view = security.cv("UNAUTHORIZED_VIEW")
    if view:
        target = view() if callable(view) else view
        flash(security, port, "UNAUTHORIZED")
        return port.redirect(resolve_view(security, port, str(target)))
    return await error_page(security, port, "unauthorized", msg, 403)


async def default_reauthn_handler(
    security: Security, port: WebPort, within: timedelta, grace: timedelta
) -> Response:
    msg = security.message("REAUTHENTICATION_REQUIRED")
    if want_json(security, port) or port.is_websocket:
        payload = error_payload(msg)
        payload["reauth_required"] = True
        payload["unified_signin_enabled"] = bool(security.cv("UNIFIED_SIGNIN"))
        payload["has_webauthn_verify_credential"] = False
        return await render_json(security, port, payload, 401)
    flash(security, port, "REAUTHENTICATION_REQUIRED")
    endpoint = "us_verify" if security.cv("UNIFIED_SIGNIN") else "verify"
    return redirect_to_come_back(security, port, endpoint)


def resolve_methods(security: Security, methods: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for m in methods:
        resolved = m() if callable(m) else m
        if isinstance(resolved, str):
            out.append(resolved)
        else:
            out.extend(resolved)
    return out or list(security.cv("API_ENABLED_METHODS"))


async def require_auth(
    security: Security,
    port: WebPort,
    methods: list[str],
    within: Within = -1,
    grace: Within = None,
    *,
    app_route: bool = False,
    realm: str | None = None,
) -> Response | None:
    """Authentication, freshness, then CSRF for the mechanism that succeeded.

    ``app_route``: the guard protects an app's view (a decorator), whose body
    is the app's: only the CSRF token is looked for in it, without taking it
    from the view. Library views read their body with the strict reader.
    ``realm``: the Basic challenge's (http_auth_required(realm)), else
    DEFAULT_HTTP_AUTH_REALM.
    """
    user, method = await authn.authenticate(security, port, methods)
    if user is None:
        headers = None
        if "basic" in methods:
            headers = {"WWW-Authenticate": challenge(security, realm)}
        return await unauthenticated(security, port, methods, headers)
    within_td = _minutes(within, timedelta(minutes=-1))
    grace_td = _minutes(grace, security.cv("FRESHNESS_GRACE_PERIOD"))
    if not authn.check_and_update_authn_fresh(security, port, within_td, grace_td, method):
        return await reauthentication_required(security, port, within_td, grace_td)
    if method in security.cv("CSRF_PROTECT_MECHANISMS"):
        # A websocket handshake carries no token: its Origin is checked instead.
        if not port.is_websocket:
            body = app_body_token if app_route else library_body_token
            failure = await check_csrf(security, port, body(security, port))
            if failure is not None:
                return await csrf_failure(security, port, failure)
    else:
        mark_csrf_not_needed(port)
    request_state(port.g).authn_via = method
    return None


async def require_roles(
    security: Security, port: WebPort, roles: tuple[str, ...], *, require_all: bool
) -> Response | None:
    user = await authn.load_request_user(security, port)
    if user is None:
        return await unauthenticated(security, port, [], None)
    check = all if require_all else any
    if check(user.has_role(r) for r in roles):
        return None
    name = "roles_required" if require_all else "roles_accepted"
    return await unauthorized(security, port, name, list(roles))


async def require_permissions(
    security: Security, port: WebPort, perms: tuple[str, ...], *, require_all: bool
) -> Response | None:
    user = await authn.load_request_user(security, port)
    if user is None:
        return await unauthenticated(security, port, [], None)
    check = all if require_all else any
    if check(user.has_permission(p) for p in perms):
        return None
    name = "permissions_required" if require_all else "permissions_accepted"
    return await unauthorized(security, port, name, list(perms))


async def require_anonymous(security: Security, port: WebPort) -> Response | None:
    user = await authn.load_request_user(security, port)
    if user is None:
        return None
    if want_json(security, port):
        msg = security.message("ANONYMOUS_USER_REQUIRED")
        return await render_json(security, port, error_payload(msg), 400)
    return port.redirect(view_url(security, port, "POST_LOGIN_VIEW"))


async def require_unauth_csrf(
    security: Security, port: WebPort, *, app_route: bool = False
) -> Response | None:
    """CSRF for endpoints usable without login, honouring CSRF_IGNORE_UNAUTH_ENDPOINTS."""
    if security.cv("CSRF_IGNORE_UNAUTH_ENDPOINTS"):
        user = await authn.load_request_user(security, port)
        if user is None:
            mark_csrf_not_needed(port)
            return None
    body = app_body_token if app_route else library_body_token
    failure = await check_csrf(security, port, body(security, port))
    if failure is None:
        return None
    return await csrf_failure(security, port, failure)


async def handle_csrf(
    security: Security, port: WebPort, method: str, json_response: bool = False
) -> Response | None:
    """Flask-Security's handle_csrf: the CSRF check for a request authenticated by ``method``.

    Nothing to do (None) when CSRF is off (WTF_CSRF_ENABLED), when this request
    already passed it (an ``auth_required`` guard ran it), or on a websocket
    (its Origin is checked instead). A ``method`` outside
    CSRF_PROTECT_MECHANISMS marks the request as needing no CSRF, as
    Flask-Security sets ``g.csrf_valid``. Otherwise the token is looked for in
    the CSRF headers, then in the body's field, as for ``auth_required``.

    Ours differs in one way: the check is built in, so it runs without
    Flask-WTF's CSRFProtect (Flask-Security's does nothing without it). A
    refusal is the library's 400: returned as JSON when ``json_response``,
    otherwise raised as CSRFError (as Flask-Security re-raises Flask-WTF's),
    carrying the same answer as any CSRF refusal here (JSON, or the HTML
    error page, chosen as for every answer).
    """
    if not csrf_enabled(security) or port.is_websocket or request_state(port.g).csrf_checked:
        return None
    if method not in security.cv("CSRF_PROTECT_MECHANISMS"):
        mark_csrf_not_needed(port)
        return None
    failure = await check_csrf(security, port, app_body_token(security, port))
    if failure is None:
        return None
    response = apply_cache_control(
        security, await csrf_failure(security, port, failure, as_json=json_response)
    )
    if json_response:
        return response
    raise CSRFError(security.message(failure), response=response)
