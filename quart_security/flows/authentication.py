"""Whether a user may be authenticated at all: one rule for every way in.

A password login, a restored session, a remember cookie, an auth token and
HTTP Basic (and, as they are built, passkeys, one-time codes and magic links)
each ask ``may_authenticate`` before a user counts as signed in, so no
mechanism can skip a rule another one enforces (an unconfirmed account served
by Basic while /login refuses it). The answer is a SECURITY_MSG_* key, so the
caller can say why, or say nothing specific (RETURN_GENERIC_RESPONSES).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Reads SECURITY_<key>: ``Security.cv`` or a flow context's config.
ConfigReader = Callable[[str], Any]


def requires_confirmation(cv: ConfigReader, user: Any) -> bool:
    """The account must confirm its email before it may sign in."""
    return bool(
        cv("CONFIRMABLE")
        and not cv("LOGIN_WITHOUT_CONFIRMATION")
        and getattr(user, "confirmed_at", None) is None
    )


def may_authenticate(cv: ConfigReader, user: Any) -> str | None:
    """None when ``user`` may be signed in now, else the message key of the refusal.

    Confirmation is checked before the active flag, in Flask-Security's order.
    """
    if user is None:
        return "USER_DOES_NOT_EXIST"
    if requires_confirmation(cv, user):
        return "CONFIRMATION_REQUIRED"
    if not user.is_active:
        return "DISABLED_ACCOUNT"
    return None
