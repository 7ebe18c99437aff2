"""Turning the body of a request to a library endpoint into form data, defensively.

Only the library's own endpoints are read this way; an app route's body is
the app's business (the CSRF check on app routes reads one field through the
framework's cached parser, see ``csrf.py``).

A JSON body must be an object (``null`` is read as an empty form, as
Flask-Security does). Values that a form field can take (strings, booleans,
null, lists of strings) are kept; any other value (a number, an object, a
mixed list) is set aside: unknown members are ignored whatever their type,
and a form refuses such a value for a field it knows (``forms.Form``), so a
dict never reaches WTForms or the datastore (NoSQL operator injection,
Flask-Security #1258's TypeError). Bodies are size-capped before they are
read, and JSON nesting cannot recurse into anything we keep.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import MultiDict

from ..state import request_state
from .port import BodyTooLarge

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

#: Security endpoints never need more than this (a passkey response is ~2 KiB).
DEFAULT_BODY_LIMIT = 64 * 1024

JSON_MIMETYPE = "application/json"
FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def is_json_mimetype(mimetype: str) -> bool:
    return mimetype == JSON_MIMETYPE or mimetype.endswith("+json")


def json_member(raw: bytes, name: str) -> Any:
    """``name`` of a JSON object body, or None for any other body (never raises)."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data.get(name) if isinstance(data, dict) else None


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


class FormData(MultiDict[str, Any]):
    """Form fields of a request, and the names whose JSON value no field can take."""

    unusable: frozenset[str] = frozenset()


def _reject_constant(value: str) -> Any:
    raise ValueError(f"invalid JSON constant {value}")


def _usable(value: Any) -> bool:
    return isinstance(value, bool | str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _json_object_fields(data: Any) -> FormData:
    out = FormData()
    if data is None:
        return out
    if not isinstance(data, dict):
        raise InvalidInput("API_ERROR")
    unusable: set[str] = set()
    for key, value in data.items():
        if value is None:
            continue
        if not _usable(value):
            unusable.add(key)
        elif isinstance(value, list):
            for item in value:
                out.add(key, item)
        else:
            out.add(key, value)
    out.unusable = frozenset(unusable)
    return out


async def read_form_data(port: WebPort, limit: int = DEFAULT_BODY_LIMIT) -> FormData:
    """Form fields from a JSON object or a urlencoded/multipart body."""
    request = port.request
    declared = request.content_length
    if declared is not None and declared > limit:
        raise InvalidInput("BODY_TOO_LARGE", status=413)
    if is_json_mimetype(request.mimetype):
        try:
            raw = await port.get_body(limit)
        except BodyTooLarge:
            raise InvalidInput("BODY_TOO_LARGE", status=413) from None
        if not raw.strip():
            return FormData()
        try:
            text = raw.decode("utf-8")
            data = json.loads(text, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise InvalidInput("INVALID_JSON") from None
        return _json_object_fields(data)
    if request.mimetype in FORM_MIMETYPES:
        try:
            form = await port.get_form()
        except BodyTooLarge:
            raise InvalidInput("BODY_TOO_LARGE", status=413) from None
        return FormData(form)
    # GET, or a body we do not parse (text/plain etc.): no fields rather than a
    # guess; the classic cross-site text/plain JSON CSRF gets nothing.
    return FormData()


async def request_form(security: Security, port: WebPort) -> FormData:
    """The library endpoint's fields, read once per request (InvalidInput on a bad body)."""
    state = request_state(port.g)
    if state.form_cache is None:
        state.form_cache = await read_form_data(port, security.body_limit)
    form: FormData = state.form_cache
    return form
