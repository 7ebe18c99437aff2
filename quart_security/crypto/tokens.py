"""Signed tokens: auth tokens, remember cookies, CSRF tokens, state tokens.

Formats follow Flask-Security (and Flask-WTF for CSRF) so tokens minted by a
Flask-Security deployment keep working: itsdangerous URL-safe timed
serializers keyed by SECRET_KEY (plus SECRET_KEY_FALLBACKS for rotation) and
salted per purpose, so a token of one purpose never validates as another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from ..clock import Clock

AUTH_TOKEN_VERSION = "5"  # noqa: S105 - a format version, not a secret
#: Flask-WTF's salt for the signed CSRF token, kept for compatibility.
CSRF_SALT = "wtf-csrf-token"
REMEMBER_COOKIE_SALT = "fs-remember-cookie"


def _as_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)


class _ClockedSerializer(URLSafeTimedSerializer):
    """A timed serializer whose notion of 'now' comes from our Clock."""

    def __init__(self, secret_keys: Sequence[bytes], salt: str, clock: Clock) -> None:
        super().__init__(list(secret_keys), salt=salt)
        self._clock = clock
        signer_clock = clock

        class _Signer(self.signer):  # type: ignore[name-defined,misc]
            def get_timestamp(self) -> int:
                return int(signer_clock.time())

        self.signer = _Signer


class TokenKit:
    """All serializers of one app, built once at init (never per request)."""

    def __init__(
        self,
        *,
        secret_key: str | bytes,
        fallbacks: Sequence[str | bytes],
        salts: Mapping[str, str],
        clock: Clock,
        token_max_age: Callable[[], float | None],
        expire_timestamp: Callable[[Any], int],
        csrf_time_limit: Callable[[], float | None],
    ) -> None:
        if not secret_key:
            raise ValueError("SECRET_KEY must be set")
        # itsdangerous signs with the last key and verifies with all of them.
        self._keys: list[bytes] = [_as_bytes(k) for k in (*fallbacks, secret_key)]
        self._secret_key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        self.clock = clock
        self._serializers = {
            name: _ClockedSerializer(self._keys, salt, clock) for name, salt in salts.items()
        }
        self._remember = _ClockedSerializer(self._keys, REMEMBER_COOKIE_SALT, clock)
        self._csrf = _ClockedSerializer(self._keys, CSRF_SALT, clock)
        self._token_max_age = token_max_age
        self._expire_timestamp = expire_timestamp
        self._csrf_time_limit = csrf_time_limit

    def serializer(self, name: str) -> URLSafeTimedSerializer:
        return self._serializers[name]

    @property
    def serializer_names(self) -> list[str]:
        """The names ``serializer`` knows (Flask-Security's ``<name>_serializer``)."""
        return sorted(self._serializers)

    # ------------------------------------------------------------------ auth tokens
    def auth_token_for(self, user: Any) -> str:
        uid = getattr(user, "fs_token_uniquifier", None) or user.fs_uniquifier
        data: dict[str, Any] = {
            "ver": AUTH_TOKEN_VERSION,
            "uid": str(uid),
            "fs_paa": self.clock.time(),
            "exp": int(self._expire_timestamp(user) or 0),
        }
        user.augment_auth_token(data)
        return str(self._serializers["remember"].dumps(data))

    def read_auth_token(self, token: str) -> dict[str, Any] | None:
        """The token's claims if its signature, age and expiry hold, else None."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            return None
        try:
            data = self._serializers["remember"].loads(
                token, max_age=_seconds(self._token_max_age())
            )
        except (BadData, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or data.get("ver") != AUTH_TOKEN_VERSION:
            return None
        if not isinstance(data.get("uid"), str):
            return None
        exp = data.get("exp", 0)
        if not isinstance(exp, int) or (exp and exp < self.clock.time()):
            return None
        return data

    # ------------------------------------------------------------------ remember cookie
    def remember_cookie_for(self, uniquifier: str) -> str:
        return str(self._remember.dumps(uniquifier))

    def read_remember_cookie(self, value: str, max_age: float) -> str | None:
        if not value or len(value) > 4096:
            return None
        try:
            uid = self._remember.loads(value, max_age=int(max_age))
        except (BadData, ValueError, TypeError):
            return None
        return uid if isinstance(uid, str) else None

    # ------------------------------------------------------------------ CSRF
    @staticmethod
    def new_csrf_secret() -> str:
        return hashlib.sha1(os.urandom(64), usedforsecurity=False).hexdigest()

    def csrf_token_for(self, secret: str) -> str:
        return str(self._csrf.dumps(secret))

    def csrf_token_matches(self, token: str | None, secret: str | None) -> tuple[bool, str]:
        """(ok, reason) where reason is a SECURITY_MSG_* key when not ok."""
        if not secret:
            return False, "CSRF_MISSING"
        if not token or not isinstance(token, str) or len(token) > 1024:
            return False, "CSRF_MISSING"
        try:
            presented = self._csrf.loads(token, max_age=_seconds(self._csrf_time_limit()))
        except SignatureExpired:
            return False, "CSRF_INVALID"
        except (BadData, ValueError, TypeError):
            return False, "CSRF_INVALID"
        if not isinstance(presented, str) or not hmac.compare_digest(presented, secret):
            return False, "CSRF_INVALID"
        return True, ""

    def fingerprint(self, value: str) -> str:
        """A keyed digest of ``value`` to bind a token to it (Flask-Security's hash_data).

        A reset token carries the fingerprint of the current password hash, so it
        stops working once the password changes; a confirm token, that of the
        email it confirms. Keyed by SECRET_KEY so it reveals nothing.
        """
        mac = hmac.new(self._secret_key, b"fs-fingerprint\x00" + value.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def fingerprint_matches(self, value: str, fingerprint: Any) -> bool:
        return isinstance(fingerprint, str) and hmac.compare_digest(
            self.fingerprint(value), fingerprint
        )

    # ------------------------------------------------------------------ state tokens
    def dumps(self, name: str, data: Any) -> str:
        return str(self._serializers[name].dumps(data))

    def loads(self, name: str, token: str, max_age: float | None) -> tuple[str, Any]:
        """('ok'|'expired'|'invalid', data)."""
        if not isinstance(token, str) or len(token) > 8192:
            return "invalid", None
        try:
            return "ok", self._serializers[name].loads(token, max_age=_seconds(max_age))
        except SignatureExpired:
            return "expired", None
        except (BadData, ValueError, TypeError):
            return "invalid", None
