"""Username recovery: mail an account's username to the account's own address.

The submitted address is only a lookup key: the mail goes to the address
stored on the account (C-27), so a look-alike spelling (case, Unicode form)
can never make it go anywhere else. Disabled accounts, and unconfirmed ones
when confirmation is required, get nothing, as in Flask-Security.

With RETURN_GENERIC_RESPONSES (our default) every well-formed address gets
the same answer; the unknown case still renders the mail (and throws it
away) so it costs the same work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import signals
from ..errors import SecurityError
from ..identity import validate_email_address
from .authentication import requires_confirmation

if TYPE_CHECKING:
    from .context import FlowContext


async def recover_username(ctx: FlowContext, submitted: Any) -> None:
    """Mail the username, or raise SecurityError (field "email") when not generic."""
    email, problem = validate_email_address(ctx.config, submitted)
    if problem is not None or email is None:
        raise SecurityError(problem or "INVALID_EMAIL_ADDRESS", field="email")
    user = await ctx.store.find_user(case_insensitive=True, email=email)
    failure: str | None = None
    if user is None:
        failure = "USER_DOES_NOT_EXIST"
    elif not user.is_active:
        failure = "DISABLED_ACCOUNT"
    elif requires_confirmation(ctx.config, user):
        failure = "CONFIRMATION_REQUIRED"
    if failure is not None:
        if not ctx.config("RETURN_GENERIC_RESPONSES"):
            raise SecurityError(failure, field="email")
        ctx.mail(
            "USERNAME_RECOVERY_EMAIL_TEMPLATE",
            "EMAIL_SUBJECT_USERNAME_RECOVERY",
            email,
            deliver=False,
            user=None,
            username=None,
        )
        return
    assert user is not None
    ctx.mail(
        "USERNAME_RECOVERY_EMAIL_TEMPLATE",
        "EMAIL_SUBJECT_USERNAME_RECOVERY",
        str(user.email),
        user=user,
        username=user.username,
    )
    await ctx.signal(signals.username_recovery_email_sent, user=user)
