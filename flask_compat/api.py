"""Flask-Security's helper functions as plain functions over the async core."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import flask

from quart_security import api as core_api
from quart_security import identity, password_util
from quart_security.state import current_security
from quart_security.web import app_api, authn, login_session, urls

from .adapter import FlaskPort
from .driver import run_in_request

log = logging.getLogger("quart_security")


def login_user(user: Any, remember: bool | None = None, authn_via: list[str] | None = None) -> bool:
    """Log ``user`` in on the current request (no password check: the caller did it)."""
    security = current_security()
    return run_in_request(
        login_session.login_user(
            security, FlaskPort(), user, remember=remember, authn_via=authn_via
        )
    )


def logout_user() -> None:
    run_in_request(login_session.logout_user(current_security(), FlaskPort()))


def hash_password(password: str) -> str:
    """Hash with the configured scheme, in the bounded hashing pool."""
    return run_in_request(core_api.hash_password(password))


def verify_password(password: str, password_hash: str) -> bool:
    return run_in_request(core_api.verify_password(password, password_hash))


def verify_and_update_password(password: str, user: Any) -> bool:
    """Verify against ``user.password``, rehashing a legacy hash on success."""
    return run_in_request(
        app_api.verify_and_update_password(current_security(), FlaskPort(), password, user)
    )


def lookup_identity(value: str) -> Any:
    return run_in_request(identity.lookup_identity(value))


def password_breached_validator(password: str) -> list[str] | None:
    """Flask-Security's breached check, sync (see quart_security's).

    For app code (a view, a script) and for a plain ``def`` PasswordUtil
    override, which the library calls on a worker thread of its own.
    """
    return run_in_request(password_util.password_breached_validator(password))


def pwned(password: str) -> int:
    """The range API's count for ``password``, sync (see quart_security's ``pwned``)."""
    return run_in_request(password_util.pwned(password))


def send_mail(subject: str, recipient: str, template: str, **context: Any) -> None:
    """Flask-Security's send_mail (see quart_security's): in a request, delivered after
    its commit by the delivery thread; outside a request, delivered at once."""
    run_in_request(
        app_api.send_mail(
            current_security(),
            FlaskPort(),
            flask.has_request_context(),
            subject,
            recipient,
            template,
            **context,
        )
    )


def admin_change_password(user: Any, new_password: str, notify: bool = True) -> None:
    """Set ``user``'s password from app code or the CLI (see quart_security's docstring)."""
    run_in_request(
        app_api.admin_change_password(
            current_security(),
            FlaskPort(),
            flask.has_request_context(),
            user,
            new_password,
            notify,
        )
    )


def url_for_security(endpoint: str, **values: Any) -> str:
    return urls.url_for_security(current_security(), FlaskPort(), endpoint, **values)


def check_and_update_authn_fresh(
    within: timedelta, grace: timedelta, method: str | None = None
) -> bool:
    return authn.check_and_update_authn_fresh(
        current_security(), FlaskPort(), within, grace, method
    )


def get_url(endpoint_or_url: str, qparams: dict[str, str] | None = None) -> str:
    """The URL of an endpoint, or ``endpoint_or_url`` taken as a URL (Flask-Security's)."""
    return urls.get_url(current_security(), FlaskPort(), endpoint_or_url, qparams)


def get_request_attr(name: str) -> Any:
    """``fs_authn_via`` / ``fs_paa`` of this request, as Flask-Security's get_request_attr."""
    return authn.request_attr(current_security(), FlaskPort(), name)


def send_tf_token(security: Any, user: Any, method: str, **kwargs: Any) -> str | None:
    """``UserMixin.tf_send_security_token`` on Flask: None, or the error text."""
    try:
        run_in_request(
            app_api.tf_send_security_token(
                security, FlaskPort(), flask.has_request_context(), user, method, **kwargs
            )
        )
    except Exception:
        log.exception("a two-factor code could not be sent")
        return str(security.message("FAILED_TO_SEND_CODE"))
    return None
