"""HTTP Basic credentials (RFC 7617), parsed strictly.

A lenient parser is an attack surface: every "helpful" repair (guessing latin-1,
re-padding base64, trimming odd whitespace, taking the first of two schemes) is a place
where a proxy, a WAF and this library can disagree about who is logging in. So anything
outside the one well-formed shape yields ``None`` and the caller answers 401, and
nothing here raises, whatever the header holds.

Documented choices:

* The scheme token is case-insensitive (RFC 7235 section 2.1): ``basic`` works.
* Exactly ``<scheme> SP <token68>``: no tabs, no double spaces, no leading or trailing
  whitespace, no second scheme or second header folded in with a comma.
* Base64 must be the standard alphabet with correct padding (``binascii`` strict
  validation); missing padding is refused, not repaired.
* Credentials are UTF-8 (advertised with ``charset="UTF-8"`` when
  SECURITY_HTTP_AUTH_CHARSET says so). Invalid UTF-8 is refused;
  latin-1 is never guessed, because a guess can map two different byte strings to the
  same user.
* The user-id ends at the first ``:``; the password may contain ``:``.
* An empty user-id, a control character in the user-id, or a NUL anywhere (bcrypt and
  C libraries truncate at NUL) is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ..extension import Security

__all__ = ["basic_challenge", "challenge", "parse_basic_authorization"]

# "<scheme> <token68>", where token68 is restricted to the base64 alphabet with its
# padding; everything else (tabs, commas, second schemes, spaces) fails this match.
_HEADER: Final = re.compile(r"([A-Za-z]+) ([A-Za-z0-9+/]+={0,2})")
# C0 controls, DEL and C1 controls.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def parse_basic_authorization(
    value: str | bytes | None, *, max_length: int = 4096
) -> tuple[str, str] | None:
    """Return ``(user_id, password)`` from an ``Authorization`` header value, or ``None``.

    ``max_length`` bounds the raw header value (characters or bytes), checked before
    any decoding so a huge header costs nothing. The caller must reject requests that
    carry more than one ``Authorization`` header before calling this.
    """
    if isinstance(value, bytes):
        if len(value) > max_length:
            return None
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    elif isinstance(value, str):
        if len(value) > max_length or not value.isascii():
            return None
        text = str.__str__(value)
    else:
        return None

    match = _HEADER.fullmatch(text)
    if match is None or match.group(1).lower() != "basic":
        return None
    try:
        raw = base64.b64decode(match.group(2), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None

    user_id, colon, password = decoded.partition(":")
    if not colon or not user_id or "\x00" in password or _CONTROL.search(user_id):
        return None
    return user_id, password


def basic_challenge(realm: str, charset: str | None = None) -> str:
    """``WWW-Authenticate`` value for Basic with a safely quoted realm.

    ``Basic realm="Login Required"`` for the default realm, exactly as
    Flask-Security sends it; ``charset`` (RFC 7617: only "UTF-8") is added
    only when configured (SECURITY_HTTP_AUTH_CHARSET).

    The realm comes from configuration, never from the request; it is still escaped,
    because a translated or misconfigured realm must not be able to break the header.
    Controls (CR/LF included) are dropped and non-ASCII characters become ``?`` so the
    value always encodes as a header.
    """
    cleaned = "".join(
        "?" if not char.isascii() else char for char in str(realm) if not _CONTROL.fullmatch(char)
    )
    quoted = cleaned.replace("\\", "\\\\").replace('"', '\\"')
    challenge = f'Basic realm="{quoted}"'
    return f'{challenge}, charset="{charset}"' if charset else challenge


def challenge(security: Security, realm: str | None = None) -> str:
    """This app's Basic challenge: ``realm`` or DEFAULT_HTTP_AUTH_REALM, HTTP_AUTH_CHARSET."""
    return basic_challenge(
        security.cv("DEFAULT_HTTP_AUTH_REALM") if realm is None else realm,
        security.cv("HTTP_AUTH_CHARSET"),
    )
