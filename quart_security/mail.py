"""Email: rendered during the request, delivered after the commit, never inside it.

Flask-Security sends mail synchronously inside the request, so a slow SMTP
server slows every registration, a mail about a change that then rolls back
still goes out, and, since only real accounts get mail, the answer's timing
tells which addresses have accounts. Here a flow calls
``await security.mailer.send(...)``, which renders the templates at once (so
template errors surface in the request, and a stand-in mail for an unknown
account costs the same) and queues the message on the request. After a
successful commit the web lifecycle hands the queue to ``enqueue``, which puts
each message on the delivery queue (mail_queue.py: a bounded queue, one
consumer off the request path, on Quart and flask_compat alike). Only with
SECURITY_SEND_MAIL_INLINE is mail delivered inside the request (``flush``),
which brings the timing difference back.

Delivery failures, and mails dropped because the queue is full, are logged
and signalled (``mail_send_failed``), never raised into a response. Log lines
above DEBUG name the mail (template, Message-ID), never its recipient: an
address is personal data, and a list of failed deliveries would be a list of
accounts; SMTP errors that echo the address are redacted. The recipient and
the full error are logged at DEBUG.

Links in mails are absolute URLs built from configured settings
(SECURITY_EXTERNAL_BASE_URL, else PREFERRED_URL_SCHEME + SERVER_NAME), never
from the request's Host header (host-header poisoning of reset links).
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, getaddresses, make_msgid
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import aiosmtplib

from . import signals
from .errors import ConfigurationError
from .mail_queue import LoopMailQueue, MailQueue, MailQueueFull
from .state import request_state

if TYPE_CHECKING:
    from .extension import Security
    from .web.port import WebPort

log = logging.getLogger("quart_security.mail")


MAIL_TEMPLATE_DIR = "security/email/"


def mail_template(security: Security, key: str) -> str:
    """The mailer's name (under security/email/) for a 5.9 ``*_TEMPLATE`` path setting."""
    return str(security.cv(key)).removeprefix(MAIL_TEMPLATE_DIR)


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
    """Builds the library's mails, hands them to delivery, and delivers one over aiosmtplib."""

    def __init__(self, security: Security) -> None:
        self.security = security
        #: Where committed mail waits for delivery. This default suits an app
        #: whose event loop outlives its requests; each adapter installs its
        #: own (web/quart_adapter.py, flask_compat/adapter.py).
        self.queue: MailQueue = LoopMailQueue(self.deliver, security.cv("MAIL_QUEUE_SIZE"))

    # ------------------------------------------------------------------ links
    def external_base(self) -> str:
        cfg = self.security.app_config
        base = self.security.cv("EXTERNAL_BASE_URL")
        if base:
            return str(base).rstrip("/")
        server_name = cfg.get("SERVER_NAME")
        if server_name:
            return f"{cfg.get('PREFERRED_URL_SCHEME', 'http')}://{server_name}"
        raise ConfigurationError(
            "mails with links need SECURITY_EXTERNAL_BASE_URL (or SERVER_NAME): links "
            "are never built from the request's Host header"
        )

    def external_url(self, port: WebPort, endpoint: str, **values: Any) -> str:
        """Absolute URL of a security endpoint for a mail (``endpoint`` as in url_for_security)."""
        path = self.security.url_for_security(port, endpoint, **values)
        return self.external_base() + path

    # ------------------------------------------------------------------ building
    async def build(
        self,
        port: WebPort,
        template: str,
        subject: str,
        recipient: str,
        **context: Any,
    ) -> EmailMessage:
        security = self.security
        message = SecurityMessage()
        message["Subject"] = _no_header_injection(subject, "subject")
        message["From"] = _address(security.cv("EMAIL_SENDER"))
        message["To"] = _no_header_injection(str(recipient), "recipient")
        message["Message-ID"] = make_msgid(domain="quart-security")
        context.setdefault("security", security)
        context.setdefault("_fsdomain", security.gettext)
        text = html = None
        if security.cv("EMAIL_PLAINTEXT"):
            text = await port.render_template(f"{MAIL_TEMPLATE_DIR}{template}.txt", **context)
        if security.cv("EMAIL_HTML"):
            html = await port.render_template(f"{MAIL_TEMPLATE_DIR}{template}.html", **context)
        message.set_content(text or "")
        if html:
            message.add_alternative(html, subtype="html")
        message.template, message.subject, message.recipient = template, subject, str(recipient)
        message.sender, message.text, message.html = security.cv("EMAIL_SENDER"), text, html
        message.context = context
        return message

    async def send(
        self,
        port: WebPort,
        template: str,
        subject: str,
        recipient: str,
        **context: Any,
    ) -> None:
        """Render now; deliver after the request commits (queued on the request)."""
        message = await self.build(port, template, subject, recipient, **context)
        request_state(port.g).pending_mail.append(message)

    # ------------------------------------------------------------------ delivery
    async def enqueue(self, messages: list[EmailMessage]) -> None:
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

    async def flush(self, messages: list[EmailMessage]) -> None:
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
