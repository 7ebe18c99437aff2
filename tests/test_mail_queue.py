"""The delivery queues on their own: order, bound, failures, clean context, drain, fork.

No app and no SMTP server here: a queue takes built messages and a coroutine
function that delivers one, and these tests give it one that records. The
HTTP behaviour (answers never wait for SMTP) is in tests/web/test_mail_delivery.py.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import subprocess
import sys
import textwrap
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest

from quart_security.mail_queue import LoopMailQueue, MailQueueFull, ThreadMailQueue

ROOT = Path(__file__).resolve().parents[1]
request_user: contextvars.ContextVar[str | None] = contextvars.ContextVar("user", default=None)


def mail(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    return message


class Recorder:
    """A deliver function that records subjects, can be held, and fails on "boom"."""

    def __init__(self) -> None:
        self.subjects: list[str] = []
        self.seen_users: list[str | None] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    async def __call__(self, message: EmailMessage) -> None:
        self.started.set()
        await asyncio.to_thread(self.gate.wait, 10)
        self.seen_users.append(request_user.get())
        if message["Subject"] == "boom":
            raise RuntimeError("a mail_send_failed receiver raised")
        self.subjects.append(str(message["Subject"]))


async def started(recorder: Recorder) -> None:
    assert await asyncio.to_thread(recorder.started.wait, 5)


# ---------------------------------------------------------------------- LoopMailQueue (Quart)
async def test_loop_queue_delivers_in_order_and_survives_a_raising_delivery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    queue = LoopMailQueue(recorder, maxsize=10)
    for subject in ("one", "boom", "two"):
        queue.put_nowait(mail(subject))
    await queue.drain()
    assert recorder.subjects == ["one", "two"]
    assert any("raised" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


async def test_loop_queue_is_bounded_and_never_blocks() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = LoopMailQueue(recorder, maxsize=2)
    queue.put_nowait(mail("in flight"))
    await started(recorder)  # the consumer took it: it no longer waits
    queue.put_nowait(mail("waits 1"))
    queue.put_nowait(mail("waits 2"))
    with pytest.raises(MailQueueFull):
        queue.put_nowait(mail("one too many"))
    assert queue.waiting == 2
    recorder.gate.set()
    await queue.drain()
    assert recorder.subjects == ["in flight", "waits 1", "waits 2"]


async def test_loop_consumer_does_not_carry_the_requests_context() -> None:
    recorder = Recorder()
    queue = LoopMailQueue(recorder, maxsize=10)
    request_user.set("ada")  # as a request would have, when its commit queues mail
    queue.put_nowait(mail("one"))
    await queue.drain()
    assert recorder.seen_users == [None]


async def test_loop_shutdown_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = LoopMailQueue(recorder, maxsize=10)
    queue.shutdown_timeout = 0.1
    queue.put_nowait(mail("stuck"))
    queue.put_nowait(mail("behind it"))
    await started(recorder)
    await queue.shutdown()
    recorder.gate.set()
    assert queue.waiting == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("2 mail(s) not delivered" in text for text in errors)


# ---------------------------------------------------------------------- ThreadMailQueue (Flask)
async def test_thread_queue_delivers_in_order_and_survives_a_raising_delivery() -> None:
    recorder = Recorder()
    queue = ThreadMailQueue(recorder, maxsize=10)
    for subject in ("one", "boom", "two"):
        queue.put_nowait(mail(subject))
    await queue.drain()
    assert recorder.subjects == ["one", "two"]
    assert recorder.seen_users == [None, None, None]  # its own thread, its own context
    queue.put_nowait(mail("three"))  # a new worker after the last one retired
    assert await asyncio.to_thread(queue.join, 5)
    assert recorder.subjects == ["one", "two", "three"]


async def test_thread_queue_is_bounded_and_drain_can_be_bounded() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = ThreadMailQueue(recorder, maxsize=1)
    queue.put_nowait(mail("in flight"))
    await started(recorder)
    queue.put_nowait(mail("waits"))
    with pytest.raises(MailQueueFull):
        queue.put_nowait(mail("one too many"))
    assert not await asyncio.to_thread(queue.join, 0.05)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await queue.drain()  # cancelled cleanly: no thread left blocked on it
    recorder.gate.set()
    await queue.drain()
    assert recorder.subjects == ["in flight", "waits"]


FORK_SCRIPT = """
import asyncio, os, sys, threading
from email.message import EmailMessage
from quart_security.mail_queue import ThreadMailQueue

gate, delivered = threading.Event(), []

async def deliver(message):
    if message["Subject"] == "parent 1":
        await asyncio.to_thread(gate.wait, 10)
    delivered.append(message["Subject"])

def mail(subject):
    message = EmailMessage()
    message["Subject"] = subject
    return message

queue = ThreadMailQueue(deliver, 10)
queue.put_nowait(mail("parent 1"))  # the parent's worker holds it
queue.put_nowait(mail("parent 2"))  # and this one waits in the parent's queue
pid = os.fork()
if pid == 0:
    # The child: no worker was copied and the parent's mail is the parent's.
    queue.put_nowait(mail("child"))
    os._exit(0 if queue.join(10) and delivered == ["child"] else 1)
gate.set()
assert queue.join(10)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), delivered)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_thread_queue_starts_afresh_in_a_forked_child() -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FORK_SCRIPT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "0 ['parent 1', 'parent 2']"
