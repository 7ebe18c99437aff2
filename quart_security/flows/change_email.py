"""Change email: a fresh session asks for a new address; a link mailed there confirms it.

The link's token is ``[fs_uniquifier, fingerprint(current email), new email]``
signed with the "change_email" serializer (Flask-Security's format). The
fingerprint ties it to the address the account had when it was issued, so
once the address changes every outstanding change-email token dies, and the
signed new address means a token minted for address A can only ever set A
(C-46). Confirmation consumes the token with a compare-and-set on the email
column: of any number of parallel uses, exactly one changes the address.

Anti-enumeration (C-32): with RETURN_GENERIC_RESPONSES an address that already
belongs to another account gets the same answer as a free one, and nothing is
sent to it. The current address is told of every request in both cases (R-24),
so what the account owner can observe is the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import signals
from ..clock import format_duration
from ..errors import DuplicateIdentityError, SecurityError
from ..identity import validate_email_address
from ..outbox import MailIntent

if TYPE_CHECKING:
    from .context import FlowContext

TOKEN_NAME = "change_email"  # noqa: S105 - a serializer name, not a secret
#: The notice to the current address (R-24). Flask-Security has no such mail
#: and so no settings for it; these names are what the settings would be.
NOTICE_TEMPLATE = "change_email_notice"
NOTICE_SUBJECT = "A change of your email address was requested"


@dataclass(frozen=True)
class Confirmed:
    """A change that went through."""

    user: Any
    old_email: str
    new_email: str


def _same_user(a: Any, b: Any) -> bool:
    return str(a.fs_uniquifier) == str(b.fs_uniquifier)


def make_token(ctx: FlowContext, user: Any, new_email: str) -> str:
    data = [str(user.fs_uniquifier), ctx.tokens.fingerprint(str(user.email)), new_email]
    return ctx.tokens.dumps(TOKEN_NAME, data)


async def request_change(ctx: FlowContext, user: Any, submitted: Any) -> str:
    """Validate the new address and mail the confirmation link; the canonical address.

    Raises SecurityError (field "email") for a missing or invalid address, for
    the user's own address, and for another account's address when generic
    responses are off.
    """
    new_email, problem = validate_email_address(ctx.config, submitted)
    if problem is not None or new_email is None:
        raise SecurityError(problem or "INVALID_EMAIL_ADDRESS", field="email")
    owner = await ctx.store.find_user(case_insensitive=True, email=new_email)
    if owner is not None:
        # The user's own address reveals nothing: say so, whatever the mode.
        if _same_user(owner, user) or not ctx.config("RETURN_GENERIC_RESPONSES"):
            raise SecurityError("EMAIL_ALREADY_ASSOCIATED", field="email", email=new_email)
    token = make_token(ctx, user, new_email)
    link = ctx.links.external_url("change_email_confirm", token=token)
    within = format_duration(ctx.config("CHANGE_EMAIL_WITHIN"))
    # Taken by another account: send nothing to it, but render the same mail
    # (and drop it), so the answer does not come back measurably sooner.
    ctx.mail(
        "CHANGE_EMAIL_EMAIL_TEMPLATE",
        "CHANGE_EMAIL_SUBJECT",
        new_email,
        deliver=owner is None,
        user=user,
        link=link,
        token=token,
        within=within,
    )
    ctx.outbox.add(
        MailIntent(
            NOTICE_TEMPLATE,
            NOTICE_SUBJECT,
            str(user.email),
            {"user": user, "new_email": new_email, "within": within},
        )
    )
    if owner is None:
        await ctx.signal(
            signals.change_email_instructions_sent, user=user, new_email=new_email, token=token
        )
    return new_email


async def confirm_change(ctx: FlowContext, token: Any) -> Confirmed:
    """Check and consume a change-email token.

    Raises SecurityError("CHANGE_EMAIL_EXPIRED") for an expired token and
    SecurityError("API_ERROR") for anything else that is wrong (bad
    signature, stale fingerprint, inactive account, address taken meanwhile,
    lost race): the answer does not say which.
    """
    within = ctx.config("CHANGE_EMAIL_WITHIN")
    status, data = ctx.tokens.loads(TOKEN_NAME, token, within.total_seconds())
    if status == "expired":
        raise SecurityError("CHANGE_EMAIL_EXPIRED", within=format_duration(within))
    invalid = SecurityError("API_ERROR")
    if status != "ok" or not (
        isinstance(data, list) and len(data) == 3 and all(isinstance(v, str) for v in data)
    ):
        raise invalid
    uniquifier, fingerprint, new_email = data
    user = await ctx.store.find_user(fs_uniquifier=uniquifier)
    if user is None or not user.is_active:
        raise invalid
    old_email = str(user.email)
    if not ctx.tokens.fingerprint_matches(old_email, fingerprint):
        raise invalid
    if await ctx.store.find_user(case_insensitive=True, email=new_email) is not None:
        raise invalid
    try:
        won = await ctx.store.compare_and_set(user, "email", old_email, new_email)
    except DuplicateIdentityError:  # registered by someone else a moment ago
        raise invalid from None
    if not won:
        raise invalid
    user.confirmed_at = ctx.now()
    await ctx.store.put(user)
    await ctx.signal(signals.change_email_confirmed, user=user, old_email=old_email)
    return Confirmed(user, old_email, new_email)
