"""SMS senders: Flask-Security's ``SmsSenderBaseClass`` and ``SmsSenderFactory``.

The library will build a sender by its SMS_SERVICE name for each message,
``SmsSenderFactory.createSender(name)``, and hand it to ``send_sms`` below,
as Flask-Security's two-factor and unified sign-in do. Built for those
coming features: nothing sends an SMS yet, and SMS_SERVICE stays refused
until they exist.

Differences from Flask-Security:

- ``send_sms`` is a coroutine here. A subclass may still write it as a plain
  ``def``, as for Flask-Security (a Flask app's, or one over a blocking HTTP
  client); the library runs a plain one on a worker thread, so it never holds
  up an event loop, and awaits what an ``async def`` returns.
- No Twilio sender is registered (the ``twilio`` package is not a
  dependency, and no gateway can be reached from the tests). A gateway is the
  app's own subclass, registered by name::

      class MyGatewaySender(SmsSenderBaseClass):
          async def send_sms(self, from_number, to_number, msg):
              await my_gateway_client.send(sender=from_number, to=to_number, text=msg)

      SmsSenderFactory.senders["MyGateway"] = MyGatewaySender
      # then SECURITY_SMS_SERVICE = "MyGateway"

- A "Recording" sender keeps what is sent in memory for tests and
  development (Flask-Security has only "Dummy", which drops it).
- An unknown name is a ``ConfigurationError`` naming the registered ones
  (Flask-Security's is a bare ``KeyError``).
"""

from __future__ import annotations

import abc
import asyncio
import inspect
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import ConfigurationError

__all__ = [
    "DummySmsSender",
    "RecordingSmsSender",
    "SentSms",
    "SmsSenderBaseClass",
    "SmsSenderFactory",
    "send_sms",
]


class SmsSenderBaseClass(abc.ABC):
    """An SMS gateway: subclass it, implement ``send_sms``, register it with the factory."""

    @abc.abstractmethod
    async def send_sms(self, from_number: str, to_number: str, msg: str) -> None:
        """Send ``msg`` from ``from_number`` to ``to_number`` (E.164); raise when it fails."""


class DummySmsSender(SmsSenderBaseClass):
    """Flask-Security's "Dummy": accepts every message and sends nothing."""

    async def send_sms(self, from_number: str, to_number: str, msg: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class SentSms:
    """One message a RecordingSmsSender was given."""

    from_number: str
    to_number: str
    msg: str


class RecordingSmsSender(SmsSenderBaseClass):
    """Keeps the messages in memory, for tests and development ("Recording").

    The factory builds a new sender per message, so the record belongs to the
    class: ``RecordingSmsSender.messages``, oldest first, at most
    ``max_messages`` (older ones are dropped, so a misconfigured production
    app cannot grow it without bound). Each subclass gets its own record,
    which lets tests that run side by side register a subclass each.
    """

    max_messages: ClassVar[int] = 1000
    messages: ClassVar[deque[SentSms]] = deque(maxlen=max_messages)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.messages = deque(maxlen=cls.max_messages)

    async def send_sms(self, from_number: str, to_number: str, msg: str) -> None:
        type(self).messages.append(SentSms(from_number, to_number, msg))

    @classmethod
    def clear(cls) -> None:
        """Forget what this class recorded (between tests)."""
        cls.messages.clear()


class SmsSenderFactory:
    """The senders by name (SMS_SERVICE), as in Flask-Security: add yours to ``senders``."""

    senders: ClassVar[dict[str, type[SmsSenderBaseClass]]] = {
        "Dummy": DummySmsSender,
        "Recording": RecordingSmsSender,
    }

    @classmethod
    def createSender(cls, name: str, *args: Any, **kwargs: Any) -> SmsSenderBaseClass:  # noqa: N802
        """A new sender of the class registered as ``name``, built with ``args``/``kwargs``."""
        sender_cls = cls.senders.get(name) if isinstance(name, str) else None
        if sender_cls is None:
            known = ", ".join(repr(key) for key in sorted(cls.senders))
            raise ConfigurationError(
                f"no SMS sender is registered as {name!r} (SMS_SERVICE); registered: {known}."
                " Register a subclass of SmsSenderBaseClass in SmsSenderFactory.senders"
            )
        return sender_cls(*args, **kwargs)


async def send_sms(sender: SmsSenderBaseClass, from_number: str, to_number: str, msg: str) -> None:
    """Send through ``sender`` whether its ``send_sms`` is ``async def`` or a plain ``def``.

    The one call the library makes, by keyword as Flask-Security calls it
    (an override keeps the parameter names). A plain one runs on a worker thread with
    the caller's context variables (it may block on a gateway's HTTP client);
    whatever it returns is awaited only when it is awaitable.
    """
    method = sender.send_sms
    if inspect.iscoroutinefunction(method):
        await method(from_number=from_number, to_number=to_number, msg=msg)
        return
    result: Any = await asyncio.to_thread(
        method, from_number=from_number, to_number=to_number, msg=msg
    )
    if inspect.isawaitable(result):
        await result
