"""Password hashing compatible with Flask-Security's stored hashes, without passlib.

Flask-Security hashes through passlib's CryptContext, and unless a scheme is
"single hash" it first replaces the password with
``base64(HMAC-SHA512(key=PASSWORD_SALT, msg=password))`` (88 ASCII bytes).
PasswordContext reproduces that so an existing database keeps working, with
argon2-cffi, the ``bcrypt`` package and hashlib instead of passlib (which is
unmaintained and breaks with bcrypt 5). Hashes are identified by prefix.

Verifiable: argon2 (any variant and parameters), bcrypt ($2a$/$2b$/$2y$,
needs the optional ``bcrypt`` package), pbkdf2_sha256 and pbkdf2_sha512 in
passlib's format, and plaintext. des_crypt, sha256_crypt and sha512_crypt (in
Flask-Security's default scheme list) are accepted in ``schemes`` but such
hashes never verify: we log one error naming the scheme, and the user has to
reset the password.

PasswordContext is pure CPU; PasswordService runs it in the HashingPool.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable, Collection, Mapping
from types import ModuleType
from typing import Any, Literal, cast

import argon2
from argon2.exceptions import Argon2Error

from quart_security.crypto.hashing_pool import HashingPool
from quart_security.errors import ConfigurationError

__all__ = [
    "FLASK_SECURITY_SCHEMES",
    "FLASK_SECURITY_SINGLE_HASH",
    "PasswordContext",
    "PasswordService",
    "hash_options_from_passlib",
]

log = logging.getLogger(__name__)

#: Flask-Security's PASSWORD_SCHEMES default.
FLASK_SECURITY_SCHEMES: tuple[str, ...] = (
    "bcrypt",
    "argon2",
    "des_crypt",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "sha256_crypt",
    "sha512_crypt",
    "plaintext",
)

#: Flask-Security's PASSWORD_SINGLE_HASH default (the django_* names are passlib
#: schemes we do not implement; they are kept so the setting round-trips).
FLASK_SECURITY_SINGLE_HASH: frozenset[str] = frozenset(
    {
        "django_argon2",
        "django_bcrypt_sha256",
        "django_pbkdf2_sha256",
        "django_pbkdf2_sha1",
        "django_bcrypt",
        "django_salted_md5",
        "django_salted_sha1",
        "django_des_crypt",
        "plaintext",
    }
)

_Form = Literal["NFC", "NFD", "NFKC", "NFKD"]
_HASHABLE = ("argon2", "bcrypt", "pbkdf2_sha256", "pbkdf2_sha512", "plaintext")
_UNVERIFIABLE = ("des_crypt", "sha256_crypt", "sha512_crypt")
_BCRYPT_MAX_BYTES = 72
_BCRYPT_IDENTS = ("$2a$", "$2b$", "$2y$")
_DES_CRYPT = re.compile(r"[./0-9A-Za-z]{13}\Z")
_LEGACY_HINT = "pip install 'quart-flask-security[legacy-hashes]'"

# Prefix identification, in order. des_crypt has no prefix, so it is only
# recognised when configured (as passlib does); anything else that starts
# with "$" is an unknown scheme and is never taken for plaintext.
_PREFIXES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("argon2", lambda h: h.startswith("$argon2")),
    ("bcrypt", lambda h: h[:4] in _BCRYPT_IDENTS),
    ("pbkdf2_sha256", lambda h: h.startswith("$pbkdf2-sha256$")),
    ("pbkdf2_sha512", lambda h: h.startswith("$pbkdf2-sha512$")),
    ("sha256_crypt", lambda h: h.startswith("$5$")),
    ("sha512_crypt", lambda h: h.startswith("$6$")),
)


class _Scheme:
    """One hash format: the secret in is bytes (already HMAC'd if double hash)."""

    def hash(self, secret: bytes) -> str:
        raise NotImplementedError

    def verify(self, secret: bytes, hashed: str) -> bool:
        raise NotImplementedError

    def needs_update(self, hashed: str) -> bool:
        """True when ``hashed`` was made with other parameters than ours."""
        return False


def _int_option(options: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.pop(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"password hash option {key}={value!r}: want an int in {low}..{high}"
        )
    return value


def _alias(options: dict[str, Any], passlib_name: str, name: str) -> None:
    if passlib_name in options:
        if name in options:
            raise ConfigurationError(f"password hash options {passlib_name} and {name} conflict")
        options[name] = options.pop(passlib_name)


def _reject_leftovers(scheme: str, options: dict[str, Any]) -> None:
    if options:
        raise ConfigurationError(f"unknown {scheme} hash options: {', '.join(sorted(options))}")


class _Argon2(_Scheme):
    _TYPES = {"id": argon2.Type.ID, "i": argon2.Type.I, "d": argon2.Type.D}

    def __init__(self, options: dict[str, Any]) -> None:
        _alias(options, "rounds", "time_cost")
        _alias(options, "digest_size", "hash_len")
        _alias(options, "salt_size", "salt_len")
        defaults = argon2.PasswordHasher()
        kind = options.pop("type", defaults.type)
        if isinstance(kind, str):
            if kind.lower() not in self._TYPES:
                raise ConfigurationError(f"argon2 type {kind!r}: want 'id', 'i' or 'd'")
            kind = self._TYPES[kind.lower()]
        if not isinstance(kind, argon2.Type):
            raise ConfigurationError(f"argon2 type {kind!r}: want 'id', 'i' or 'd'")
        self._hasher = argon2.PasswordHasher(
            time_cost=_int_option(options, "time_cost", defaults.time_cost, 1, 2**32 - 1),
            memory_cost=_int_option(options, "memory_cost", defaults.memory_cost, 8, 2**32 - 1),
            parallelism=_int_option(options, "parallelism", defaults.parallelism, 1, 2**24 - 1),
            hash_len=_int_option(options, "hash_len", defaults.hash_len, 16, 1024),
            salt_len=_int_option(options, "salt_len", defaults.salt_len, 8, 1024),
            type=kind,
        )
        _reject_leftovers("argon2", options)

    def hash(self, secret: bytes) -> str:
        return self._hasher.hash(secret)

    def verify(self, secret: bytes, hashed: str) -> bool:
        try:
            return self._hasher.verify(hashed, secret)
        except (Argon2Error, ValueError):  # mismatch, or a malformed hash
            return False

    def needs_update(self, hashed: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(hashed)
        except (Argon2Error, ValueError):
            return True


def _load_bcrypt() -> ModuleType | None:
    try:
        import bcrypt
    except ImportError:
        return None
    return bcrypt


class _Bcrypt(_Scheme):
    def __init__(self, options: dict[str, Any]) -> None:
        self._rounds = _int_option(options, "rounds", 12, 4, 31)
        _reject_leftovers("bcrypt", options)
        self.module = _load_bcrypt()

    def hash(self, secret: bytes) -> str:
        if self.module is None:
            raise ConfigurationError(f"bcrypt hashing needs the bcrypt package: {_LEGACY_HINT}")
        hashed: bytes = self.module.hashpw(secret, self.module.gensalt(self._rounds))
        return hashed.decode("ascii")

    def verify(self, secret: bytes, hashed: str) -> bool:
        if self.module is None:
            return False
        try:
            return bool(self.module.checkpw(secret, hashed.encode("ascii")))
        except ValueError:  # malformed hash (UnicodeEncodeError included) or NUL in secret
            return False

    def needs_update(self, hashed: str) -> bool:
        return hashed[:4] != "$2b$" or hashed[4:7] != f"{self._rounds:02d}$"


def _ab64_encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("+", ".")


def _ab64_decode(text: str) -> bytes:
    text = text.replace(".", "+")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


class _Pbkdf2(_Scheme):
    """passlib's ``$pbkdf2-<digest>$<rounds>$<ab64 salt>$<ab64 checksum>``."""

    def __init__(self, digest: str, default_rounds: int, options: dict[str, Any]) -> None:
        self._digest = digest
        self._ident = f"$pbkdf2-{digest}$"
        self._size = hashlib.new(digest).digest_size
        self._rounds = _int_option(options, "rounds", default_rounds, 1, 2**32 - 1)
        self._salt_size = _int_option(options, "salt_size", 16, 8, 1024)
        _reject_leftovers(f"pbkdf2_{digest}", options)

    def hash(self, secret: bytes) -> str:
        salt = secrets.token_bytes(self._salt_size)
        checksum = hashlib.pbkdf2_hmac(self._digest, secret, salt, self._rounds)
        return f"{self._ident}{self._rounds}${_ab64_encode(salt)}${_ab64_encode(checksum)}"

    def _parse(self, hashed: str) -> tuple[int, bytes, bytes]:
        if not hashed.startswith(self._ident):
            raise ValueError("not this scheme")
        rounds, salt, checksum = hashed[len(self._ident) :].split("$")
        if not (rounds.isascii() and rounds.isdigit()) or not 1 <= int(rounds) < 2**32:
            raise ValueError("bad rounds")
        return int(rounds), _ab64_decode(salt), _ab64_decode(checksum)

    def verify(self, secret: bytes, hashed: str) -> bool:
        try:
            rounds, salt, checksum = self._parse(hashed)
        except ValueError:
            return False
        if len(checksum) != self._size:
            return False
        computed = hashlib.pbkdf2_hmac(self._digest, secret, salt, rounds)
        return hmac.compare_digest(computed, checksum)

    def needs_update(self, hashed: str) -> bool:
        try:
            rounds, salt, _ = self._parse(hashed)
        except ValueError:
            return True
        return rounds < self._rounds or len(salt) < self._salt_size


class _Plaintext(_Scheme):
    def hash(self, secret: bytes) -> str:
        return secret.decode("utf-8")

    def verify(self, secret: bytes, hashed: str) -> bool:
        return hmac.compare_digest(secret, hashed.encode("utf-8"))


def _build_scheme(name: str, options: Mapping[str, Any]) -> _Scheme:
    opts = dict(options)
    if name == "argon2":
        return _Argon2(opts)
    if name == "bcrypt":
        return _Bcrypt(opts)
    if name == "pbkdf2_sha256":  # OWASP 2023 iteration counts (passlib: 29000 / 25000)
        return _Pbkdf2("sha256", 600_000, opts)
    if name == "pbkdf2_sha512":
        return _Pbkdf2("sha512", 210_000, opts)
    _reject_leftovers(name, opts)
    return _Plaintext()


def _names(value: Collection[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def hash_options_from_passlib(options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Turn PASSWORD_HASH_PASSLIB_OPTIONS (``{"argon2__rounds": 4}``) into hash_options.

    ``<scheme>__default_<key>`` is read as ``<key>``; other passlib context
    options (min/max/vary rounds, ``all__...``) are refused, not ignored.
    """
    result: dict[str, dict[str, Any]] = {}
    for compound, value in options.items():
        scheme, sep, key = compound.partition("__")
        if not sep or scheme not in _HASHABLE:
            raise ConfigurationError(f"unsupported passlib option {compound!r}")
        key = key.removeprefix("default_")
        result.setdefault(scheme, {})[key] = value
    return result


class PasswordContext:
    """Hash, verify and upgrade passwords the way Flask-Security stores them.

    The password is NFKD-normalised (``normalize_form``) before hashing and
    verifying, after a length check on the raw input (``max_length`` code
    points), so an oversized password never reaches the normaliser or the
    hash. bcrypt sees at most 72 bytes: a double-hashed secret is cut to 72
    (as Flask-Security does); a single-hashed password longer than 72 UTF-8
    bytes is refused by ``hash`` (ValueError) and never verifies, so two
    passwords sharing their first 72 bytes can never both match.

    hash_options keys: argon2: time_cost (alias rounds), memory_cost (KiB),
    parallelism, hash_len (alias digest_size), salt_len (alias salt_size),
    type ("id" | "i" | "d"); bcrypt: rounds; pbkdf2_sha256 / pbkdf2_sha512:
    rounds, salt_size.
    """

    def __init__(
        self,
        *,
        default_scheme: str = "argon2",
        schemes: Collection[str] = FLASK_SECURITY_SCHEMES,
        deprecated: Collection[str] = ("auto",),
        single_hash: bool | Collection[str] = FLASK_SECURITY_SINGLE_HASH,
        salt: str | None = None,
        hash_options: Mapping[str, Mapping[str, Any]] | None = None,
        normalize_form: str | None = "NFKD",
        max_length: int = 128,
    ) -> None:
        # A bare string would otherwise be read as a collection of letters.
        schemes = list(dict.fromkeys(_names(schemes)))
        deprecated = _names(deprecated)
        if not isinstance(single_hash, bool):
            single_hash = _names(single_hash)
        for name in (*schemes, *(d for d in deprecated if d != "auto")):
            if name not in _HASHABLE and name not in _UNVERIFIABLE:
                raise ConfigurationError(f"unsupported password scheme {name!r}")
        if default_scheme not in schemes:
            raise ConfigurationError(
                f"password scheme {default_scheme!r} is not in schemes {schemes!r}"
            )
        if default_scheme not in _HASHABLE:
            raise ConfigurationError(f"cannot hash new passwords with {default_scheme!r}")
        if default_scheme in deprecated:
            raise ConfigurationError(f"the default scheme {default_scheme!r} cannot be deprecated")
        if normalize_form and normalize_form not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise ConfigurationError(f"unknown normalize_form {normalize_form!r}")
        if max_length < 1:
            raise ConfigurationError("max_length must be at least 1")

        self._schemes = frozenset(schemes)
        self._default = default_scheme
        self._deprecated = (
            self._schemes - {default_scheme} if "auto" in deprecated else frozenset(deprecated)
        )
        # Flask-Security: ``PASSWORD_SINGLE_HASH or {"plaintext"}``.
        self._single_all = single_hash is True
        self._single = frozenset(() if single_hash is True else single_hash or {"plaintext"})
        self._normalize_form = cast("_Form | None", normalize_form or None)
        self._max_length = max_length
        self._salt = salt.encode("utf-8") if salt else None
        if self._salt is None:
            doubled = [s for s in schemes if s in _HASHABLE and self._double_hash(s)]
            if doubled:
                raise ConfigurationError(
                    f"PASSWORD_SALT must be set: {', '.join(doubled)} hashes are salted "
                    "with an HMAC of it (or list them in PASSWORD_SINGLE_HASH)"
                )

        options = dict(hash_options or {})
        for name in options:
            if name not in _HASHABLE:
                raise ConfigurationError(f"hash options given for unsupported scheme {name!r}")
        self._handlers = {
            name: _build_scheme(name, options.get(name, {}))
            for name in sorted(set(_HASHABLE) & (self._schemes | set(options)))
        }
        bcrypt_handler = self._handlers.get("bcrypt")
        if isinstance(bcrypt_handler, _Bcrypt) and bcrypt_handler.module is None:
            if default_scheme == "bcrypt":
                raise ConfigurationError(
                    f"PASSWORD_HASH 'bcrypt' needs the bcrypt package: {_LEGACY_HINT}"
                )
        self._reported: set[str] = set()
        self._report_lock = threading.Lock()
        try:
            # Timing equaliser for unknown users, and an early check of hash_options.
            self._dummy_hash = self._hash_normalized(secrets.token_urlsafe(32))
        except Argon2Error as exc:
            raise ConfigurationError(f"{default_scheme} hash options rejected: {exc}") from exc

    @property
    def default_scheme(self) -> str:
        return self._default

    @property
    def max_length(self) -> int:
        return self._max_length

    def acceptable(self, password: object) -> bool:
        """Cheap pre-check: could ``password`` ever verify (type and raw length)?"""
        return isinstance(password, str) and 0 < len(password) <= self._max_length

    def identify(self, hashed: str) -> str | None:
        """The configured scheme that made ``hashed``, or None."""
        name: str | None = None
        for candidate, matches in _PREFIXES:
            if matches(hashed):
                name = candidate
                break
        else:
            if "des_crypt" in self._schemes and _DES_CRYPT.match(hashed):
                name = "des_crypt"
            elif hashed and not hashed.startswith("$"):
                name = "plaintext"
        return name if name in self._schemes else None

    def hash(self, password: str) -> str:
        """A new hash with the default scheme; TypeError / ValueError on unusable input."""
        if not isinstance(password, str):
            raise TypeError("password must be a str")
        if not password:
            raise ValueError("password is empty")
        if len(password) > self._max_length:
            raise ValueError(f"password longer than {self._max_length} characters")
        return self._hash_normalized(self._normalize(password))

    def verify(self, password: object, hashed: str | None) -> bool:
        return self._verify(password, hashed) is not None

    def needs_update(self, hashed: str) -> bool:
        """True if ``hashed`` should be replaced (deprecated scheme or stale parameters)."""
        scheme = self.identify(hashed) if isinstance(hashed, str) else None
        return scheme is None or self._stale(scheme, hashed)

    def verify_and_update(self, password: object, hashed: str | None) -> tuple[bool, str | None]:
        """(verified, new hash if the stored one should be replaced, else None)."""
        scheme = self._verify(password, hashed)
        if scheme is None:
            return False, None
        assert isinstance(password, str) and isinstance(hashed, str)
        if self._stale(scheme, hashed):
            return True, self._hash_normalized(self._normalize(password))
        return True, None

    def dummy_verify(self, password: object) -> None:
        """Spend what a verify of an existing user would (for unknown users)."""
        self._verify(password, self._dummy_hash)

    def _verify(self, password: object, hashed: object) -> str | None:
        """The scheme name when ``password`` matches ``hashed``, else None."""
        if not self.acceptable(password) or not isinstance(hashed, str):
            return None
        assert isinstance(password, str)
        scheme = self.identify(hashed)
        if scheme is None:
            return None
        handler = self._handlers.get(scheme)
        if handler is None:
            self._report(scheme, "passlib-only scheme, the user must reset the password")
            return None
        if isinstance(handler, _Bcrypt) and handler.module is None:
            self._report(scheme, f"the bcrypt package is not installed: {_LEGACY_HINT}")
            return None
        try:
            secret = self._secret(self._normalize(password), scheme, for_hash=False)
        except ValueError:  # lone surrogates cannot be encoded
            return None
        if secret is None:
            return None
        return scheme if handler.verify(secret, hashed) else None

    def _stale(self, scheme: str, hashed: str) -> bool:
        if scheme in self._deprecated:
            return True
        return scheme == self._default and self._handlers[scheme].needs_update(hashed)

    def _normalize(self, password: str) -> str:
        if self._normalize_form is None:
            return password
        return unicodedata.normalize(self._normalize_form, password)

    def _double_hash(self, scheme: str) -> bool:
        return not (self._single_all or scheme in self._single)

    def _secret(self, password: str, scheme: str, *, for_hash: bool) -> bytes | None:
        raw = password.encode("utf-8")  # lone surrogates raise UnicodeEncodeError
        if self._double_hash(scheme):
            assert self._salt is not None
            mac = hmac.new(self._salt, raw, hashlib.sha512).digest()
            secret = base64.b64encode(mac)
            return secret[:_BCRYPT_MAX_BYTES] if scheme == "bcrypt" else secret
        if scheme == "bcrypt" and len(raw) > _BCRYPT_MAX_BYTES:
            if for_hash:
                raise ValueError(
                    "single-hashed bcrypt cannot take passwords over 72 bytes; "
                    "use double hashing or another scheme"
                )
            return None
        return raw

    def _hash_normalized(self, password: str) -> str:
        secret = self._secret(password, self._default, for_hash=True)
        assert secret is not None
        return self._handlers[self._default].hash(secret)

    def _report(self, scheme: str, reason: str) -> None:
        with self._report_lock:
            if scheme in self._reported:
                return
            self._reported.add(scheme)
        log.error("cannot verify %s password hashes (%s)", scheme, reason)


class PasswordService:
    """PasswordContext behind the HashingPool: nothing hashes on the event loop.

    Inputs that can never verify (wrong type, empty, longer than max_length)
    are answered before taking a pool slot.
    """

    def __init__(self, context: PasswordContext, pool: HashingPool) -> None:
        self.context = context
        self.pool = pool

    async def hash(self, password: str) -> str:
        if not isinstance(password, str):
            raise TypeError("password must be a str")
        if not self.context.acceptable(password):
            raise ValueError(f"password must be 1..{self.context.max_length} characters")
        return await self.pool.run(self.context.hash, password)

    async def verify(self, password: object, hashed: str | None) -> bool:
        if not self.context.acceptable(password) or not isinstance(hashed, str):
            return False
        return await self.pool.run(self.context.verify, password, hashed)

    async def verify_and_update(
        self, password: object, hashed: str | None
    ) -> tuple[bool, str | None]:
        if not self.context.acceptable(password) or not isinstance(hashed, str):
            return False, None
        return await self.pool.run(self.context.verify_and_update, password, hashed)

    async def dummy_verify(self, password: object) -> None:
        if self.context.acceptable(password):
            await self.pool.run(self.context.dummy_verify, password)
