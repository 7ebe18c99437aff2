"""quart_security/phone_util.py and identity.uia_phone_mapper: phone numbers to E.164.

Real parsing (the phonenumbers package), with the region either bound as
Security will bind it or read from the current app; the invalid message is
the library's PHONE_INVALID, translated for the request.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import flask_compat.phone_util
import quart_security.phone_util
from quart_security import PhoneUtil, uia_phone_mapper
from quart_security.config import DEFAULT_CONFIG, DEFAULT_MESSAGES, KEY_STATUS, Status
from quart_security.errors import MessageText
from quart_security.identity import IdentityResolver, uia_email_mapper
from tests.support.app_factory import BuiltApp, create_test_app


def util(region: str | None = "US") -> PhoneUtil:
    """A PhoneUtil bound to settings as Security binds its utils."""
    phone = PhoneUtil(None)
    settings = {**DEFAULT_CONFIG, "PHONE_REGION_DEFAULT": region}
    phone.bind(settings.__getitem__)
    return phone


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[BuiltApp]:
    app = await create_test_app("sqlite", tmp_path)
    try:
        yield app
    finally:
        app.security.hashing_pool.shutdown()
        await app.close()


@pytest.mark.parametrize(
    ("typed", "region", "canonical"),
    [
        ("(650) 253-0000", "US", "+16502530000"),
        ("650.253.0000", "US", "+16502530000"),
        ("+1 650 253 0000", "US", "+16502530000"),
        ("  +1-650-253-0000  ", "US", "+16502530000"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        # International form: the region does not matter, and none is needed.
        ("+44 20 7946 0018", "US", "+442079460018"),
        ("+44 20 7946 0018", None, "+442079460018"),
        ("+33 6 12 34 56 78", "GB", "+33612345678"),
        # An extension is not part of the E.164 form (as in Flask-Security).
        ("+1 650 253 0000 ext. 12", None, "+16502530000"),
    ],
)
def test_valid_numbers_become_e164(typed: str, region: str | None, canonical: str) -> None:
    phone = util(region)
    assert phone.validate_phone_number(typed) is None
    assert phone.get_canonical_form(typed) == canonical


@pytest.mark.parametrize(
    ("typed", "region"),
    [
        ("123", "US"),  # too short
        ("+1 650", None),
        ("call me maybe", "US"),  # letters only
        ("abc", "GB"),
        ("020 7946 0018", "US"),  # a London number read as American
        ("(650) 253-0000", "GB"),  # an American number read as British
        ("650 253 0000", None),  # national, and no region to read it in
        ("+999 1234 5678", "US"),  # no such country code
        ("", "US"),
        ("   ", "US"),
        ("+1 650 253 0000" + "0" * 60, "US"),  # over-long
    ],
)
def test_invalid_numbers_give_the_message(typed: str, region: str | None) -> None:
    phone = util(region)
    message = phone.validate_phone_number(typed)
    assert isinstance(message, MessageText) and message.key == "PHONE_INVALID"
    assert phone.get_canonical_form(typed) is None


@pytest.mark.parametrize("value", [None, 16502530000, b"+16502530000", ["+16502530000"], {}])
def test_non_string_input_is_refused_without_an_exception(value: Any) -> None:
    phone = util()
    message = phone.validate_phone_number(value)
    assert isinstance(message, MessageText) and message.key == "PHONE_INVALID"
    assert phone.get_canonical_form(value) is None
    assert uia_phone_mapper(value) is None


@given(st.text(max_size=80))
def test_any_text_gives_an_answer_never_an_exception(typed: str) -> None:
    phone = util()
    canonical = phone.get_canonical_form(typed)
    message = phone.validate_phone_number(typed)
    assert (canonical is None) == (message is not None)
    if canonical is not None:  # the E.164 form is its own canonical form
        assert canonical.startswith("+") and canonical[1:].isdigit()
        assert phone.get_canonical_form(canonical) == canonical


async def test_the_region_and_message_come_from_the_current_app(built: BuiltApp) -> None:
    """Unbound, the util reads the app's settings: PHONE_REGION_DEFAULT (national
    numbers are read in that region) and the app's own PHONE_INVALID text."""
    assert KEY_STATUS["PHONE_REGION_DEFAULT"] is Status.HONOURED
    built.app.config["SECURITY_MSG_PHONE_INVALID"] = ("Not a phone number we know.", "error")
    phone = PhoneUtil(built.app)
    async with built.app.app_context():
        assert phone.get_canonical_form("(650) 253-0000") == "+16502530000"
        assert phone.get_canonical_form("020 7946 0018") is None
        message = phone.validate_phone_number("020 7946 0018")
        built.app.config["SECURITY_PHONE_REGION_DEFAULT"] = "GB"
        assert phone.get_canonical_form("020 7946 0018") == "+442079460018"
    assert message == "Not a phone number we know."
    assert isinstance(message, MessageText) and message.key == "PHONE_INVALID"


async def test_a_flask_apps_settings_are_read_too(tmp_path: Path) -> None:
    """The same class on flask_compat: the app's message, in a Flask app context."""
    from tests.support.flask_app_factory import flask_test_app

    async with flask_test_app("sqlite", tmp_path) as flask_built:
        app = flask_built.app.flask_app
        app.config["SECURITY_MSG_PHONE_INVALID"] = ("Not a phone number we know.", "error")

        def in_flask() -> tuple[str | None, str | None, str | None]:
            phone = flask_compat.phone_util.PhoneUtil(app)
            with app.app_context():
                return (
                    phone.get_canonical_form("(650) 253-0000"),
                    phone.validate_phone_number("123"),
                    flask_compat.uia_phone_mapper("+44 20 7946 0018"),
                )

        canonical, message, mapped = await asyncio.to_thread(in_flask)
    assert canonical == "+16502530000" and mapped == "+442079460018"
    assert message == "Not a phone number we know."


async def test_the_message_is_translated_for_the_request(built: BuiltApp) -> None:
    import quart

    built.security.locale_selector(lambda: quart.request.headers.get("X-Locale"))
    phone = PhoneUtil(built.app)
    async with built.app.test_request_context("/", headers={"X-Locale": "fr"}):
        french = phone.validate_phone_number("123")
    async with built.app.test_request_context("/"):
        english = phone.validate_phone_number("123")
    assert english == DEFAULT_MESSAGES["PHONE_INVALID"][0]
    assert french and french != english
    assert isinstance(french, MessageText) and french.key == "PHONE_INVALID"


def test_without_an_app_the_defaults_are_used() -> None:
    """No Security at hand and nothing bound: Flask-Security's default region, the key as text."""
    phone = PhoneUtil(None)
    assert phone.get_canonical_form("(650) 253-0000") == "+16502530000"
    assert phone.validate_phone_number("123") == "PHONE_INVALID"


def test_without_phonenumbers_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "phonenumbers", None)  # what an uninstalled module gives
    with pytest.raises(ImportError, match="phonenumbers package, quart-flask-security's 'mfa'"):
        util().get_canonical_form("(650) 253-0000")


# ------------------------------------------------------------------ uia_phone_mapper
def test_uia_phone_mapper_maps_a_phone_and_not_an_email() -> None:
    assert uia_phone_mapper("(650) 253-0000") == "+16502530000"
    assert uia_phone_mapper("+44 20 7946 0018") == "+442079460018"
    assert uia_phone_mapper("matt@lp.com") is None
    assert uia_phone_mapper("") is None


def test_an_identity_resolver_tells_phones_from_emails() -> None:
    """The USER_IDENTITY_ATTRIBUTES unified sign-in will use: email first, then phone."""
    resolver = IdentityResolver(
        [
            {"email": {"mapper": uia_email_mapper, "case_insensitive": True}},
            {"us_phone_number": {"mapper": "quart_security.uia_phone_mapper"}},
        ]
    )
    assert resolver.canonical("650-253-0000") == ("us_phone_number", "+16502530000", False)
    assert resolver.canonical("Matt@LP.com") == ("email", "Matt@lp.com", True)
    assert resolver.canonical("not a phone") is None


async def test_uia_phone_mapper_uses_the_apps_phone_util(built: BuiltApp) -> None:
    """Once Security has a phone_util (two-factor will build it), the mapper asks it."""

    class OnlyGermany(PhoneUtil):
        def get_canonical_form(self, input_data: str) -> str | None:
            found = super().get_canonical_form(input_data)
            return found if found and found.startswith("+49") else None

    async with built.app.app_context():
        assert uia_phone_mapper("(650) 253-0000") == "+16502530000"  # the default util
        built.security.phone_util = OnlyGermany(built.app)  # type: ignore[attr-defined]
        try:
            assert uia_phone_mapper("(650) 253-0000") is None
            assert uia_phone_mapper("+49 30 901820") == "+4930901820"
        finally:
            del built.security.phone_util  # type: ignore[attr-defined]


def test_both_packages_export_the_same_objects() -> None:
    assert flask_compat.PhoneUtil is quart_security.PhoneUtil is quart_security.phone_util.PhoneUtil
    assert flask_compat.phone_util.PhoneUtil is PhoneUtil
    assert flask_compat.uia_phone_mapper is quart_security.uia_phone_mapper
