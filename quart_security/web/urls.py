"""Where the library sends a browser: every URL it builds or follows, in one place.

``url_for_security`` names the library's endpoints; a ``*_VIEW`` setting is
an endpoint name (".login", "index") or a URL, resolved by ``view_url`` (for
a redirect after success, falling back to POST_LOGIN_VIEW) or ``spa_url``
(for an SPA: with query parameters, and REDIRECT_HOST for a front end served
elsewhere). A user-supplied ``next`` is only followed when ``safe_next``
(redirects.py) accepts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..helpers import transform_url
from .redirects import safe_next

if TYPE_CHECKING:
    from werkzeug.sansio.response import Response

    from ..extension import Security
    from .port import WebPort


def url_for_security(security: Security, port: WebPort, endpoint: str, **values: Any) -> str:
    """URL of one of the library's endpoints ("login", "reset_password", ...)."""
    return port.url_for(f"{security.cv('BLUEPRINT_NAME')}.{endpoint}", **values)


def _setting_value(value: Any) -> str:
    return str(value() if callable(value) else value)


def _is_url(target: str) -> bool:
    return target.startswith("/") or "://" in target


def resolve_view(security: Security, port: WebPort, target: str) -> str:
    """A *_VIEW value as a URL: an endpoint name is resolved, a URL kept as it is."""
    if _is_url(target):
        return target
    endpoint = f"{security.cv('BLUEPRINT_NAME')}{target}" if target.startswith(".") else target
    try:
        return port.url_for(endpoint)
    except Exception:  # a bad setting falls back to a plain path
        return target


def view_url(security: Security, port: WebPort, view_key: str) -> str:
    """Where to go after success: SECURITY_<view_key>, else POST_LOGIN_VIEW, else "/"."""
    target = security.cv(view_key) or security.cv("POST_LOGIN_VIEW") or "/"
    return resolve_view(security, port, _setting_value(target))


def spa_url(
    security: Security, port: WebPort, value: Any, qparams: dict[str, str] | None = None
) -> str:
    """A *_VIEW setting as a URL with query parameters (Flask-Security's get_url).

    A URL that is not one of the app's endpoints is the front end's: its host
    becomes REDIRECT_HOST when that is set (an SPA served from elsewhere).
    """
    target = _setting_value(value)
    resolved = resolve_view(security, port, target)
    is_endpoint = not _is_url(target) and resolved != target
    parts = urlsplit(resolved)
    if qparams:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.update(qparams)
        parts = parts._replace(query=urlencode(query))
    host = security.cv("REDIRECT_HOST")
    if host and not is_endpoint:
        parts = parts._replace(netloc=str(host))
    return urlunsplit(parts)


def get_url(
    security: Security, port: WebPort, endpoint_or_url: str, qparams: dict[str, str] | None = None
) -> str:
    """Flask-Security's get_url: the URL of an endpoint, else ``endpoint_or_url`` as a URL.

    What the framework's ``url_for`` cannot build (not an endpoint; outside a
    request without SERVER_NAME) is taken as a URL outside the app, whose host
    becomes REDIRECT_HOST when that is set. The query is merged as
    ``transform_url`` does.
    """
    try:
        url = port.url_for(endpoint_or_url)
    except Exception:  # any failure means "not an endpoint", as in Flask-Security
        host = security.cv("REDIRECT_HOST")
        if host:
            return transform_url(endpoint_or_url, qparams, netloc=str(host))
        return transform_url(endpoint_or_url, qparams)
    return transform_url(url, qparams)


def safe_next_url(security: Security, port: WebPort, *candidates: Any) -> str | None:
    """The first of ``candidates`` that is a safe place to send the browser, or None."""
    request = port.request
    for candidate in candidates:
        if not candidate:
            continue
        target = safe_next(
            candidate,
            request_host=request.host,
            request_scheme=request.scheme,
            server_name=security.app_config.get("SERVER_NAME"),
            allow_subdomains=bool(security.cv("REDIRECT_ALLOW_SUBDOMAINS")),
            base_domain=security.cv("REDIRECT_BASE_DOMAIN"),
            allowed_subdomains=security.cv("REDIRECT_ALLOWED_SUBDOMAINS") or (),
        )
        if target is not None:
            return target
    return None


def redirect_after(
    security: Security, port: WebPort, view_key: str, *next_candidates: Any
) -> Response:
    """Redirect to a safe ``next`` if one was given, else the configured view."""
    target = safe_next_url(security, port, *next_candidates)
    return port.redirect(target if target is not None else view_url(security, port, view_key))


def current_path(port: WebPort) -> str:
    """The current location as a relative URL (never an absolute, host-derived one)."""
    request = port.request
    qs = request.query_string.decode("latin-1")
    return request.path + ("?" + qs if qs else "")


def redirect_to_come_back(security: Security, port: WebPort, endpoint: str) -> Response:
    """To a library page (/login, /verify) with ``next`` pointing back here."""
    url = url_for_security(security, port, endpoint)
    sep = "&" if "?" in url else "?"
    return port.redirect(url + sep + urlencode({"next": current_path(port)}, safe="/"))
