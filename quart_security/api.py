"""Flask-Security's helper functions, as coroutines for Quart apps."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import quart

from .state import current_security
from .web import app_api, authn, login_session, urls
from .web.quart_adapter import QuartPort

log = logging.getLogger("quart_security")


async def login_user(
    user: Any, remember: bool | None = None, authn_via: list[str] | None = None
) -> bool:
    """Log ``user`` in on the current request (no password check: the caller did it)."""
    return await login_session.login_user(
        current_security(), QuartPort(), user, remember=remember, authn_via=authn_via
    )


async def logout_user() -> None:
    await login_session.logout_user(current_security(), QuartPort())


async def hash_password(password: str) -> str:
    """Hash with the configured scheme, in the bounded hashing pool."""
    return await current_security().passwords.hash(password)


async def verify_password(password: str, password_hash: str) -> bool:
    return await current_security().passwords.verify(password, password_hash)


async def verify_and_update_password(password: str, user: Any) -> bool:
    """Verify against ``user.password``, rehashing a legacy hash on success."""
    return await app_api.verify_and_update_password(current_security(), QuartPort(), password, user)


async def send_mail(subject: str, recipient: str, template: str, **context: Any) -> None:
    """Flask-Security's send_mail: render ``security/email/<template>.txt/.html`` now.

    In a request the mail is delivered after the request commits, off the
    request path (the delivery queue; inside the request only with
    SEND_MAIL_INLINE), so the answer never waits for SMTP. Outside a request
    (a script, the CLI) it is delivered at once, before this returns.
    """
    await app_api.send_mail(
        current_security(),
        QuartPort(),
        quart.has_request_context(),
        subject,
        recipient,
        template,
        **context,
    )


async def admin_change_password(user: Any, new_password: str, notify: bool = True) -> None:
    """Set ``user``'s password from app code or the CLI (no old password, no login).

    Every session, remember cookie and auth token of the user ends (the
    fs_uniquifier is rotated); with ``notify`` and SEND_PASSWORD_CHANGE_EMAIL
    the user gets the change_notice mail; ``password_changed`` is sent. As in
    Flask-Security the password is not run through the policy and the caller
    commits. Inside a request the mail waits for the request's commit and
    is then delivered off the request path; outside one (CLI, a script in an
    app context) it is delivered at once.
    """
    await app_api.admin_change_password(
        current_security(), QuartPort(), quart.has_request_context(), user, new_password, notify
    )


def url_for_security(endpoint: str, **values: Any) -> str:
    return urls.url_for_security(current_security(), QuartPort(), endpoint, **values)


def check_and_update_authn_fresh(
    within: timedelta, grace: timedelta, method: str | None = None
) -> bool:
    return authn.check_and_update_authn_fresh(
        current_security(), QuartPort(), within, grace, method
    )


def get_url(endpoint_or_url: str, qparams: dict[str, str] | None = None) -> str:
    """The URL of an endpoint, or ``endpoint_or_url`` taken as a URL (Flask-Security's).

    A URL outside the app gets REDIRECT_HOST as its host when that is set.
    """
    return urls.get_url(current_security(), QuartPort(), endpoint_or_url, qparams)


def get_request_attr(name: str) -> Any:
    """``fs_authn_via`` / ``fs_paa`` of this request, as Flask-Security's get_request_attr.

    Sync, like ``current_user``: it reads what the request already resolved.
    """
    return authn.request_attr(current_security(), QuartPort(), name)


async def send_tf_token(security: Any, user: Any, method: str, **kwargs: Any) -> str | None:
    """``UserMixin.tf_send_security_token`` on Quart: None, or the error text."""
    try:
        await app_api.tf_send_security_token(
            security, QuartPort(), quart.has_request_context(), user, method, **kwargs
        )
    except Exception:
        log.exception("a two-factor code could not be sent")
        return str(security.message("FAILED_TO_SEND_CODE"))
    return None
