"""Mail delivery off the request path: a bounded queue and one consumer, in order.

An answer must never wait on SMTP. The flows render a stand-in mail for an
unknown account, so rendering costs the same for every address; delivery
happens only for real accounts, so a request that waited for it would tell
anyone with a stopwatch which addresses have accounts (and a slow SMTP server
would slow every answer). After the commit, the Mailer hands the built
messages to a queue, and one consumer delivers them, one at a time, in order:

- ``LoopMailQueue`` (Quart): a task on the app's event loop, started when a
  message arrives and finished when the queue is empty; after_serving waits
  for it (bounded by ``shutdown_timeout``).
- ``ThreadMailQueue`` (flask_compat): a Flask thread's loop only runs during a
  request, so one daemon thread with its own event loop delivers instead. It
  is started when a message arrives, ends when the queue is empty, is
  forgotten after ``fork()`` (the parent still delivers what it queued), and
  interpreter exit waits for it (bounded by ``shutdown_timeout``).

At most ``maxsize`` messages wait. Beyond that ``put_nowait`` raises
``MailQueueFull`` at once: blocking the request or delivering inline would
bring the timing difference back, and an unbounded queue would let a flood of
requests (or a dead SMTP server) grow memory without limit.

A queue knows nothing of requests, ports or templates: it takes built
messages and a coroutine function that delivers one (the adapter's, which
also sets up the app context a delivery may need).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import ParamSpec, TypeVar

log = logging.getLogger("quart_security.mail")

P = ParamSpec("P")
T = TypeVar("T")

Deliver = Callable[[EmailMessage], Awaitable[None]]

#: How long shutdown (Quart's after_serving, flask_compat's interpreter exit)
#: waits for queued mail before giving up on it.
SHUTDOWN_TIMEOUT = 10.0


class MailQueueFull(Exception):
    """A mail was refused by the delivery queue: it is full (or shutting down)."""


class MailQueue:
    """What both queues share: the bound, the buffer, and one safe delivery."""

    #: Seconds shutdown waits for queued mail (SHUTDOWN_TIMEOUT unless set).
    shutdown_timeout: float = SHUTDOWN_TIMEOUT

    def __init__(self, deliver: Deliver, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("a mail queue holds at least one message")
        self._deliver = deliver
        self.maxsize = maxsize
        self._waiting: deque[EmailMessage] = deque()

    @property
    def waiting(self) -> int:
        """Messages not yet handed to the consumer (the one in flight is not counted)."""
        return len(self._waiting)

    def put_nowait(self, message: EmailMessage) -> None:
        """Queue ``message`` for delivery, or raise MailQueueFull; never blocks."""
        raise NotImplementedError

    async def drain(self) -> None:
        """Wait until everything queued is delivered (bound it with ``asyncio.timeout``)."""
        raise NotImplementedError

    async def shutdown(self) -> None:
        """Deliver what is queued, within ``shutdown_timeout``; log what is left."""
        raise NotImplementedError

    def _refuse_if_full(self) -> None:
        if len(self._waiting) >= self.maxsize:
            raise MailQueueFull(f"{len(self._waiting)} mails already wait for delivery")

    async def _deliver_one(self, message: EmailMessage) -> None:
        try:
            await self._deliver(message)
        except Exception as exc:  # the consumer must outlive any one mail (a raising receiver...)
            # Above DEBUG, no text the library did not write: an app's error
            # message or traceback may carry the recipient's address.
            log.error(
                "delivering mail %s raised %s (traceback at DEBUG)",
                message.get("Message-ID"),
                type(exc).__name__,
            )
            log.debug("delivering mail %s raised", message.get("Message-ID"), exc_info=True)


class LoopMailQueue(MailQueue):
    """The queue of an app whose event loop outlives its requests (Quart)."""

    def __init__(self, deliver: Deliver, maxsize: int) -> None:
        super().__init__(deliver, maxsize)
        self._consumer: asyncio.Task[None] | None = None

    def put_nowait(self, message: EmailMessage) -> None:
        self._refuse_if_full()
        self._waiting.append(message)
        consumer = self._consumer
        if consumer is None or consumer.done() or consumer.get_loop().is_closed():
            # A context of its own: the consumer outlives the request that
            # started it and must not carry that request's context (user, g).
            self._consumer = asyncio.get_running_loop().create_task(
                self._consume(), name="quart-security-mail", context=contextvars.Context()
            )

    async def _consume(self) -> None:
        # No await between the emptiness check and returning, so put_nowait
        # sees either a consumer that will look again or a finished one.
        while self._waiting:
            await self._deliver_one(self._waiting.popleft())

    async def drain(self) -> None:
        while (consumer := self._consumer) is not None and not consumer.done():
            if consumer.get_loop() is not asyncio.get_running_loop():
                raise RuntimeError("this mail queue's consumer runs on another event loop")
            await asyncio.wait({consumer})  # waits without cancelling it

    async def shutdown(self) -> None:
        try:
            async with asyncio.timeout(self.shutdown_timeout):
                await self.drain()
            return
        except TimeoutError:
            pass
        consumer = self._consumer
        lost = len(self._waiting) + (0 if consumer is None or consumer.done() else 1)
        self._waiting.clear()
        log.error(
            "shutdown: %d mail(s) not delivered within %s s, dropped", lost, self.shutdown_timeout
        )
        if consumer is not None and consumer.get_loop() is asyncio.get_running_loop():
            await _cancel(consumer)


async def _cancel(task: asyncio.Task[None], attempts: int = 10) -> None:
    """Cancel ``task``, again while it winds down: a cancelled aiosmtplib send still
    sends QUIT and waits (up to MAIL_TIMEOUT) for the answer of a stuck server."""
    for _ in range(attempts):
        if task.done():
            return
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)


class ThreadMailQueue(MailQueue):
    """The queue of an app whose event loops end with each request (flask_compat)."""

    def __init__(self, deliver: Deliver, maxsize: int) -> None:
        super().__init__(deliver, maxsize)
        self._reset()
        _thread_queues.add(self)

    def _reset(self) -> None:
        self._lock = threading.Condition()
        self._waiting.clear()
        self._worker: threading.Thread | None = None
        #: Coroutines awaiting ``drain``, each woken on its own loop.
        self._drainers: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def put_nowait(self, message: EmailMessage) -> None:
        with self._lock:
            self._refuse_if_full()
            self._waiting.append(message)
            if self._worker is not None:
                return
            worker = threading.Thread(target=self._run, name="quart-security-mail", daemon=True)
            try:
                worker.start()
            except RuntimeError as exc:  # "can't create new thread at interpreter shutdown"
                self._waiting.pop()
                raise MailQueueFull(f"no delivery thread: {exc}") from exc
            self._worker = worker

    def _run(self) -> None:
        loop: asyncio.AbstractEventLoop | None = None
        try:
            loop = asyncio.new_event_loop()
            loop.set_default_executor(_InlineExecutor())
            while (message := self._next()) is not None:
                loop.run_until_complete(self._deliver_one(message))
        finally:
            with self._lock:
                if self._worker is threading.current_thread():  # died of an exception
                    self._worker = None
                    self._wake_drainers()
            if loop is not None:
                loop.close()

    def _next(self) -> EmailMessage | None:
        """The next message; or, in the same step, retire the worker when there is none."""
        with self._lock:
            if self._waiting:
                return self._waiting.popleft()
            self._worker = None
            self._wake_drainers()
            return None

    def _idle(self) -> bool:
        return self._worker is None and not self._waiting

    def _wake_drainers(self) -> None:
        """Wake ``join`` and ``drain`` callers (with the lock held)."""
        self._lock.notify_all()
        for loop, waiter in self._drainers:
            try:
                loop.call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:  # that loop is closed: nobody waits there any more
                pass
        self._drainers.clear()

    def join(self, timeout: float | None = None) -> bool:
        """Block until everything queued is delivered; False if ``timeout`` ran out first."""
        with self._lock:
            if self._worker is threading.current_thread():
                raise RuntimeError("a mail delivery cannot wait for the queue it is part of")
            return self._lock.wait_for(self._idle, timeout)

    async def drain(self) -> None:
        # Awaited on the caller's loop, not in a thread blocked on ``join``,
        # so a cancelled drain (``asyncio.timeout``) leaves nothing behind.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._idle():
                return
            self._drainers.append((loop, waiter))
        try:
            await waiter
        finally:
            with self._lock:
                if (loop, waiter) in self._drainers:
                    self._drainers.remove((loop, waiter))

    async def shutdown(self) -> None:
        await asyncio.to_thread(self.shutdown_at_exit)

    def shutdown_at_exit(self) -> None:
        """``shutdown`` for interpreter exit, which has no event loop: blocks."""
        if self.join(self.shutdown_timeout):
            return
        with self._lock:
            lost = len(self._waiting) + (0 if self._worker is None else 1)
        log.error("exit: %d mail(s) not delivered within %s s, lost", lost, self.shutdown_timeout)

    def _after_fork_in_child(self) -> None:
        # The parent's worker is not copied, its lock may be held, and what it
        # queued is still the parent's to deliver: the child starts empty.
        self._reset()


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """The delivery thread's executor: runs a blocking call at once, on that thread.

    The thread delivers one mail at a time, so blocking it for a DNS lookup
    (``loop.getaddrinfo``) or a ``to_thread`` costs nothing; and unlike a
    thread pool, which refuses new work once the interpreter starts exiting,
    it still works while exit waits for the queue. (A ThreadPoolExecutor only
    because asyncio accepts nothing else as a loop's default; it never starts
    a thread.)
    """

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


_thread_queues: weakref.WeakSet[ThreadMailQueue] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for queue in list(_thread_queues):
        queue._after_fork_in_child()


def _shutdown_thread_queues() -> None:
    for queue in list(_thread_queues):
        queue.shutdown_at_exit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
# Registered after logging's own atexit hook, so it runs before logging shuts down.
atexit.register(_shutdown_thread_queues)


__all__ = [
    "SHUTDOWN_TIMEOUT",
    "LoopMailQueue",
    "MailQueue",
    "MailQueueFull",
    "ThreadMailQueue",
]
