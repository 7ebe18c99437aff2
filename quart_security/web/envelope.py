"""The JSON envelope and the HTML/JSON choice, as Flask-Security makes them.

JSON is chosen when the request body is JSON or the best Accept match is
application/json. Every JSON answer is ``{"meta": {"code": N}, "response":
{...}}`` with the status mirrored in HTTP; errors carry ``errors`` (all
messages) and ``field_errors`` (per field, the form-level key being ""). An
app may replace the renderer with ``security.render_json(cb)`` and the choice
with ``security.want_json(fn)``, as in Flask-Security (web/hooks.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

from .form_input import JSON_MIMETYPE, is_json_mimetype
from .hooks import call_app_hook

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort


def want_json(security: Security, port: WebPort) -> bool:
    """Flask-Security's choice, or the app's ``security.want_json(fn)``."""
    if security.hooks.want_json is not None:
        return bool(security.hooks.want_json(port.request))
    return default_want_json(port)


def default_want_json(port: WebPort) -> bool:
    request = port.request
    if is_json_mimetype(request.mimetype):
        return True
    best = request.accept_mimetypes.best
    return best == JSON_MIMETYPE


def error_payload(
    errors: Sequence[str] | str | None = None,
    field_errors: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """``{"errors": [...], "field_errors": {...}}``; errors lists every message."""
    messages: list[str] = [errors] if isinstance(errors, str) else list(errors or ())
    payload: dict[str, Any] = {}
    if field_errors:
        payload["field_errors"] = {k: list(v) for k, v in field_errors.items()}
        for msgs in field_errors.values():
            for msg in msgs:
                if msg not in messages:
                    messages.append(msg)
    payload["errors"] = messages
    return payload


def default_render_json(
    port: WebPort,
    payload: Mapping[str, Any],
    code: int,
    headers: Mapping[str, str] | None,
    user: Any,
) -> Response:
    body = json.dumps(
        {"meta": {"code": code}, "response": dict(payload)}, default=str, separators=(",", ":")
    )
    all_headers = {"Content-Type": JSON_MIMETYPE}
    all_headers.update(headers or {})
    return port.make_response(body, code, all_headers)


async def render_json(
    security: Security,
    port: WebPort,
    payload: Mapping[str, Any],
    code: int = 200,
    headers: Mapping[str, str] | None = None,
    user: Any = None,
) -> Response:
    """Every JSON answer of the library: the app's renderer if it set one."""
    callback = security.hooks.render_json
    if callback is None:
        return default_render_json(port, payload, code, headers, user)
    return await call_app_hook(port, callback, dict(payload), code, dict(headers or {}), user)
