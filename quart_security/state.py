"""Where the current extension and the per-request authentication state live.

The web adapters set the current ``Security`` in a ContextVar for each request
(and websocket); code outside a request finds it through the framework's app
context. The per-request state sits on the framework's ``g`` under one
attribute, so Quart and Flask share the same logic.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .outbox import Outbox

if TYPE_CHECKING:
    from werkzeug.sansio.response import Response

    from .extension import Security

_current: ContextVar[Security | None] = ContextVar("quart_security_current", default=None)

STATE_ATTR = "_fs_request_state"


def set_current_security(security: Security | None) -> Any:
    return _current.set(security)


def current_security() -> Security:
    """The Security extension serving this request (or app context)."""
    security = _current.get()
    if security is not None:
        return security
    for module in ("quart", "flask"):
        try:
            framework = __import__(module)
        except ImportError:  # pragma: no cover - quart is a dependency
            continue
        if framework.has_app_context():
            found = framework.current_app.extensions.get("security")
            if found is not None:
                return found  # type: ignore[no-any-return]
    raise RuntimeError("no Security extension is active: call within an app or request context")


@dataclass
class CookieAction:
    """A cookie change queued during the request, applied to the response."""

    name: str
    value: str | None  # None deletes
    max_age: int | None = None
    path: str = "/"
    domain: str | None = None
    secure: bool = False
    httponly: bool = True
    samesite: str | None = None

    def apply(self, response: Response) -> None:
        if self.value is None:
            response.delete_cookie(
                self.name,
                path=self.path,
                domain=self.domain,
                secure=self.secure,
                httponly=self.httponly,
                samesite=self.samesite,
            )
        else:
            response.set_cookie(
                self.name,
                self.value,
                max_age=self.max_age,
                path=self.path,
                domain=self.domain,
                secure=self.secure,
                httponly=self.httponly,
                samesite=self.samesite,
            )


_UNSET: Any = object()


@dataclass
class RequestState:
    """Authentication facts about one request, computed at most once each."""

    user: Any = None  # the current user (session or token), or None
    loaded: bool = False
    authn_via: str | None = None  # "session" | "token" | "basic"
    token_data: dict[str, Any] | None = None
    by_session: Any = _UNSET
    by_token: Any = _UNSET
    by_basic: Any = _UNSET
    csrf_token: str | None = None
    csrf_checked: bool = False
    cookie_actions: list[CookieAction] = field(default_factory=list)
    form_cache: Any = None
    session_used: bool = False
    #: The mail intents of this request: rendered, committed, delivered in web/lifecycle.py.
    outbox: Outbox = field(default_factory=Outbox)
    #: Commit the unit of work even though the answer is an error: a refusal
    #: that must be remembered (a counted two-factor code attempt) sets it.
    commit_on_error: bool = False
    #: The client's budget key (web/client.py), worked out once per request.
    client_key: str | None = None

    def queue_cookie(self, action: CookieAction) -> None:
        self.cookie_actions = [a for a in self.cookie_actions if a.name != action.name]
        self.cookie_actions.append(action)


def request_state(g: Any) -> RequestState:
    state: RequestState | None = getattr(g, STATE_ATTR, None)
    if state is None:
        state = RequestState()
        setattr(g, STATE_ATTR, state)
    return state


UNSET = _UNSET
