"""The decorators for Quart views and websocket routes (async)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import quart
from werkzeug.sansio.response import Response

from .state import current_security
from .web import guards
from .web.decorator_factory import Decorators, Guard
from .web.quart_adapter import QuartPort


def _wrap(view: Callable[..., Any], guard: Guard) -> Callable[..., Any]:
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        websocket = quart.has_websocket_context() and not quart.has_request_context()
        port = QuartPort(websocket=websocket)
        failure = await guard(current_security(), port)
        if failure is not None:
            if websocket:
                quart.abort(failure)  # type: ignore[arg-type]
            return failure
        return await quart.current_app.ensure_async(view)(*args, **kwargs)

    return wrapped


_decorators = Decorators(_wrap)

auth_required = _decorators.auth_required
login_required = _decorators.login_required
auth_token_required = _decorators.auth_token_required
http_auth_required = _decorators.http_auth_required
roles_required = _decorators.roles_required
roles_accepted = _decorators.roles_accepted
permissions_required = _decorators.permissions_required
permissions_accepted = _decorators.permissions_accepted
anonymous_user_required = _decorators.anonymous_user_required
unauth_csrf = _decorators.unauth_csrf


async def handle_csrf(method: str, json_response: bool = False) -> Response | None:
    """CSRF for a view that checks it itself, for a request authenticated by ``method``.

    None when the request may go on; the JSON 400 to return when
    ``json_response``; otherwise a refusal raises CSRFError (a 400 with the
    library's answer). Runs without Flask-WTF, unlike Flask-Security's; see
    ``web.guards.handle_csrf``.
    """
    websocket = quart.has_websocket_context() and not quart.has_request_context()
    return await guards.handle_csrf(
        current_security(), QuartPort(websocket=websocket), method, json_response
    )
