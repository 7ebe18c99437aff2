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

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import signals
from ..clock import format_duration
from ..datastore.base import new_uniquifier
from ..errors import SecurityError
from ..identity import validate_email_address

if TYPE_CHECKING:
    from .context import FlowContext

CONFIRM_SERIALIZER = "confirm"


# ---------------------------------------------------------------------- links
def confirmation_token(ctx: FlowContext, user: Any) -> str:
    data = [str(user.fs_uniquifier), ctx.tokens.fingerprint(str(user.email or ""))]
    return ctx.tokens.dumps(CONFIRM_SERIALIZER, data)


def confirmation_link(ctx: FlowContext, user: Any) -> tuple[str, str]:
    """(absolute link, token); the link's host comes from settings, never the request."""
    token = confirmation_token(ctx, user)
    return ctx.links.external_url("confirm_email", token=token), token


# ---------------------------------------------------------------------- sending
def _instructions(ctx: FlowContext, user: Any, to: str, *, deliver: bool = True) -> str:
    link, token = confirmation_link(ctx, user)
    ctx.mail(
        "EMAIL_TEMPLATE_CONFIRM",
        "EMAIL_SUBJECT_CONFIRM",
        to,
        deliver=deliver,
        user=user,
        confirmation_link=link,
        confirmation_token=token,
        within=format_duration(ctx.config("CONFIRM_EMAIL_WITHIN")),
    )
    return token


async def send_confirmation_instructions(ctx: FlowContext, user: Any) -> str:
    """Mail the confirmation link to the STORED address; returns the token."""
    token = _instructions(ctx, user, str(user.email))
    await ctx.signal(
        signals.confirm_instructions_sent, user=user, token=token, confirmation_token=token
    )
    return token


def _rehearse_instructions(ctx: FlowContext, email: str) -> None:
    """The same token, link and mail for a stand-in, rendered and dropped.

    So that, with generic responses, an unknown or already confirmed address
    costs the work of a pending one (A-01.3). Nothing is sent or signalled.
    """
    stand_in = ctx.store.user_model(email=email, fs_uniquifier=new_uniquifier())
    _instructions(ctx, stand_in, email, deliver=False)


async def request_confirmation(ctx: FlowContext, email: Any) -> str:
    """/confirm POST: send new instructions; returns the canonical address asked for.

    With RETURN_GENERIC_RESPONSES an unknown or already confirmed address is
    answered like a pending one, at the same rendering cost (a stand-in mail
    is rendered and dropped; nothing is sent); without it they are the
    USER_DOES_NOT_EXIST / ALREADY_CONFIRMED field errors Flask-Security gives.
    A malformed address is an error either way: it reveals nothing.
    """
    if email is not None and not isinstance(email, str):
        raise SecurityError("INVALID_INPUT", field="email")
    canonical, problem = validate_email_address(ctx.config, email)
    if problem is not None or canonical is None:
        raise SecurityError(problem or "INVALID_EMAIL_ADDRESS", field="email")
    generic = bool(ctx.config("RETURN_GENERIC_RESPONSES"))
    user = await ctx.store.find_user(case_insensitive=True, email=canonical)
    refusal = None
    if user is None:
        refusal = "USER_DOES_NOT_EXIST"
    elif user.confirmed_at is not None:
        refusal = "ALREADY_CONFIRMED"
    if refusal is not None:
        if not generic:
            raise SecurityError(refusal, field="email")
        _rehearse_instructions(ctx, canonical)
        return canonical
    await send_confirmation_instructions(ctx, user)
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


async def confirm_email_token(ctx: FlowContext, token: Any) -> Any:
    """Check a confirmation token and consume it (at most once, under any concurrency).

    Returns the confirmed user. Raises SecurityError: CONFIRMATION_EXPIRED
    (with ``within``), INVALID_CONFIRMATION_TOKEN, or ALREADY_CONFIRMED (also
    for the loser of a parallel use).
    """
    invalid = SecurityError("INVALID_CONFIRMATION_TOKEN")
    if not isinstance(token, str) or not token:
        raise invalid
    within: timedelta = ctx.config("CONFIRM_EMAIL_WITHIN")
    status, data = ctx.tokens.loads(CONFIRM_SERIALIZER, token, within.total_seconds())
    if status == "expired":
        raise SecurityError("CONFIRMATION_EXPIRED", within=format_duration(within))
    parsed = _token_data(data) if status == "ok" else None
    if parsed is None:
        raise invalid
    uniquifier, email_fingerprint = parsed
    user = await ctx.store.find_user(fs_uniquifier=uniquifier)
    if user is None or not ctx.tokens.fingerprint_matches(str(user.email or ""), email_fingerprint):
        raise invalid
    if user.confirmed_at is not None:
        raise SecurityError("ALREADY_CONFIRMED")
    if not await ctx.store.compare_and_set(user, "confirmed_at", None, ctx.now()):
        raise SecurityError("ALREADY_CONFIRMED")  # a parallel use won
    await ctx.signal(signals.user_confirmed, user=user)
    return user
