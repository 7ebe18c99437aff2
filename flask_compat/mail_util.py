"""``flask_security.mail_util`` for Flask apps: the core's MailUtil (re-exports only)."""

from __future__ import annotations

from quart_security.mail_util import EmailValidateException, MailUtil

__all__ = ["EmailValidateException", "MailUtil"]
