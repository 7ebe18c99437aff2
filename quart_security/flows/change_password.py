"""Changing a password: the checks, the write, and what every change triggers.

Used by the /change view (the user proves the current password) and by
``admin_change_password`` (app code and CLI, no proof, no login). Either way
the new hash is stored, fs_uniquifier is rotated so every existing session,
remember cookie and auth token ends, the owner is told by mail at the stored
address (SEND_PASSWORD_CHANGE_EMAIL, R-24) and ``password_changed`` is sent.
Keeping the *current* session signed in is the view's job (it signs the user
in again under the new uniquifier, through the authentication pipeline).

As in Flask-Security, a model with ``fs_token_uniquifier`` keeps its auth
tokens across a change (that column exists to decouple them); a reset, which
suggests the old password is known to someone else, rotates it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import signals
from ..crypto.password_policy import password_provided
from ..errors import SecurityError

if TYPE_CHECKING:
    from .context import FlowContext


async def check_password_change(
    ctx: FlowContext, user: Any, password: Any, new_password: str
) -> str:
    """The normalised new password; SecurityError unless ``user`` may change to it.

    With a current password, ``password`` must verify against it (taken as
    typed: no stripping, normalised by the PasswordUtil) and the new one must
    differ once both are normalised; a user without a password (passwordless
    registration) skips both, the view having required a fresh authentication
    instead. The new password must pass the PasswordUtil's ``validate``.
    """
    if getattr(user, "password", None):
        if not password_provided(password):
            raise SecurityError("PASSWORD_NOT_PROVIDED", field="password")
        await ctx.attempts.before("password", user)
        if not await ctx.verify_password(user, password):
            await ctx.attempts.failed("password", user)
            raise SecurityError("INVALID_PASSWORD", field="password")
        if await ctx.normalize_password(password) == await ctx.normalize_password(new_password):
            raise SecurityError("PASSWORD_IS_THE_SAME", field="password")
    return await ctx.check_new_password(new_password, user, "new_password")


async def change_user_password(
    ctx: FlowContext, user: Any, new_password: str | None, *, notify: bool = True
) -> None:
    """Store the new password (None removes it) and end every session and token."""
    user.password = await ctx.passwords.hash(new_password) if new_password else None
    await ctx.store.put(user)
    await ctx.store.set_uniquifier(user)
    if notify and ctx.config("SEND_PASSWORD_CHANGE_EMAIL"):
        ctx.mail(
            "EMAIL_TEMPLATE_PASSWORD_CHANGE_NOTICE",
            "EMAIL_SUBJECT_PASSWORD_CHANGE_NOTICE",
            str(user.email),
            user=user,
        )
    await ctx.signal(signals.password_changed, user=user)
