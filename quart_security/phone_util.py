"""``PhoneUtil``: Flask-Security's hook for validating and normalising phone numbers.

The canonical form is E.164 (``+16505550123``): what is stored, looked up
(``uia_phone_mapper``) and what an SMS is sent to, so two spellings of one
number are one identity. A number typed without its country code is read in
PHONE_REGION_DEFAULT's region ("US" by default, as in Flask-Security).

Parsing is the ``phonenumbers`` package's, an optional dependency (the
``mfa`` extra), imported on first use so apps without phones need not install
it. Both methods are plain functions with no I/O, as in Flask-Security.

Built for the coming two-factor (SMS) and unified sign-in features:
``Security`` does not take ``phone_util_cls`` yet, and PHONE_REGION_DEFAULT
stays at its default until those features are built (refused otherwise).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .app_util import AppUtil
from .config import DEFAULT_CONFIG

__all__ = ["PhoneUtil"]

#: Longer input is refused before parsing (phonenumbers itself stops at 250).
MAX_PHONE_INPUT_LENGTH = 64


def _phonenumbers() -> ModuleType:
    """The phonenumbers module, or an ImportError that says how to get it."""
    try:
        import phonenumbers
    except ImportError as exc:
        raise ImportError(
            "PhoneUtil needs the phonenumbers package, quart-flask-security's 'mfa' extra"
            " (pip install phonenumbers)"
        ) from exc
    return phonenumbers


class PhoneUtil(AppUtil):
    """Validate phone numbers and give their E.164 form (subclass to customise)."""

    def _unbound_setting(self, key: str) -> Any:
        return DEFAULT_CONFIG[key]  # no app at all: the default region

    def _parse(self, input_data: Any) -> Any:
        """The parsed, valid number, or None (never an exception for bad input)."""
        if not isinstance(input_data, str) or not input_data.strip():
            return None
        if len(input_data) > MAX_PHONE_INPUT_LENGTH:
            return None
        phonenumbers = _phonenumbers()
        region = self._cv("PHONE_REGION_DEFAULT")
        try:
            number = phonenumbers.parse(input_data, region=region)
        except phonenumbers.NumberParseException:
            return None
        return number if phonenumbers.is_valid_number(number) else None

    def validate_phone_number(self, input_data: str) -> str | None:
        """None for a valid number, else the PHONE_INVALID message (translated per request)."""
        if self._parse(input_data) is None:
            return self._text("PHONE_INVALID")
        return None

    def get_canonical_form(self, input_data: str) -> str | None:
        """The number in E.164, the form to store and compare; None when it is not valid."""
        number = self._parse(input_data)
        if number is None:
            return None
        phonenumbers = _phonenumbers()
        formatted: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return formatted
