"""Password login: identity lookup, password check, account state.

Every attempt costs exactly one password verification, whether or not the
identity exists, so response time does not tell accounts apart
(reference/security.md A-01.3). With RETURN_GENERIC_RESPONSES (our default)
every failure, including a disabled account, is the same generic error, so a
correct password on a disabled account is not confirmed to an attacker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SecurityError

if TYPE_CHECKING:
    from ..extension import Security

GENERIC_FAILURES = frozenset({"USER_DOES_NOT_EXIST", "INVALID_PASSWORD", "DISABLED_ACCOUNT"})


def requires_confirmation(security: Security, user: Any) -> bool:
    return bool(
        security.cv("CONFIRMABLE")
        and not security.cv("LOGIN_WITHOUT_CONFIRMATION")
        and getattr(user, "confirmed_at", None) is None
    )


async def authenticate_password(
    security: Security, identity_field: str, identity: str, password: str
) -> Any:
    """The user these credentials prove, or SecurityError naming the failure."""
    user = await security.identity.lookup(security.store, identity)
    ok = await security.verify_user_password(user, password)
    if user is None:
        raise _failure(security, "USER_DOES_NOT_EXIST", identity_field)
    if not ok:
        raise _failure(security, "INVALID_PASSWORD", "password")
    if requires_confirmation(security, user):
        raise SecurityError("CONFIRMATION_REQUIRED", field=identity_field)
    if not user.is_active:
        raise _failure(security, "DISABLED_ACCOUNT", identity_field)
    return user


def _failure(security: Security, key: str, field: str) -> SecurityError:
    if security.cv("RETURN_GENERIC_RESPONSES") and key in GENERIC_FAILURES:
        return SecurityError("GENERIC_AUTHN_FAILED", field="")
    return SecurityError(key, field=field)
