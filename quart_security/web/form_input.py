"""Turning a request body into form data, defensively.

A JSON body must be an object whose values are strings, booleans or null (and
lists of strings for multi-valued fields); anything else is rejected with a
field error instead of reaching WTForms or the datastore as a dict (NoSQL
operator injection, Flask-Security #1258's TypeError). Bodies are size-capped
before they are read, and JSON nesting cannot recurse because nothing nested is
accepted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import MultiDict

from .port import BodyTooLarge

if TYPE_CHECKING:
    from .port import WebPort

#: Security endpoints never need more than this (a passkey response is ~2 KiB).
DEFAULT_BODY_LIMIT = 64 * 1024


class InvalidInput(Exception):
    """The body cannot be used: answer 400 (or 413) with the given message key."""

    def __init__(
        self,
        message_key: str,
        *,
        status: int = 400,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.status = status
        self.field_errors = field_errors or {}


def _reject_constant(value: str) -> Any:
    raise ValueError(f"invalid JSON constant {value}")


def _coerce_json_object(data: Any) -> MultiDict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("INVALID_JSON")
    out: MultiDict[str, Any] = MultiDict()
    bad: dict[str, list[str]] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool | str):
            out.add(key, value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            for item in value:
                out.add(key, item)
        else:
            bad[key] = ["INVALID_INPUT"]
    if bad:
        raise InvalidInput("INVALID_INPUT", field_errors=bad)
    return out


async def read_form_data(port: WebPort, limit: int = DEFAULT_BODY_LIMIT) -> MultiDict[str, Any]:
    """Form fields from a JSON object or a urlencoded/multipart body."""
    request = port.request
    declared = request.content_length
    if declared is not None and declared > limit:
        raise InvalidInput("BODY_TOO_LARGE", status=413)
    if request.mimetype == "application/json" or request.mimetype.endswith("+json"):
        try:
            raw = await port.get_body(limit)
        except BodyTooLarge:
            raise InvalidInput("BODY_TOO_LARGE", status=413) from None
        if not raw.strip():
            return MultiDict()
        try:
            text = raw.decode("utf-8")
            data = json.loads(text, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise InvalidInput("INVALID_JSON") from None
        return _coerce_json_object(data)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await port.get_form()
        except BodyTooLarge:
            raise InvalidInput("BODY_TOO_LARGE", status=413) from None
        return MultiDict(form)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return MultiDict()
    # A body we do not parse (text/plain etc.): treat as empty rather than
    # guess; the classic cross-site text/plain JSON CSRF gets no fields.
    return MultiDict()
