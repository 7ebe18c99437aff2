"""Flask-Security's signals (blinker), sendable to sync and async receivers.

Names and keyword arguments match Flask-Security 5.9; the sender is the app.
Receivers may be plain functions or coroutine functions: ``send`` awaits the
latter and calls the former directly (they are expected to be quick).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from blinker import Namespace, Signal

signals = Namespace()

user_authenticated = signals.signal("user-authenticated")
user_unauthenticated = signals.signal("user-unauthenticated")
user_failed_authn = signals.signal("user-failed-authn")
user_registered = signals.signal("user-registered")
user_not_registered = signals.signal("user-not-registered")
user_confirmed = signals.signal("user-confirmed")
confirm_instructions_sent = signals.signal("confirm-instructions-sent")
login_instructions_sent = signals.signal("login-instructions-sent")
password_reset = signals.signal("password-reset")
password_changed = signals.signal("password-changed")
reset_password_instructions_sent = signals.signal("password-reset-instructions-sent")
tf_code_confirmed = signals.signal("tf-code-confirmed")
tf_profile_changed = signals.signal("tf-profile-changed")
tf_security_token_sent = signals.signal("tf-security-token-sent")
tf_disabled = signals.signal("tf-disabled")
us_security_token_sent = signals.signal("us-security-token-sent")
us_profile_changed = signals.signal("us-profile-changed")
wan_registered = signals.signal("wan-registered")
wan_deleted = signals.signal("wan-deleted")
change_email_instructions_sent = signals.signal("change-email-instructions-sent")
change_email_confirmed = signals.signal("change-email")
username_recovery_email_sent = signals.signal("username-recovery-email-sent")
username_changed = signals.signal("username-changed")
refresh_tracker_created = signals.signal("refresh-tracker-created")
refresh_tracker_revoked = signals.signal("refresh-tracker-revoked")
#: quart-flask-security addition: a queued mail could not be delivered.
mail_send_failed = signals.signal("mail-send-failed")
#: quart-flask-security additions (docs/security.md): a request refused by a rate
#: limit (``action``, ``scope`` "client"/"identity"/"mail", ``client``, ``user`` or
#: None), and an account whose sign-in is paused after repeated failures.
rate_limit_exceeded = signals.signal("rate-limit-exceeded")
user_locked_out = signals.signal("user-locked-out")


def _sync_wrapper(fn: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return call


async def send(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send to every receiver, awaiting async ones; receiver errors propagate.

    Propagating is deliberate: a receiver that rejects a login by raising must
    abort it (reference/security.md C-33), never be silently skipped.
    """
    await signal.send_async(sender, _sync_wrapper=_sync_wrapper, **kwargs)
