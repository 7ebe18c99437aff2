"""Email: rendered in the request after the view succeeded, delivered after the commit.

Flask-Security sends mail synchronously inside the request, so a slow SMTP
server slows every registration, a mail about a change that then rolls back
still goes out, and, since only real accounts get mail, the answer's timing
tells which addresses have accounts. Here a flow only puts an intent in the
request's outbox (outbox.py). When the view has succeeded, the web lifecycle
renders the intents (``render_all``: template errors are still the request's
errors, and a stand-in mail for an unknown account costs the same), commits
the unit of work, and then hands the messages over (``hand_over``): to the
delivery queue (mail_queue.py: a bounded queue, one consumer off the request
path, on Quart and flask_compat alike), or, only with
SECURITY_SEND_MAIL_INLINE, delivered inside the request, which brings the
timing difference back.

Delivery failures, and mails dropped because the queue is full, are logged
and signalled (``mail_send_failed``), never raised into a response. Log lines
above DEBUG name the mail (template, Message-ID), never its recipient: an
address is personal data, and a list of failed deliveries would be a list of
accounts; SMTP errors that echo the address are redacted. The recipient and
the full error are logged at DEBUG.

Links in mails are built by the flows' link builder (web/flow_context.py)
from configured settings, never from the request's Host header.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formataddr, getaddresses, make_msgid
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import aiosmtplib

from . import signals
from .mail_queue import LoopMailQueue, MailQueue, MailQueueFull
from .outbox import MAIL_TEMPLATE_DIR, MailIntent

if TYPE_CHECKING:
    from .extension import Security

#: Renders one template with a context: the framework's render_template.
Renderer = Callable[..., Awaitable[str]]

log = logging.getLogger("quart_security.mail")


def _address(value: Any) -> str:
    """A sender may be "addr" or (name, addr), as in Flask-Mail."""
    if isinstance(value, tuple | list) and len(value) == 2:
        return formataddr((str(value[0]), str(value[1])))
    return str(value)


def _no_header_injection(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} must not contain line breaks")
    return value


class SecurityMessage(EmailMessage):
    """A built mail that remembers its parts, for an app's ``MailUtil.send_mail``.

    Class-level defaults only: EmailMessage builds its MIME sub-parts as
    ``type(self)(policy=...)``.
    """

    template: str = ""
    subject: str = ""
    recipient: str = ""
    sender: Any = None
    text: str | None = None
    html: str | None = None
    context: Mapping[str, Any] = MappingProxyType({})


def describe(message: EmailMessage) -> str:
    """How log lines above DEBUG name a mail: its template (else subject) and Message-ID."""
    name = getattr(message, "template", "") or str(message.get("Subject", ""))
    return f"{name!r} {message.get('Message-ID', '')}".strip()


def redact(text: str, message: EmailMessage) -> str:
    """``text`` without the mail's recipient addresses (SMTP errors echo them)."""
    for _, address in getaddresses([str(message.get("To", ""))]):
        if address:
            text = re.sub(re.escape(address), "<recipient>", text, flags=re.IGNORECASE)
    return text


class Mailer:
    """Renders the library's mail intents, hands them to delivery, delivers one over SMTP."""

    def __init__(self, security: Security) -> None:
        self.security = security
        #: Where committed mail waits for delivery. This default suits an app
        #: whose event loop outlives its requests; each adapter installs its
        #: own (web/quart_adapter.py, flask_compat/adapter.py).
        self.queue: MailQueue = LoopMailQueue(self.deliver, security.cv("MAIL_QUEUE_SIZE"))

    # ------------------------------------------------------------------ rendering
    async def render(self, intent: MailIntent, render_template: Renderer) -> SecurityMessage:
        """The message for one intent, its subject translated in the current locale."""
        security = self.security
        subject = security.gettext(intent.subject)
        message = SecurityMessage()
        message["Subject"] = _no_header_injection(subject, "subject")
        message["From"] = _address(security.cv("EMAIL_SENDER"))
        message["To"] = _no_header_injection(str(intent.recipient), "recipient")
        message["Message-ID"] = make_msgid(domain="quart-security")
        context = dict(intent.context)
        context.setdefault("security", security)
        context.setdefault("_fsdomain", security.gettext)
        text = html = None
        template = intent.template
        if security.cv("EMAIL_PLAINTEXT"):
            text = await render_template(f"{MAIL_TEMPLATE_DIR}{template}.txt", **context)
        if security.cv("EMAIL_HTML"):
            html = await render_template(f"{MAIL_TEMPLATE_DIR}{template}.html", **context)
        message.set_content(text or "")
        if html:
            message.add_alternative(html, subtype="html")
        message.template, message.subject, message.recipient = template, subject, intent.recipient
        message.sender, message.text, message.html = security.cv("EMAIL_SENDER"), text, html
        message.context = context
        return message

    async def render_all(
        self, intents: list[MailIntent], render_template: Renderer
    ) -> list[SecurityMessage]:
        """Render every intent in order; only those to deliver are returned.

        An intent that is not to be delivered (the stand-in of an unknown
        account) is rendered all the same, so both cost the same work; an app
        template that fails on it is not allowed to turn "no such account"
        into an error the real branch never gives.
        """
        messages: list[SecurityMessage] = []
        for intent in intents:
            if intent.deliver:
                messages.append(await self.render(intent, render_template))
                continue
            try:
                await self.render(intent, render_template)
            except Exception:  # noqa: S112 - see the docstring
                continue
        return messages

    async def hand_over(self, messages: list[SecurityMessage]) -> None:
        """After the commit: to the delivery queue, or inline with SEND_MAIL_INLINE."""
        if not messages:
            return
        if self.security.cv("SEND_MAIL_INLINE"):
            await self.flush(list(messages))
        else:
            await self.enqueue(list(messages))

    # ------------------------------------------------------------------ delivery
    async def enqueue(self, messages: Sequence[EmailMessage]) -> None:
        """Hand committed messages to the delivery queue (called after the commit).

        Never waits for delivery. A full queue drops the message, with an
        error log line and ``mail_send_failed``, rather than block the
        request or deliver inline, either of which would bring the timing
        difference back.
        """
        for message in messages:
            try:
                self.queue.put_nowait(message)
            except MailQueueFull as exc:
                log.error("mail %s dropped: %s", describe(message), exc)
                await signals.send(
                    signals.mail_send_failed, self.security.app, message=message, error=exc
                )

    async def flush(self, messages: Sequence[EmailMessage]) -> None:
        """Deliver now, in order (SECURITY_SEND_MAIL_INLINE, or code outside a request)."""
        for message in messages:
            await self.deliver(message)

    async def deliver(self, message: EmailMessage) -> None:
        """Deliver one message; a failure is logged and signalled, never raised."""
        try:
            await self._hand_over(message)
        except Exception as exc:  # a mail failure must never break a response
            error = redact(str(exc), message)
            log.warning("delivering mail %s failed: %s", describe(message), error)
            log.debug("mail %s to %s failed", describe(message), message.get("To"), exc_info=True)
            await signals.send(
                signals.mail_send_failed, self.security.app, message=message, error=exc
            )

    async def _hand_over(self, message: EmailMessage) -> None:
        """SMTP, unless the app's MailUtil overrides send_mail (Flask-Security's hook)."""
        from .mail_util import overrides_send_mail

        mail_util: Any = getattr(self.security, "mail_util", None)
        if not isinstance(message, SecurityMessage) or not overrides_send_mail(mail_util):
            await self.smtp_send(message)
            return
        reserved = {"template", "subject", "recipient", "sender", "body", "html"}
        context = {k: v for k, v in message.context.items() if k not in reserved}
        result = mail_util.send_mail(
            message.template,
            message.subject,
            message.recipient,
            message.sender,
            message.text,
            message.html,
            **context,
        )
        if inspect.isawaitable(result):  # Flask-Security subclasses may be sync
            await result

    async def smtp_send(self, message: EmailMessage) -> None:
        """Send one message to MAIL_SERVER with aiosmtplib (Flask-Mail's settings)."""
        cfg = self.security.app_config
        await aiosmtplib.send(
            message,
            hostname=cfg.get("MAIL_SERVER", "localhost"),
            port=int(cfg.get("MAIL_PORT", 25)),
            username=cfg.get("MAIL_USERNAME"),
            password=cfg.get("MAIL_PASSWORD"),
            use_tls=bool(cfg.get("MAIL_USE_SSL", False)),
            start_tls=True if cfg.get("MAIL_USE_TLS") else False,
            timeout=float(cfg.get("MAIL_TIMEOUT", 10)),
        )

    async def drain(self) -> None:
        """Wait until the mail queued so far is delivered (bound it with ``asyncio.timeout``)."""
        await self.queue.drain()

    async def shutdown(self) -> None:
        """Deliver what is queued within the queue's shutdown bound (Quart's after_serving)."""
        await self.queue.shutdown()
