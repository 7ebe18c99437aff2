"""Flask-Security's helper functions for app code, written once for both frameworks.

quart_security.api awaits these with a QuartPort; flask_compat.api drives
them on its thread's loop with a FlaskPort. ``in_request`` says whether the
caller is inside a request: there, mail waits for the request's commit (the
lifecycle settles it); outside one (a script, the CLI, in an app context) it
is rendered and delivered before the call returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..flows.change_password import change_user_password
from ..flows.two_factor import send_security_token
from ..outbox import MailIntent, Outbox
from ..state import request_state
from .flow_context import flow_context
from .templates import mail_renderer

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort


def _outbox(port: WebPort, in_request: bool) -> Outbox:
    return request_state(port.g).outbox if in_request else Outbox()


async def _deliver_now(security: Security, port: WebPort, outbox: Outbox) -> None:
    messages = await security.mailer.render_all(outbox.take(), mail_renderer(security, port))
    await security.mailer.flush(messages)


async def send_mail(
    security: Security,
    port: WebPort,
    in_request: bool,
    subject: str,
    recipient: str,
    template: str,
    **context: Any,
) -> None:
    """Flask-Security's send_mail: ``security/email/<template>.txt/.html`` to ``recipient``."""
    outbox = _outbox(port, in_request)
    outbox.add(MailIntent(template, subject, recipient, context))
    if not in_request:
        await _deliver_now(security, port, outbox)


async def verify_and_update_password(
    security: Security, port: WebPort, password: str, user: Any
) -> bool:
    """Verify against ``user.password``, rehashing a legacy hash on success."""
    return await flow_context(security, port, Outbox()).verify_password(user, password)


async def admin_change_password(
    security: Security, port: WebPort, in_request: bool, user: Any, new_password: str, notify: bool
) -> None:
    """Set a password from app code: every session and token of the user ends."""
    outbox = _outbox(port, in_request)
    await change_user_password(
        flow_context(security, port, outbox), user, new_password, notify=notify
    )
    if not in_request:
        await _deliver_now(security, port, outbox)


async def tf_send_security_token(
    security: Security,
    port: WebPort,
    in_request: bool,
    user: Any,
    method: str,
    *,
    totp_secret: str | None = None,
    phone_number: str | None = None,
    **_: Any,
) -> None:
    """``UserMixin.tf_send_security_token``: the user's secret unless another is given."""
    outbox = _outbox(port, in_request)
    secret = totp_secret or getattr(user, "tf_totp_secret", None)
    if not secret:
        raise ValueError("the user has no two-factor secret")
    phone = phone_number or getattr(user, "tf_phone_number", None)
    await send_security_token(flow_context(security, port, outbox), user, method, secret, phone)
    if not in_request:
        await _deliver_now(security, port, outbox)
