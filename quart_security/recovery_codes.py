"""``MfRecoveryCodesUtil``: make, store, check and use up multi-factor recovery codes.

Flask-Security's class and method names; the ones that touch the datastore
are coroutines. A code is 48 random bits from ``secrets`` written as
Flask-Security writes them, ``xxxx-xxxx-xxxx`` (lower-case hex).

How a code is stored, so that a database dump alone reveals no usable code:

- With SECURITY_MULTI_FACTOR_RECOVERY_CODES_KEYS: Fernet tokens made with
  ``MultiFernet`` over those keys (first key encrypts, every key decrypts),
  byte for byte as Flask-Security stores them, so its codes keep working and
  ours work if an app goes back. MULTI_FACTOR_RECOVERY_CODE_TTL (seconds)
  bounds a token's age, as in Flask-Security.
- Without keys (our default, safer than Flask-Security, which stores them in
  plain text then): ``qsrc1$<issued>$<salt>$<mac>``, where ``mac`` is
  HMAC-SHA256 over the issue time, a 16-byte random salt and the code, keyed
  by a key derived from SECRET_KEY (SECRET_KEY_FALLBACKS verify too, so a
  key rotation keeps codes working). A keyed hash, not a slow password hash:
  the codes are random, so there is no dictionary to slow down, and without
  the server's key a dump cannot be checked offline at all; HMAC also keeps a
  check of N codes cheap enough to run on the event loop. The issue time is
  inside the MAC, so the TTL holds for these codes too. Such a code cannot be
  shown again: ``get_recovery_codes`` lists only the codes it can decrypt.
- Read only, for a migrated database: a code Flask-Security stored in plain
  text (no keys configured there) is still accepted. Any value that is
  neither ours nor shaped like a Fernet token is such a code.

A check compares the given code with every stored entry, with no early exit
and ``hmac.compare_digest`` throughout. Using a code up is the datastore's
atomic ``mf_consume_recovery_code``: of ten parallel uses, one succeeds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .app_util import ConfigReader, current_security_or_none
from .clock import Clock, SystemClock
from .errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

    from .datastore.base import UserDatastore
    from .extension import Security

__all__ = ["HASHED_CODE_PREFIX", "MfRecoveryCodesUtil"]

#: Marks a stored entry as our keyed hash (``$`` never occurs in a Fernet token).
HASHED_CODE_PREFIX = "qsrc1$"
_KEY_LABEL = b"quart-security/mf-recovery-codes/v1"
#: Longer input is refused before any work (a code is 14 characters).
_MAX_CODE_LENGTH = 64
_MISSING_CRYPTOGRAPHY = (
    "SECURITY_MULTI_FACTOR_RECOVERY_CODES_KEYS needs the cryptography package:"
    " pip install 'quart-flask-security[mfa]'"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _looks_like_fernet(entry: str) -> bool:
    """True for anything shaped as a Fernet token: never to be read as a plain code.

    Version byte 0x80, then timestamp (8), IV (16), ciphertext (whole AES
    blocks, at least one) and HMAC (32).
    """
    if len(entry) < 100 or not entry.isascii() or not entry.startswith("gAAAAA"):
        return False
    try:
        raw = base64.urlsafe_b64decode(entry.encode("ascii"))
    except (binascii.Error, ValueError):
        return False
    return raw[0] == 0x80 and len(raw) >= 73 and (len(raw) - 57) % 16 == 0


def _normalize(code: Any) -> bytes | None:
    """The code as compared: trimmed, lower case (codes are hex); None if it cannot be one."""
    if not isinstance(code, str) or len(code) > _MAX_CODE_LENGTH:
        return None
    cleaned = code.strip().lower()
    return cleaned.encode("utf-8") if cleaned else None


def _ttl_seconds(value: Any) -> int | None:
    """MULTI_FACTOR_RECOVERY_CODE_TTL as whole seconds (Flask-Security's is an int)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(
            "SECURITY_MULTI_FACTOR_RECOVERY_CODE_TTL must be a positive number of seconds or None"
        )
    return int(value)


def build_cryptor(keys: Any) -> MultiFernet:
    """A MultiFernet over ``keys`` (first one encrypts), or a ConfigurationError."""
    if isinstance(keys, str | bytes) or not isinstance(keys, Sequence) or not keys:
        raise ConfigurationError(
            "SECURITY_MULTI_FACTOR_RECOVERY_CODES_KEYS must be a list of Fernet keys"
        )
    try:
        from cryptography.fernet import Fernet, MultiFernet
    except ImportError:
        raise ConfigurationError(_MISSING_CRYPTOGRAPHY) from None
    fernets = []
    for position, key in enumerate(keys):
        try:
            fernets.append(Fernet(key))
        except (TypeError, ValueError, binascii.Error):
            raise ConfigurationError(
                f"SECURITY_MULTI_FACTOR_RECOVERY_CODES_KEYS[{position}] is not a Fernet key"
                " (32 url-safe base64-encoded bytes: Fernet.generate_key())"
            ) from None
    return MultiFernet(fernets)


class MfRecoveryCodesUtil:
    """Create, list, check and use up recovery codes (subclass to customise)."""

    #: Set by ``bind`` (``Security`` at init_app, or a test without an app).
    _security: Security | None = None
    _config: ConfigReader | None = None
    _datastore: UserDatastore[Any, Any] | None = None
    _clock: Clock | None = None
    _hash_keys: tuple[bytes, ...] | None = None
    _cryptor_known = False
    #: The MultiFernet when MULTI_FACTOR_RECOVERY_CODES_KEYS is set (Flask-Security's name).
    cryptor: MultiFernet | None = None

    def __init__(self, app: Any) -> None:
        self.app = app

    def bind(
        self,
        config: ConfigReader,
        security: Security | None = None,
        *,
        datastore: UserDatastore[Any, Any] | None = None,
        secret_key: str | bytes | None = None,
        secret_key_fallbacks: Sequence[str | bytes] = (),
        clock: Clock | None = None,
    ) -> None:
        """Give the util its settings, datastore, clock and SECRET_KEY(s).

        With ``security``, whatever is not passed comes from it and its app.
        Invalid keys, or neither keys nor a SECRET_KEY, fail here, at start-up.
        """
        self._config = config
        self._security = security
        self._datastore = datastore or (security.store if security is not None else None)
        self._clock = clock or (security.clock if security is not None else None)
        if secret_key is None and security is not None:
            app_config = getattr(security.app, "config", {})
            secret_key = app_config.get("SECRET_KEY")
            secret_key_fallbacks = list(app_config.get("SECRET_KEY_FALLBACKS") or ())
        self._hash_keys = self._derive_keys(secret_key, secret_key_fallbacks)
        keys = config("MULTI_FACTOR_RECOVERY_CODES_KEYS")
        self.cryptor = build_cryptor(keys) if keys else None
        self._cryptor_known = True
        _ttl_seconds(config("MULTI_FACTOR_RECOVERY_CODE_TTL"))
        if self.cryptor is None and not self._hash_keys:
            raise ConfigurationError(
                "recovery codes need SECRET_KEY (to hash them) or"
                " SECURITY_MULTI_FACTOR_RECOVERY_CODES_KEYS (to encrypt them)"
            )

    def setup_cryptor(self, keys: list[bytes]) -> None:
        """Encrypt with these Fernet keys from now on (Flask-Security's method)."""
        self.cryptor = build_cryptor(keys)
        self._cryptor_known = True

    # ------------------------------------------------------------------ public API
    def generate_recovery_codes(self, number: int) -> list[str]:
        """``number`` fresh codes, ``xxxx-xxxx-xxxx``: 48 bits each from ``secrets``."""
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ConfigurationError(
                "SECURITY_MULTI_FACTOR_RECOVERY_CODES_N must be a positive integer"
            )
        codes = []
        for _ in range(number):
            digits = secrets.token_hex(6)
            codes.append("-".join(digits[i : i + 4] for i in range(0, 12, 4)))
        return codes

    async def create_recovery_codes(self, user: Any) -> list[str]:
        """Replace the user's codes with MULTI_FACTOR_RECOVERY_CODES_N new ones.

        Returns them in plain text (the only time a hashed code can be shown);
        stores them encrypted or hashed. The caller commits.
        """
        codes = self.generate_recovery_codes(self._cv("MULTI_FACTOR_RECOVERY_CODES_N"))
        await self._store().mf_set_recovery_codes(user, [self._protect(c) for c in codes])
        return codes

    async def get_recovery_codes(self, user: Any) -> list[str]:
        """The codes that can be shown: decrypted ones (within the TTL) and legacy plain ones.

        Hashed codes are left out: nothing, not even this server, can read them.
        """
        shown = []
        for entry in await self._store().mf_get_recovery_codes(user):
            if entry.startswith(HASHED_CODE_PREFIX):
                continue
            if _looks_like_fernet(entry):
                plain = self._decrypt(entry)
                if plain is not None:
                    shown.append(plain)
            else:
                shown.append(entry)
        return shown

    async def check_recovery_code(self, user: Any, code: str) -> bool:
        """Whether ``code`` is one of the user's codes (it stays usable)."""
        entries = await self._store().mf_get_recovery_codes(user)
        return self._matching_entry(entries, code) is not None

    async def delete_recovery_code(self, user: Any, code: str) -> bool:
        """Use ``code`` up; True only for the one caller that did.

        The view must act on this answer, not on an earlier check: a code
        replayed in parallel passes every check but is consumed once.
        """
        store = self._store()
        entry = self._matching_entry(await store.mf_get_recovery_codes(user), code)
        if entry is None:
            return False
        return await store.mf_consume_recovery_code(user, entry)

    # ------------------------------------------------------------------ storage forms
    def _protect(self, code: str) -> str:
        """The stored form of a new code: a Fernet token with keys, else our keyed hash."""
        cryptor = self._cryptor()
        now = self._now()
        if cryptor is not None:
            return cryptor.encrypt_at_time(code.encode("utf-8"), now).decode("ascii")
        keys = self._keys()
        salt = _b64(secrets.token_bytes(16))
        return f"{HASHED_CODE_PREFIX}{now}${salt}${self._mac(keys[0], now, salt, code.encode())}"

    def _matching_entry(self, entries: Sequence[str], code: Any) -> str | None:
        """The stored entry ``code`` matches; every entry is compared (no early exit)."""
        wanted = _normalize(code)
        if wanted is None:
            return None
        found: str | None = None
        for entry in entries:
            if self._entry_matches(entry, wanted) and found is None:
                found = entry
        return found

    def _entry_matches(self, entry: str, wanted: bytes) -> bool:
        if entry.startswith(HASHED_CODE_PREFIX):
            return self._hash_matches(entry, wanted)
        if _looks_like_fernet(entry):
            plain = self._decrypt(entry)
            return plain is not None and hmac.compare_digest(
                plain.strip().lower().encode("utf-8"), wanted
            )
        return hmac.compare_digest(entry.strip().lower().encode("utf-8"), wanted)

    def _hash_matches(self, entry: str, wanted: bytes) -> bool:
        parts = entry[len(HASHED_CODE_PREFIX) :].split("$")
        if len(parts) != 3 or not entry.isascii() or not parts[0].isdigit():
            return False
        issued_text, salt, mac = parts
        issued = int(issued_text)
        ttl = _ttl_seconds(self._cv("MULTI_FACTOR_RECOVERY_CODE_TTL"))
        if ttl is not None and self._now() - issued > ttl:
            return False
        matched = False
        for key in self._keys():
            expected = self._mac(key, issued, salt, wanted)
            matched |= hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii"))
        return matched

    @staticmethod
    def _mac(key: bytes, issued: int, salt: str, code: bytes) -> str:
        message = b"%d$%s$%s" % (issued, salt.encode("ascii"), code)
        return _b64(hmac.new(key, message, hashlib.sha256).digest())

    def _decrypt(self, token: str) -> str | None:
        """The code in a Fernet token, or None (no keys, wrong keys, too old, not UTF-8)."""
        cryptor = self._cryptor()
        if cryptor is None:
            return None
        from cryptography.fernet import InvalidToken

        ttl = _ttl_seconds(self._cv("MULTI_FACTOR_RECOVERY_CODE_TTL"))
        try:
            if ttl is None:
                raw = cryptor.decrypt(token.encode("ascii"))
            else:
                raw = cryptor.decrypt_at_time(token.encode("ascii"), ttl, self._now())
            return raw.decode("utf-8")
        except (InvalidToken, UnicodeError):
            return None

    # ------------------------------------------------------------------ settings
    @staticmethod
    def _derive_keys(
        secret_key: str | bytes | None, fallbacks: Sequence[str | bytes]
    ) -> tuple[bytes, ...]:
        """One HMAC key per SECRET_KEY (current first), never the secret itself."""
        derived = []
        for secret in (secret_key, *fallbacks):
            if secret:
                raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
                derived.append(hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest())
        return tuple(derived)

    def _cv(self, key: str) -> Any:
        if self._config is not None:
            return self._config(key)
        return self._app_security().cv(key)

    def _app_security(self) -> Security:
        security = self._security or current_security_or_none()
        if security is None:
            raise RuntimeError("MfRecoveryCodesUtil used outside an app with Security")
        return security

    def _store(self) -> UserDatastore[Any, Any]:
        return self._datastore or self._app_security().store

    def _now(self) -> int:
        clock = self._clock or getattr(self._security, "clock", None) or SystemClock()
        return int(clock.time())

    def _cryptor(self) -> MultiFernet | None:
        if not self._cryptor_known:  # not bound: read the app's settings once
            keys = self._cv("MULTI_FACTOR_RECOVERY_CODES_KEYS")
            self.cryptor = build_cryptor(keys) if keys else None
            self._cryptor_known = True
        return self.cryptor

    def _keys(self) -> tuple[bytes, ...]:
        if self._hash_keys is None:
            config = getattr(self._app_security().app, "config", {})
            self._hash_keys = self._derive_keys(
                config.get("SECRET_KEY"), list(config.get("SECRET_KEY_FALLBACKS") or ())
            )
        if not self._hash_keys:
            raise ConfigurationError("recovery codes need SECRET_KEY to be hashed")
        return self._hash_keys
