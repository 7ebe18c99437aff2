"""Whose pages may open a websocket that ambient credentials authenticate.

A browser sends the session cookie (and cached Basic credentials) with any
site's websocket handshake, and a handshake has no CSRF token: a page on
evil.example can open ``wss://app.example/ws`` as the signed-in user
(cross-site websocket hijacking). What the browser does send, and a page
cannot forge, is ``Origin``. So a handshake authenticated by the session or
Basic counts only when its Origin is the app's own or one of
WEBSOCKET_ALLOWED_ORIGINS; a handshake without an Origin (no browser sends
one without it) does not count either. A token-authenticated handshake is
not checked: a page on another site cannot make the browser add the token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


def parse_origin(value: str) -> Origin | None:
    """``scheme://host[:port]`` exactly, as the Origin header carries it; else None.

    "null", paths, queries, user info and schemes other than http(s) are not
    origins of a page that could be allowed.
    """
    if not value or value != value.strip() or len(value) > 512:
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def _is_own(origin: Origin, host_header: str) -> bool:
    """Same host and port as the handshake's Host header.

    The scheme is not compared: behind a TLS-terminating proxy the app sees
    ws:// for a page served over https://. A Host header without a port means
    the default port of the origin's own scheme.
    """
    try:
        parts = urlsplit("//" + host_header)
        port = parts.port
    except ValueError:
        return False
    if not parts.hostname or parts.hostname.lower() != origin.host:
        return False
    return origin.port == (port if port is not None else DEFAULT_PORTS[origin.scheme])


def allowed_origins(values: list[str]) -> frozenset[Origin]:
    """WEBSOCKET_ALLOWED_ORIGINS parsed once at start-up (validated by config)."""
    return frozenset(o for o in map(parse_origin, values) if o is not None)


def handshake_origin_allowed(security: Security, port: WebPort) -> bool:
    """Whether ambient credentials (session, Basic) may authenticate this handshake."""
    origin = parse_origin(str(port.request.headers.get("Origin", "")))
    if origin is None:
        return False
    return origin in security.websocket_origins or _is_own(origin, port.request.host)
