"""A real SMTP server (aiosmtpd) on a free 127.0.0.1 port, keeping what it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class ReceivedMail:
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return str(part.get_content()) if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return str(part.get_content()) if part is not None else ""


class SmtpSink:
    """Start with ``start()``; ``messages`` fills as mails arrive."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def app_settings(self) -> dict[str, Any]:
        return {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": self.port,
            "SECURITY_EXTERNAL_BASE_URL": "https://app.example",
        }

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[ReceivedMail]:
        """The first ``count`` mails, waiting (bounded) for background delivery."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(self.messages) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} mails, got {len(self.messages)}")
            await asyncio.sleep(0.01)
        return self.messages[:count]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
