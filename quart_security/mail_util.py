"""``MailUtil``: Flask-Security's extension point for validating and sending email.

Apps that customise email in Flask-Security subclass ``MailUtil`` and pass
``mail_util_cls=`` to ``Security``; the same works here. What changes is
timing and async-ness:

- ``send_mail`` is a coroutine here, and the default one delivers over SMTP
  with aiosmtplib (the Mailer's transport). A subclass may override it with an
  ``async def`` or, as in Flask-Security, a plain ``def`` (on Quart a plain
  one must not block: it runs on the event loop).
- The library calls ``send_mail`` only after the request's commit, off the
  request path: from the delivery queue's consumer (a task on Quart's loop, a
  delivery thread with its own loop on flask_compat), with the app context
  pushed; inside the request only with SEND_MAIL_INLINE. A plain ``def`` on
  flask_compat runs in that thread, where blocking delays only the next mail.
  The ``**kwargs`` are the template context captured while rendering in the
  request: treat database objects in it as detached.
- ``normalize`` and ``validate`` give the same canonical address the rest of
  the library stores and looks up (quart_security.identity). ``validate``
  does not check deliverability unless EMAIL_VALIDATOR_ARGS asks for it
  (Flask-Security does by default); that check is a blocking DNS query, so an
  async caller should run it with ``asyncio.to_thread``.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from .identity import normalize_email
from .mail import _address, _no_header_injection

if TYPE_CHECKING:
    from .extension import Security


class EmailValidateException(ValueError):
    """An address was refused; ``msg`` is the (translated) message to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.msg = message


class MailUtil:
    """Validate, normalize and send the library's mail (subclass to customise).

    Built once per ``Security`` with the app, as in Flask-Security
    (``MailUtil(app)``); ``MailUtil(security)`` is accepted too.
    """

    _security: Security | None = None

    def __init__(self, app: Any) -> None:
        if hasattr(app, "mailer") and hasattr(app, "cv"):  # given the Security itself
            self._security = app
            self.app = app.app
        else:
            self.app = app

    @property
    def security(self) -> Security:
        if self._security is not None:
            return self._security
        from .state import current_security

        return current_security()

    # ------------------------------------------------------------------ sending
    async def send_mail(
        self,
        template: str,
        subject: str,
        recipient: str | tuple[str, str],
        sender: str | tuple[str, str],
        body: str | None,
        html: str | None,
        **kwargs: Any,
    ) -> None:
        """Deliver one rendered mail over SMTP (MAIL_SERVER, MAIL_PORT, ...).

        ``template`` names why the mail is sent; ``kwargs`` is the context it
        was rendered with. Errors are raised to the caller; when the library
        is the caller (after the commit, off the request path), the Mailer
        logs them and sends ``mail_send_failed``.
        """
        message = EmailMessage()
        message["Subject"] = _no_header_injection(str(subject), "subject")
        message["From"] = _no_header_injection(_address(sender), "sender")
        message["To"] = _no_header_injection(_address(recipient), "recipient")
        message["Message-ID"] = make_msgid(domain="quart-security")
        message.set_content(body or "")
        if html:
            message.add_alternative(html, subtype="html")
        await self.security.mailer.smtp_send(message)

    # ------------------------------------------------------------------ addresses
    def normalize(self, email: str) -> str:
        """The canonical form of an address used as an identity; never a DNS query."""
        args = dict(self._validator_args())
        args["check_deliverability"] = False
        return self._canonical(email, args)

    def validate(self, email: str) -> str:
        """The canonical form of an address mail will be sent to (EMAIL_VALIDATOR_ARGS)."""
        return self._canonical(email, self._validator_args())

    def _validator_args(self) -> dict[str, Any]:
        return dict(self.security.cv("EMAIL_VALIDATOR_ARGS") or {})

    def _canonical(self, email: Any, args: dict[str, Any]) -> str:
        canonical = normalize_email(email, args) if isinstance(email, str) else None
        if canonical is None:
            raise EmailValidateException(self.security.message("INVALID_EMAIL_ADDRESS"))
        return canonical


def overrides_send_mail(mail_util: Any) -> bool:
    """Whether an app's MailUtil sends mail its own way (the Mailer then hands over)."""
    return getattr(type(mail_util), "send_mail", None) is not MailUtil.send_mail


__all__ = ["EmailValidateException", "MailUtil", "overrides_send_mail"]
