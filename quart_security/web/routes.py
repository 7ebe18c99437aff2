"""The one route table: endpoint, URL config key, methods, view, feature flag.

Both adapters build their blueprint from this table, so a URL, a method list
or a feature switch is decided once. URLs and methods are read from config at
init_app time, as Flask-Security does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.sansio.response import Response

from .views import auth

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

View = Callable[["Security", "WebPort"], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    endpoint: str
    url_key: str
    methods: tuple[str, ...] | str  # a tuple, or the config key that holds the methods
    view: View
    enabled: Callable[[Security], bool] = lambda security: True
    suffix: str = ""

    def url(self, security: Security) -> str:
        return str(security.cv(self.url_key)) + self.suffix

    def method_list(self, security: Security) -> list[str]:
        if isinstance(self.methods, str):
            return [m.upper() for m in (security.cv(self.methods) or [])]
        return list(self.methods)


def _freshness_enabled(security: Security) -> bool:
    return bool(security.cv("FRESHNESS").total_seconds() >= 0)


ROUTES: tuple[Route, ...] = (
    Route("login", "LOGIN_URL", ("GET", "POST"), auth.login),
    Route(
        "logout",
        "LOGOUT_URL",
        "LOGOUT_METHODS",
        auth.logout,
        enabled=lambda s: bool(s.cv("LOGOUT_METHODS")),
    ),
    Route("verify", "VERIFY_URL", ("GET", "POST"), auth.verify, enabled=_freshness_enabled),
)


def enabled_routes(security: Security) -> list[Route]:
    return [route for route in ROUTES if route.enabled(security)]
