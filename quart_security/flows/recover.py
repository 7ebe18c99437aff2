"""Password recovery: reset links bound to the current password, used once.

A reset token is ``[fs_uniquifier, fingerprint(current password hash)]``
signed by the "reset" serializer (Flask-Security's format, with our keyed
fingerprint in place of ``hash_data``). The fingerprint makes the link die as
soon as the password changes by any path; consuming it is a compare-and-set of
the password column from the hash the token was checked against to the new
hash, so of many parallel uses of one link exactly one wins, and the password
left behind is the winner's.

Asking for a link costs the same whether or not the address belongs to a
usable account: the mail is built (and discarded) for unknown, inactive and
unconfirmed accounts too, so neither the answer nor its timing says which
addresses exist. Mail goes only to the stored address (C-27).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .. import signals
from ..clock import format_duration
from ..datastore.base import new_uniquifier
from ..mail import mail_template
from .authentication import requires_confirmation

if TYPE_CHECKING:
    from ..extension import Security
    from ..web.port import WebPort

TokenStatus = Literal["ok", "expired", "invalid"]


async def mail_user(
    security: Security,
    port: WebPort,
    *,
    template_key: str,
    subject_key: str,
    user: Any,
    deliver_now: bool = False,
    **context: Any,
) -> None:
    """Mail ``user`` at the stored address: queued until the request commits,
    or at once (``deliver_now``) for code that runs outside a request."""
    template = mail_template(security, template_key)
    subject = security.gettext(str(security.cv(subject_key)))
    context = {"user": user, "_fsdomain": security.gettext, **context}
    if deliver_now:
        message = await security.mailer.build(port, template, subject, str(user.email), **context)
        await security.mailer.flush([message])
    else:
        await security.mailer.send(port, template, subject, str(user.email), **context)


# ---------------------------------------------------------------------- forgot
def reset_token_for(security: Security, user: Any) -> str:
    password = getattr(user, "password", None)
    fingerprint = security.tokens.fingerprint(password) if password else None
    return security.tokens.dumps("reset", [str(user.fs_uniquifier), fingerprint])


async def find_reset_candidate(security: Security, email: str) -> tuple[Any, str | None]:
    """(user, None) when ``email`` (canonical) names an account that may reset,
    else (user or None, the SECURITY_MSG_* key Flask-Security would answer)."""
    case_insensitive = next(
        (ci for attr, _, ci in security.identity.attributes if attr == "email"), False
    )
    user = await security.store.find_user(case_insensitive=case_insensitive, email=email)
    if user is None:
        return None, "USER_DOES_NOT_EXIST"
    if not user.is_active:
        return user, "DISABLED_ACCOUNT"
    if requires_confirmation(security.cv, user):
        return user, "CONFIRMATION_REQUIRED"
    return user, None


async def send_reset_instructions(security: Security, port: WebPort, user: Any) -> str:
    """Mail the reset link (SEND_PASSWORD_RESET_EMAIL) and signal; returns the token."""
    token = reset_token_for(security, user)
    if security.cv("SEND_PASSWORD_RESET_EMAIL"):
        link = security.mailer.external_url(port, "reset_password", token=token)
        await mail_user(
            security,
            port,
            template_key="EMAIL_TEMPLATE_PASSWORD_RESET",
            subject_key="EMAIL_SUBJECT_PASSWORD_RESET",
            user=user,
            reset_link=link,
            reset_token=token,
            within=format_duration(security.cv("RESET_PASSWORD_WITHIN")),
        )
    await signals.send(
        signals.reset_password_instructions_sent,
        security.app,
        user=user,
        token=token,
        reset_token=token,
    )
    return token


async def rehearse_reset_instructions(security: Security, port: WebPort, email: str) -> None:
    """The work of ``send_reset_instructions`` for an address that gets no mail.

    Builds the same token, link and message for a stand-in user and drops
    them, so a request for an unknown or disabled account takes as long as
    one for a real account (A-01). Nothing is sent, signalled or stored.
    """
    stand_in = security.store.user_model(
        email=email, fs_uniquifier=new_uniquifier(), password=new_uniquifier()
    )
    token = reset_token_for(security, stand_in)
    if not security.cv("SEND_PASSWORD_RESET_EMAIL"):
        return
    link = security.mailer.external_url(port, "reset_password", token=token)
    try:
        await security.mailer.build(
            port,
            mail_template(security, "EMAIL_TEMPLATE_PASSWORD_RESET"),
            security.gettext(str(security.cv("EMAIL_SUBJECT_PASSWORD_RESET"))),
            email,
            user=stand_in,
            _fsdomain=security.gettext,
            reset_link=link,
            reset_token=token,
            within=format_duration(security.cv("RESET_PASSWORD_WITHIN")),
        )
    except Exception:
        # An app template that needs a stored user must not turn "no such
        # account" into a 500 that the real branch never gives.
        return


# ---------------------------------------------------------------------- reset
async def check_reset_token(security: Security, token: Any) -> tuple[TokenStatus, Any]:
    """('ok', user) for a link that may still reset a password, else (status, None).

    A link is dead once it expires (RESET_PASSWORD_WITHIN), once the password
    it was issued for changes, and for an account that is disabled or needs
    confirmation (C-08). Nothing is written: a GET of the link may run this.
    """
    within = security.cv("RESET_PASSWORD_WITHIN")
    status, data = security.tokens.loads("reset", token, within.total_seconds())
    if status != "ok":
        return status, None  # type: ignore[return-value]
    if not (
        isinstance(data, list)
        and len(data) == 2
        and isinstance(data[0], str)
        and (data[1] is None or isinstance(data[1], str))
    ):
        return "invalid", None
    uniquifier, fingerprint = data
    user = await security.store.find_user(fs_uniquifier=uniquifier)
    if user is None or not user.is_active or requires_confirmation(security.cv, user):
        return "invalid", None
    password = getattr(user, "password", None)
    if password:
        if not security.tokens.fingerprint_matches(password, fingerprint):
            return "invalid", None
    elif fingerprint is not None:
        return "invalid", None
    return "ok", user


async def reset_password(security: Security, port: WebPort, user: Any, new_password: str) -> bool:
    """Consume the link: set the new password, end every session and token.

    ``user`` is what ``check_reset_token`` returned; its password is the hash
    the link was checked against. False when another request used the link
    first (the compare-and-set lost): nothing was changed then.
    """
    expected = getattr(user, "password", None)
    new_hash = await security.passwords.hash(new_password)
    if not await security.store.compare_and_set(user, "password", expected, new_hash):
        return False
    await security.store.set_uniquifier(user)
    if security.has_token_uniquifier:
        # A token uniquifier lets auth tokens survive a password *change*; a
        # reset means the old password may be known to someone else.
        await security.store.set_token_uniquifier(user)
    if security.cv("SEND_PASSWORD_RESET_NOTICE_EMAIL"):
        await mail_user(
            security,
            port,
            template_key="EMAIL_TEMPLATE_PASSWORD_RESET_NOTICE",
            subject_key="EMAIL_SUBJECT_PASSWORD_NOTICE",
            user=user,
        )
    await signals.send(signals.password_reset, security.app, user=user)
    return True
