"""Flask-Security's small public helpers that neither await nor need a request.

They are plain functions in Flask-Security and stay plain here, so
``quart_security`` and ``flask_compat`` export the very same objects. The
helpers that read the request (``get_url``, ``get_request_attr``) are in
api.py and flask_compat.api; ``handle_csrf`` is with the decorators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from itsdangerous import BadData, SignatureExpired

from .clock import system_utcnow_naive
from .state import current_security

#: A longer value is not a token of ours; refused before any decoding work.
MAX_TOKEN_LENGTH = 8192


def naive_utcnow() -> datetime:
    """The current UTC time without tzinfo: the form Flask-Security's models store.

    The system clock, as in Flask-Security; the library's own decisions use
    the app's injectable clock (``Security(clock=...)``) instead.
    """
    return system_utcnow_naive()


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def get_hmac(password: str | bytes) -> bytes:
    """Base64 of HMAC-SHA512(PASSWORD_SALT, password): the value double-hashed
    schemes hash, so app code can reproduce it (Flask-Security's get_hmac).

    Raises RuntimeError when SECURITY_PASSWORD_SALT is unset, as Flask-Security
    does: an HMAC keyed by nothing would protect nothing.
    """
    security = current_security()
    salt = security.cv("PASSWORD_SALT")
    if not salt:
        raise RuntimeError(
            "SECURITY_PASSWORD_SALT must be set to compute get_hmac "
            f"(SECURITY_PASSWORD_HASH is {security.cv('PASSWORD_HASH')!r})"
        )
    mac = hmac.new(_as_bytes(salt), _as_bytes(password), hashlib.sha512)
    return base64.b64encode(mac.digest())


def transform_url(url: str, qparams: dict[str, str] | None = None, **kwargs: str) -> str:
    """``url`` with ``qparams`` merged into its query and any part replaced
    (``netloc="localhost:8080"``, ``scheme=...``): Flask-Security's transform_url.

    As there, the query is re-encoded only when ``qparams`` is given, and then
    parameters with an empty value are dropped and repeated ones keep their last
    value.
    """
    parts = urlsplit(url)
    if qparams:
        query = dict(parse_qsl(parts.query))
        query.update(qparams)
        parts = parts._replace(query=urlencode(query))
    return urlunsplit(parts._replace(**kwargs))


def check_and_get_token_status(
    token: str, serializer_name: str, within: timedelta
) -> tuple[bool, bool, Any]:
    """``(expired, invalid, data)`` of a token signed by one of the app's serializers.

    ``serializer_name`` is Flask-Security's: "confirm", "login", "reset",
    "change_email", "remember" (auth tokens), "us_setup", "tf_setup",
    "tf_validity", "wan". As in Flask-Security, an expired token still gives
    its data (its signature was good; only its age is wrong), and an invalid
    one gives None. Age is measured with the app's clock. Differences, both
    refusals where Flask-Security would raise: a token that is not a string
    (or longer than MAX_TOKEN_LENGTH) is invalid; an unknown serializer name
    is a ValueError naming the known ones.
    """
    tokens = current_security().tokens
    try:
        serializer = tokens.serializer(serializer_name)
    except KeyError:
        raise ValueError(
            f"unknown serializer {serializer_name!r}; one of {', '.join(tokens.serializer_names)}"
        ) from None
    if not isinstance(token, str | bytes) or not token or len(token) > MAX_TOKEN_LENGTH:
        return False, True, None
    try:
        # Ages are whole seconds: flooring keeps Flask-Security's float comparison.
        max_age = math.floor(within.total_seconds())
        return False, False, serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:
        try:
            data = None if exc.payload is None else serializer.load_payload(exc.payload)
        except BadData:
            data = None
        return True, False, data
    except (BadData, TypeError, ValueError):
        return False, True, None
