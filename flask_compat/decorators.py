"""The decorators for Flask views: the core's guards, run on this thread's loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
from werkzeug.sansio.response import Response

from quart_security.state import current_security
from quart_security.web import guards
from quart_security.web.decorator_factory import Decorators, Guard

from .adapter import FlaskPort
from .driver import run_in_request


def _wrap(view: Callable[..., Any], guard: Guard) -> Callable[..., Any]:
    async def check() -> Response | None:
        return await guard(current_security(), FlaskPort())

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        failure = run_in_request(check())
        if failure is not None:
            return failure
        # An async view needs flask[async] (Flask's own rule), as with any Flask view.
        return flask.current_app.ensure_sync(view)(*args, **kwargs)

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


def handle_csrf(method: str, json_response: bool = False) -> Response | None:
    """CSRF for a view that checks it itself (see quart_security's): None, the
    JSON 400 when ``json_response``, or CSRFError raised."""
    return run_in_request(
        guards.handle_csrf(current_security(), FlaskPort(), method, json_response)
    )
