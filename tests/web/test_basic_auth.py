"""A-13: HTTP Basic parsing oddities, and the challenge header."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import WWWAuthenticate

from quart_security.web.basic_auth import basic_challenge, parse_basic_authorization


def b64(raw: bytes | str) -> str:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return base64.b64encode(data).decode("ascii")


def header(user: str, password: str, scheme: str = "Basic") -> str:
    return f"{scheme} {b64(f'{user}:{password}')}"


GOOD = b64("matt:password")  # bWF0dDpwYXNzd29yZA==


def test_well_formed() -> None:
    assert parse_basic_authorization(f"Basic {GOOD}") == ("matt", "password")
    assert parse_basic_authorization(f"Basic {GOOD}".encode("ascii")) == ("matt", "password")


@pytest.mark.parametrize("scheme", ["basic", "BASIC", "bAsIc"])
def test_scheme_is_case_insensitive(scheme: str) -> None:
    # RFC 7235 2.1: auth-scheme is a case-insensitive token.
    assert parse_basic_authorization(f"{scheme} {GOOD}") == ("matt", "password")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Basic", id="no-credentials"),
        pytest.param("Basic ", id="empty-credentials"),
        pytest.param("Basic !!!", id="bad-base64"),
        pytest.param("Basic " + b64("matt:pw1").rstrip("="), id="missing-padding"),
        pytest.param("Basic " + b64("matt:pw").rstrip("=") + "=", id="short-padding"),
        pytest.param("Basic " + b64("mattpassword"), id="no-colon"),
        pytest.param("Basic Og==", id="empty-user-and-password"),
        pytest.param("Basic " + b64(":password"), id="empty-user"),
        pytest.param(f"Basic\t{GOOD}", id="tab"),
        pytest.param(f"Basic  {GOOD}", id="double-space"),
        pytest.param(f" Basic {GOOD}", id="leading-space"),
        pytest.param(f"Basic {GOOD} ", id="trailing-space"),
        pytest.param(f"Basic {GOOD}\r\n", id="trailing-crlf"),
        pytest.param(f"Basic {GOOD[:8]} {GOOD[8:]}", id="space-inside-token"),
        pytest.param(f"Basic {GOOD}, Bearer abc", id="two-schemes"),
        pytest.param("Basic x, Bearer y", id="two-schemes-upstream-example"),
        pytest.param(f"Basic {GOOD}, Basic {b64('joe:password')}", id="duplicated-header-joined"),
        pytest.param(f"Basic {GOOD},Basic {b64('joe:password')}", id="duplicated-no-space"),
        pytest.param(f"Bearer {GOOD}", id="other-scheme"),
        pytest.param(f"Basics {GOOD}", id="scheme-prefix"),
        pytest.param(f"B\u0430sic {GOOD}", id="cyrillic-a-in-scheme"),
        pytest.param(f"Basic {GOOD.replace('+', '-')}" + "-_", id="urlsafe-alphabet"),
        pytest.param("Basic " + b64("matt:password") + "=", id="extra-padding"),
        pytest.param("Basic " + b64("matt:pw") + b64("a:b"), id="padding-in-the-middle"),
        pytest.param("Basic " + b64("matt:pass\x00word"), id="nul-in-password"),
        pytest.param("Basic " + b64("ma\x00tt:password"), id="nul-in-user"),
        pytest.param("Basic " + b64("ma\x1btt:password"), id="escape-in-user"),
        pytest.param("Basic " + b64("matt\r\n:password"), id="crlf-in-user"),
        pytest.param("Basic " + b64("ma\x7ftt:password"), id="del-in-user"),
        pytest.param("Basic " + b64("ma\x85tt:password"), id="c1-in-user"),
        pytest.param(f"Basic {GOOD}\x00", id="nul-in-header"),
        pytest.param(f"Basic \x00{GOOD}", id="nul-before-token"),
        pytest.param("Basic " + b64("j\u00f6rg:pw".encode("latin-1")), id="latin-1-credentials"),
        pytest.param("Basic " + b64(b"matt:\xff\xfe"), id="invalid-utf-8-password"),
        pytest.param("Basic " + b64(b"\xed\xa0\x80:pw"), id="utf-8-encoded-surrogate"),
        pytest.param("Basic " + b64(b"\xc0\xaf:pw"), id="overlong-utf-8"),
        pytest.param(f"Basic {GOOD}\u00e9", id="non-ascii-header-text"),
        pytest.param("Basic " + "\u00e9" * 8, id="latin-1-decoded-header-bytes"),
        pytest.param(b"Basic \xc3\xa9" + GOOD.encode(), id="non-ascii-header-bytes"),
        pytest.param(b"Basic " + GOOD.encode() + b"\xff", id="trailing-high-byte"),
        pytest.param("Basic " + "A" * (64 * 1024), id="64KB-text"),
        pytest.param(b"Basic " + b"A" * (64 * 1024), id="64KB-bytes"),
        pytest.param("", id="empty"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param(None, id="absent"),
    ],
)
def test_a13_oddities_are_refused(value: str | bytes | None) -> None:
    assert parse_basic_authorization(value) is None


@pytest.mark.parametrize(
    "value", [42, 4.2, ["Basic " + GOOD], bytearray(b"Basic " + GOOD.encode())]
)
def test_wrong_types_are_refused(value: Any) -> None:
    assert parse_basic_authorization(value) is None


def test_max_length_is_checked_on_the_raw_value() -> None:
    value = header("u" * 40, "p" * 40)
    assert parse_basic_authorization(value, max_length=len(value)) == ("u" * 40, "p" * 40)
    assert parse_basic_authorization(value, max_length=len(value) - 1) is None
    assert parse_basic_authorization(value.encode(), max_length=len(value) - 1) is None


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("matt", "pass:word"),
        ("matt", ":"),
        ("matt", "::leading:and:trailing::"),
        ("matt", ""),  # an empty password parses; verification rejects it
        ("j\u00f6rg@example.com", "p\u00e4ss:w\u00f6rd"),
        ("\u7528\u6237", "\u5bc6\u7801:\U0001f511"),
        ("matt", "pass\tword with spaces"),
    ],
)
def test_round_trip(user: str, password: str) -> None:
    assert parse_basic_authorization(header(user, password)) == (user, password)
    assert parse_basic_authorization(header(user, password).encode("ascii")) == (user, password)


@settings(max_examples=300, deadline=None, database=None)
@given(
    user=st.text(
        alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters=":"),
        min_size=1,
    ),
    password=st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
)
def test_property_round_trip(user: str, password: str) -> None:
    value = header(user, password)
    expected = (user, password) if len(value) <= 4096 else None
    assert parse_basic_authorization(value) == expected


@settings(max_examples=300, deadline=None, database=None)
@given(value=st.one_of(st.text(), st.binary(), st.from_regex(r"(?i)basic [A-Za-z0-9+/=:, \t]*")))
def test_property_never_raises_and_never_yields_bad_user(value: str | bytes) -> None:
    result = parse_basic_authorization(value)
    if result is not None:
        user, password = result
        assert user
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in user)
        assert "\x00" not in password


# --- WWW-Authenticate -----------------------------------------------------------------


def test_challenge_format() -> None:
    """Flask-Security's challenge exactly; the charset only when configured."""
    assert basic_challenge("Login Required") == 'Basic realm="Login Required"'
    assert basic_challenge("Login Required", "UTF-8") == (
        'Basic realm="Login Required", charset="UTF-8"'
    )


@pytest.mark.parametrize(
    ("realm", "shown"),
    [
        ("Login Required", "Login Required"),
        ('say "hi"', 'say "hi"'),
        ("back\\slash", "back\\slash"),
        ('tricky\\", charset="x', 'tricky\\", charset="x'),
        ("a\r\nSet-Cookie: x=y", "aSet-Cookie: x=y"),
        ("nul\x00tab\tdel\x7f", "nultabdel"),
        ("Anmeldung n\u00f6tig", "Anmeldung n?tig"),
        ("", ""),
    ],
)
@pytest.mark.parametrize("charset", [None, "UTF-8"])
def test_challenge_realm_is_quoted_safely(realm: str, shown: str, charset: str | None) -> None:
    value = basic_challenge(realm, charset)
    assert value.isascii() and value.isprintable()
    # An independent parser reads back exactly one realm (and our charset).
    parsed = WWWAuthenticate.from_header(value)
    assert parsed is not None
    assert parsed.type == "basic"
    expected = {"realm": shown, **({"charset": charset} if charset else {})}
    assert parsed.parameters == expected
