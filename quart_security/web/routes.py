"""The one route table: endpoint, URL config key, methods, view, feature flag.

Both adapters build their blueprint from this table, so a URL, a method list
or a feature switch is decided once. URLs and methods are read from config at
init_app time, as Flask-Security does. A view is named by a
"module:function" path and imported only when its feature is enabled, so an
app that does not use a feature never imports its module.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

View = Callable[["Security", "WebPort"], Awaitable[Response]]
VIEWS = "quart_security.web.views."


def _flag(key: str) -> Callable[[Security], bool]:
    return lambda security: bool(security.cv(key))


@dataclass(frozen=True)
class Route:
    endpoint: str
    url_key: str
    methods: tuple[str, ...] | str  # a tuple, or the config key that holds the methods
    target: View | str  # the view, or "module:function"
    enabled: Callable[[Security], bool] = lambda security: True
    suffix: str = ""

    @property
    def view(self) -> View:
        if not isinstance(self.target, str):
            return self.target
        module, _, name = self.target.partition(":")
        found: Any = getattr(importlib.import_module(module), name)
        return found  # type: ignore[no-any-return]

    def url(self, security: Security) -> str:
        return str(security.cv(self.url_key)) + self.suffix

    def method_list(self, security: Security) -> list[str]:
        if isinstance(self.methods, str):
            return [m.upper() for m in (security.cv(self.methods) or [])]
        return list(self.methods)


def _freshness_enabled(security: Security) -> bool:
    return bool(security.cv("FRESHNESS").total_seconds() >= 0)


GET_POST = ("GET", "POST")

ROUTES: tuple[Route, ...] = (
    Route("login", "LOGIN_URL", GET_POST, VIEWS + "auth:login"),
    Route(
        "logout",
        "LOGOUT_URL",
        "LOGOUT_METHODS",
        VIEWS + "auth:logout",
        enabled=lambda s: bool(s.cv("LOGOUT_METHODS")),
    ),
    Route("verify", "VERIFY_URL", GET_POST, VIEWS + "auth:verify", enabled=_freshness_enabled),
    # Account lifecycle (reference/flask-security.md §1.2-1.8).
    Route("register", "REGISTER_URL", GET_POST, VIEWS + "register:register", _flag("REGISTERABLE")),
    Route(
        "send_confirmation",
        "CONFIRM_URL",
        GET_POST,
        VIEWS + "confirm:send_confirmation",
        _flag("CONFIRMABLE"),
    ),
    Route(
        "confirm_email",
        "CONFIRM_URL",
        GET_POST,
        VIEWS + "confirm:confirm_email",
        _flag("CONFIRMABLE"),
        suffix="/<token>",
    ),
    Route(
        "forgot_password",
        "RESET_URL",
        GET_POST,
        VIEWS + "recover:forgot_password",
        _flag("RECOVERABLE"),
    ),
    Route(
        "reset_password",
        "RESET_URL",
        GET_POST,
        VIEWS + "recover:reset_password",
        _flag("RECOVERABLE"),
        suffix="/<token>",
    ),
    Route(
        "change_password",
        "CHANGE_URL",
        GET_POST,
        VIEWS + "change_password:change_password",
        _flag("CHANGEABLE"),
    ),
    Route(
        "change_email",
        "CHANGE_EMAIL_URL",
        GET_POST,
        VIEWS + "change_email:change_email",
        _flag("CHANGE_EMAIL"),
    ),
    Route(
        "change_email_confirm",
        "CHANGE_EMAIL_URL",
        GET_POST,
        VIEWS + "change_email:change_email_confirm",
        _flag("CHANGE_EMAIL"),
        suffix="/<token>",
    ),
    Route(
        "change_username",
        "CHANGE_USERNAME_URL",
        GET_POST,
        VIEWS + "change_username:change_username",
        _flag("CHANGE_USERNAME"),
    ),
    Route(
        "recover_username",
        "USERNAME_RECOVERY_URL",
        GET_POST,
        VIEWS + "recover_username:recover_username",
        _flag("USERNAME_RECOVERY"),
    ),
)


def _recovery_codes(security: Security) -> bool:
    """Flask-Security's rule: with a second factor to recover from (WebAuthn not built yet)."""
    return bool(security.cv("MULTI_FACTOR_RECOVERY_CODES") and security.cv("TWO_FACTOR"))


TWO_FACTOR_ROUTES: tuple[Route, ...] = (
    Route(
        "two_factor_setup",
        "TWO_FACTOR_SETUP_URL",
        GET_POST,
        VIEWS + "two_factor:two_factor_setup",
        _flag("TWO_FACTOR"),
    ),
    Route(
        "two_factor_setup_validate",
        "TWO_FACTOR_SETUP_URL",
        ("POST",),
        VIEWS + "two_factor:two_factor_setup_validate",
        _flag("TWO_FACTOR"),
        suffix="/<token>",
    ),
    Route(
        "two_factor_token_validation",
        "TWO_FACTOR_TOKEN_VALIDATION_URL",
        GET_POST,
        VIEWS + "two_factor:two_factor_token_validation",
        _flag("TWO_FACTOR"),
    ),
    Route(
        "two_factor_rescue",
        "TWO_FACTOR_RESCUE_URL",
        GET_POST,
        VIEWS + "two_factor:two_factor_rescue",
        _flag("TWO_FACTOR"),
    ),
    Route(
        "tf_select",
        "TWO_FACTOR_SELECT_URL",
        GET_POST,
        VIEWS + "two_factor:tf_select",
        _flag("TWO_FACTOR"),
    ),
    Route(
        "mf_recovery_codes",
        "MULTI_FACTOR_RECOVERY_CODES_URL",
        GET_POST,
        VIEWS + "recovery_codes:mf_recovery_codes",
        _recovery_codes,
    ),
    Route(
        "mf_recovery",
        "MULTI_FACTOR_RECOVERY_URL",
        GET_POST,
        VIEWS + "recovery_codes:mf_recovery",
        _recovery_codes,
    ),
)
ROUTES = ROUTES + TWO_FACTOR_ROUTES


def enabled_routes(security: Security) -> list[Route]:
    return [route for route in ROUTES if route.enabled(security)]


def view_arg(port: WebPort, name: str) -> Any:
    """A URL variable of the current route (``<token>``), as the adapter stored it."""
    return (getattr(port.g, "fs_view_args", None) or {}).get(name)
