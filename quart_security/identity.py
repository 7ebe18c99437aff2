"""Identity attributes: how a typed identity becomes a datastore lookup.

USER_IDENTITY_ATTRIBUTES is an ordered list of single-key dicts
``{attr: {"mapper": fn, "case_insensitive": bool}}`` as in Flask-Security.
Each mapper canonicalises the input or returns None when it does not apply;
the first attribute whose mapper accepts the input is queried. One canonical
form per identity is what keeps lockout counters, resets and lookups agreeing
(reference/security.md A-08).
"""

from __future__ import annotations

import importlib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email

if TYPE_CHECKING:
    from .datastore.base import UserDatastore

#: Longest identity we will even try to normalise (CPU DoS guard, A-08).
MAX_IDENTITY_LENGTH = 320

Mapper = Callable[[str], str | None]


def normalize_email(value: str, validator_args: Mapping[str, Any] | None = None) -> str | None:
    """Canonical email (IDNA domain, NFC local part) or None when invalid."""
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTITY_LENGTH:
        return None
    args = {"check_deliverability": False, **(validator_args or {})}
    try:
        return validate_email(value.strip(), **args).normalized
    except (EmailNotValidError, UnicodeError, ValueError):
        return None


def normalize_username(
    value: str, form: str = "NFKD", allowed: Sequence[str] = ("L", "N")
) -> str | None:
    """Canonical username or None when it has characters we do not allow.

    ``allowed`` are Unicode general categories (USERNAME_ALLOWED_CHARS);
    combining marks are kept because NFKD produces them from letters (é).
    """
    if not isinstance(value, str) or len(value) > MAX_IDENTITY_LENGTH:
        return None
    cleaned = unicodedata.normalize(form, value.strip())  # type: ignore[arg-type]
    if not cleaned:
        return None
    for ch in cleaned:
        category = unicodedata.category(ch)
        if category[0] != "M" and category not in allowed and category[0] not in allowed:
            return None
    return cleaned


def validate_email_address(cv: Callable[[str], Any], value: Any) -> tuple[str | None, str | None]:
    """(canonical email, None) or (None, SECURITY_MSG_* key) for a submitted address.

    The canonical form is what is stored and looked up, and what mail is sent
    to, so two spellings of one address are one identity (A-08).
    """
    if not isinstance(value, str) or not value.strip():
        return None, "EMAIL_NOT_PROVIDED"
    canonical = normalize_email(value, cv("EMAIL_VALIDATOR_ARGS"))
    if canonical is None:
        return None, "INVALID_EMAIL_ADDRESS"
    return canonical, None


def validate_username(cv: Callable[[str], Any], value: Any) -> tuple[str | None, str | None]:
    """(canonical username, None) or (None, SECURITY_MSG_* key); length checked first."""
    if not isinstance(value, str) or not value.strip():
        return None, "USERNAME_NOT_PROVIDED"
    low, high = cv("USERNAME_MIN_LENGTH"), cv("USERNAME_MAX_LENGTH")
    if len(value) > max(high * 4, MAX_IDENTITY_LENGTH):
        return None, "USERNAME_INVALID_LENGTH"
    canonical = normalize_username(value, cv("INPUT_NORMALIZE_FORM"), cv("USERNAME_ALLOWED_CHARS"))
    if canonical is None:
        return None, "USERNAME_DISALLOWED_CHARACTERS"
    if not low <= len(canonical) <= high:
        return None, "USERNAME_INVALID_LENGTH"
    return canonical, None


def uia_email_mapper(identity: str) -> str | None:
    from .state import current_security

    try:
        args = current_security().cv("EMAIL_VALIDATOR_ARGS")
    except RuntimeError:
        args = None
    return normalize_email(identity, args)


def uia_username_mapper(identity: str) -> str | None:
    """The app's ``UsernameUtil.normalize`` (as Flask-Security maps usernames)."""
    from .state import current_security

    try:
        security = current_security()
    except RuntimeError:
        return normalize_username(identity)
    value = security.username_util.normalize(identity)
    return value if isinstance(value, str) else None


def uia_phone_mapper(identity: str) -> str | None:
    """The number in E.164 (``PhoneUtil.get_canonical_form``), or None when it is not one.

    The current Security's ``phone_util`` once it has one (phone_util_cls
    comes with two-factor); until then the default PhoneUtil, which reads
    PHONE_REGION_DEFAULT from the current app (or the defaults without one).
    """
    from .phone_util import PhoneUtil
    from .state import current_security

    try:
        util: Any = getattr(current_security(), "phone_util", None)
    except RuntimeError:
        util = None
    if util is None:
        util = PhoneUtil(None)
    value = util.get_canonical_form(identity)
    return value if isinstance(value, str) else None


def resolve_mapper(mapper: Any) -> Mapper:
    """Mappers may be given as callables or dotted paths (config friendliness)."""
    if callable(mapper):
        return mapper  # type: ignore[no-any-return]
    if isinstance(mapper, str):
        module, _, name = mapper.rpartition(".")
        found = getattr(importlib.import_module(module), name)
        if callable(found):
            return found  # type: ignore[no-any-return]
    raise ValueError(f"identity mapper {mapper!r} is not callable")


class IdentityResolver:
    """Compiled USER_IDENTITY_ATTRIBUTES: built once at init."""

    def __init__(self, attributes: Sequence[Mapping[str, Mapping[str, Any]]]) -> None:
        self.attributes: list[tuple[str, Mapper, bool]] = []
        for entry in attributes:
            ((attr, details),) = entry.items()
            self.attributes.append(
                (
                    attr,
                    resolve_mapper(details.get("mapper", uia_email_mapper)),
                    bool(details.get("case_insensitive", False)),
                )
            )

    @property
    def names(self) -> list[str]:
        return [attr for attr, _, _ in self.attributes]

    def canonical(self, identity: str) -> tuple[str, str, bool] | None:
        """(attribute, canonical value, case_insensitive) for the first mapper that applies."""
        if not isinstance(identity, str) or not identity or len(identity) > MAX_IDENTITY_LENGTH:
            return None
        for attr, mapper, case_insensitive in self.attributes:
            value = mapper(identity)
            if value:
                return attr, value, case_insensitive
        return None

    async def lookup(self, datastore: UserDatastore[Any, Any], identity: str) -> Any:
        found = self.canonical(identity)
        if found is None:
            return None
        attr, value, case_insensitive = found
        return await datastore.find_user(case_insensitive=case_insensitive, **{attr: value})


async def lookup_identity(identity: str) -> Any:
    """Flask-Security's ``lookup_identity``: the user an identity names, or None."""
    from .state import current_security

    security = current_security()
    return await security.identity.lookup(security.store, identity)
