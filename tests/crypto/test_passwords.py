"""PasswordContext / PasswordService against real Flask-Security 5.9.2 hashes.

The FS_* literals were produced by flask-security 5.9.2 (libpass 1.9.4,
argon2-cffi 25.1.0, bcrypt 5.0.0) with ``hash_password`` inside an app context,
SECURITY_PASSWORD_SALT = SALT, for the password PW unless noted.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import unicodedata
from typing import Any

import pytest

from quart_security.crypto.hashing_pool import HashingPool
from quart_security.crypto.passwords import (
    PasswordContext,
    PasswordService,
    hash_options_from_passlib,
)
from quart_security.errors import ConfigurationError, HashingOverloaded

SALT = "fixture-salt-2024"
PW = "correct horse battery staple"
SMALL: dict[str, Any] = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
SMALL_PREFIX = "$argon2id$v=19$m=8,t=1,p=1$"
DEFAULT_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"

# Double hashed (HMAC-SHA512 with SALT, then the scheme), default parameters.
FS_ARGON2 = (
    "$argon2id$v=19$m=65536,t=3,p=4$N0bIGaPUes/5XwuhlFLqvQ$"
    "WISzw55SOPqzIrGKxXuSdcpk+iB21yldl7rD+DfAkZs"
)
FS_BCRYPT = "$2b$12$ZUo/1/X2Jnojmh8IP1AuUeYQHdzqm.qqRQlkn3cQBPAR/LpO.Izhe"
FS_PBKDF2_SHA512 = (
    "$pbkdf2-sha512$25000$vFeK0RqjFOL8vxcCYEwJgQ$ZV.zkKKsgnlVOKrKq2qbR7FuQbfyVar40iK5ng4psPDtUi3s"
    "OG71JW15gelwBMeMfxJRjptBB7QcsNfJ3P2k6w"
)
FS_PBKDF2_SHA256 = (
    "$pbkdf2-sha256$29000$CcG4954zRsi5l1LqnbNW6g$MLcTd8E22uAfvw.zV.JGwGJeuQYtu/aG747EzikR5yA"
)
# Double hashed with small parameters (PASSWORD_HASH_PASSLIB_OPTIONS / _OPTIONS).
FS_ARGON2_SMALL = (
    "$argon2id$v=19$m=8,t=1,p=1$/59TitGas/YeozSmlBKC0A$LSlMIPmfqzVO7a52phFOwN7/09spwzibhuJm+JnCUaE"
)
FS_BCRYPT_R4 = "$2b$04$y9sdb/32KS2G/pFBt1h8nOwz3T2xScc4sk4tlHUa/ZjnaakaI5uze"
FS_PBKDF2_SHA512_R1000 = (
    "$pbkdf2-sha512$1000$GMNYa01JCaFUqpUS4lwrxQ$RnlN8XONqyPik1jrCCR1j0AFb7B0Es/mHx.ixUiL008WnQod"
    "/hmVBfp2aFSpvUZ4C0o8lOgdo3Da1.11J1/pLA"
)
FS_PBKDF2_SHA256_R1000_SALT8 = (
    "$pbkdf2-sha256$1000$xLj3Xqv1nhM$SMQWX8QnuLdvv/nOSUzYtpI98ZzF08NrkYmIoXjUoaU"
)
# PW double hashed with PASSWORD_SALT="another salt", small argon2.
FS_ARGON2_OTHER_SALT = (
    "$argon2id$v=19$m=8,t=1,p=1$aA2BEKKUMgYgpBQCAODcWw$j3xS+5LoT569cfLMHBCUYrVX+DHDpBW+bIyxWFoPTwI"
)
# "café crème brûlée" as Flask-Security stores it: NFKD-normalised by its
# PasswordUtil, then double hashed (small argon2).
CREME = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
FS_ARGON2_CREME = (
    "$argon2id$v=19$m=8,t=1,p=1$9T7n/N8bo/Te+z8nxJjzHg$PnNBmV/L/vWl9AD7q+2SFUQEaDjZ92eXERzlmSuQvCc"
)
# PASSWORD_SINGLE_HASH=True (no HMAC).
FS_ARGON2_SINGLE = (
    "$argon2id$v=19$m=65536,t=3,p=4$DSGk1NobQ4hxjpEyplQq5Q$"
    "conuHd2UlYAtsrocnNFKgQjRoxNhSvpd2oAEitihLrc"
)
FS_BCRYPT_SINGLE = "$2b$12$oS4KhQgXupZ.in4XQcsKSebqlK.T/TcVrcBtIHLG5MkuQ6nR2ydpW"
FS_PBKDF2_SHA256_SINGLE = (
    "$pbkdf2-sha256$29000$834PgbBWipEyZgxBiBGCEA$SLyyFgGoezc3HFF/t68G5gXOyQkuK4CB5o2to3utkpU"
)
# bcrypt with 100-char passwords: "x"*72 + "1"*28.
LONG_1 = "x" * 72 + "1" * 28
LONG_2 = "x" * 72 + "2" * 28
FS_BCRYPT_LONG = "$2b$12$ThmuLDiPqXAXTsXPv7QzKu9nwUIgWB3DvYVdURbYZ6XY8smJ6aXSq"  # double hashed
# Single hashed: Flask-Security 5.9 cut LONG_1 to 72 characters before hashing.
FS_BCRYPT_SINGLE_LONG = "$2b$12$ixC6UImBqwZkPWaYQj6w.ezoiUaiMgysm2yTiSyRwmLD0n7uGrlHy"
# Flask-Security's get_hmac(PW).
FS_HMAC = "Hbxt5r/ChxOx+L4XlJ3ech8xJnHpLnNgwV4gRHiXQQ4zo/gqDk9qTPiriqXuz1Knh1IyFLzCUSvjAGKcgjpW4w=="
# Schemes Flask-Security lists that we cannot verify.
FS_SHA512_CRYPT = (
    "$6$rounds=656000$.acgOH3AkiK1Fwbq$LNX88Ix0Z6KFjBEXpXdKWju0XrjaTHB6VOEj785ywtApzinEHi8ltdgFY"
    "RWJ9sShfItgP2IgW4L3cWYvZ2m1z0"
)
FS_SHA256_CRYPT = "$5$rounds=535000$JN62I9hN2bdy/0V8$16tLxOL5J74Chs3Vvtxtg0YRYUusC.UvaDxIgl27HE1"
FS_DES_CRYPT = "emNjSAaww5g7w"


def small_context(**kwargs: Any) -> PasswordContext:
    kwargs.setdefault("salt", SALT)
    kwargs.setdefault("hash_options", {"argon2": SMALL})
    return PasswordContext(**kwargs)


@pytest.fixture(scope="module")
def ctx() -> PasswordContext:
    return small_context()


# -- round trip ---------------------------------------------------------------


def test_round_trip_and_near_misses(ctx: PasswordContext) -> None:
    hashed = ctx.hash(PW)
    assert hashed.startswith(SMALL_PREFIX)
    assert ctx.verify(PW, hashed)
    # Verified exactly as received: no case folding, no truncation.
    assert not ctx.verify("C" + PW[1:], hashed)
    assert not ctx.verify(PW + "x", hashed)
    assert not ctx.verify(PW[:-1], hashed)
    assert not ctx.verify("wrong password", hashed)


def test_same_password_gives_different_hashes(ctx: PasswordContext) -> None:
    first, second = ctx.hash(PW), ctx.hash(PW)
    assert first != second
    assert ctx.verify(PW, first) and ctx.verify(PW, second)


def test_default_is_argon2id_with_argon2_cffi_defaults() -> None:
    ctx = PasswordContext(salt=SALT)
    hashed = ctx.hash(PW)
    assert hashed.startswith(DEFAULT_PREFIX)
    assert not ctx.needs_update(hashed)
    # Flask-Security's own default hash is current: verified, not rehashed.
    assert ctx.verify_and_update(PW, FS_ARGON2) == (True, None)


# -- Flask-Security compatibility ----------------------------------------------

DOUBLE_HASHED = {
    "argon2-default": FS_ARGON2,
    "argon2-small": FS_ARGON2_SMALL,
    "bcrypt": FS_BCRYPT,
    "bcrypt-rounds4": FS_BCRYPT_R4,
    "pbkdf2_sha512": FS_PBKDF2_SHA512,
    "pbkdf2_sha512-1000": FS_PBKDF2_SHA512_R1000,
    "pbkdf2_sha256": FS_PBKDF2_SHA256,
    "pbkdf2_sha256-1000-salt8": FS_PBKDF2_SHA256_R1000_SALT8,
}


@pytest.mark.parametrize("stored", DOUBLE_HASHED.values(), ids=DOUBLE_HASHED.keys())
def test_flask_security_double_hashes_verify_and_upgrade(ctx: PasswordContext, stored: str) -> None:
    assert ctx.verify_and_update(PW + "!", stored) == (False, None)

    ok, new_hash = ctx.verify_and_update(PW, stored)
    assert ok
    if stored == FS_ARGON2_SMALL:  # already the scheme and parameters we use
        assert new_hash is None
        return
    assert new_hash is not None and new_hash.startswith(SMALL_PREFIX)
    assert ctx.verify(PW, new_hash)
    assert ctx.verify_and_update(PW, new_hash) == (True, None)


def test_hmac_prehash_matches_flask_security_get_hmac() -> None:
    # With plaintext double hashed, the stored value IS the pre-hash.
    ctx = PasswordContext(
        default_scheme="plaintext", schemes=["plaintext"], single_hash={"django_argon2"}, salt=SALT
    )
    assert ctx.verify(PW, FS_HMAC)
    assert ctx.hash(PW) == FS_HMAC


def test_another_salt_does_not_verify(ctx: PasswordContext) -> None:
    assert not ctx.verify(PW, FS_ARGON2_OTHER_SALT)
    assert small_context(salt="another salt").verify(PW, FS_ARGON2_OTHER_SALT)
    assert not small_context(salt="another salt").verify(PW, FS_ARGON2_SMALL)


def test_single_hashed_flask_security_hashes() -> None:
    ctx = small_context(single_hash=True, salt=None)
    for stored in (FS_ARGON2_SINGLE, FS_BCRYPT_SINGLE, FS_PBKDF2_SHA256_SINGLE):
        ok, new_hash = ctx.verify_and_update(PW, stored)
        assert ok and new_hash is not None and new_hash.startswith(SMALL_PREFIX)
    # A double-hashed hash does not verify with single hashing, and vice versa.
    assert not ctx.verify(PW, FS_BCRYPT_R4)
    assert not small_context().verify(PW, FS_PBKDF2_SHA256_SINGLE)


def test_plaintext_is_single_hashed_by_default_and_upgraded(ctx: PasswordContext) -> None:
    assert ctx.verify(PW, PW)
    ok, new_hash = ctx.verify_and_update(PW, PW)
    assert ok and new_hash is not None and new_hash.startswith(SMALL_PREFIX)
    assert not ctx.verify("something else", PW)


def test_plaintext_never_verifies_unless_listed() -> None:
    ctx = small_context(schemes=["argon2", "bcrypt", "pbkdf2_sha512"])
    assert not ctx.verify(PW, PW)


def test_scheme_not_in_schemes_never_verifies() -> None:
    ctx = small_context(schemes=["argon2", "plaintext"])
    assert ctx.verify(PW, FS_ARGON2_SMALL)
    for stored in (FS_BCRYPT, FS_PBKDF2_SHA512, FS_PBKDF2_SHA256):
        assert not ctx.verify(PW, stored)
    # An unknown "$..." hash is not taken for plaintext (no pass-the-hash).
    assert not ctx.verify("$1$abcdefgh$0123456789abcdef", "$1$abcdefgh$0123456789abcdef")


def test_unverifiable_schemes_fail_and_log_once(
    ctx: PasswordContext, caplog: pytest.LogCaptureFixture
) -> None:
    fresh = small_context()
    with caplog.at_level(logging.ERROR, logger="quart_security.crypto.passwords"):
        for _ in range(2):
            assert not fresh.verify(PW, FS_SHA512_CRYPT)
            assert not fresh.verify(PW, FS_SHA256_CRYPT)
            assert not fresh.verify(PW, FS_DES_CRYPT)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    for scheme in ("sha512_crypt", "sha256_crypt", "des_crypt"):
        assert sum(scheme in m for m in messages) == 1


# -- bcrypt's 72 bytes --------------------------------------------------------


def test_double_hashed_bcrypt_is_not_truncated_at_72_bytes() -> None:
    ctx = small_context(default_scheme="bcrypt", hash_options={"bcrypt": {"rounds": 4}})
    hashed = ctx.hash(LONG_1)
    assert hashed.startswith("$2b$04$")
    assert ctx.verify(LONG_1, hashed)
    assert not ctx.verify(LONG_2, hashed)
    # Same for the hash Flask-Security made.
    assert ctx.verify(LONG_1, FS_BCRYPT_LONG)
    assert not ctx.verify(LONG_2, FS_BCRYPT_LONG)


def test_single_hashed_bcrypt_refuses_more_than_72_bytes() -> None:
    """Single-hashed bcrypt only ever sees 72 bytes, so we refuse longer input.

    hash() raises ValueError and verify() is False for a password over 72
    UTF-8 bytes: two passwords that share their first 72 bytes can never both
    match. Flask-Security 5.9 cut such passwords to 72 characters at hash time
    (and raises at verify time); its users keep logging in with the first 72.
    """
    ctx = small_context(
        default_scheme="bcrypt", single_hash=True, salt=None, hash_options={"bcrypt": {"rounds": 4}}
    )
    with pytest.raises(ValueError, match="72 bytes"):
        ctx.hash(LONG_1)
    with pytest.raises(ValueError, match="72 bytes"):
        ctx.hash("\u00e9" * 40)  # 40 code points, 120 bytes once NFKD-normalised
    assert not ctx.verify(LONG_1, FS_BCRYPT_SINGLE_LONG)
    assert not ctx.verify(LONG_2, FS_BCRYPT_SINGLE_LONG)
    assert ctx.verify("x" * 72, FS_BCRYPT_SINGLE_LONG)
    exact = ctx.hash("y" * 72)
    assert ctx.verify("y" * 72, exact)
    assert not ctx.verify("y" * 71, exact)


@pytest.mark.parametrize(
    ("scheme", "options"),
    [
        ("argon2", SMALL),
        ("bcrypt", {"rounds": 4}),
        ("pbkdf2_sha256", {"rounds": 1000}),
        ("pbkdf2_sha512", {"rounds": 1000}),
        ("plaintext", {}),
    ],
)
def test_max_length_passwords_work_with_every_scheme(scheme: str, options: dict[str, Any]) -> None:
    ctx = small_context(default_scheme=scheme, hash_options={scheme: options})
    password = "P\u00e4ss w\u00f6rd \U0001f511 " * 8 + "z" * 32  # 128 code points
    assert len(password) == 128
    hashed = ctx.hash(password)
    assert ctx.identify(hashed) == scheme
    assert ctx.verify(password, hashed)
    assert not ctx.verify(password[:-1] + "y", hashed)
    assert not ctx.needs_update(hashed)


def test_our_pbkdf2_hashes_use_passlibs_format() -> None:
    ctx = small_context(default_scheme="pbkdf2_sha512")
    hashed = ctx.hash(PW)
    ident, rounds, salt, checksum = hashed.split("$")[1:]
    assert ident == "pbkdf2-sha512"
    assert rounds == "210000"
    assert len(salt) == 22 and len(checksum) == 86  # 16 and 64 bytes, ab64 unpadded
    assert "+" not in hashed and "=" not in hashed
    assert small_context().verify(PW, hashed)


# -- normalisation and length ---------------------------------------------------


def test_nfkd_composed_and_decomposed_match_both_ways(ctx: PasswordContext) -> None:
    composed = "caf\u00e9 au lait"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert ctx.verify(decomposed, ctx.hash(composed))
    assert ctx.verify(composed, ctx.hash(decomposed))
    # Flask-Security stored the NFKD form; both forms verify against it.
    assert ctx.verify(CREME, FS_ARGON2_CREME)
    assert ctx.verify(unicodedata.normalize("NFD", CREME), FS_ARGON2_CREME)


def test_without_normalisation_forms_differ() -> None:
    ctx = small_context(normalize_form=None)
    composed = "caf\u00e9 au lait"
    assert not ctx.verify(unicodedata.normalize("NFD", composed), ctx.hash(composed))


def test_length_is_checked_before_anything_else(ctx: PasswordContext) -> None:
    huge = "a" * (1 << 20)
    with pytest.raises(ValueError, match="longer than 128"):
        ctx.hash(huge)
    assert not ctx.verify(huge, ctx.hash("a" * 128))
    assert ctx.verify_and_update(huge, FS_ARGON2_SMALL) == (False, None)
    # 129 code points: refused even against its own hash made with a larger limit.
    roomy = small_context(max_length=200)
    password = "b" * 129
    stored = roomy.hash(password)
    assert roomy.verify(password, stored)
    assert not ctx.verify(password, stored)
    with pytest.raises(ValueError):
        ctx.hash(password)
    # The limit counts code points, not bytes.
    emoji = "\U0001f600" * 128
    assert ctx.verify(emoji, ctx.hash(emoji))


@pytest.mark.parametrize("bad", [None, PW.encode(), 12345678, {"password": PW}, ["a"]])
def test_non_str_passwords_never_verify_and_cannot_be_hashed(
    ctx: PasswordContext, bad: Any
) -> None:
    assert not ctx.verify(bad, FS_ARGON2_SMALL)
    assert ctx.verify_and_update(bad, FS_ARGON2_SMALL) == (False, None)
    ctx.dummy_verify(bad)  # never raises
    with pytest.raises(TypeError):
        ctx.hash(bad)


def test_empty_password_and_missing_hash(ctx: PasswordContext) -> None:
    assert not ctx.verify("", "")
    assert not ctx.verify("", FS_ARGON2_SMALL)
    assert not ctx.verify(PW, None)
    assert not ctx.verify(PW, "")
    with pytest.raises(ValueError):
        ctx.hash("")


def test_lone_surrogates_are_refused(ctx: PasswordContext) -> None:
    assert not ctx.verify("abc\ud800defgh", FS_ARGON2_SMALL)
    with pytest.raises(ValueError):
        ctx.hash("abc\ud800defgh")


# -- needs_update -------------------------------------------------------------


def test_needs_update_for_other_argon2_parameters(ctx: PasswordContext) -> None:
    stored = ctx.hash(PW)
    assert not ctx.needs_update(stored)
    stronger = small_context(hash_options={"argon2": {**SMALL, "time_cost": 2}})
    assert stronger.needs_update(stored)
    ok, new_hash = stronger.verify_and_update(PW, stored)
    assert ok and new_hash is not None
    assert new_hash.startswith("$argon2id$v=19$m=8,t=2,p=1$")
    argon2i = small_context(hash_options={"argon2": {**SMALL, "type": "i"}}).hash(PW)
    assert argon2i.startswith("$argon2i$")
    assert ctx.verify(PW, argon2i)
    assert ctx.needs_update(argon2i)


def test_needs_update_follows_deprecated(ctx: PasswordContext) -> None:
    assert ctx.needs_update(FS_BCRYPT_R4)  # "auto": every scheme but the default
    assert ctx.needs_update("$9$not-a-known-hash")
    keep = small_context(deprecated=["pbkdf2_sha256"])
    assert not keep.needs_update(FS_BCRYPT_R4)
    assert keep.verify_and_update(PW, FS_BCRYPT_R4) == (True, None)
    assert keep.needs_update(FS_PBKDF2_SHA256_R1000_SALT8)


def test_needs_update_for_weaker_legacy_default_parameters() -> None:
    bcrypt_ctx = small_context(default_scheme="bcrypt", hash_options={"bcrypt": {"rounds": 5}})
    assert bcrypt_ctx.needs_update(FS_BCRYPT_R4)
    pbkdf2_ctx = small_context(default_scheme="pbkdf2_sha256", hash_options={})
    assert pbkdf2_ctx.needs_update(FS_PBKDF2_SHA256_R1000_SALT8)


# -- configuration ------------------------------------------------------------


def test_salt_is_required_for_double_hashing() -> None:
    with pytest.raises(ValueError, match="PASSWORD_SALT"):
        PasswordContext(salt=None, hash_options={"argon2": SMALL})
    with pytest.raises(ConfigurationError):
        PasswordContext(salt="", hash_options={"argon2": SMALL})
    # Nothing double hashed: no salt needed.
    assert PasswordContext(salt=None, single_hash=True, hash_options={"argon2": SMALL})
    assert PasswordContext(default_scheme="plaintext", schemes=["plaintext"], salt=None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"schemes": ["argon2", "md5_crypt"]},
        {"default_scheme": "bcrypt", "schemes": ["argon2"]},
        {"default_scheme": "des_crypt", "schemes": ["des_crypt", "argon2"]},
        {"deprecated": ["argon2"]},
        {"hash_options": {"argon2": {**SMALL, "colour": "blue"}}},
        {"hash_options": {"argon": SMALL}},
        {"hash_options": {"argon2": {**SMALL, "type": "x"}}},
        {"hash_options": {"argon2": {**SMALL, "time_cost": "3"}}},
        {"hash_options": {"argon2": {"time_cost": 1, "memory_cost": 8, "parallelism": 4}}},
        {"hash_options": {"argon2": SMALL, "bcrypt": {"rounds": 3}}},
        {"normalize_form": "NFX"},
    ],
)
def test_bad_configuration_is_refused_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        small_context(**kwargs)


def test_passlib_style_options() -> None:
    options = hash_options_from_passlib(
        {"argon2__rounds": 1, "argon2__memory_cost": 8, "argon2__default_parallelism": 1}
    )
    assert options == {"argon2": {"rounds": 1, "memory_cost": 8, "parallelism": 1}}
    assert small_context(hash_options=options).hash(PW).startswith(SMALL_PREFIX)
    with pytest.raises(ConfigurationError):
        hash_options_from_passlib({"all__vary_rounds": 0.1})


def test_missing_bcrypt_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "bcrypt", None)  # what an absent package looks like
    with pytest.raises(ConfigurationError, match="bcrypt package"):
        small_context(default_scheme="bcrypt")
    ctx = small_context()
    with caplog.at_level(logging.ERROR, logger="quart_security.crypto.passwords"):
        assert not ctx.verify(PW, FS_BCRYPT_R4)
    assert any("bcrypt package" in r.getMessage() for r in caplog.records)


# -- PasswordService ------------------------------------------------------------


class Gate:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> None:
        self.started.set()
        self.release.wait(30)


async def test_service_round_trip_off_the_loop(ctx: PasswordContext) -> None:
    pool = HashingPool(size=1, queue_size=4)
    service = PasswordService(ctx, pool)
    try:
        hashed = await service.hash(PW)
        assert await service.verify(PW, hashed)
        assert not await service.verify("nope nope", hashed)
        assert await service.verify_and_update(PW, hashed) == (True, None)
        ok, new_hash = await service.verify_and_update(PW, FS_BCRYPT_R4)
        assert ok and new_hash is not None and new_hash.startswith(SMALL_PREFIX)
        await service.dummy_verify(PW)
    finally:
        pool.shutdown()


async def test_service_uses_the_pool_and_spares_it_for_hopeless_input(
    ctx: PasswordContext,
) -> None:
    pool = HashingPool(size=1, queue_size=0)
    service = PasswordService(ctx, pool)
    gate = Gate()
    holder = asyncio.create_task(pool.run(gate))
    try:
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, gate.started.wait, 30)
        # Real work needs a slot: the full pool refuses it ...
        with pytest.raises(HashingOverloaded):
            await service.verify(PW, FS_ARGON2_SMALL)
        with pytest.raises(HashingOverloaded):
            await service.hash(PW)
        with pytest.raises(HashingOverloaded):
            await service.dummy_verify(PW)  # costs what a real verify costs
        # ... input that can never verify is answered without one.
        huge = "a" * (1 << 20)
        assert not await service.verify(huge, FS_ARGON2_SMALL)
        assert await service.verify_and_update(huge, FS_ARGON2_SMALL) == (False, None)
        assert not await service.verify(None, FS_ARGON2_SMALL)
        assert not await service.verify(PW, None)
        await service.dummy_verify(huge)  # no slot needed
        with pytest.raises(ValueError):
            await service.hash(huge)
        with pytest.raises(TypeError):
            await service.hash(None)  # type: ignore[arg-type]
    finally:
        gate.release.set()
        await holder
        pool.shutdown()
