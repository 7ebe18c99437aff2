"""Password login: identity lookup, password check, account rules.

Every attempt costs exactly one password verification, whether or not the
identity exists, so response time does not tell accounts apart
(reference/security.md A-01.3). The account rules (flows/authentication.py)
are checked after the password, as in Flask-Security; with
RETURN_GENERIC_RESPONSES (our default) every failure, a disabled or an
unconfirmed account included, is the same generic error, so a correct
password is never confirmed to someone who cannot sign in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SecurityError
from .authentication import may_authenticate

if TYPE_CHECKING:
    from ..extension import Security

#: Answered with GENERIC_AUTHN_FAILED when RETURN_GENERIC_RESPONSES is on.
GENERIC_FAILURES = frozenset(
    {"USER_DOES_NOT_EXIST", "INVALID_PASSWORD", "DISABLED_ACCOUNT", "CONFIRMATION_REQUIRED"}
)


async def authenticate_password(
    security: Security, identity_field: str, identity: str, password: str
) -> Any:
    """The user these credentials prove, or SecurityError naming the failure."""
    user = await security.identity.lookup(security.store, identity)
    ok = await security.verify_user_password(user, password)
    if user is None:
        raise login_failure(security, "USER_DOES_NOT_EXIST", identity_field)
    if not ok:
        raise login_failure(security, "INVALID_PASSWORD", "password")
    refusal = may_authenticate(security.cv, user)
    if refusal is not None:
        raise login_failure(security, refusal, identity_field)
    return user


def login_failure(security: Security, key: str, field: str) -> SecurityError:
    """The error a sign-in answers with: generic when RETURN_GENERIC_RESPONSES is on."""
    if security.cv("RETURN_GENERIC_RESPONSES") and key in GENERIC_FAILURES:
        return SecurityError("GENERIC_AUTHN_FAILED", field="")
    return SecurityError(key, field=field)
