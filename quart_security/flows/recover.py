"""Password recovery: reset links bound to the current password, used once.

A reset token is ``[fs_uniquifier, fingerprint(current password hash)]``
signed by the "reset" serializer (Flask-Security's format, with our keyed
fingerprint in place of ``hash_data``). The fingerprint makes the link die as
soon as the password changes by any path; consuming it is a compare-and-set of
the password column from the hash the token was checked against to the new
hash, so of many parallel uses of one link exactly one wins, and the password
left behind is the winner's.

Asking for a link costs the same whether or not the address belongs to a
usable account: the mail is rendered (and discarded) for unknown, inactive and
unconfirmed accounts too, so neither the answer nor its timing says which
addresses exist. Mail goes only to the stored address (C-27).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import signals
from ..clock import format_duration
from ..datastore.base import new_uniquifier
from ..errors import SecurityError
from ..identity import validate_email_address
from .authentication import requires_confirmation

if TYPE_CHECKING:
    from .context import FlowContext


@dataclass(frozen=True)
class ResetRequested:
    """A request for a link that was answered: ``user`` is None when nobody was
    mailed (no usable account, and generic responses answered as if there were)."""

    email: str
    user: Any = None


# ---------------------------------------------------------------------- links
def reset_token_for(ctx: FlowContext, user: Any) -> str:
    password = getattr(user, "password", None)
    fingerprint = ctx.tokens.fingerprint(password) if password else None
    return ctx.tokens.dumps("reset", [str(user.fs_uniquifier), fingerprint])


def reset_link_for(ctx: FlowContext, user: Any) -> tuple[str, str]:
    """(absolute /reset/<token> link, token) for ``user``'s current password."""
    token = reset_token_for(ctx, user)
    return ctx.links.external_url("reset_password", token=token), token


# ---------------------------------------------------------------------- forgot
async def find_reset_candidate(ctx: FlowContext, email: str) -> tuple[Any, str | None]:
    """(user, None) when ``email`` (canonical) names an account that may reset,
    else (user or None, the SECURITY_MSG_* key Flask-Security would answer)."""
    case_insensitive = next(
        (ci for attr, _, ci in ctx.identity.attributes if attr == "email"), False
    )
    user = await ctx.store.find_user(case_insensitive=case_insensitive, email=email)
    if user is None:
        return None, "USER_DOES_NOT_EXIST"
    if not user.is_active:
        return user, "DISABLED_ACCOUNT"
    if requires_confirmation(ctx.config, user):
        return user, "CONFIRMATION_REQUIRED"
    return user, None


async def request_password_reset(ctx: FlowContext, submitted: Any) -> ResetRequested:
    """/reset POST: mail a link to an account that may reset.

    A malformed address is an error either way (it says nothing about
    accounts). For an address that names no usable account, RETURN_GENERIC_
    RESPONSES answers as for a real one; without it, the refusal is Flask-
    Security's field error (USER_DOES_NOT_EXIST, DISABLED_ACCOUNT,
    CONFIRMATION_REQUIRED).
    """
    email, problem = validate_email_address(ctx.config, submitted)
    if problem is not None or email is None:
        raise SecurityError(problem or "INVALID_EMAIL_ADDRESS", field="email")
    user, refusal = await find_reset_candidate(ctx, email)
    if refusal is None:
        await send_reset_instructions(ctx, user)
        return ResetRequested(email, user)
    if not ctx.config("RETURN_GENERIC_RESPONSES"):
        raise SecurityError(refusal, field="email")
    rehearse_reset_instructions(ctx, email)
    return ResetRequested(email)


async def send_reset_instructions(ctx: FlowContext, user: Any) -> str:
    """Mail the reset link (SEND_PASSWORD_RESET_EMAIL) and signal; returns the token."""
    token = reset_token_for(ctx, user)
    if ctx.config("SEND_PASSWORD_RESET_EMAIL"):
        link = ctx.links.external_url("reset_password", token=token)
        _reset_mail(ctx, user, str(user.email), link, token)
    await ctx.signal(
        signals.reset_password_instructions_sent, user=user, token=token, reset_token=token
    )
    return token


def rehearse_reset_instructions(ctx: FlowContext, email: str) -> None:
    """The work of ``send_reset_instructions`` for an address that gets no mail.

    The same token, link and mail for a stand-in user, rendered and dropped
    (an intent with ``deliver=False``), so a request for an unknown or
    disabled account takes as long as one for a real account (A-01). Nothing
    is sent, signalled or stored.
    """
    stand_in = ctx.store.user_model(
        email=email, fs_uniquifier=new_uniquifier(), password=new_uniquifier()
    )
    token = reset_token_for(ctx, stand_in)
    if ctx.config("SEND_PASSWORD_RESET_EMAIL"):
        link = ctx.links.external_url("reset_password", token=token)
        _reset_mail(ctx, stand_in, email, link, token, deliver=False)


def _reset_mail(
    ctx: FlowContext, user: Any, to: str, link: str, token: str, *, deliver: bool = True
) -> None:
    ctx.mail(
        "EMAIL_TEMPLATE_PASSWORD_RESET",
        "EMAIL_SUBJECT_PASSWORD_RESET",
        to,
        deliver=deliver,
        user=user,
        reset_link=link,
        reset_token=token,
        within=format_duration(ctx.config("RESET_PASSWORD_WITHIN")),
    )


# ---------------------------------------------------------------------- reset
def _token_error(ctx: FlowContext, status: str) -> SecurityError:
    if status == "expired":
        within = format_duration(ctx.config("RESET_PASSWORD_WITHIN"))
        return SecurityError("PASSWORD_RESET_EXPIRED", within=within)
    return SecurityError("INVALID_RESET_PASSWORD_TOKEN")


async def check_reset_token(ctx: FlowContext, token: Any) -> Any:
    """The user a link may still reset the password of, or SecurityError.

    A link is dead once it expires (RESET_PASSWORD_WITHIN: PASSWORD_RESET_
    EXPIRED), once the password it was issued for changes, and for an account
    that is disabled or needs confirmation (C-08; INVALID_RESET_PASSWORD_
    TOKEN). Nothing is written: a GET of the link may run this.
    """
    within = ctx.config("RESET_PASSWORD_WITHIN")
    status, data = ctx.tokens.loads("reset", token, within.total_seconds())
    if status != "ok":
        raise _token_error(ctx, status)
    if not (
        isinstance(data, list)
        and len(data) == 2
        and isinstance(data[0], str)
        and (data[1] is None or isinstance(data[1], str))
    ):
        raise _token_error(ctx, "invalid")
    uniquifier, fingerprint = data
    user = await ctx.store.find_user(fs_uniquifier=uniquifier)
    if user is None or not user.is_active or requires_confirmation(ctx.config, user):
        raise _token_error(ctx, "invalid")
    password = getattr(user, "password", None)
    if password:
        if not ctx.tokens.fingerprint_matches(password, fingerprint):
            raise _token_error(ctx, "invalid")
    elif fingerprint is not None:
        raise _token_error(ctx, "invalid")
    return user


async def reset_password(ctx: FlowContext, user: Any, new_password: str) -> None:
    """Consume the link: set the new password, end every session and token.

    ``user`` is what ``check_reset_token`` returned; its password is the hash
    the link was checked against. The new password must pass the PasswordUtil
    (SecurityError on ``password``); its normalised form is stored.
    INVALID_RESET_PASSWORD_TOKEN when another request used the link first (the
    compare-and-set lost): nothing changed.
    """
    normalized = await ctx.check_new_password(new_password, user, "password")
    expected = getattr(user, "password", None)
    new_hash = await ctx.passwords.hash(normalized)
    if not await ctx.store.compare_and_set(user, "password", expected, new_hash):
        raise SecurityError("INVALID_RESET_PASSWORD_TOKEN")
    await ctx.store.set_uniquifier(user)
    if hasattr(user, "fs_token_uniquifier"):
        # A token uniquifier lets auth tokens survive a password *change*; a
        # reset means the old password may be known to someone else.
        await ctx.store.set_token_uniquifier(user)
    if ctx.config("SEND_PASSWORD_RESET_NOTICE_EMAIL"):
        ctx.mail(
            "EMAIL_TEMPLATE_PASSWORD_RESET_NOTICE",
            "EMAIL_SUBJECT_PASSWORD_NOTICE",
            str(user.email),
            user=user,
        )
    await ctx.signal(signals.password_reset, user=user)
