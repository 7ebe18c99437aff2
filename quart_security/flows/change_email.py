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

``port`` is only handed to the mailer (it renders templates and queues the
message on the request); nothing here reads the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import signals
from ..clock import format_duration, utcnow_naive
from ..config import naive_utcnow
from ..errors import DuplicateIdentityError, SecurityError
from ..identity import validate_email_address
from ..mail import mail_template

if TYPE_CHECKING:
    from ..extension import Security
    from ..web.port import WebPort

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


def now(security: Security) -> datetime:
    """DATETIME_FACTORY, except that the default one follows the injectable clock."""
    factory = security.cv("DATETIME_FACTORY")
    if factory is naive_utcnow:
        return utcnow_naive(security.clock)
    value: datetime = factory()
    return value


def _same_user(a: Any, b: Any) -> bool:
    return str(a.fs_uniquifier) == str(b.fs_uniquifier)


def make_token(security: Security, user: Any, new_email: str) -> str:
    data = [str(user.fs_uniquifier), security.tokens.fingerprint(str(user.email)), new_email]
    return security.tokens.dumps(TOKEN_NAME, data)


async def request_change(security: Security, port: WebPort, user: Any, submitted: Any) -> str:
    """Validate the new address and mail the confirmation link; the canonical address.

    Raises SecurityError (field "email") for a missing or invalid address, for
    the user's own address, and for another account's address when generic
    responses are off.
    """
    new_email, problem = validate_email_address(security, submitted)
    if problem is not None or new_email is None:
        raise SecurityError(problem or "INVALID_EMAIL_ADDRESS", field="email")
    owner = await security.store.find_user(case_insensitive=True, email=new_email)
    if owner is not None:
        # The user's own address reveals nothing: say so, whatever the mode.
        if _same_user(owner, user) or not security.cv("RETURN_GENERIC_RESPONSES"):
            raise SecurityError("EMAIL_ALREADY_ASSOCIATED", field="email", email=new_email)
    token = make_token(security, user, new_email)
    link = security.mailer.external_url(port, "change_email_confirm", token=token)
    within = format_duration(security.cv("CHANGE_EMAIL_WITHIN"))
    template = mail_template(security, "CHANGE_EMAIL_EMAIL_TEMPLATE")
    subject = security.gettext(security.cv("CHANGE_EMAIL_SUBJECT"))
    context = {
        "user": user,
        "link": link,
        "token": token,
        "within": within,
        "_fsdomain": security.gettext,
    }
    if owner is None:
        await security.mailer.send(port, template, subject, new_email, **context)
    else:
        # Taken by another account: send nothing to it, but do the same
        # rendering work so the answer does not come back measurably sooner.
        await security.mailer.build(port, template, subject, new_email, **context)
    await security.mailer.send(
        port,
        NOTICE_TEMPLATE,
        security.gettext(NOTICE_SUBJECT),
        str(user.email),
        user=user,
        new_email=new_email,
        within=within,
        _fsdomain=security.gettext,
    )
    if owner is None:
        await signals.send(
            signals.change_email_instructions_sent,
            security.app,
            user=user,
            new_email=new_email,
            token=token,
        )
    return new_email


async def confirm_change(security: Security, token: Any) -> Confirmed:
    """Check and consume a change-email token.

    Raises SecurityError("CHANGE_EMAIL_EXPIRED") for an expired token and
    SecurityError("API_ERROR") for anything else that is wrong (bad
    signature, stale fingerprint, inactive account, address taken meanwhile,
    lost race): the answer does not say which.
    """
    status, data = security.tokens.loads(
        TOKEN_NAME, token, security.cv("CHANGE_EMAIL_WITHIN").total_seconds()
    )
    if status == "expired":
        raise SecurityError(
            "CHANGE_EMAIL_EXPIRED", within=format_duration(security.cv("CHANGE_EMAIL_WITHIN"))
        )
    invalid = SecurityError("API_ERROR")
    if status != "ok" or not (
        isinstance(data, list) and len(data) == 3 and all(isinstance(v, str) for v in data)
    ):
        raise invalid
    uniquifier, fingerprint, new_email = data
    user = await security.store.find_user(fs_uniquifier=uniquifier)
    if user is None or not user.is_active:
        raise invalid
    old_email = str(user.email)
    if not security.tokens.fingerprint_matches(old_email, fingerprint):
        raise invalid
    if await security.store.find_user(case_insensitive=True, email=new_email) is not None:
        raise invalid
    try:
        won = await security.store.compare_and_set(user, "email", old_email, new_email)
    except DuplicateIdentityError:  # registered by someone else a moment ago
        raise invalid from None
    if not won:
        raise invalid
    user.confirmed_at = now(security)
    await security.store.put(user)
    await security.store.commit()
    await signals.send(signals.change_email_confirmed, security.app, user=user, old_email=old_email)
    return Confirmed(user, old_email, new_email)
