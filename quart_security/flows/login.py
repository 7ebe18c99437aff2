"""Password login: the identity and the password (the first factor), and the record of a login.

Every attempt costs exactly one password verification, whether or not the
identity exists, so response time does not tell accounts apart
(reference/security.md A-01.3). The account rules come after the password,
as in Flask-Security, in the authentication pipeline (authentication.py);
``login_failure`` turns either kind of refusal into the answer. With
RETURN_GENERIC_RESPONSES (our default) every failure, a disabled or an
unconfirmed account included, is the same generic error, so a correct
password is never confirmed to someone who cannot sign in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SecurityError

if TYPE_CHECKING:
    from .authentication import ConfigReader
    from .context import FlowContext

#: Answered with GENERIC_AUTHN_FAILED when RETURN_GENERIC_RESPONSES is on.
GENERIC_FAILURES = frozenset(
    {"USER_DOES_NOT_EXIST", "INVALID_PASSWORD", "DISABLED_ACCOUNT", "CONFIRMATION_REQUIRED"}
)


async def authenticate_password(
    ctx: FlowContext, identity_field: str, identity: str, password: str
) -> Any:
    """The user whose identity and password these are, or SecurityError.

    Only the first factor: whether that user may sign in now is the
    pipeline's question (``web.login_session.sign_in``).
    """
    user = await ctx.identity.lookup(ctx.store, identity)
    # The account's budget and lockout come before the hash, and answer the
    # same for a right and a wrong password (and for an unknown identity).
    await ctx.attempts.before("password", user, identity)
    ok = await ctx.verify_password(user, password)
    if user is None or not ok:
        await ctx.attempts.failed("password", user, identity)
    if user is None:
        raise login_failure(ctx.config, "USER_DOES_NOT_EXIST", identity_field)
    if not ok:
        raise login_failure(ctx.config, "INVALID_PASSWORD", "password")
    return user


def login_failure(cv: ConfigReader, key: str, field: str) -> SecurityError:
    """The error a sign-in answers with: generic when RETURN_GENERIC_RESPONSES is on."""
    if cv("RETURN_GENERIC_RESPONSES") and key in GENERIC_FAILURES:
        return SecurityError("GENERIC_AUTHN_FAILED", field="")
    return SecurityError(key, field=field)


async def record_login(ctx: FlowContext, user: Any, remote_addr: str | None) -> None:
    """TRACKABLE: Flask-Security's login-tracking fields, from the injectable clock."""
    now = ctx.now()
    previous_at = getattr(user, "current_login_at", None)
    previous_ip = getattr(user, "current_login_ip", None)
    user.last_login_at = previous_at or now
    user.current_login_at = now
    user.last_login_ip = previous_ip or remote_addr
    user.current_login_ip = remote_addr
    user.login_count = (getattr(user, "login_count", None) or 0) + 1
    await ctx.store.put(user)
