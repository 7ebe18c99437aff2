"""A real SMTP server (aiosmtpd) on a free 127.0.0.1 port, keeping what it receives.

It can also hold every delivery until the test releases it (``hold()`` /
``release()``), which is how tests show that an answer did not wait for SMTP
without timing anything, and refuse chosen recipients (``refuse()``), as a
server answering 550 at RCPT does.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Callable
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


#: A held delivery lets go on its own after this long, so a test of code that
#: (wrongly) waits for SMTP inside the request fails instead of hanging.
HOLD_LIMIT = 10.0


class SmtpSink:
    """Start with ``start()``; ``messages`` fills as mails arrive."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._released = threading.Event()
        self._released.set()
        self._hold_expired = False
        #: Deliveries that reached DATA and wait for ``release()``.
        self.held = 0
        self._refused: set[str] = set()

    # ------------------------------------------------------------------ holding
    def hold(self) -> None:
        """From now on, keep every delivery waiting at DATA until ``release()``."""
        self._hold_expired = False
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    @property
    def holding(self) -> bool:
        """Still holding: released neither by the test nor by HOLD_LIMIT running out."""
        return not self._released.is_set() and not self._hold_expired

    def refuse(self, address: str) -> None:
        """Answer 550 to RCPT TO ``address``."""
        self._refused.add(address)

    # ------------------------------------------------------------------ aiosmtpd hooks
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self._refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self._released.is_set():
            self.held += 1
            try:
                if not await asyncio.to_thread(self._released.wait, HOLD_LIMIT):
                    self._hold_expired = True
                    self._released.set()
            finally:
                self.held -= 1
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self.release()
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

    async def wait_held(self, count: int, seconds: float = 5.0) -> None:
        """Wait (bounded) until ``count`` deliveries are held at DATA."""
        await until(lambda: self.held >= count, seconds, f"{count} held deliveries")


async def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` (a liveness bound, not a timing assert)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"expected {what} within {seconds} s")
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
