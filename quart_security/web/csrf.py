"""CSRF in Flask-Security's SPA model, without Flask-WTF.

The secret lives in the session under ``csrf_token`` and the token handed to
clients is that secret signed and timestamped (Flask-WTF's format, so existing
SPAs and sessions keep working). A token is accepted from any of the
configured headers (WTF_CSRF_HEADERS plus SECURITY_CSRF_HEADER) or, when no
header carries one, from the form field or JSON body member. The secret is
rotated on login and logout.

The optional CSRF cookie (SECURITY_CSRF_COOKIE_NAME) follows Flask-Security's
``fs_cc`` session state: "set" writes the cookie on the response, "clear"
deletes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest

from ..state import CookieAction, request_state
from .form_input import request_form

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

SESSION_KEY = "csrf_token"


class CSRFError(BadRequest):
    """``handle_csrf``'s refusal, raised as Flask-WTF's CSRFError is (a 400).

    Raised rather than returned so that a view which ignores handle_csrf's
    return value (as Flask-Security's default lets it) still stops; its
    ``response`` is the library's CSRF answer, which Quart and Flask send
    as is unless the app registered its own handler for it.
    """


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_enabled(security: Security) -> bool:
    return bool(security.app_config.get("WTF_CSRF_ENABLED", True))


def generate_csrf(security: Security, port: WebPort) -> str:
    """The signed CSRF token for this session, minted once per request."""
    state = request_state(port.g)
    if state.csrf_token is not None:
        return state.csrf_token
    secret = port.session.get(SESSION_KEY)
    if not isinstance(secret, str) or not secret:
        secret = security.tokens.new_csrf_secret()
        port.session[SESSION_KEY] = secret
    state.csrf_token = security.tokens.csrf_token_for(secret)
    return state.csrf_token


def rotate_csrf(security: Security, port: WebPort) -> None:
    """New secret (login, logout): tokens handed out before stop working."""
    port.session[SESSION_KEY] = security.tokens.new_csrf_secret()
    request_state(port.g).csrf_token = None


def header_token(security: Security, port: WebPort) -> str | None:
    """The token of the first configured CSRF header the request carries."""
    headers = list(security.app_config.get("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"]))
    extra = security.cv("CSRF_HEADER")
    if extra and extra not in headers:
        headers.append(extra)
    for name in headers:
        value = port.request.headers.get(name)
        if value:
            return str(value)
    return None


def field_name(security: Security) -> str:
    return str(security.app_config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))


#: Reads the token from the body, only when no header carries one.
BodyToken = Callable[[], Awaitable[Any]]


def library_body_token(security: Security, port: WebPort) -> BodyToken:
    """The token field of a library endpoint's form (its strict, cached reader)."""

    async def read() -> Any:
        return (await request_form(security, port)).get(field_name(security))

    return read


def app_body_token(security: Security, port: WebPort) -> BodyToken:
    """The token field of an app route's body, as the framework parses and caches it.

    Nothing else of the body is looked at: its format and size are the app's,
    and the app's view can still read all of it.
    """

    async def read() -> Any:
        return await port.body_field(field_name(security))

    return read


async def check_csrf(security: Security, port: WebPort, body_token: BodyToken) -> str | None:
    """None when the request passes CSRF, else the SECURITY_MSG_* key of the failure.

    A token in a header is used as it is and the body is never read; only a
    request without one is looked at for the form field.
    """
    state = request_state(port.g)
    if state.csrf_checked or not csrf_enabled(security):
        return None
    if port.request.method in SAFE_METHODS:
        return None
    token: Any = header_token(security, port)
    if token is None:
        token = await body_token()
    secret = port.session.get(SESSION_KEY)
    ok, reason = security.tokens.csrf_token_matches(
        token if isinstance(token, str) else None, secret if isinstance(secret, str) else None
    )
    if not ok:
        return reason
    state.csrf_checked = True
    return None


def mark_csrf_not_needed(port: WebPort) -> None:
    """Authenticated by a mechanism outside CSRF_PROTECT_MECHANISMS."""
    request_state(port.g).csrf_checked = True


def queue_csrf_cookie(security: Security, port: WebPort) -> None:
    """Apply the ``fs_cc`` state to the response (called after the view)."""
    name = security.cv("CSRF_COOKIE_NAME")
    if not name:
        return
    session = port.session
    status = session.get("fs_cc")
    cookie_kwargs = dict(security.cv("CSRF_COOKIE") or {})
    cookie_kwargs.pop("key", None)
    if status == "clear":
        request_state(port.g).queue_cookie(
            CookieAction(
                name=name,
                value=None,
                path=cookie_kwargs.get("path", "/"),
                domain=cookie_kwargs.get("domain"),
            )
        )
        session.pop("fs_cc", None)
        return
    refresh = security.cv("CSRF_COOKIE_REFRESH_EACH_REQUEST") and name in port.request.cookies
    if status == "set" or refresh:
        token = generate_csrf(security, port)
        request_state(port.g).queue_cookie(
            CookieAction(
                name=name,
                value=token,
                max_age=cookie_kwargs.get("max_age"),
                path=cookie_kwargs.get("path", "/"),
                domain=cookie_kwargs.get("domain"),
                secure=bool(cookie_kwargs.get("secure", False)),
                httponly=bool(cookie_kwargs.get("httponly", False)),
                samesite=cookie_kwargs.get("samesite", "Strict"),
            )
        )
        session["fs_cc"] = "sent"
