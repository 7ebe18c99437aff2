"""Email confirmation: links bound to the address they confirm, used once.

A confirmation token is Flask-Security's ``[fs_uniquifier, hash_data(email)]``
signed with the "confirm" serializer, so it names one account and stops
working when that account's address changes (a token for address A never
confirms address B: reference/security.md C-46). Setting ``confirmed_at`` is a
compare-and-set from NULL in the datastore, so of many parallel uses of one
link exactly one confirms and the others see "already confirmed".

Flask-Security 5.9 answers an expired link with an error and sends nothing
(it stopped re-sending instructions in 5.1, PR #817): a leaked, expired link
cannot be used to flood the owner's inbox. We do the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from .. import signals
from ..clock import format_duration, utcnow_naive
from ..errors import SecurityError
from ..identity import validate_email_address
from ..mail import mail_template

if TYPE_CHECKING:
    from ..extension import Security
    from ..web.port import WebPort

CONFIRM_SERIALIZER = "confirm"

ConfirmStatus = Literal["confirmed", "already_confirmed", "expired", "invalid"]


@dataclass(frozen=True)
class ConfirmOutcome:
    """What a confirmation link did; ``user`` is set only when it confirmed."""

    status: ConfirmStatus
    user: Any = None


# ---------------------------------------------------------------------- helpers
def generate_confirmation_token(security: Security, user: Any) -> str:
    data = [str(user.fs_uniquifier), security.tokens.fingerprint(str(user.email or ""))]
    return security.tokens.dumps(CONFIRM_SERIALIZER, data)


def generate_confirmation_link(security: Security, port: WebPort, user: Any) -> tuple[str, str]:
    """(absolute link, token); the link's host comes from settings, never the request."""
    token = generate_confirmation_token(security, user)
    return security.mailer.external_url(port, "confirm_email", token=token), token


# ---------------------------------------------------------------------- sending
async def send_confirmation_instructions(security: Security, port: WebPort, user: Any) -> str:
    """Queue the confirmation mail to the STORED address; returns the token."""
    link, token = generate_confirmation_link(security, port, user)
    await security.mailer.send(
        port,
        mail_template(security, "EMAIL_TEMPLATE_CONFIRM"),
        security.gettext(security.cv("EMAIL_SUBJECT_CONFIRM")),
        str(user.email),
        user=user,
        confirmation_link=link,
        confirmation_token=token,
        within=format_duration(security.cv("CONFIRM_EMAIL_WITHIN")),
        _fsdomain=security.gettext,
    )
    await signals.send(
        signals.confirm_instructions_sent,
        security.app,
        user=user,
        token=token,
        confirmation_token=token,
    )
    return token


async def request_confirmation(security: Security, port: WebPort, email: Any) -> str:
    """/confirm POST: send new instructions; returns the canonical address asked for.

    With RETURN_GENERIC_RESPONSES an unknown or already confirmed address is
    answered like a pending one (nothing is sent); without it they are the
    USER_DOES_NOT_EXIST / ALREADY_CONFIRMED field errors Flask-Security gives.
    A malformed address is an error either way: it reveals nothing.
    """
    if email is not None and not isinstance(email, str):
        raise SecurityError("INVALID_INPUT", field="email")
    canonical, problem = validate_email_address(security, email)
    if problem is not None or canonical is None:
        raise SecurityError(problem or "INVALID_EMAIL_ADDRESS", field="email")
    generic = bool(security.cv("RETURN_GENERIC_RESPONSES"))
    user = await security.store.find_user(case_insensitive=True, email=canonical)
    if user is None:
        if generic:
            return canonical
        raise SecurityError("USER_DOES_NOT_EXIST", field="email")
    if user.confirmed_at is not None:
        if generic:
            return canonical
        raise SecurityError("ALREADY_CONFIRMED", field="email")
    await send_confirmation_instructions(security, port, user)
    return canonical


# ---------------------------------------------------------------------- confirming
def _token_data(data: Any) -> tuple[str, str] | None:
    if (
        isinstance(data, list | tuple)
        and len(data) == 2
        and all(isinstance(item, str) and item for item in data)
    ):
        return data[0], data[1]
    return None


async def confirm_email_token(security: Security, token: Any) -> ConfirmOutcome:
    """Check a confirmation token and consume it (at most once, under any concurrency)."""
    if not isinstance(token, str) or not token:
        return ConfirmOutcome("invalid")
    within: timedelta = security.cv("CONFIRM_EMAIL_WITHIN")
    status, data = security.tokens.loads(CONFIRM_SERIALIZER, token, within.total_seconds())
    if status == "expired":
        return ConfirmOutcome("expired")
    parsed = _token_data(data) if status == "ok" else None
    if parsed is None:
        return ConfirmOutcome("invalid")
    uniquifier, email_fingerprint = parsed
    user = await security.store.find_user(fs_uniquifier=uniquifier)
    if user is None or not security.tokens.fingerprint_matches(
        str(user.email or ""), email_fingerprint
    ):
        return ConfirmOutcome("invalid")
    if user.confirmed_at is not None:
        return ConfirmOutcome("already_confirmed")
    now = utcnow_naive(security.clock)
    if not await security.store.compare_and_set(user, "confirmed_at", None, now):
        return ConfirmOutcome("already_confirmed")  # a parallel use won
    await signals.send(signals.user_confirmed, security.app, user=user)
    return ConfirmOutcome("confirmed", user)
