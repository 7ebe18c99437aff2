"""Changing a password: the checks, the write, and what every change triggers.

Used by the /change view (the user proves the current password) and by
``admin_change_password`` (app code and CLI, no proof, no login). Either way
the new hash is stored, fs_uniquifier is rotated so every existing session,
remember cookie and auth token ends, the owner is told by mail at the stored
address (SEND_PASSWORD_CHANGE_EMAIL, R-24) and ``password_changed`` is sent.
Keeping the *current* session logged in is the view's job (it logs the user
in again under the new uniquifier).

As in Flask-Security, a model with ``fs_token_uniquifier`` keeps its auth
tokens across a change (that column exists to decouple them); a reset, which
suggests the old password is known to someone else, rotates it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import signals
from ..crypto.password_policy import password_provided
from ..errors import SecurityError
from .recover import mail_user

if TYPE_CHECKING:
    from ..extension import Security
    from ..web.port import WebPort


async def check_password_change(
    security: Security, user: Any, password: Any, new_password: str
) -> None:
    """Raise SecurityError unless ``user`` may change to ``new_password``.

    With a current password, ``password`` must verify against it (taken as
    typed: no stripping) and the new one must differ; a user without a
    password (passwordless registration) skips both, the view having required
    a fresh authentication instead. The new password must pass the policy.
    """
    if getattr(user, "password", None):
        if not password_provided(password):
            raise SecurityError("PASSWORD_NOT_PROVIDED", field="password")
        if not await security.verify_user_password(user, password):
            raise SecurityError("INVALID_PASSWORD", field="password")
        policy = security.password_policy
        if policy.normalize(password) == policy.normalize(new_password):
            raise SecurityError("PASSWORD_IS_THE_SAME", field="password")
    violations = await security.password_policy.validate(
        new_password, is_register=False, context={"user": user}
    )
    if violations:
        first = violations[0]
        raise SecurityError(first.message_key, field="new_password", **first.kwargs)


async def change_user_password(
    security: Security,
    port: WebPort,
    user: Any,
    new_password: str | None,
    *,
    notify: bool = True,
    deliver_now: bool = False,
) -> None:
    """Store the new password (None removes it) and end every session and token.

    ``deliver_now`` sends the notice at once, for callers outside a request
    (there is no request commit to wait for).
    """
    user.password = await security.passwords.hash(new_password) if new_password else None
    await security.store.put(user)
    await security.store.set_uniquifier(user)
    if notify and security.cv("SEND_PASSWORD_CHANGE_EMAIL"):
        await mail_user(
            security,
            port,
            template_key="EMAIL_TEMPLATE_PASSWORD_CHANGE_NOTICE",
            subject_key="EMAIL_SUBJECT_PASSWORD_CHANGE_NOTICE",
            user=user,
            deliver_now=deliver_now,
        )
    await signals.send(signals.password_changed, security.app, user=user)
