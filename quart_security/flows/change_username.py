"""Change username: a fresh session sets a new, unique username at once.

As in Flask-Security there is no confirmation step (a username is public),
but the account's stored address is told (SEND_USERNAME_CHANGE_EMAIL), so a
hijacked session cannot rename an account unnoticed. Uniqueness is checked
case-insensitively on the canonical (normalised) form, so "Bob", "bob" and the
fullwidth spelling of "bob" are one name; the datastore's unique index on the
folded value settles a race (the flush raises DuplicateIdentityError).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import signals
from ..errors import DuplicateIdentityError, Problem, SecurityError

if TYPE_CHECKING:
    from .context import FlowContext


async def check_username(ctx: FlowContext, submitted: Any) -> str:
    """The canonical username from the app's UsernameUtil, or SecurityError on "username"."""
    if not isinstance(submitted, str) or not submitted.strip():
        raise SecurityError("USERNAME_NOT_PROVIDED", field="username")
    error, username = await ctx.validate_username(submitted)
    if error:
        raise SecurityError.of([Problem.from_message("username", error)])
    if not username:
        raise SecurityError("USERNAME_DISALLOWED_CHARACTERS", field="username")
    return username


async def change_username(ctx: FlowContext, user: Any, submitted: Any) -> str:
    """Set the new username and notify; the old username.

    The user's own name in another case ("matt" -> "Matt") is allowed; any
    other account's name, in any case or Unicode form, is not.
    """
    username = await check_username(ctx, submitted)
    taken = SecurityError("USERNAME_ALREADY_ASSOCIATED", field="username", username=username)
    owner = await ctx.store.find_user(case_insensitive=True, username=username)
    old_username = user.username
    if owner is not None and (
        str(owner.fs_uniquifier) != str(user.fs_uniquifier) or old_username == username
    ):
        raise taken
    user.username = username
    try:
        await ctx.store.put(user)
        await ctx.store.flush()
    except DuplicateIdentityError:  # someone took it between our check and the write
        user.username = old_username
        raise taken from None
    if ctx.config("SEND_USERNAME_CHANGE_EMAIL") and user.email:
        ctx.mail(
            "CHANGE_USERNAME_EMAIL_TEMPLATE",
            "EMAIL_SUBJECT_USERNAME_CHANGE_NOTICE",
            str(user.email),
            user=user,
            username=username,
            old_username=old_username,
        )
    await ctx.signal(signals.username_changed, user=user, old_username=old_username)
    return str(old_username) if old_username is not None else ""
