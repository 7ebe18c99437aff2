"""TOTP for two-factor sign-in: Flask-Security's ``Totp`` on pyotp.

Flask-Security's ``Totp`` wraps passlib's ``TOTP``; this one keeps its API
and its stored form, so a ``tf_totp_secret`` either library wrote is read by
the other. The stored form is passlib's JSON: ``{"enckey": {"c": cost,
"k": key, "s": salt, "t": tag, "v": 1}, "type": "totp", "v": 1}``, where the
key is AES-256-CTR encrypted under a key and IV that PBKDF2-HMAC-SHA256
(``2**cost`` rounds) derives from the ``TOTP_SECRETS`` entry named by the tag
and the salt (base32, unpadded). Plain forms (``{"key": ...}`` or a bare
base32 string), which Flask-Security apps without secrets may hold, are read
too.

pyotp computes the codes, ``cryptography`` does the AES and PBKDF2, and
``qrcode`` draws the setup image: the ``mfa`` extra. They are imported when
first needed, so ``import quart_security`` works without them.

Replay: Flask-Security's ``get_last_counter`` / ``set_last_counter`` hooks
are kept (no-ops unless overridden), and ``verify_totp_once`` is the safer
way: it accepts a time step only if a ``TotpCounterStore`` atomically moves
the user's last accepted step forward to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import re
import secrets as _secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from .clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:  # pragma: no cover
    from .mixins import UserMixin

__all__ = [
    "MemoryTotpCounterStore",
    "Totp",
    "TotpCounterStore",
    "TotpMatch",
    "TotpSecretError",
]

INSTALL_HINT = "pip install 'quart-flask-security[mfa]'"

#: passlib's rules: a tag is what AppWallet accepts; cost and salt are its defaults.
_TAG = re.compile(r"(?i)^[a-z0-9][a-z0-9_.-]*$")
ENCRYPT_COST = 14
SALT_SIZE = 12
KEY_SIZE = 20  # passlib's default: the digest size of SHA-1 (RFC 6238 section 5.1)
#: Refused above this: a stored cost is data, and 2**31 PBKDF2 rounds would hang a worker.
MAX_ENCRYPT_COST = 20
#: passlib refuses new keys under 10 bytes; pyotp refuses under 14. Stored ones of 10+ work.
MIN_KEY_BITS = 80

_DIGESTS: dict[str, Callable[..., Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


class TotpSecretError(ValueError):
    """A stored TOTP secret that cannot be read: malformed, or encrypted with a
    ``TOTP_SECRETS`` tag this app no longer has."""


def _require(module: str) -> ModuleType:
    """Import one of the ``mfa`` extra's packages, or say how to install it."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        raise ImportError(
            f"TOTP needs the {module.split('.')[0]!r} package, part of the 'mfa' extra:"
            f" {INSTALL_HINT}"
        ) from exc


# ------------------------------------------------------------------ encodings
def _b32encode(data: bytes) -> str:
    """Base32 without padding, upper case: passlib's spelling of keys and salts."""
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _b32decode(text: str) -> bytes:
    """Base32 as people and passlib write it: any case, no padding, spaces and
    hyphens ignored, 0 and 8 read as O and B (passlib's typo corrections)."""
    cleaned = re.sub(r"[\s=-]", "", text).upper().replace("0", "O").replace("8", "B")
    cleaned += "=" * (-len(cleaned) % 8)
    try:
        return base64.b32decode(cleaned)
    except (binascii.Error, ValueError) as exc:
        raise TotpSecretError("the TOTP secret is not valid base32") from exc


def _group(text: str, sep: str = "-") -> str:
    """passlib's ``group_string``: groups of 4, 6 or 5 (the first that divides the
    length, else the one leaving the largest remainder)."""
    size = next((s for s in (4, 6, 5) if len(text) % s == 0), 0)
    if not size:
        size, remainder = 4, 0
        for candidate in (4, 6, 5):
            if len(text) % candidate > remainder:
                size, remainder = candidate, len(text) % candidate
    return sep.join(text[i : i + size] for i in range(0, len(text), size))


def _aes_ctr(data: bytes, secret: bytes, salt: bytes, cost: int) -> bytes:
    """passlib's key cipher (encrypt and decrypt are the same in CTR mode)."""
    hashes = _require("cryptography.hazmat.primitives.hashes")
    pbkdf2 = _require("cryptography.hazmat.primitives.kdf.pbkdf2")
    ciphers = _require("cryptography.hazmat.primitives.ciphers")
    key_iv = pbkdf2.PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=48, salt=salt, iterations=1 << cost
    ).derive(secret)
    cipher = ciphers.Cipher(ciphers.algorithms.AES(key_iv[:32]), ciphers.modes.CTR(key_iv[32:]))
    context = cipher.encryptor()
    result: bytes = context.update(data) + context.finalize()
    return result


# ------------------------------------------------------------------ the key
@dataclass(frozen=True)
class _Key:
    """A user's TOTP key, decrypted, with the code parameters stored beside it."""

    key: bytes
    digits: int = 6
    alg: str = "sha1"
    period: int = 30

    @property
    def base32(self) -> str:
        return _b32encode(self.key)

    def code(self, counter: int) -> str:
        """The code of one time step (pyotp's HOTP of the counter)."""
        pyotp = _require("pyotp")
        otp = pyotp.TOTP(
            self.base32, digits=self.digits, digest=_DIGESTS[self.alg], interval=self.period
        )
        code: str = otp.generate_otp(counter)
        return code


@dataclass(frozen=True)
class TotpMatch:
    """An accepted code: its time step (``counter``, what replay protection
    stores), the time it was checked at and the window searched: what
    ``set_last_counter`` receives, with the ``counter``, ``time``, ``window``,
    ``expire_time`` and ``cache_time`` of the passlib match Flask-Security
    passes there."""

    counter: int
    time: int
    window: int
    period: int = 30

    @property
    def expire_time(self) -> int:
        """The end of the matched step (passlib's ``expire_time``)."""
        return (self.counter + 1) * self.period

    @property
    def cache_time(self) -> int:
        """When the matched step leaves every window (passlib's ``cache_time``):
        until then a replay store must remember it."""
        return self.expire_time + self.window


class TotpCounterStore(Protocol):
    """Where each user's last accepted time step lives (the datastore, in the app).

    ``advance_counter`` must be atomic: store ``counter`` only if nothing is
    stored for the user or what is stored is lower, and say whether it did.
    That one compare-and-set is what makes parallel submissions of one code
    give one success.
    """

    async def get_last_counter(self, user: UserMixin) -> int | None: ...

    async def advance_counter(self, user: UserMixin, counter: int) -> bool: ...


class MemoryTotpCounterStore:
    """A ``TotpCounterStore`` in this process's memory, keyed by fs_uniquifier.

    For tests and single-process use: it forgets on restart and is not shared
    between workers. A lock makes it atomic across flask_compat's threads.
    """

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    async def get_last_counter(self, user: UserMixin) -> int | None:
        with self._lock:
            return self._counters.get(str(user.fs_uniquifier))

    async def advance_counter(self, user: UserMixin, counter: int) -> bool:
        key = str(user.fs_uniquifier)
        with self._lock:
            last = self._counters.get(key)
            if last is not None and last >= counter:
                return False
            self._counters[key] = counter
            return True


class Totp:
    """Flask-Security's TOTP factory: makes, encrypts, reads and checks per-user
    secrets with the app's ``TOTP_SECRETS`` and ``TOTP_ISSUER``.

    Subclass it as in Flask-Security (``get_last_counter`` / ``set_last_counter``,
    ``generate_qrcode``). ``clock`` is the library's injectable clock.
    """

    def __init__(
        self,
        secrets: Mapping[str, str | bytes] | Mapping[int, str | bytes],
        issuer: str,
        *,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(secrets, Mapping) or len(secrets) < 1:
            raise ValueError("secrets needs to be a dict with at least one entry")
        if not isinstance(issuer, str) or not issuer or ":" in issuer:
            raise ValueError("issuer must be a non-empty string without ':'")
        _require("pyotp")
        _require("cryptography")
        self._secrets: dict[str, bytes] = {}
        for tag, value in secrets.items():
            name = str(tag) if isinstance(tag, int) else tag
            if not isinstance(name, str) or not _TAG.match(name):
                raise ValueError(f"TOTP_SECRETS tag {tag!r} must match {_TAG.pattern}")
            raw = value.encode("utf-8") if isinstance(value, str) else value
            if not isinstance(raw, bytes) or not raw:
                raise ValueError(f"TOTP_SECRETS[{tag!r}] must be a non-empty string")
            self._secrets[name] = raw
        # passlib's choice of the newest entry: the highest number when every tag
        # is one, else the highest string. New secrets are encrypted with it.
        tags = list(self._secrets)
        self._newest = max(tags, key=int) if all(t.isdigit() for t in tags) else max(tags)
        self.issuer = issuer
        self._clock = clock or SYSTEM_CLOCK

    # ------------------------------------------------------------- storage form
    def generate_totp_secret(self) -> str:
        """A new user secret, in the stored form: encrypted with the newest
        ``TOTP_SECRETS`` entry, as passlib's JSON (Flask-Security reads it)."""
        return self._dump(_secrets.token_bytes(KEY_SIZE))

    def _dump(self, key: bytes) -> str:
        salt = _secrets.token_bytes(SALT_SIZE)
        encrypted = _aes_ctr(key, self._secrets[self._newest], salt, ENCRYPT_COST)
        enckey = {
            "c": ENCRYPT_COST,
            "k": _b32encode(encrypted),
            "s": _b32encode(salt),
            "t": self._newest,
            "v": 1,
        }
        return json.dumps(
            {"enckey": enckey, "type": "totp", "v": 1}, sort_keys=True, separators=(",", ":")
        )

    def _load(self, totp_secret: str) -> _Key:
        """The key of a stored secret, or ``TotpSecretError`` saying why not."""
        if not isinstance(totp_secret, str) or not totp_secret.strip():
            raise TotpSecretError("no TOTP secret")
        text = totp_secret.strip()
        if not text.startswith("{"):
            return self._checked(_Key(_b32decode(text)))
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise TotpSecretError("the TOTP secret is not valid JSON") from exc
        if not isinstance(data, dict) or data.get("type") != "totp" or data.get("v") != 1:
            raise TotpSecretError("the TOTP secret is not passlib's TOTP format (type totp, v 1)")
        if "enckey" in data:
            key = self._decrypt(data["enckey"])
        elif isinstance(data.get("key"), str):
            key = _b32decode(data["key"])
        else:
            raise TotpSecretError("the TOTP secret has neither 'enckey' nor 'key'")
        alg = str(data.get("alg", "sha1")).lower().replace("-", "")
        digits, period = data.get("digits", 6), data.get("period", 30)
        if alg not in _DIGESTS:
            raise TotpSecretError(f"TOTP algorithm {alg!r} is not supported")
        if not isinstance(digits, int) or not 6 <= digits <= 10:
            raise TotpSecretError("TOTP digits must be 6 to 10")
        if not isinstance(period, int) or period < 1:
            raise TotpSecretError("TOTP period must be a positive integer")
        return self._checked(_Key(key, digits, alg, period))

    @staticmethod
    def _checked(key: _Key) -> _Key:
        if len(key.key) * 8 < MIN_KEY_BITS:
            raise TotpSecretError(f"the TOTP key is shorter than {MIN_KEY_BITS} bits")
        return key

    def _decrypt(self, enckey: object) -> bytes:
        if not isinstance(enckey, dict) or enckey.get("v") != 1:
            raise TotpSecretError("the TOTP secret's 'enckey' is not version 1")
        tag, cost, salt, ciphertext = (enckey.get(k) for k in ("t", "c", "s", "k"))
        if not (isinstance(tag, str) and isinstance(salt, str) and isinstance(ciphertext, str)):
            raise TotpSecretError("the TOTP secret's 'enckey' lacks 't', 's' or 'k'")
        if not isinstance(cost, int) or not 0 <= cost <= MAX_ENCRYPT_COST:
            raise TotpSecretError(f"the TOTP secret's cost must be 0 to {MAX_ENCRYPT_COST}")
        if tag not in self._secrets:
            raise TotpSecretError(
                f"the TOTP secret was encrypted with SECURITY_TOTP_SECRETS[{tag!r}], which is"
                f" not configured (tags: {', '.join(sorted(self._secrets))}); keep old"
                " entries in TOTP_SECRETS while secrets encrypted with them exist"
            )
        return _aes_ctr(_b32decode(ciphertext), self._secrets[tag], _b32decode(salt), cost)

    # ----------------------------------------------------------------- codes
    def generate_totp_password(self, totp_secret: str) -> str:
        """The code of the current time step for this secret (what the app shows)."""
        key = self._load(totp_secret)
        return key.code(int(self._clock.time()) // key.period)

    def _match(
        self, token: str | int, key: _Key, window: int, last_counter: int | None
    ) -> TotpMatch | None:
        """passlib's search: the steps from ``now - window`` to ``now + window``,
        none at or below ``last_counter``. Every step is compared (no early exit)."""
        if not isinstance(window, int) or isinstance(window, bool) or window < 0:
            raise ValueError("window must be a non-negative number of seconds")
        if isinstance(token, int) and not isinstance(token, bool):
            token = f"{token:0{key.digits}d}"
        if not isinstance(token, str):
            return None
        token = re.sub(r"[\s-]", "", token)
        if len(token) != key.digits or not token.isascii() or not token.isdigit():
            return None
        now = int(self._clock.time())
        start = max((now - window) // key.period, 0)
        if last_counter is not None:
            start = max(start, last_counter + 1)
        found = None
        for counter in range(start, (now + window) // key.period + 1):
            if hmac.compare_digest(token, key.code(counter)) and found is None:
                found = counter
        if found is None:
            return None
        return TotpMatch(counter=found, time=now, window=window, period=key.period)

    def find_match(
        self, token: Any, totp_secret: str, window: int, last_counter: int | None = None
    ) -> TotpMatch | None:
        """The step at which ``token`` is this secret's code within ``window``
        seconds of now and after ``last_counter``, or None. CPU-bound (the
        secret's key derivation): run it off the event loop."""
        return self._match(token, self._load(totp_secret), window, last_counter)

    def verify_totp(self, token: str, totp_secret: str, user: UserMixin, window: int = 0) -> bool:
        """Flask-Security's check: is ``token`` this secret's code within
        ``window`` seconds either side of now, and after ``get_last_counter``?
        A match is handed to ``set_last_counter``. A secret that cannot be read
        raises ``TotpSecretError`` (it is a configuration problem, not a wrong code).
        """
        found = self._match(token, self._load(totp_secret), window, self.get_last_counter(user))
        if found is None:
            return False
        self.set_last_counter(user, found)
        return True

    async def verify_totp_once(
        self,
        token: str,
        totp_secret: str,
        user: UserMixin,
        window: int,
        counters: TotpCounterStore,
    ) -> bool:
        """``verify_totp`` with replay protection: a code is accepted only if
        ``counters`` atomically moves the user's last accepted step up to its
        step, so each step (each code) succeeds once, however many arrive at once."""
        last = await counters.get_last_counter(user)
        found = self._match(token, self._load(totp_secret), window, last)
        return found is not None and await counters.advance_counter(user, found.counter)

    def get_last_counter(self, user: UserMixin) -> int | None:
        """Flask-Security's hook: the user's last accepted step (None: no check)."""
        return None

    def set_last_counter(self, user: UserMixin, tmatch: TotpMatch) -> None:
        """Flask-Security's hook: remember ``tmatch.counter`` (not atomic; prefer
        ``verify_totp_once``)."""

    # ------------------------------------------------------------------ setup
    def _uri(self, username: str, key: _Key) -> str:
        """passlib's key URI: the issuer both in the label and as a parameter."""
        if not username or ":" in username:
            raise ValueError("the TOTP label (username) must be non-empty without ':'")
        params = [("secret", key.base32)]
        if key.alg != "sha1":
            params.append(("algorithm", key.alg.upper()))
        if key.digits != 6:
            params.append(("digits", str(key.digits)))
        if key.period != 30:
            params.append(("period", str(key.period)))
        params.append(("issuer", self.issuer))
        label = f"{quote(self.issuer, '@')}:{quote(username, '@')}"
        return f"otpauth://totp/{label}?" + "&".join(f"{k}={quote(v, '')}" for k, v in params)

    def get_totp_uri(self, username: str, totp_secret: str) -> str:
        """The otpauth:// URI an authenticator app scans."""
        return self._uri(username, self._load(totp_secret))

    def get_totp_pretty_key(self, totp_secret: str) -> str:
        """The key for typing in by hand: base32 in groups, ``XXXX-XXXX-...``."""
        return _group(self._load(totp_secret).base32)

    def get_totp_b32_key(self, totp_secret: str) -> str:
        """The key in base32 (no padding), as in the URI."""
        return self._load(totp_secret).base32

    def fetch_setup_values(self, totp_secret: str, user: UserMixin) -> dict[str, str]:
        """What the user needs to set up an authenticator app: ``key`` (pretty),
        ``b32key``, ``uri``, ``image`` (QR data URI), ``username``, ``issuer``."""
        key = self._load(totp_secret)
        username = user.calc_username() or "Unknown"
        uri = self._uri(username, key)
        return {
            "username": username,
            "key": _group(key.base32),
            "b32key": key.base32,
            "issuer": self.issuer,
            "image": self._qrcode(uri),
            "uri": uri,
        }

    def generate_qrcode(self, username: str, totp_secret: str) -> str:
        """The QR code of the setup URI as an SVG data URI (for ``<img src>``);
        override to change its look."""
        return self._qrcode(self.get_totp_uri(username, totp_secret))

    @staticmethod
    def _qrcode(uri: str) -> str:
        qrcode = _require("qrcode")
        svg = _require("qrcode.image.svg")
        image = qrcode.make(uri, image_factory=svg.SvgImage)
        with io.BytesIO() as buffer:
            image.save(buffer)
            encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        return f"data:image/svg+xml;base64,{encoded}"

    def generate_recovery_codes(self, number: int) -> list[str]:
        """``number`` random recovery codes, 12 hex digits as ``xxxx-xxxx-xxxx``."""
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ValueError("number must be a non-negative integer")
        codes = []
        for _ in range(number):
            raw = _secrets.token_hex(6)
            codes.append("-".join(raw[i : i + 4] for i in range(0, 12, 4)))
        return codes
