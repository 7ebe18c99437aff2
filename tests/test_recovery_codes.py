"""MfRecoveryCodesUtil over a real datastore: format, storage, legacy codes, single use.

Flask-Security's own storage is reproduced as it makes it (recovery_codes.py,
``_encrypt_codes``): ``MultiFernet([Fernet(k) for k in keys]).encrypt(code.encode()).decode()``
for encrypted codes, the code itself when no key is configured.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from cryptography.fernet import Fernet, MultiFernet

from quart_security import MfRecoveryCodesUtil
from quart_security.clock import FrozenClock
from quart_security.errors import ConfigurationError
from quart_security.recovery_codes import HASHED_CODE_PREFIX
from tests.datastore.backends import BACKENDS

T = TypeVar("T")
Store = Any
CODE = re.compile(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}")
KEY_1 = Fernet.generate_key()
KEY_2 = Fernet.generate_key()
START = 1_800_000_000.0


def settings(**overrides: Any) -> Callable[[str], Any]:
    values = {
        "MULTI_FACTOR_RECOVERY_CODES_N": 5,
        "MULTI_FACTOR_RECOVERY_CODES_KEYS": None,
        "MULTI_FACTOR_RECOVERY_CODE_TTL": None,
    }
    values.update({f"MULTI_FACTOR_RECOVERY_{k.upper()}": v for k, v in overrides.items()})
    return values.__getitem__


def flask_security_tokens(
    keys: list[bytes], codes: list[str], at: float | None = None
) -> list[str]:
    """Codes stored as Flask-Security stores them with MULTI_FACTOR_RECOVERY_CODES_KEYS."""
    cryptor = MultiFernet([Fernet(key) for key in keys])
    if at is None:
        return [cryptor.encrypt(code.encode()).decode() for code in codes]
    return [cryptor.encrypt_at_time(code.encode(), int(at)).decode() for code in codes]


@pytest_asyncio.fixture
async def store() -> AsyncIterator[Store]:
    async with BACKENDS["sqlite"]() as datastore:
        yield datastore


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


async def new_user(store: Store, email: str = "alice@example.com") -> Any:
    user = await store.create_user(email=email, password=None)
    await store.commit()
    return user


def util(store: Store, clock: FrozenClock, secret: str = "s3cret", **overrides: Any) -> Any:
    made = MfRecoveryCodesUtil(app=None)
    made.bind(settings(**overrides), datastore=store, secret_key=secret, clock=clock)
    return made


async def fresh(store: Store, work: Callable[[], Awaitable[T]]) -> T:
    """As another request: its own context and unit of work."""

    async def run() -> T:
        async with store.unit_of_work():
            return await work()

    return await asyncio.create_task(run(), context=contextvars.Context())


# ---------------------------------------------------------------------- making codes
async def test_codes_have_flask_securitys_format_and_count(
    store: Store, clock: FrozenClock
) -> None:
    user = await new_user(store)
    codes = await util(store, clock, codes_n=7).create_recovery_codes(user)
    assert len(codes) == len(set(codes)) == 7
    assert all(CODE.fullmatch(code) for code in codes), codes
    assert len(await store.mf_get_recovery_codes(user)) == 7
    again = await util(store, clock, codes_n=7).create_recovery_codes(user)
    assert not set(again) & set(codes)  # new codes replace the old ones
    assert len(await store.mf_get_recovery_codes(user)) == 7


@pytest.mark.parametrize("number", [0, -1, True, "5", None])
async def test_a_bad_count_is_refused(store: Store, clock: FrozenClock, number: Any) -> None:
    user = await new_user(store)
    with pytest.raises(ConfigurationError, match="MULTI_FACTOR_RECOVERY_CODES_N"):
        await util(store, clock, codes_n=number).create_recovery_codes(user)
    assert await store.mf_get_recovery_codes(user) == []


# ---------------------------------------------------------------------- hashed (no keys)
async def test_without_keys_codes_are_stored_hashed(store: Store, clock: FrozenClock) -> None:
    user = await new_user(store)
    codes_util = util(store, clock)
    codes = await codes_util.create_recovery_codes(user)
    await store.commit()
    stored = await store.mf_get_recovery_codes(user)
    assert all(entry.startswith(HASHED_CODE_PREFIX) for entry in stored)
    dump = " ".join(stored)
    for code in codes:
        assert code not in dump and code.replace("-", "") not in dump
    assert len(set(stored)) == len(stored)  # salted: no two entries alike
    for code in codes:
        assert await codes_util.check_recovery_code(user, code) is True
    assert await codes_util.check_recovery_code(user, f"  {codes[0].upper()}\n") is True
    assert await codes_util.get_recovery_codes(user) == []  # cannot be shown again


async def test_hashed_codes_need_the_servers_key(store: Store, clock: FrozenClock) -> None:
    user = await new_user(store)
    codes = await util(store, clock, secret="old").create_recovery_codes(user)
    assert await util(store, clock, secret="other").check_recovery_code(user, codes[0]) is False
    rotated = MfRecoveryCodesUtil(app=None)
    rotated.bind(
        settings(), datastore=store, secret_key="new", secret_key_fallbacks=["old"], clock=clock
    )
    assert await rotated.check_recovery_code(user, codes[0]) is True


async def test_a_tampered_hash_matches_nothing(store: Store, clock: FrozenClock) -> None:
    user = await new_user(store)
    codes_util = util(store, clock)
    codes = await codes_util.create_recovery_codes(user)
    prefix, issued, salt, mac = (await store.mf_get_recovery_codes(user))[0].split("$")
    bad = [
        f"{prefix}${int(issued) + 1}${salt}${mac}",  # issue time is inside the MAC
        f"{prefix}${issued}${salt}x${mac}",
        f"{prefix}${issued}${salt}",
        f"{prefix}$¹²${salt}${mac}",
        f"{prefix}${issued}${salt}${mac}é",
    ]
    await store.mf_set_recovery_codes(user, bad)
    assert await codes_util.check_recovery_code(user, codes[0]) is False
    assert await codes_util.get_recovery_codes(user) == []


# ---------------------------------------------------------------------- encrypted (keys)
async def test_with_keys_codes_are_stored_as_flask_security_stores_them(
    store: Store, clock: FrozenClock
) -> None:
    user = await new_user(store)
    codes_util = util(store, clock, codes_keys=[KEY_1])
    codes = await codes_util.create_recovery_codes(user)
    stored = await store.mf_get_recovery_codes(user)
    assert all(code not in " ".join(stored) for code in codes)
    # Flask-Security's _decrypt_codes reads them: a Fernet token of the code itself.
    assert [MultiFernet([Fernet(KEY_1)]).decrypt(e.encode()).decode() for e in stored] == codes
    assert await codes_util.get_recovery_codes(user) == codes
    assert await codes_util.check_recovery_code(user, codes[2]) is True
    assert await util(store, clock).check_recovery_code(user, codes[2]) is False  # no key


async def test_flask_security_encrypted_codes_keep_working(
    store: Store, clock: FrozenClock
) -> None:
    user = await new_user(store)
    codes = ["1a2b-3c4d-5e6f", "0000-ffff-9999"]
    await store.mf_set_recovery_codes(user, flask_security_tokens([KEY_1], codes))
    await store.commit()
    codes_util = util(store, clock, codes_keys=[KEY_2, KEY_1])  # rotated: old key still reads
    assert await codes_util.get_recovery_codes(user) == codes
    assert await codes_util.check_recovery_code(user, "0000-ffff-9999") is True
    assert await codes_util.delete_recovery_code(user, "0000-ffff-9999") is True
    assert await codes_util.check_recovery_code(user, "0000-ffff-9999") is False
    assert await codes_util.get_recovery_codes(user) == ["1a2b-3c4d-5e6f"]
    # Without the keys the tokens are unreadable, never taken for plain codes.
    assert await util(store, clock).get_recovery_codes(user) == []


async def test_flask_security_plain_codes_keep_working(store: Store, clock: FrozenClock) -> None:
    user = await new_user(store)
    await store.mf_set_recovery_codes(user, ["aaaa-bbbb-cccc", "1234-5678-9abc"])
    await store.commit()
    for codes_util in (util(store, clock), util(store, clock, codes_keys=[KEY_1])):
        assert await codes_util.get_recovery_codes(user) == ["aaaa-bbbb-cccc", "1234-5678-9abc"]
        assert await codes_util.check_recovery_code(user, "1234-5678-9abc") is True
        assert await codes_util.check_recovery_code(user, "1234-5678-9abd") is False
    codes_util = util(store, clock)
    assert await codes_util.delete_recovery_code(user, "aaaa-bbbb-cccc") is True
    assert await codes_util.delete_recovery_code(user, "aaaa-bbbb-cccc") is False
    assert await store.mf_get_recovery_codes(user) == ["1234-5678-9abc"]


async def test_every_storage_form_in_one_list(store: Store, clock: FrozenClock) -> None:
    user = await new_user(store)
    hashed_util = util(store, clock, codes_n=1)
    (hashed,) = await hashed_util.create_recovery_codes(user)
    entries = await store.mf_get_recovery_codes(user)
    entries += [*flask_security_tokens([KEY_1], ["eeee-eeee-eeee"]), "dddd-dddd-dddd"]
    await store.mf_set_recovery_codes(user, entries)
    codes_util = util(store, clock, codes_keys=[KEY_1])
    assert await codes_util.get_recovery_codes(user) == ["eeee-eeee-eeee", "dddd-dddd-dddd"]
    for code in (hashed, "eeee-eeee-eeee", "dddd-dddd-dddd"):
        assert await codes_util.delete_recovery_code(user, code) is True, code
    assert await store.mf_get_recovery_codes(user) == []


# ---------------------------------------------------------------------- wrong codes
@pytest.mark.parametrize("keys", [None, [KEY_1]], ids=["hashed", "encrypted"])
async def test_a_wrong_code_fails(store: Store, clock: FrozenClock, keys: Any) -> None:
    user = await new_user(store)
    codes_util = util(store, clock, codes_keys=keys)
    codes = await codes_util.create_recovery_codes(user)
    entries = await store.mf_get_recovery_codes(user)
    near = codes[0][:-1] + ("0" if codes[0][-1] != "0" else "1")
    for wrong in (near, "", "   ", None, 1234, codes[0] * 5, entries[0], codes[0].replace("-", "")):
        assert await codes_util.check_recovery_code(user, wrong) is False, wrong
        assert await codes_util.delete_recovery_code(user, wrong) is False, wrong
    assert await store.mf_get_recovery_codes(user) == entries
    other = await new_user(store, "bob@example.com")
    assert await codes_util.check_recovery_code(other, codes[0]) is False


# ---------------------------------------------------------------------- TTL
async def test_ttl_is_honoured_for_flask_security_tokens(store: Store, clock: FrozenClock) -> None:
    user = await new_user(store)
    await store.mf_set_recovery_codes(
        user,
        flask_security_tokens([KEY_1], ["aaaa-0000-0000"], at=START - 100)
        + flask_security_tokens([KEY_1], ["bbbb-0000-0000"], at=START - 10),
    )
    codes_util = util(store, clock, codes_keys=[KEY_1], code_ttl=60)
    assert await codes_util.get_recovery_codes(user) == ["bbbb-0000-0000"]
    assert await codes_util.check_recovery_code(user, "aaaa-0000-0000") is False
    assert await codes_util.check_recovery_code(user, "bbbb-0000-0000") is True
    clock.advance(51)
    assert await codes_util.check_recovery_code(user, "bbbb-0000-0000") is False
    assert await codes_util.delete_recovery_code(user, "bbbb-0000-0000") is False
    untimed = util(store, clock, codes_keys=[KEY_1])
    assert await untimed.get_recovery_codes(user) == ["aaaa-0000-0000", "bbbb-0000-0000"]


@pytest.mark.parametrize("keys", [None, [KEY_1]], ids=["hashed", "encrypted"])
async def test_ttl_is_honoured_for_our_codes(store: Store, clock: FrozenClock, keys: Any) -> None:
    user = await new_user(store)
    codes_util = util(store, clock, codes_keys=keys, code_ttl=3600)
    codes = await codes_util.create_recovery_codes(user)
    clock.advance(3600)
    assert await codes_util.check_recovery_code(user, codes[0]) is True
    clock.advance(1)
    assert await codes_util.check_recovery_code(user, codes[0]) is False


# ---------------------------------------------------------------------- single use
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "mongo"]
)
@pytest.mark.parametrize("keys", [None, [KEY_1]], ids=["hashed", "encrypted"])
async def test_a_code_used_ten_times_in_parallel_works_once(
    backend: str, keys: Any, clock: FrozenClock
) -> None:
    async with BACKENDS[backend]() as store:
        await new_user(store)
        user = await store.find_user(email="alice@example.com")
        codes = await util(store, clock, codes_keys=keys).create_recovery_codes(user)
        await store.commit()

        async def use(code: str) -> bool:
            found = await store.find_user(email="alice@example.com")
            ok: bool = await util(store, clock, codes_keys=keys).delete_recovery_code(found, code)
            return ok

        attempts = [codes[1]] * 10 + [codes[3]]
        results = await asyncio.gather(
            *(fresh(store, functools.partial(use, code)) for code in attempts)
        )
        assert results[:10].count(True) == 1 and results[10] is True
        found = await fresh(store, lambda: store.find_user(email="alice@example.com"))
        left = util(store, clock, codes_keys=keys)
        for code in codes:
            assert await left.check_recovery_code(found, code) is (code not in attempts), code


# ---------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (KEY_1, "must be a list of Fernet keys"),
        (KEY_1.decode(), "must be a list of Fernet keys"),
        ([KEY_1, b"too-short"], r"KEYS\[1\] is not a Fernet key"),
        ([None], r"KEYS\[0\] is not a Fernet key"),
    ],
)
def test_bad_keys_are_refused_at_bind(keys: Any, message: str, clock: FrozenClock) -> None:
    with pytest.raises(ConfigurationError, match=message):
        util(None, clock, codes_keys=keys)


@pytest.mark.parametrize("ttl", [0, -5, "60", True])
def test_a_bad_ttl_is_refused_at_bind(ttl: Any, clock: FrozenClock) -> None:
    with pytest.raises(ConfigurationError, match="MULTI_FACTOR_RECOVERY_CODE_TTL"):
        util(None, clock, code_ttl=ttl)


def test_no_key_and_no_secret_is_refused(clock: FrozenClock) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        util(None, clock, secret="")
    util(None, clock, secret="", codes_keys=[KEY_1])  # encrypting needs no SECRET_KEY


def test_keys_without_cryptography_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)  # as if not installed
    with pytest.raises(ConfigurationError, match=r"quart-flask-security\[mfa\]"):
        util(None, clock, codes_keys=[KEY_1])
    util(None, clock)  # hashing needs only the standard library
