"""Flask-Security's helper functions as plain functions over the async core."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import flask

from quart_security import api as core_api
from quart_security import identity
from quart_security.flows.change_password import change_user_password
from quart_security.state import current_security
from quart_security.web import authn

from .adapter import FlaskPort
from .driver import run_in_request


def login_user(user: Any, remember: bool | None = None, authn_via: list[str] | None = None) -> bool:
    """Log ``user`` in on the current request (no password check: the caller did it)."""
    security = current_security()
    return run_in_request(
        authn.login_user(security, FlaskPort(), user, remember=remember, authn_via=authn_via)
    )


def logout_user() -> None:
    run_in_request(authn.logout_user(current_security(), FlaskPort()))


def hash_password(password: str) -> str:
    """Hash with the configured scheme, in the bounded hashing pool."""
    return run_in_request(core_api.hash_password(password))


def verify_password(password: str, password_hash: str) -> bool:
    return run_in_request(core_api.verify_password(password, password_hash))


def verify_and_update_password(password: str, user: Any) -> bool:
    """Verify against ``user.password``, rehashing a legacy hash on success."""
    return run_in_request(core_api.verify_and_update_password(password, user))


def lookup_identity(value: str) -> Any:
    return run_in_request(identity.lookup_identity(value))


def send_mail(subject: str, recipient: str, template: str, **context: Any) -> None:
    """Flask-Security's send_mail: rendered now; in a request, delivered after its commit
    by the delivery thread (never inside the request unless SEND_MAIL_INLINE); outside
    a request, delivered at once."""
    security, port = current_security(), FlaskPort()
    if flask.has_request_context():
        run_in_request(security.mailer.send(port, template, subject, recipient, **context))
        return

    async def now() -> None:
        message = await security.mailer.build(port, template, subject, recipient, **context)
        await security.mailer.flush([message])

    run_in_request(now())


def admin_change_password(user: Any, new_password: str, notify: bool = True) -> None:
    """Set ``user``'s password from app code or the CLI (see quart_security's docstring)."""
    run_in_request(
        change_user_password(
            current_security(),
            FlaskPort(),
            user,
            new_password,
            notify=notify,
            deliver_now=not flask.has_request_context(),
        )
    )


def url_for_security(endpoint: str, **values: Any) -> str:
    return current_security().url_for_security(FlaskPort(), endpoint, **values)


def check_and_update_authn_fresh(
    within: timedelta, grace: timedelta, method: str | None = None
) -> bool:
    return authn.check_and_update_authn_fresh(
        current_security(), FlaskPort(), within, grace, method
    )
