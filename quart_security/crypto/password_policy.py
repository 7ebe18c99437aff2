"""What a new password must satisfy: length, then pluggable async validators.

Flask-Security's order and message keys (PASSWORD_INVALID_LENGTH,
PASSWORD_TOO_SIMPLE, PASSWORD_BREACHED, PASSWORD_BREACHED_SITE_ERROR) are
kept; no composition rules (NIST). The breached-password check speaks the
HIBP k-anonymity protocol over asyncio streams, so it never blocks the loop
(Flask-Security uses blocking urllib inside the request).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import ssl
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard, cast
from urllib.parse import urlsplit

from ..errors import ConfigurationError

__all__ = [
    "HIBP_RANGE_URL",
    "BreachCheckError",
    "BreachedPasswordValidator",
    "PasswordPolicy",
    "PasswordValidator",
    "PolicyViolation",
    "context_words_validator",
    "hibp_fetch_range",
    "parse_range",
    "password_provided",
    "policy_from_config",
    "range_fetcher",
]

log = logging.getLogger(__name__)

HIBP_RANGE_URL = "https://api.pwnedpasswords.com/range/"
_PREFIX = re.compile(r"[0-9A-F]{5}\Z")
_Form = Literal["NFC", "NFD", "NFKC", "NFKD"]


def password_provided(value: object) -> TypeGuard[str]:
    """A password counts as given only with something besides whitespace.

    Flask-Security strips the value before its required check, so "   " is
    PASSWORD_NOT_PROVIDED at registration, reset, change and sign-in alike.
    """
    return isinstance(value, str) and bool(value.strip())


@dataclass(frozen=True)
class PolicyViolation:
    """One reason a password is refused: a SECURITY_MSG_* key and its arguments."""

    message_key: str
    kwargs: dict[str, Any] = field(default_factory=dict)


#: Gets the normalised password and the context (form data or ``user``, plus
#: ``is_register``); returns a violation or None.
PasswordValidator = Callable[[str, Mapping[str, Any]], Awaitable[PolicyViolation | None]]


class PasswordPolicy:
    """Length in code points after normalisation; validators run in order.

    The raw input is checked against ``max_length`` before normalising, so a
    huge password costs nothing. Validation stops at the first violation (as
    Flask-Security does), which also spares the HIBP round trip for a password
    already refused.
    """

    def __init__(
        self,
        min_length: int = 8,
        max_length: int = 128,
        normalize_form: str | None = "NFKD",
        validators: Sequence[PasswordValidator] = (),
    ) -> None:
        if not 1 <= min_length <= max_length:
            raise ValueError("want 1 <= min_length <= max_length")
        if normalize_form and normalize_form not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise ValueError(f"unknown normalize_form {normalize_form!r}")
        self.min_length = min_length
        self.max_length = max_length
        self._form = cast("_Form | None", normalize_form or None)
        self.validators = tuple(validators)

    def normalize(self, password: str) -> str:
        return unicodedata.normalize(self._form, password) if self._form else password

    async def validate(
        self, password: str, *, is_register: bool, context: Mapping[str, Any]
    ) -> list[PolicyViolation]:
        length_error = [PolicyViolation("PASSWORD_INVALID_LENGTH", {"length": self.min_length})]
        if not isinstance(password, str) or len(password) > self.max_length:
            return length_error
        normalized = self.normalize(password)
        if not self.min_length <= len(normalized) <= self.max_length:
            return length_error
        try:
            normalized.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (reachable through JSON "\ud800"): such a password
            # could not be hashed; refuse it here rather than fail later.
            return [PolicyViolation("PASSWORD_TOO_SIMPLE")]
        full_context = {**context, "is_register": is_register}
        for validator in self.validators:
            violation = await validator(normalized, full_context)
            if violation is not None:
                return [violation]
        return []


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())


def _context_words(context: Mapping[str, Any]) -> Iterator[str]:
    user = context.get("user")
    values = [
        context.get("email"),
        context.get("username"),
        getattr(user, "email", None),
        getattr(user, "username", None),
        *(context.get("context_words") or ()),
    ]
    for value in values:
        if isinstance(value, str) and value:
            yield value
            local, at, _ = value.rpartition("@")
            if at and local:
                yield local


async def context_words_validator(
    password: str, context: Mapping[str, Any]
) -> PolicyViolation | None:
    """Refuse a password equal (case-insensitively) to the email, its local part
    or the username, from form data or ``context["user"]``, or to any of
    ``context["context_words"]`` (e.g. the application's name)."""
    candidate = _fold(password)
    for word in _context_words(context):
        if candidate == _fold(word):
            return PolicyViolation("PASSWORD_TOO_SIMPLE")
    return None


class BreachCheckError(Exception):
    """The breached-password service gave no usable answer."""


def parse_range(body: str, suffix: str) -> int:
    """The count for ``suffix`` in a HIBP range body (``SUFFIX:COUNT`` lines), else 0.

    A body that is not a range (an HTML error page, say) raises BreachCheckError
    instead of passing every password.
    """
    suffix = suffix.upper()
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            continue
        hash_suffix, sep, count = line.partition(":")
        if not sep:
            raise BreachCheckError("malformed range response")
        if hash_suffix.strip().upper() == suffix:
            count = count.strip()
            if not (count.isascii() and count.isdigit()):
                raise BreachCheckError("malformed count in range response")
            return int(count)
    return 0


class BreachedPasswordValidator:
    """HIBP k-anonymity: only the first 5 hex digits of SHA-1(password) leave.

    ``fetch_range(prefix)`` returns the range body. Refuses when the count is
    at least ``min_count`` (PASSWORD_BREACHED_COUNT). If the service fails,
    the password passes (fail open) unless ``strict`` (Flask-Security's
    PASSWORD_CHECK_BREACHED="strict"), which answers PASSWORD_BREACHED_SITE_ERROR.
    """

    def __init__(
        self,
        fetch_range: Callable[[str], Awaitable[str]] | None = None,
        min_count: int = 1,
        strict: bool = False,
    ) -> None:
        if min_count < 1:
            raise ValueError("min_count must be at least 1 (padding entries have count 0)")
        self._fetch = fetch_range or hibp_fetch_range
        self.min_count = min_count
        self.strict = strict

    async def __call__(self, password: str, context: Mapping[str, Any]) -> PolicyViolation | None:
        try:
            secret = password.encode("utf-8")
            digest = hashlib.sha1(secret, usedforsecurity=False).hexdigest().upper()
            count = parse_range(await self._fetch(digest[:5]), digest[5:])
        except Exception as exc:  # any failure of the service is a site error
            log.warning("breached-password check failed: %r", exc)
            return PolicyViolation("PASSWORD_BREACHED_SITE_ERROR") if self.strict else None
        if count >= self.min_count:
            return PolicyViolation("PASSWORD_BREACHED")
        return None


async def hibp_fetch_range(
    prefix: str,
    *,
    base_url: str = HIBP_RANGE_URL,
    time_limit: float = 5.0,
    max_bytes: int = 1 << 20,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """GET ``base_url + prefix`` (HTTP/1.1, TLS for https) within ``time_limit`` seconds.

    Asks for padding (Add-Padding) so the response size does not hint at the
    prefix. ``ssl_context`` replaces the system trust store (for a private
    mirror). Raises BreachCheckError, OSError or TimeoutError on failure.
    """
    if not _PREFIX.match(prefix):
        raise ValueError("prefix must be 5 upper-case hex digits")
    url = urlsplit(base_url + prefix)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"unsupported breached-password URL {base_url!r}")
    tls = url.scheme == "https"
    port = url.port or (443 if tls else 80)
    target = url.path + (f"?{url.query}" if url.query else "")
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    if url.port:
        host = f"{host}:{url.port}"  # never url.netloc: it may carry credentials
    request = (
        f"GET {target} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "User-Agent: quart-flask-security\r\n"
        "Accept: text/plain\r\n"
        "Add-Padding: true\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    deadline = asyncio.get_running_loop().time() + time_limit
    async with asyncio.timeout_at(deadline):
        reader, writer = await asyncio.open_connection(
            url.hostname,
            port,
            ssl=(ssl_context or _tls_context()) if tls else None,
            server_hostname=url.hostname if tls else None,
        )
    try:
        async with asyncio.timeout_at(deadline):
            writer.write(request)
            await writer.drain()
            status, headers = await _read_head(reader)
            body = await _read_body(reader, headers, max_bytes)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
    if status != 200:
        raise BreachCheckError(f"breached-password service answered HTTP {status}")
    return body.decode("utf-8-sig")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds: once per process is enough.
    return ssl.create_default_context()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *lines = head.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BreachCheckError("malformed HTTP response")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                return bytes(chunks)
            if len(chunks) + size > limit:
                raise BreachCheckError("breached-password response too large")
            chunks += (await reader.readexactly(size + 2))[:-2]
    if "content-length" in headers:
        length = int(headers["content-length"])
        if not 0 <= length <= limit:
            raise BreachCheckError("breached-password response too large")
        return await reader.readexactly(length)
    body = await reader.read(limit + 1)
    while len(body) <= limit and (more := await reader.read(limit + 1 - len(body))):
        body += more
    if len(body) > limit:
        raise BreachCheckError("breached-password response too large")
    return body


def range_fetcher(config: Callable[[str], Any]) -> Callable[[str], Awaitable[str]]:
    """``hibp_fetch_range`` at SECURITY_PASSWORD_BREACHED_RANGE_URL, within
    SECURITY_PASSWORD_BREACHED_TIMEOUT seconds; both checked here, at start-up."""
    base_url = config("PASSWORD_BREACHED_RANGE_URL")
    timeout = config("PASSWORD_BREACHED_TIMEOUT")
    if not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https"):
        raise ConfigurationError(
            "SECURITY_PASSWORD_BREACHED_RANGE_URL must be an http(s) URL ending where the"
            f" 5-digit prefix goes, like {HIBP_RANGE_URL!r}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ConfigurationError(
            "SECURITY_PASSWORD_BREACHED_TIMEOUT must be a number of seconds, above 0 and at most 60"
        )
    return functools.partial(hibp_fetch_range, base_url=base_url, time_limit=float(timeout))


def policy_from_config(config: Callable[[str], Any]) -> PasswordPolicy:
    """The built-in rules as the settings ask: length, context words, then (with
    PASSWORD_CHECK_BREACHED) the breached-password check, last so a password
    refused locally never costs a round trip.

    ``True`` lets a password through (with a log line) when the range API
    cannot answer; ``"strict"`` refuses it (PASSWORD_BREACHED_SITE_ERROR).
    """
    validators: list[PasswordValidator] = [context_words_validator]
    check = config("PASSWORD_CHECK_BREACHED")
    if check not in (False, None, True, "strict"):
        raise ConfigurationError(
            f"SECURITY_PASSWORD_CHECK_BREACHED must be False, True or 'strict', not {check!r}"
        )
    if check:
        count = config("PASSWORD_BREACHED_COUNT")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError("SECURITY_PASSWORD_BREACHED_COUNT must be an integer >= 1")
        validators.append(
            BreachedPasswordValidator(
                range_fetcher(config), min_count=count, strict=check == "strict"
            )
        )
    return PasswordPolicy(
        min_length=config("PASSWORD_LENGTH_MIN"),
        max_length=config("PASSWORD_MAX_LENGTH"),
        normalize_form=config("PASSWORD_NORMALIZE_FORM"),
        validators=validators,
    )
