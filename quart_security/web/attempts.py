"""The account budgets and lockout of one request (FlowContext.attempts), and
the refusals every budget answers with.

A refusal is TooManyRequests (429, Retry-After) and a ``rate_limit_exceeded``
signal; the first wrong password that locks an account mails its owner
(LOCKOUT_NOTIFY) and sends ``user_locked_out``. That mail and the counts ride
on an error answer, so the request's unit of work is committed anyway
(``commit_on_error``: nothing else is written on a refused path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import signals
from ..clock import format_duration
from ..errors import TooManyRequests
from ..outbox import MailIntent, template_name
from ..state import request_state
from ..throttle import Refusal, account_key
from .client import client_key

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort


async def refuse(security: Security, port: WebPort, refusal: Refusal, user: Any = None) -> None:
    """Tell the app (``rate_limit_exceeded``), then raise the 429."""
    await signals.send(
        signals.rate_limit_exceeded,
        security.app,
        action=refusal.action,
        scope=refusal.scope,
        client=client_key(security, port),
        user=user,
    )
    raise TooManyRequests(refusal.retry_after)


class RequestAttempts:
    """``AttemptGuard`` for one request (flows/context.py)."""

    def __init__(self, security: Security, port: WebPort) -> None:
        self._security = security
        self._port = port

    async def before(
        self, budget: str, user: Any, identity: Any = None, *, count: bool = True
    ) -> None:
        security = self._security
        account = account_key(security.identity, user, identity)
        refusal = await security.throttle.account_attempt(budget, account, count=count)
        if refusal is not None:
            await refuse(security, self._port, refusal, user)

    async def failed(
        self, budget: str, user: Any, identity: Any = None, *, counted: bool = True
    ) -> None:
        security = self._security
        account = account_key(security.identity, user, identity)
        if not await security.throttle.account_failure(budget, account, counted=counted):
            return
        if user is None:
            return  # an unknown identity is paused the same way; nobody to tell
        await signals.send(signals.user_locked_out, security.app, user=user)
        email = getattr(user, "email", None)
        if security.throttle.notify and email:
            within = security.cv("LOCKOUT_WITHIN")
            request_state(self._port.g).outbox.add(
                MailIntent(
                    template_name(security.cv("LOCKOUT_EMAIL_TEMPLATE")),
                    str(security.cv("EMAIL_SUBJECT_LOCKOUT")),
                    str(email),
                    {"user": user, "within": format_duration(within)},
                )
            )
            request_state(self._port.g).commit_on_error = True


async def client_attempt(security: Security, port: WebPort, action: str) -> None:
    """Count this request against ``action``'s per-client budget; 429 when over."""
    refusal = await security.throttle.client_attempt(action, client_key(security, port))
    if refusal is not None:
        await refuse(security, port, refusal)
