"""PasswordPolicy: length, context words, and the HIBP check against a loopback stub."""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from quart_security.crypto.password_policy import (
    BreachedPasswordValidator,
    PasswordPolicy,
    PolicyViolation,
    context_words_validator,
    hibp_fetch_range,
    parse_range,
)

TOO_SHORT = PolicyViolation("PASSWORD_INVALID_LENGTH", {"length": 8})
TOO_SIMPLE = PolicyViolation("PASSWORD_TOO_SIMPLE")
BREACHED = PolicyViolation("PASSWORD_BREACHED")
SITE_ERROR = PolicyViolation("PASSWORD_BREACHED_SITE_ERROR")

BREACHED_PW = "Tr0ub4dor&3 is famous"
DIGEST = hashlib.sha1(BREACHED_PW.encode()).hexdigest().upper()
PREFIX, SUFFIX = DIGEST[:5], DIGEST[5:]


class Recorder:
    """A validator that remembers what it was given."""

    def __init__(self, answer: PolicyViolation | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer = answer

    async def __call__(self, password: str, context: Mapping[str, Any]) -> PolicyViolation | None:
        self.calls.append((password, dict(context)))
        return self.answer


async def check(policy: PasswordPolicy, password: str, **context: Any) -> list[PolicyViolation]:
    return await policy.validate(password, is_register=True, context=context)


# -- length ---------------------------------------------------------------------


async def test_min_and_max_length() -> None:
    policy = PasswordPolicy()
    assert await check(policy, "a" * 7) == [TOO_SHORT]
    assert await check(policy, "a" * 8) == []
    assert await check(policy, "a" * 128) == []
    assert await check(policy, "a" * 129) == [TOO_SHORT]
    assert await check(policy, "") == [TOO_SHORT]


async def test_huge_password_is_refused_before_normalising_or_validators() -> None:
    recorder = Recorder()
    policy = PasswordPolicy(validators=[recorder])
    # NFKD of U+FDFA is 18 code points: 1 MiB of it would be 18 MiB once normalised.
    assert await check(policy, "\ufdfa" * (1 << 20)) == [TOO_SHORT]
    assert recorder.calls == []


async def test_length_counts_code_points() -> None:
    policy = PasswordPolicy(min_length=15)
    assert await check(policy, "\U0001f600" * 15) == []
    assert await check(policy, "\U0001f600" * 14) == [
        PolicyViolation("PASSWORD_INVALID_LENGTH", {"length": 15})
    ]


async def test_length_is_counted_after_normalisation() -> None:
    ligatures = "\ufb01" * 4  # "fi" ligature: 4 code points, 8 after NFKD
    assert await check(PasswordPolicy(), ligatures) == []
    assert await check(PasswordPolicy(normalize_form=None), ligatures) == [TOO_SHORT]


async def test_validators_get_the_normalised_password_and_context() -> None:
    recorder = Recorder()
    policy = PasswordPolicy(validators=[recorder])
    assert await policy.validate("caf\u00e9 noir", is_register=False, context={"user": "u"}) == []
    assert recorder.calls == [("cafe\u0301 noir", {"user": "u", "is_register": False})]


async def test_first_violation_stops_validation() -> None:
    later = Recorder()
    policy = PasswordPolicy(validators=[Recorder(TOO_SIMPLE), later])
    assert await check(policy, "long enough") == [TOO_SIMPLE]
    assert later.calls == []


async def test_lone_surrogates_are_refused() -> None:
    assert await check(PasswordPolicy(), "abcd\ud800efgh") == [TOO_SIMPLE]


def test_bad_limits() -> None:
    with pytest.raises(ValueError):
        PasswordPolicy(min_length=10, max_length=9)
    with pytest.raises(ValueError):
        PasswordPolicy(min_length=0)


# -- context words -------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("Alice.Smith@Example.com", {"email": "alice.smith@example.com"}),
        ("ALICE.SMITH", {"email": "alice.smith@example.com"}),
        ("alice_wonder", {"username": "Alice_Wonder"}),
        ("alice.smith", {"user": SimpleNamespace(email="alice.smith@example.com")}),
        ("wonderland42", {"user": SimpleNamespace(email=None, username="Wonderland42")}),
        ("My Great App", {"context_words": ["my great app"]}),
        ("stra\u00dfe1234", {"username": "STRASSE1234"}),  # full case folding
    ],
)
async def test_context_words_are_refused(password: str, context: dict[str, Any]) -> None:
    policy = PasswordPolicy(validators=[context_words_validator])
    assert await check(policy, password, **context) == [TOO_SIMPLE]


async def test_context_words_compare_whole_passwords() -> None:
    policy = PasswordPolicy(validators=[context_words_validator])
    context = {"email": "alice.smith@example.com", "username": "alice_wonder"}
    assert await check(policy, "alice.smith@example.com!", **context) == []
    assert await check(policy, "alice_wonder in wonderland", **context) == []
    assert await check(policy, "unrelated passphrase", email=None, username=123) == []


# -- HIBP range parsing ------------------------------------------------------------


def test_parse_range() -> None:
    body = f"0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{SUFFIX.lower()}:42\r\nFFFF:0\r\n"
    assert parse_range(body, SUFFIX) == 42
    assert parse_range(body.replace("\r\n", "\n"), SUFFIX) == 42
    assert parse_range("0018A45C4D1DEF81644B54AB7F969B88D65:1", SUFFIX) == 0
    assert parse_range("", SUFFIX) == 0


@pytest.mark.parametrize("body", ["<html>Service unavailable</html>", f"{SUFFIX}:lots"])
def test_parse_range_refuses_garbage(body: str) -> None:
    with pytest.raises(Exception, match="malformed"):
        parse_range(body, SUFFIX)


def test_breached_validator_needs_a_positive_count() -> None:
    with pytest.raises(ValueError):
        BreachedPasswordValidator(lambda prefix: asyncio.sleep(0, ""), min_count=0)


# -- HIBP against a loopback stub ------------------------------------------------------


class HibpStub:
    """A real HTTP server on 127.0.0.1 that serves canned range responses."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.status = 200
        self.framing = "content-length"  # or "chunked", "close", "hang"
        self.body = ""
        self.base_url = ""
        self._release = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()

    def serve_range(self, count: int) -> None:
        lines = [
            "0018A45C4D1DEF81644B54AB7F969B88D65:1",
            "00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2",
            *([f"{SUFFIX}:{count}"] if count else []),
            "FFFFF6E8FA6EECAD2A3AA415EEC418D38EC:0",  # padding entry
        ]
        self.body = "\r\n".join(lines)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            self.requests.append((await reader.readuntil(b"\r\n\r\n")).decode("latin-1"))
            if self.framing == "hang":
                await self._release.wait()
                return
            body = self.body.encode()
            head = f"HTTP/1.1 {self.status} X\r\nContent-Type: text/plain\r\n"
            if self.framing == "content-length":
                writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            elif self.framing == "chunked":
                half = len(body) // 2
                chunks = b"".join(
                    f"{len(part):x}\r\n".encode() + part + b"\r\n"
                    for part in (body[:half], body[half:])
                    if part
                )
                writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunks)
                writer.write(b"0\r\n\r\n")
            else:
                writer.write(f"{head}Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        finally:
            writer.close()
            self._handlers.discard(task)

    async def close(self) -> None:
        self._release.set()
        await asyncio.gather(*self._handlers, return_exceptions=True)


@pytest.fixture
async def stub() -> AsyncIterator[HibpStub]:
    hibp = HibpStub()
    server = await asyncio.start_server(hibp.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hibp.base_url = f"http://127.0.0.1:{port}/range/"
    try:
        yield hibp
    finally:
        await hibp.close()
        server.close()
        await server.wait_closed()


def breach_policy(base_url: str, *, strict: bool = False, min_count: int = 1) -> PasswordPolicy:
    fetch = functools.partial(hibp_fetch_range, base_url=base_url, time_limit=0.5)
    validator = BreachedPasswordValidator(fetch, min_count=min_count, strict=strict)
    return PasswordPolicy(validators=[validator])


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
async def test_breached_password_is_refused(stub: HibpStub, framing: str) -> None:
    stub.framing = framing
    stub.serve_range(count=5)
    assert await check(breach_policy(stub.base_url), BREACHED_PW) == [BREACHED]


async def test_only_the_hash_prefix_leaves_the_machine(stub: HibpStub) -> None:
    stub.serve_range(count=5)
    await check(breach_policy(stub.base_url), BREACHED_PW)
    (request,) = stub.requests
    assert request.startswith(f"GET /range/{PREFIX} HTTP/1.1\r\n")
    assert SUFFIX not in request and SUFFIX.lower() not in request
    assert BREACHED_PW not in request
    assert "add-padding: true" in request.lower()


async def test_breach_count_threshold(stub: HibpStub) -> None:
    stub.serve_range(count=5)
    assert await check(breach_policy(stub.base_url, min_count=5), BREACHED_PW) == [BREACHED]
    assert await check(breach_policy(stub.base_url, min_count=6), BREACHED_PW) == []


async def test_password_not_in_range_passes(stub: HibpStub) -> None:
    stub.serve_range(count=0)
    assert await check(breach_policy(stub.base_url, strict=True), BREACHED_PW) == []


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, "Internal Server Error"), (429, "Rate limit exceeded"), (200, "<html>oops</html>")],
)
async def test_site_error_fails_open_unless_strict(stub: HibpStub, status: int, body: str) -> None:
    stub.status, stub.body = status, body
    assert await check(breach_policy(stub.base_url), BREACHED_PW) == []
    assert await check(breach_policy(stub.base_url, strict=True), BREACHED_PW) == [SITE_ERROR]


async def test_timeout_fails_open_unless_strict(stub: HibpStub) -> None:
    stub.framing = "hang"
    assert await check(breach_policy(stub.base_url), BREACHED_PW) == []
    assert await check(breach_policy(stub.base_url, strict=True), BREACHED_PW) == [SITE_ERROR]


async def test_unreachable_site_fails_open_unless_strict() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/range/"
    assert await check(breach_policy(url), BREACHED_PW) == []
    assert await check(breach_policy(url, strict=True), BREACHED_PW) == [SITE_ERROR]


async def test_fetch_only_accepts_a_hash_prefix(stub: HibpStub) -> None:
    for bad in ("abcde", "ABCD", "ABCDEF", "ABCD\n"):
        with pytest.raises(ValueError):
            await hibp_fetch_range(bad, base_url=stub.base_url)
    assert stub.requests == []


def self_signed_localhost(directory: Path) -> tuple[Path, Path, bytes]:
    """A certificate for 127.0.0.1: (cert file, key file, cert PEM)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hibp-stub")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, cert_pem


async def test_https_fetch_verifies_the_server_certificate(tmp_path: Path) -> None:
    cert_file, key_file, cert_pem = self_signed_localhost(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    hibp = HibpStub()
    hibp.serve_range(count=3)
    server = await asyncio.start_server(hibp.handle, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/range/"
    try:
        trusted = ssl.create_default_context(cadata=cert_pem.decode())
        fetch = functools.partial(hibp_fetch_range, base_url=url, ssl_context=trusted)
        validator = BreachedPasswordValidator(fetch, strict=True)
        assert await check(PasswordPolicy(validators=[validator]), BREACHED_PW) == [BREACHED]
        # With the system trust store the self-signed stub is refused: site error.
        assert await check(breach_policy(url, strict=True), BREACHED_PW) == [SITE_ERROR]
    finally:
        await hibp.close()
        server.close()
        await server.wait_closed()
