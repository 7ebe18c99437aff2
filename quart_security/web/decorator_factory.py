"""Flask-Security's decorators, built once over a framework's view wrapper.

A decorator pairs a guard (web/guards.py) with the wrapped view. How to get the
port and how to call the view differ between Quart (await) and Flask (call),
so each adapter passes its own ``wrap(view, guard)``; the guards and their
arguments are the same for both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, overload

from werkzeug.sansio.response import Response

from ..crypto.hashing_pool import hashing_client
from ..errors import HashingOverloaded, TooManyRequests
from . import guards
from .client import client_key
from .responses import apply_cache_control, refusal

F = TypeVar("F", bound=Callable[..., Any])
Guard = Callable[[Any, Any], Awaitable[Response | None]]
Wrap = Callable[[Callable[..., Any], Guard], Callable[..., Any]]


class Decorators:
    """The public decorators for one framework."""

    def __init__(self, wrap: Wrap) -> None:
        self._wrap = wrap

    def _decorate(self, guard: Guard) -> Callable[[F], F]:
        async def checked(security: Any, port: Any) -> Response | None:
            # An app view's guard may hash (HTTP Basic): its client's pool share.
            token = hashing_client.set(client_key(security, port))
            try:
                failure = await guard(security, port)
            except (HashingOverloaded, TooManyRequests) as exc:  # Basic: a hash or a budget
                failure = await refusal(security, port, exc)
            finally:
                hashing_client.reset(token)
            # A refusal is the library's answer: not to be cached (CACHE_CONTROL).
            return None if failure is None else apply_cache_control(security, failure)

        def decorator(fn: F) -> F:
            return wraps(fn)(self._wrap(fn, checked))  # type: ignore[return-value]

        return decorator

    def auth_required(
        self, *auth_methods: Any, within: guards.Within = -1, grace: guards.Within = None
    ) -> Callable[[F], F]:
        """Require authentication by one of ``auth_methods`` (token, session, basic)."""

        async def guard(security: Any, port: Any) -> Response | None:
            methods = guards.resolve_methods(security, auth_methods)
            return await guards.require_auth(security, port, methods, within, grace, app_route=True)

        return self._decorate(guard)

    def login_required(self, fn: F) -> F:
        return self.auth_required("session", "token")(fn)

    def auth_token_required(self, fn: F) -> F:
        return self.auth_required("token")(fn)

    @overload
    def http_auth_required(self, realm: F) -> F: ...

    @overload
    def http_auth_required(self, realm: str | None = None) -> Callable[[F], F]: ...

    def http_auth_required(self, realm: Any = None) -> Any:
        """Basic auth; usable bare (``@http_auth_required``) or with a realm.

        The realm is the one the 401's challenge names (Flask-Security's
        ``Basic realm="<realm>"``); bare, DEFAULT_HTTP_AUTH_REALM.
        """
        named = None if callable(realm) or realm is None else str(realm)

        async def guard(security: Any, port: Any) -> Response | None:
            return await guards.require_auth(security, port, ["basic"], app_route=True, realm=named)

        decorate = self._decorate(guard)
        return decorate(realm) if callable(realm) else decorate

    def roles_required(self, *roles: str) -> Callable[[F], F]:
        async def guard(security: Any, port: Any) -> Response | None:
            return await guards.require_roles(security, port, roles, require_all=True)

        return self._decorate(guard)

    def roles_accepted(self, *roles: str) -> Callable[[F], F]:
        async def guard(security: Any, port: Any) -> Response | None:
            return await guards.require_roles(security, port, roles, require_all=False)

        return self._decorate(guard)

    def permissions_required(self, *perms: str) -> Callable[[F], F]:
        async def guard(security: Any, port: Any) -> Response | None:
            return await guards.require_permissions(security, port, perms, require_all=True)

        return self._decorate(guard)

    def permissions_accepted(self, *perms: str) -> Callable[[F], F]:
        async def guard(security: Any, port: Any) -> Response | None:
            return await guards.require_permissions(security, port, perms, require_all=False)

        return self._decorate(guard)

    def anonymous_user_required(self, fn: F) -> F:
        return self._decorate(guards.require_anonymous)(fn)

    def unauth_csrf(self, fall_through: bool = False) -> Callable[[F], F]:
        """CSRF for a view usable without login (CSRF_IGNORE_UNAUTH_ENDPOINTS honoured).

        ``fall_through`` is accepted with Flask-Security 5.9's meaning: none.
        Since Flask-Security 5.4.3 a failed check is refused whatever it says,
        and so here: a migrating app that passes True keeps its protection.
        """

        async def guard(security: Any, port: Any) -> Response | None:
            return await guards.require_unauth_csrf(security, port, app_route=True)

        return self._decorate(guard)
