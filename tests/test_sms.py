"""quart_security/sms.py: the sender registry and the one call the library makes.

No SMS gateway can be reached from here, so what is tested is the interface:
the factory, the built-in senders, and ``send_sms`` driving ``async def`` and
plain ``def`` overrides alike (from a Quart loop and from flask_compat's
per-thread loop).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import flask_compat
import flask_compat.utils
import quart_security
import quart_security.utils
from flask_compat.driver import run
from quart_security import SmsSenderBaseClass, SmsSenderFactory
from quart_security.errors import ConfigurationError
from quart_security.sms import DummySmsSender, RecordingSmsSender, SentSms, send_sms

FROM, TO = "+16502530000", "+442079460018"

#: Set by a test around a send, read by a plain-def sender on its worker thread.
request_marker: contextvars.ContextVar[str] = contextvars.ContextVar("request_marker")


@pytest.fixture
def registry() -> Iterator[dict[str, type[SmsSenderBaseClass]]]:
    """The factory's registry, restored after the test (tests register their own senders)."""
    saved = dict(SmsSenderFactory.senders)
    try:
        yield SmsSenderFactory.senders
    finally:
        SmsSenderFactory.senders.clear()
        SmsSenderFactory.senders.update(saved)


class AsyncGateway(SmsSenderBaseClass):
    """An app's gateway written the quart_security way."""

    sent: list[tuple[str, str, str]] = []

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    async def send_sms(self, from_number: str, to_number: str, msg: str) -> None:
        type(self).sent.append((from_number, to_number, self.prefix + msg))


class SyncGateway(SmsSenderBaseClass):
    """An app's gateway written as for Flask-Security: a plain (blocking) ``def``."""

    sent: list[tuple[str, str, str, str, bool]] = []

    def send_sms(self, from_number: str, to_number: str, msg: str) -> None:  # type: ignore[override]
        on_main = threading.current_thread() is threading.main_thread()
        marker = request_marker.get("unset")
        type(self).sent.append((from_number, to_number, msg, marker, on_main))


class FailingGateway(SmsSenderBaseClass):
    async def send_sms(self, from_number: str, to_number: str, msg: str) -> None:
        raise ConnectionError("gateway down")


# ---------------------------------------------------------------------- the factory
def test_the_built_in_senders_are_registered() -> None:
    assert SmsSenderFactory.senders["Dummy"] is DummySmsSender
    assert SmsSenderFactory.senders["Recording"] is RecordingSmsSender
    assert isinstance(SmsSenderFactory.createSender("Dummy"), DummySmsSender)
    assert "Twilio" not in SmsSenderFactory.senders  # not shipped: see sms.py


@pytest.mark.parametrize("name", ["Twilio", "dummy", "", None, 3])
def test_an_unknown_name_is_a_clear_error(name: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SmsSenderFactory.createSender(name)
    text = str(caught.value)
    assert repr(name) in text and "'Dummy'" in text and "'Recording'" in text
    assert "SmsSenderFactory.senders" in text


def test_a_registered_sender_is_built_with_the_arguments(
    registry: dict[str, type[SmsSenderBaseClass]],
) -> None:
    registry["Mine"] = AsyncGateway
    sender = SmsSenderFactory.createSender("Mine", prefix="[app] ")
    assert isinstance(sender, AsyncGateway) and sender.prefix == "[app] "
    assert SmsSenderFactory.createSender("Mine") is not sender  # a new one each time


def test_the_base_class_cannot_be_used_without_send_sms() -> None:
    class Incomplete(SmsSenderBaseClass):
        pass

    with pytest.raises(TypeError, match="send_sms"):
        Incomplete()  # type: ignore[abstract]


# ---------------------------------------------------------------------- the senders
async def test_dummy_sends_nothing() -> None:
    RecordingSmsSender.clear()
    await send_sms(SmsSenderFactory.createSender("Dummy"), FROM, TO, "code 123456")
    assert list(RecordingSmsSender.messages) == []


async def test_recording_keeps_from_to_and_message_in_order() -> None:
    RecordingSmsSender.clear()
    await send_sms(SmsSenderFactory.createSender("Recording"), FROM, TO, "code 123456")
    await send_sms(SmsSenderFactory.createSender("Recording"), TO, FROM, "code 654321")
    assert list(RecordingSmsSender.messages) == [
        SentSms(FROM, TO, "code 123456"),
        SentSms(TO, FROM, "code 654321"),
    ]
    RecordingSmsSender.clear()
    assert list(RecordingSmsSender.messages) == []


async def test_a_recording_subclass_keeps_its_own_record(
    registry: dict[str, type[SmsSenderBaseClass]],
) -> None:
    class MyTestsSender(RecordingSmsSender):
        pass

    RecordingSmsSender.clear()
    registry["MyTests"] = MyTestsSender
    await send_sms(SmsSenderFactory.createSender("MyTests"), FROM, TO, "mine")
    assert list(MyTestsSender.messages) == [SentSms(FROM, TO, "mine")]
    assert list(RecordingSmsSender.messages) == []


async def test_the_record_is_bounded() -> None:
    class Small(RecordingSmsSender):
        max_messages = 3

    for n in range(5):
        await send_sms(Small(), FROM, TO, f"m{n}")
    assert [m.msg for m in Small.messages] == ["m2", "m3", "m4"]


# -------------------------------------------------------------- send_sms, both kinds
async def test_an_async_sender_is_awaited() -> None:
    AsyncGateway.sent.clear()
    await send_sms(AsyncGateway(), FROM, TO, "hello")
    assert AsyncGateway.sent == [(FROM, TO, "hello")]


async def test_a_sync_sender_runs_on_a_worker_thread_with_the_callers_context() -> None:
    """A Flask-Security-style plain ``def`` (it may block on HTTP) never runs on the loop."""
    SyncGateway.sent.clear()
    token = request_marker.set("request-1")
    try:
        await send_sms(SyncGateway(), FROM, TO, "hello")
    finally:
        request_marker.reset(token)
    assert SyncGateway.sent == [(FROM, TO, "hello", "request-1", False)]


async def test_a_sync_method_returning_an_awaitable_is_awaited() -> None:
    sent: list[str] = []

    class Deferring(SmsSenderBaseClass):
        def send_sms(self, from_number: str, to_number: str, msg: str) -> Any:
            async def later() -> None:
                sent.append(msg)

            return later()

    await send_sms(Deferring(), FROM, TO, "deferred")
    assert sent == ["deferred"]


async def test_the_arguments_go_by_keyword_as_flask_security_passes_them() -> None:
    got: dict[str, str] = {}

    class KeywordOnly(SmsSenderBaseClass):
        async def send_sms(self, *, from_number: str, to_number: str, msg: str) -> None:  # type: ignore[override]
            got.update(from_number=from_number, to_number=to_number, msg=msg)

    await send_sms(KeywordOnly(), FROM, TO, "kw")
    assert got == {"from_number": FROM, "to_number": TO, "msg": "kw"}


async def test_a_gateway_failure_reaches_the_caller() -> None:
    with pytest.raises(ConnectionError, match="gateway down"):
        await send_sms(FailingGateway(), FROM, TO, "lost")


def test_both_kinds_work_from_flask_compats_loop() -> None:
    """A Flask app's flows run the same helper on its thread's own loop."""
    AsyncGateway.sent.clear()
    SyncGateway.sent.clear()
    RecordingSmsSender.clear()
    run(send_sms(SyncGateway(), FROM, TO, "sync"))
    run(send_sms(AsyncGateway(), FROM, TO, "async"))
    run(send_sms(SmsSenderFactory.createSender("Recording"), FROM, TO, "rec"))
    assert [s[:3] for s in SyncGateway.sent] == [(FROM, TO, "sync")]
    assert AsyncGateway.sent == [(FROM, TO, "async")]
    assert list(RecordingSmsSender.messages) == [SentSms(FROM, TO, "rec")]
    RecordingSmsSender.clear()


@pytest.mark.parametrize("package", [quart_security, flask_compat])
def test_the_packages_and_their_utils_export_the_same_classes(package: Any) -> None:
    utils = quart_security.utils if package is quart_security else flask_compat.utils
    assert package.SmsSenderBaseClass is utils.SmsSenderBaseClass is SmsSenderBaseClass
    assert package.SmsSenderFactory is utils.SmsSenderFactory is SmsSenderFactory
