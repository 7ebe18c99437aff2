"""Registration (Flask-Security 5.9's RegisterFormV2 and ``register_user``).

What reaches ``create_user``: the canonical email, the password hash, (with
USERNAME_ENABLE) the canonical username, and the fields the app's own
registration form declares that the user model has (Flask-Security's
extended register form). Whatever else a client posts (roles, active,
confirmed_at, fs_uniquifier, ...) is never read, so it cannot be
mass-assigned (reference/security.md R-66); a form that declares one of the
library's own attributes is refused at start-up (web/form_info.py).

Every input is validated before anything is written: the datastore sees one
``create_user``, flushed so that the database's unique indexes judge a race,
or nothing. The request's unit of work commits it (web/lifecycle.py), after
``user_registered``: a receiver that raises rolls the registration back, as
in Flask-Security (MongoDB writes at once, so there is nothing to roll back
there).

Anti-enumeration (RETURN_GENERIC_RESPONSES, on by default here): an email or
username that is already taken gets the answer a new registration gets, costs
the same one password hash, and the owner of the existing account is mailed
(welcome_existing, to the STORED address) instead. Errors that do not depend on
the database (a short password, a malformed address) are still reported. A
registration that loses a race for the same identity (the unique index fires
at the flush) is treated exactly like one that found the account up front.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import signals
from ..crypto.password_policy import password_provided
from ..errors import DuplicateIdentityError, Problem, SecurityError
from ..identity import validate_email_address
from .authentication import requires_confirmation
from .confirm import confirmation_link

if TYPE_CHECKING:
    from .context import FlowContext


@dataclass(frozen=True)
class RegistrationInput:
    """The submitted fields, as the client sent them (not yet trusted)."""

    email: Any
    password: Any
    password_confirm: Any = None
    username: Any = None
    next: Any = None
    #: Whether the form asks for the password twice (None: PASSWORD_CONFIRM_REQUIRED).
    retype_required: bool | None = None
    #: Fields of the app's registration form that the user model has: stored
    #: on the new user as they are (the form's validators have judged them).
    user_fields: Mapping[str, Any] = field(default_factory=dict)
    #: Every field the app's form added, for the signals' ``form_data``.
    form_data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Registered:
    """The outcome the view answers with.

    ``user`` is the new account, or None when the identity was already taken
    and RETURN_GENERIC_RESPONSES answered as if it were new. ``email`` is the
    canonical submitted address (for the "confirmation sent to" message).
    """

    email: str
    user: Any = None
    confirmation_token: str | None = None


@dataclass
class _Checked:
    email: str
    username: str | None
    password: str | None
    existing_email_user: Any
    existing_username_user: Any
    form_data: dict[str, Any]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_email(ctx: FlowContext, value: Any, problems: list[Problem]) -> str | None:
    if not _blank(value) and not isinstance(value, str):
        problems.append(Problem("email", "INVALID_INPUT"))
        return None
    canonical, key = validate_email_address(ctx.config, value)
    if key is not None or canonical is None:
        problems.append(Problem("email", key or "INVALID_EMAIL_ADDRESS"))
        return None
    if unicodedata.normalize("NFKC", canonical) != canonical:
        # Compatibility characters (fullwidth letters, ligatures, ...) make a
        # look-alike of another address that NFC keeps distinct: refuse them,
        # so no account can shadow another (reference/security.md A-08).
        problems.append(Problem("email", "INVALID_EMAIL_ADDRESS"))
        return None
    return canonical


async def _check_username(ctx: FlowContext, value: Any, problems: list[Problem]) -> str | None:
    if not ctx.config("USERNAME_ENABLE"):
        return None
    if _blank(value):
        if ctx.config("USERNAME_REQUIRED"):
            problems.append(Problem("username", "USERNAME_NOT_PROVIDED"))
        return None
    if not isinstance(value, str):
        problems.append(Problem("username", "INVALID_INPUT"))
        return None
    error, canonical = await ctx.validate_username(value)  # the app's UsernameUtil
    if error:
        problems.append(Problem.from_message("username", error))
        return None
    if not canonical:
        problems.append(Problem("username", "INVALID_INPUT"))
        return None
    return canonical


async def _check_password(
    ctx: FlowContext,
    data: RegistrationInput,
    email: str | None,
    username: str | None,
    problems: list[Problem],
) -> str | None:
    password = data.password
    usable: str | None = None
    if password is not None and not isinstance(password, str):
        problems.append(Problem("password", "INVALID_INPUT"))
    elif not password_provided(password):
        if ctx.config("PASSWORD_REQUIRED"):
            problems.append(Problem("password", "PASSWORD_NOT_PROVIDED"))
    else:
        # The user fields of the form, as Flask-Security passes them (its
        # context words); the stored hash is of the normalised password.
        fields: dict[str, Any] = {**data.user_fields, "email": email}
        if ctx.config("USERNAME_ENABLE"):
            fields["username"] = username
        errors, normalized = await ctx.validate_password(password, is_register=True, **fields)
        problems.extend(Problem.from_message("password", e) for e in errors)
        usable = None if errors else normalized
    retype_required = data.retype_required
    if retype_required is None:
        retype_required = bool(ctx.config("PASSWORD_CONFIRM_REQUIRED"))
    if retype_required:
        retyped = data.password_confirm
        if retyped is not None and not isinstance(retyped, str):
            problems.append(Problem("password_confirm", "INVALID_INPUT"))
        elif not password_provided(retyped):
            if ctx.config("PASSWORD_REQUIRED"):
                problems.append(Problem("password_confirm", "PASSWORD_NOT_PROVIDED"))
            elif password_provided(password):
                problems.append(Problem("password_confirm", "RETYPE_PASSWORD_MISMATCH"))
        elif not isinstance(password, str) or not await _same_password(ctx, password, retyped):
            problems.append(Problem("password_confirm", "RETYPE_PASSWORD_MISMATCH"))
    return usable


async def _same_password(ctx: FlowContext, a: str, b: str) -> bool:
    # Compared as the PasswordUtil normalises them (an over-long one as typed).
    return await ctx.normalize_password(a) == await ctx.normalize_password(b)


async def check_registration(ctx: FlowContext, data: RegistrationInput) -> _Checked:
    """Validate everything and look the identities up; SecurityError on bad input."""
    problems: list[Problem] = []
    email = _check_email(ctx, data.email, problems)
    username = await _check_username(ctx, data.username, problems)
    password = await _check_password(ctx, data, email, username, problems)
    store = ctx.store
    # Identities that differ only in case are one identity, whatever the
    # USER_IDENTITY_ATTRIBUTES say about lookups at sign-in.
    existing_email_user = (
        await store.find_user(case_insensitive=True, email=email) if email else None
    )
    existing_username_user = (
        await store.find_user(case_insensitive=True, username=username) if username else None
    )
    taken = _taken(email, username, existing_email_user, existing_username_user)
    generic = bool(ctx.config("RETURN_GENERIC_RESPONSES"))
    if problems:
        # With generic responses a taken identity is never what fails a request.
        raise SecurityError.of(problems if generic else problems + taken)
    if taken and not generic:
        raise SecurityError.of(taken)
    assert email is not None
    form_data: dict[str, Any] = {**data.form_data, "email": email, "next": data.next}
    if ctx.config("USERNAME_ENABLE"):
        form_data["username"] = username
    return _Checked(
        email, username, password, existing_email_user, existing_username_user, form_data
    )


def _taken(
    email: str | None, username: str | None, email_user: Any, username_user: Any
) -> list[Problem]:
    taken: list[Problem] = []
    if email_user is not None:
        taken.append(Problem("email", "EMAIL_ALREADY_ASSOCIATED", {"email": email}))
    if username_user is not None:
        taken.append(Problem("username", "USERNAME_ALREADY_ASSOCIATED", {"username": username}))
    return taken


async def register_user(ctx: FlowContext, data: RegistrationInput) -> Registered:
    """Create the account, or answer generically for a taken identity.

    The caller signs the new user in when Flask-Security would (through the
    authentication pipeline); nothing here touches a session.
    """
    checked = await check_registration(ctx, data)
    # One hash on every path that can succeed, so a taken identity costs what a
    # new one does (reference/security.md ).
    hashed = await ctx.passwords.hash(checked.password) if checked.password else None
    if checked.existing_email_user is not None or checked.existing_username_user is not None:
        await register_existing(ctx, checked)
        return Registered(checked.email)
    store = ctx.store
    # The app's own fields first, so none of them can stand in for ours.
    fields: dict[str, Any] = {**data.user_fields, "email": checked.email, "password": hashed}
    if checked.username:
        fields["username"] = checked.username
    try:
        user = await store.create_user(**fields)
        await store.flush()  # the unique indexes judge a race here, not at the commit
    except DuplicateIdentityError as exc:
        # A parallel registration wrote the same identity first.
        return await _lost_race(ctx, checked, exc)
    token: str | None = None
    link: str | None = None
    if ctx.config("CONFIRMABLE"):
        link, token = confirmation_link(ctx, user)
    await ctx.signal(
        signals.user_registered,
        user=user,
        confirm_token=token,
        confirmation_token=token,
        form_data=dict(checked.form_data),
    )
    if ctx.config("SEND_REGISTER_EMAIL"):
        ctx.mail(
            "REGISTER_EMAIL_TEMPLATE",
            "EMAIL_SUBJECT_REGISTER",
            str(user.email),
            user=user,
            confirmation_link=link,
            confirmation_token=token,
        )
    return Registered(checked.email, user, token)


async def _lost_race(
    ctx: FlowContext, checked: _Checked, exc: DuplicateIdentityError
) -> Registered:
    store = ctx.store
    checked.existing_email_user = await store.find_user(case_insensitive=True, email=checked.email)
    if checked.username:
        checked.existing_username_user = await store.find_user(
            case_insensitive=True, username=checked.username
        )
    taken = _taken(
        checked.email,
        checked.username,
        checked.existing_email_user,
        checked.existing_username_user,
    )
    if not taken:
        raise exc  # some other unique field clashed: not a registration outcome
    if not ctx.config("RETURN_GENERIC_RESPONSES"):
        raise SecurityError.of(taken) from None
    await register_existing(ctx, checked)
    return Registered(checked.email)


async def register_existing(ctx: FlowContext, checked: _Checked) -> None:
    """The generic answer's side effects: a signal and a mail to the right owner.

    An existing email: welcome_existing to the STORED address (never the
    submitted spelling: reference/security.md C-27), with reset and, if still
    needed, confirmation links. A new email with a taken username: Flask-
    Security mails the submitted address (there is no stored one) that the
    username is taken; that mail holds nothing but what was submitted.
    """
    existing = checked.existing_email_user
    send = bool(ctx.config("SEND_REGISTER_EMAIL"))
    if existing is not None:
        await ctx.signal(
            signals.user_not_registered,
            user=existing,
            existing_email=True,
            existing_username=checked.existing_username_user is not None,
            form_data=dict(checked.form_data),
        )
        if not send:
            return
        recovery_link = reset_link = reset_token = ""
        if ctx.config("RECOVERABLE"):
            from .recover import reset_link_for  # RECOVERABLE owns the link's format

            recovery_link = ctx.links.external_url("forgot_password")
            reset_link, reset_token = reset_link_for(ctx, existing)
        confirm_link = confirm_token = ""
        if requires_confirmation(ctx.config, existing):
            confirm_link, confirm_token = confirmation_link(ctx, existing)
        ctx.mail(
            "REGISTER_EMAIL_EXISTING_TEMPLATE",
            "EMAIL_SUBJECT_REGISTER",
            str(existing.email),
            user=existing,
            recovery_link=recovery_link,
            reset_link=reset_link,
            reset_token=reset_token,
            confirmation_link=confirm_link,
            confirmation_token=confirm_token,
        )
        return
    await ctx.signal(
        signals.user_not_registered,
        user=None,
        existing_email=False,
        existing_username=True,
        form_data=dict(checked.form_data),
    )
    if send:
        ctx.mail(
            "REGISTER_EMAIL_EXISTING_USERNAME_TEMPLATE",
            "EMAIL_SUBJECT_REGISTER",
            checked.email,
            email=checked.email,
            username=checked.username,
        )
