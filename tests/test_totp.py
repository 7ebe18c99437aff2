"""Totp: Flask-Security's TOTP API on pyotp, with passlib's stored format.

passlib (a dev dependency) is Flask-Security's TOTP engine, configured as
Flask-Security configures it (``TOTP.using(issuer=..., secrets=...)``): it
makes the secrets Flask-Security databases hold, and checks that ours are the
same format. Time is a frozen clock, and passlib is given the same instant.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import sys
import warnings
from typing import Any
from xml.etree import ElementTree

import pyotp
import pytest
import qrcode
import qrcode.image.svg

import flask_compat
import quart_security
from quart_security.clock import FrozenClock
from quart_security.mixins import UserMixin
from quart_security.totp import MemoryTotpCounterStore, Totp, TotpMatch, TotpSecretError

# 15 seconds into a 30-second step.
NOW = 1_700_000_025
STEP = NOW // 30
OLD = "old application secret, rotated out"
NEW = "new application secret, current"
ISSUER = "Example App"


class User(UserMixin):
    def __init__(self, email: str = "jo@example.com", uniquifier: str = "u-1") -> None:
        self.email = email
        self.fs_uniquifier = uniquifier
        self.active = True
        self.roles: list[Any] = []


def passlib_totp(secrets: dict[str, str] | None, now: int = NOW) -> Any:
    """passlib's TOTP class as Flask-Security builds it, at the instant ``now``."""
    with warnings.catch_warnings():
        # passlib 1.7.4 imports the stdlib 'crypt' module, deprecated since 3.11.
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.totp import TOTP
    return TOTP.using(issuer=ISSUER, secrets=secrets, now=lambda: now)


def make(secrets: dict[str, str] | None = None, now: float = NOW) -> Totp:
    return Totp(secrets or {"1": OLD, "2": NEW}, ISSUER, clock=FrozenClock(now))


def code_at(totp_secret: str, when: float, secrets: dict[str, str] | None = None) -> str:
    return make(secrets, when).generate_totp_password(totp_secret)


# ------------------------------------------------------------ the shared format
def test_a_new_secret_is_passlibs_encrypted_json_with_the_newest_tag() -> None:
    stored = make().generate_totp_secret()
    data = json.loads(stored)
    assert data["type"] == "totp" and data["v"] == 1 and "key" not in data
    enckey = data["enckey"]
    assert enckey["t"] == "2" and enckey["c"] == 14 and enckey["v"] == 1
    assert set(enckey) == {"c", "k", "s", "t", "v"}
    # The key is not in clear anywhere in what is stored.
    b32key = make().get_totp_b32_key(stored)
    assert len(base64.b32decode(b32key)) == 20  # 32 characters, no padding
    assert b32key not in stored
    # Two secrets differ (fresh key and fresh salt).
    assert make().generate_totp_secret() != stored


def test_passlib_reads_our_secret_and_agrees_on_codes_key_and_uri() -> None:
    totp = make()
    stored = totp.generate_totp_secret()
    theirs = passlib_totp({"1": OLD, "2": NEW}).from_source(stored)
    ours_code = totp.generate_totp_password(stored)
    assert theirs.generate(NOW).token == ours_code
    assert theirs.match(ours_code, NOW, window=0).counter == STEP
    assert theirs.pretty_key() == totp.get_totp_pretty_key(stored)
    assert theirs.to_uri("jo@example.com") == totp.get_totp_uri("jo@example.com", stored)


def test_a_secret_flask_security_wrote_verifies_here() -> None:
    stored = passlib_totp({"1": OLD}).new().to_json(encrypt=True)
    assert json.loads(stored)["enckey"]["t"] == "1"
    their_code = passlib_totp({"1": OLD}).from_source(stored).generate(NOW).token
    totp = make({"1": OLD})
    assert totp.verify_totp(their_code, stored, User()) is True
    assert totp.generate_totp_password(stored) == their_code


def test_what_an_authenticator_app_shows_verifies() -> None:
    """pyotp reading the setup URI is what a phone does with the QR code."""
    totp = make()
    stored = totp.generate_totp_secret()
    app = pyotp.parse_uri(totp.get_totp_uri("jo@example.com", stored))
    assert app.issuer == ISSUER and app.name == "jo@example.com"
    assert totp.verify_totp(app.at(NOW), stored, User()) is True
    assert totp.verify_totp(app.at(NOW - 30), stored, User()) is False


# ------------------------------------------------------------- key rotation
def test_a_secret_under_an_older_tag_still_verifies_and_new_ones_use_the_newest() -> None:
    old_stored = make({"1": OLD}).generate_totp_secret()
    rotated = make({"1": OLD, "2": NEW})
    assert rotated.verify_totp(code_at(old_stored, NOW, {"1": OLD}), old_stored, User())
    assert json.loads(rotated.generate_totp_secret())["enckey"]["t"] == "2"


@pytest.mark.parametrize(
    ("secrets", "newest"),
    [
        ({"9": "a", "10": "b", "2": "c"}, "10"),  # all numbers: the highest number
        ({9: "a", 10: "b"}, "10"),  # int tags, as Flask-Security's docs allow
        ({"2023-a": "a", "2024-b": "b", "10": "c"}, "2024-b"),  # else the highest string
    ],
)
def test_the_newest_tag_is_chosen_as_passlib_chooses_it(
    secrets: dict[Any, str], newest: str
) -> None:
    stored = Totp(secrets, ISSUER).generate_totp_secret()
    assert json.loads(stored)["enckey"]["t"] == newest
    theirs = passlib_totp({str(k): v for k, v in secrets.items()})
    assert json.loads(theirs.new().to_json(encrypt=True))["enckey"]["t"] == newest


def test_a_tag_no_longer_configured_is_refused_clearly() -> None:
    stored = make({"1": OLD}).generate_totp_secret()
    only_new = make({"2": NEW})
    with pytest.raises(TotpSecretError, match=r"TOTP_SECRETS\['1'\].*not configured"):
        only_new.verify_totp("123456", stored, User())
    with pytest.raises(TotpSecretError, match="'1'"):
        only_new.get_totp_uri("jo@example.com", stored)


def test_the_same_tag_with_another_secret_gives_another_key() -> None:
    """AES-CTR has no integrity check (as passlib's): a changed secret decrypts
    to a different key, so the codes simply stop matching."""
    stored = make({"1": OLD}).generate_totp_secret()
    assert not make({"1": "someone else's"}).verify_totp(code_at(stored, NOW), stored, User())


# ------------------------------------------------------------- plain secrets
def test_plain_passlib_json_and_a_bare_base32_key_are_read() -> None:
    clear = passlib_totp(None).new().to_json()
    assert "key" in json.loads(clear)
    key = json.loads(clear)["key"]
    their_code = passlib_totp(None).from_source(clear).generate(NOW).token
    totp = make()
    assert totp.verify_totp(their_code, clear, User())
    # A bare key as people type it: lower case, grouped.
    bare = " ".join(key[i : i + 4] for i in range(0, len(key), 4)).lower()
    assert totp.verify_totp(their_code, bare, User())
    assert totp.get_totp_b32_key(bare) == key


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        ("", "no TOTP secret"),
        ("{not json", "not valid JSON"),
        ('{"type": "hotp", "v": 1, "key": "ABCDEFGHIJKLMNOP"}', "passlib's TOTP format"),
        ('{"type": "totp", "v": 1}', "neither 'enckey' nor 'key'"),
        ('{"type": "totp", "v": 1, "key": "ABCD"}', "shorter than 80 bits"),
        ("not base32 at all!", "not valid base32"),
        (
            '{"type": "totp", "v": 1, "enckey": {"v": 1, "t": "1", "c": 31, "s": "AA", "k": "AA"}}',
            "cost must be 0 to 20",
        ),
        ('{"type": "totp", "v": 1, "key": "ABCDEFGHIJKLMNOP", "alg": "md5"}', "not supported"),
    ],
)
def test_an_unreadable_secret_is_a_clear_error(stored: str, why: str) -> None:
    with pytest.raises(TotpSecretError, match=re.escape(why)):
        make().verify_totp("123456", stored, User())


def test_stored_code_parameters_are_honoured() -> None:
    """passlib writes alg, digits and period when they are not the defaults."""
    theirs = passlib_totp({"1": OLD}).new(digits=8, period=60, alg="sha256")
    stored = theirs.to_json(encrypt=True)
    code = theirs.generate(NOW).token
    assert len(code) == 8
    totp = make({"1": OLD})
    assert totp.verify_totp(code, stored, User())
    assert totp.get_totp_uri("jo", stored) == theirs.to_uri("jo")


# ------------------------------------------------------------- checking codes
def test_wrong_codes_and_another_secrets_code_fail() -> None:
    totp = make()
    stored, other = totp.generate_totp_secret(), totp.generate_totp_secret()
    right = totp.generate_totp_password(stored)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    assert totp.verify_totp(wrong, stored, User()) is False
    other_code = totp.generate_totp_password(other)
    if other_code != right:  # one chance in a million that they agree
        assert totp.verify_totp(other_code, stored, User()) is False


@pytest.mark.parametrize("token", ["12345", "1234567", "12a456", "", "１２３４５６", None, True])
def test_malformed_codes_are_refused_not_raised(token: Any) -> None:
    totp = make()
    assert totp.verify_totp(token, totp.generate_totp_secret(), User()) is False


def test_codes_typed_with_spaces_or_as_numbers_are_accepted_as_passlib_does() -> None:
    totp = make()
    stored = totp.generate_totp_secret()
    code = totp.generate_totp_password(stored)
    assert totp.verify_totp(f" {code[:3]} {code[3:]} ", stored, User())
    assert totp.verify_totp(f"{code[:3]}-{code[3:]}", stored, User())
    assert totp.verify_totp(int(code), stored, User())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("offset", "window", "code_age_steps", "accepted"),
    [
        (15, 0, 0, True),
        (15, 0, 1, False),  # a step old, no window
        (15, 30, 1, True),  # within a 30 s window
        (15, 30, 2, False),  # two steps old
        (5, 10, 1, True),  # 5 s into the step, 10 s back reaches the previous step
        (15, 10, 1, False),  # 15 s into the step, 10 s back does not
        (9, 10, 1, True),  # the edges: 10 s back from 9 s in is the previous step's last second
        (10, 10, 1, False),  # ... and from 10 s in, this step's first
        (29, 0, -1, False),  # a step early (clock skew), no window
        (25, 10, -1, True),  # 25 s in, 10 s forward reaches the next step
        (20, 10, -1, True),  # the edges: 20 s in + 10 s is the next step's first second
        (19, 10, -1, False),
        (15, 120, 4, True),  # Flask-Security's authenticator validity
        (15, 120, 5, False),
    ],
)
def test_the_window_is_in_seconds_either_side_as_flask_securitys(
    offset: int, window: int, code_age_steps: int, accepted: bool
) -> None:
    now = STEP * 30 + offset
    totp = make(now=now)
    stored = totp.generate_totp_secret()
    code = code_at(stored, now - code_age_steps * 30)
    assert totp.verify_totp(code, stored, User(), window=window) is accepted
    theirs = passlib_totp({"1": OLD, "2": NEW}, now).from_source(stored)
    if accepted:
        assert theirs.match(code, now, window=window).counter == STEP - code_age_steps
    else:
        with pytest.raises(ValueError):  # passlib's TokenError is a ValueError
            theirs.match(code, now, window=window)


def test_a_negative_window_is_a_programming_error() -> None:
    totp = make()
    with pytest.raises(ValueError, match="window"):
        totp.verify_totp("123456", totp.generate_totp_secret(), User(), window=-1)


# ------------------------------------------------------------- replay
class HookedTotp(Totp):
    """Flask-Security's documented way: a subclass caching the last counter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last: dict[str, int] = {}
        self.matches: list[TotpMatch] = []

    def get_last_counter(self, user: UserMixin) -> int | None:
        return self.last.get(user.fs_uniquifier)

    def set_last_counter(self, user: UserMixin, tmatch: TotpMatch) -> None:
        self.matches.append(tmatch)
        self.last[user.fs_uniquifier] = tmatch.counter


def test_flask_securitys_hooks_get_the_match_and_refuse_a_replay() -> None:
    clock = FrozenClock(NOW)
    totp = HookedTotp({"1": OLD}, ISSUER, clock=clock)
    stored, user = totp.generate_totp_secret(), User()
    code = totp.generate_totp_password(stored)
    assert totp.verify_totp(code, stored, user, window=30)
    assert totp.matches[0].counter == STEP and totp.matches[0].time == NOW
    assert totp.matches[0].expire_time == (STEP + 1) * 30
    assert totp.verify_totp(code, stored, user, window=30) is False
    # another user is not affected
    assert totp.verify_totp(code, stored, User(uniquifier="u-2"), window=30)


def test_without_hooks_a_code_verifies_twice_as_in_flask_security() -> None:
    totp = make()
    stored = totp.generate_totp_secret()
    code = totp.generate_totp_password(stored)
    assert totp.verify_totp(code, stored, User()) and totp.verify_totp(code, stored, User())


async def test_verify_once_accepts_each_step_once_and_never_an_older_one() -> None:
    clock = FrozenClock(NOW)
    totp = Totp({"1": OLD}, ISSUER, clock=clock)
    stored, user, store = totp.generate_totp_secret(), User(), MemoryTotpCounterStore()
    previous = totp.generate_totp_password(stored)
    clock.advance(30)
    current = totp.generate_totp_password(stored)
    assert await totp.verify_totp_once(current, stored, user, 30, store)
    assert await store.get_last_counter(user) == STEP + 1
    assert not await totp.verify_totp_once(current, stored, user, 30, store)  # replay
    assert not await totp.verify_totp_once(previous, stored, user, 30, store)  # older, in window
    clock.advance(30)
    assert await totp.verify_totp_once(totp.generate_totp_password(stored), stored, user, 30, store)


class InterleavingStore(MemoryTotpCounterStore):
    """Yields to the loop after every read, so parallel checks all read before
    any writes: only the atomic advance can keep replays out."""

    async def get_last_counter(self, user: UserMixin) -> int | None:
        last = await super().get_last_counter(user)
        await asyncio.sleep(0)
        return last


async def test_ten_parallel_submissions_of_one_code_give_one_success() -> None:
    totp = make()
    stored, user, store = totp.generate_totp_secret(), User(), InterleavingStore()
    code = totp.generate_totp_password(stored)
    results = await asyncio.gather(
        *(totp.verify_totp_once(code, stored, user, 30, store) for _ in range(10))
    )
    assert sorted(results) == [False] * 9 + [True]


async def test_the_memory_store_only_moves_forward() -> None:
    store, user = MemoryTotpCounterStore(), User()
    assert await store.get_last_counter(user) is None
    assert await store.advance_counter(user, 10)
    assert not await store.advance_counter(user, 10)
    assert not await store.advance_counter(user, 9)
    assert await store.advance_counter(user, 11)
    assert await store.get_last_counter(user) == 11


# ------------------------------------------------------------- setup values
@pytest.mark.parametrize("size", [20, 16, 10, 32, 13, 18, 56])
def test_the_pretty_key_groups_as_flask_securitys(size: int) -> None:
    key = base64.b32encode(bytes(range(1, size + 1))).decode()
    theirs = passlib_totp({"1": OLD})(key=key)
    stored = theirs.to_json(encrypt=True)
    assert make({"1": OLD}).get_totp_pretty_key(stored) == theirs.pretty_key()


def test_a_new_secrets_pretty_key_is_eight_groups_of_four() -> None:
    totp = make()
    pretty = totp.get_totp_pretty_key(totp.generate_totp_secret())
    assert re.fullmatch(r"([A-Z2-7]{4}-){7}[A-Z2-7]{4}", pretty)


def test_setup_values_carry_the_key_the_uri_and_a_qr_code_of_it() -> None:
    totp = make()
    stored = totp.generate_totp_secret()
    values = totp.fetch_setup_values(stored, User(email="jo@example.com"))
    assert set(values) == {"key", "b32key", "uri", "image", "username", "issuer"}
    assert values["username"] == "jo@example.com" and values["issuer"] == ISSUER
    assert values["key"] == totp.get_totp_pretty_key(stored)
    assert values["b32key"] == values["key"].replace("-", "")
    assert values["uri"] == (
        f"otpauth://totp/Example%20App:jo@example.com?secret={values['b32key']}"
        "&issuer=Example%20App"
    )
    image = values["image"]
    assert image.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(image.split(",", 1)[1])
    assert ElementTree.fromstring(svg).tag.endswith("svg")
    # The image is the QR code of exactly that URI.
    with io.BytesIO() as buffer:
        qrcode.make(values["uri"], image_factory=qrcode.image.svg.SvgImage).save(buffer)
        assert svg == buffer.getvalue()
    assert totp.generate_qrcode("jo@example.com", stored) == image
    assert totp.generate_qrcode("someone@example.com", stored) != image


def test_a_user_without_an_identity_is_unknown_in_the_setup_values() -> None:
    totp = make()
    values = totp.fetch_setup_values(totp.generate_totp_secret(), User(email=""))
    assert values["username"] == "Unknown"
    assert "totp/Example%20App:Unknown?" in values["uri"]


def test_a_label_with_a_colon_is_refused() -> None:
    totp = make()
    with pytest.raises(ValueError, match="':'"):
        totp.get_totp_uri("a:b", totp.generate_totp_secret())


# ------------------------------------------------------------- recovery codes
def test_recovery_codes_are_twelve_hex_digits_in_threes() -> None:
    codes = make().generate_recovery_codes(5)
    assert len(codes) == len(set(codes)) == 5
    assert all(re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}", c) for c in codes)
    assert make().generate_recovery_codes(0) == []
    with pytest.raises(ValueError):
        make().generate_recovery_codes(-1)


# ------------------------------------------------------------- construction
@pytest.mark.parametrize(
    ("secrets", "issuer", "why"),
    [
        ({}, ISSUER, "at least one entry"),
        ([("1", "x")], ISSUER, "at least one entry"),
        ({"bad tag": "x"}, ISSUER, "tag"),
        ({"1": ""}, ISSUER, "non-empty"),
        ({"1": "x"}, "a:b", "issuer"),
        ({"1": "x"}, "", "issuer"),
    ],
)
def test_bad_configuration_is_refused(secrets: Any, issuer: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Totp(secrets, issuer)


@pytest.mark.parametrize("package", ["pyotp", "cryptography"])
def test_a_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(ImportError, match=r"quart-flask-security\[mfa\]"):
        Totp({"1": OLD}, ISSUER)


def test_qrcode_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    totp = make()
    stored = totp.generate_totp_secret()
    monkeypatch.setitem(sys.modules, "qrcode", None)
    with pytest.raises(ImportError, match=r"'qrcode'.*\[mfa\]"):
        totp.generate_qrcode("jo@example.com", stored)


def test_both_packages_export_the_same_class() -> None:
    assert quart_security.Totp is flask_compat.Totp is Totp
