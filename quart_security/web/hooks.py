"""The app's callbacks, called with Flask-Security's signatures, sync or async.

``security.render_json(cb)``, ``want_json(fn)``, ``unauthn_handler(cb)``,
``unauthz_handler(cb)`` and ``reauthn_handler(cb)`` take what a
Flask-Security app already has: ``cb(payload, code, headers, user)``,
``fn(request)``, ``cb(mechanisms, headers)``, ``cb(func_name, params)``,
``cb(within, grace)``. A callback may be a coroutine function (awaited) and
may return anything the framework makes a response from (a Response, a
tuple, a dict, a string); an exception it raises (``abort(401)``) is the
framework's to handle, as in Flask-Security.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

if TYPE_CHECKING:
    from .port import WebPort


@dataclass
class Hooks:
    """Callbacks an app registered; None means the library's default."""

    render_json: Callable[..., Any] | None = None
    want_json: Callable[[Any], bool] | None = None
    unauthn: Callable[..., Any] | None = None
    unauthz: Callable[..., Any] | None = None
    reauthn: Callable[..., Any] | None = None


async def call_app_hook(port: WebPort, callback: Callable[..., Any], *args: Any) -> Response:
    """Run an app callback (sync or async) and make its return value a response."""
    result = callback(*args)
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, Response):
        return result
    return await port.make_app_response(result)
