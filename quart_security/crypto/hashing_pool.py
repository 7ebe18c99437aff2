"""One bounded pool of low-priority threads for all password hashing.

Why not ``asyncio.to_thread``: the default executor lets many 64 MiB argon2
hashes (each with p=4 lane threads) run at once; on a 2-core box that starves
the event loop (measured: p99 ~1 s for unrelated requests during a login
storm). Here at most ``size`` hashes run, at most ``queue_size`` wait, and
anything beyond is refused at once with HashingOverloaded (the web layer
answers 503 + Retry-After) instead of queueing without bound. Worker threads
lower their own scheduling priority (Linux: per-thread nice value, inherited
by libargon2's lane threads) so the loop keeps its share of the CPU.

Fair between clients: the web layer names the client of each call through
the ``hashing_client`` context variable (its address key; None is one shared
bucket for calls of no known client). One client may hold at most
``max(1, floor(client_share * capacity))`` admitted calls; one more is refused
at once with HashingShareExceeded (429), so a single flooding source can never
fill the pool for everyone else. The waiting calls are not served in arrival
order but round robin between clients: a free worker takes the oldest call of
the client with the fewest running calls (ties: the client served longest
ago), so one client's long queue does not sit in front of another's single
call. ``client_share=1.0`` turns the share off (the pool's bound alone, as
before); the order stays round robin, which for one client is plain FIFO.

Nothing here is bound to an event loop: each call carries its own loop and
future, so the pool can serve several loops over its life (flask_compat runs
coroutines on per-thread loops). Threads start lazily on first use, and a
forked child starts from an empty pool.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import math
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Generic, ParamSpec, TypeVar

from quart_security.errors import HashingOverloaded, HashingShareExceeded

__all__ = ["HashingPool", "hashing_client"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_QUEUED = "queued"
_RUNNING = "running"
_WITHDRAWN = "withdrawn"

_pools: weakref.WeakSet[HashingPool] = weakref.WeakSet()

#: The client a hashing call is made for (its address key), set by the web
#: layer around each request; None = no known client (one shared bucket).
hashing_client: ContextVar[str | None] = ContextVar("hashing_client", default=None)


class _Job(Generic[T]):
    """One call: the work, and where to deliver its outcome."""

    __slots__ = ("call", "client", "future", "loop", "seq", "state")

    def __init__(
        self,
        call: Callable[[], T],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[T],
        client: str | None,
        seq: int,
    ) -> None:
        self.call = call
        self.loop = loop
        self.future = future
        self.client = client
        self.seq = seq  # arrival order, to pick the oldest among equals
        self.state = _QUEUED


class _Client:
    """One client's admitted calls; dropped when it has none left."""

    __slots__ = ("admitted", "last_start", "queue", "running")

    def __init__(self) -> None:
        self.admitted = 0
        self.running = 0
        self.last_start = -1  # when it last got a worker (-1: never while known)
        self.queue: deque[_Job[Any]] = deque()


class HashingPool:
    """At most ``size`` concurrent calls, at most ``queue_size`` waiting, never more.

    ``client_share`` (0 < share <= 1) is the fraction of ``capacity`` one
    client (``hashing_client``) may hold; 1.0 means no per-client share.
    ``nice`` is the scheduling niceness the worker threads run at (Linux); a
    process that already runs nicer than that is left alone (a thread never
    raises its own priority). Failure to renice is logged once and tolerated.
    """

    def __init__(
        self,
        size: int,
        queue_size: int,
        nice: int = 10,
        retry_after: int = 1,
        client_share: float = 0.5,
    ) -> None:
        if size < 1:
            raise ValueError("HashingPool size must be at least 1")
        if queue_size < 0:
            raise ValueError("HashingPool queue_size must not be negative")
        if not 0 < client_share <= 1:  # also refuses NaN
            raise ValueError(f"HashingPool client_share must be in (0, 1], not {client_share!r}")
        self._size = size
        self._queue_size = queue_size
        capacity = size + queue_size
        self._share_limit: int | None = (
            None if client_share == 1 else max(1, math.floor(client_share * capacity))
        )
        self._nice = nice
        self._retry_after = retry_after
        self._reset_state()
        _pools.add(self)

    def _reset_state(self) -> None:
        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)
        self._clients: dict[str | None, _Client] = {}
        self._waiting = 0
        self._seq = itertools.count()  # one clock for arrivals and worker starts
        self._threads: list[threading.Thread] = []
        self._admitted = 0  # queued + running: what the bound applies to
        self._running = 0
        self._closed = False
        self._renice_reported = False

    @property
    def size(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        """Calls admitted at most (running + waiting)."""
        return self._size + self._queue_size

    @property
    def client_limit(self) -> int:
        """Calls one client may hold at once (running + waiting)."""
        return self.capacity if self._share_limit is None else self._share_limit

    @property
    def in_flight(self) -> int:
        """Calls admitted and not finished (running + waiting)."""
        with self._lock:
            return self._admitted

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def held_by(self, client: str | None) -> int:
        """Calls of ``client`` admitted and not finished."""
        with self._lock:
            entry = self._clients.get(client)
            return entry.admitted if entry else 0

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` in a worker thread, or refuse it at once.

        Refused with HashingShareExceeded when the current ``hashing_client``
        already holds its share, else with HashingOverloaded when the pool is
        full; the client's share is checked first, so a flooding source hears
        that the refusal is about it.

        If the awaiting task is cancelled while queued, the call is withdrawn
        and its slot freed; if it is already running, it finishes in its
        thread and frees its slot then (its result is dropped).
        """
        loop = asyncio.get_running_loop()
        client = hashing_client.get()
        call = functools.partial(fn, *args, **kwargs)
        with self._lock:
            if self._closed:
                raise RuntimeError("HashingPool has been shut down")
            entry = self._clients.get(client)
            if (
                self._share_limit is not None
                and entry is not None
                and entry.admitted >= self._share_limit
            ):
                raise HashingShareExceeded(retry_after=self._retry_after)
            if self._admitted >= self._size + self._queue_size:
                raise HashingOverloaded(retry_after=self._retry_after)
            if entry is None:
                entry = self._clients[client] = _Client()
            job: _Job[T] = _Job(call, loop, loop.create_future(), client, next(self._seq))
            entry.admitted += 1
            entry.queue.append(job)
            self._admitted += 1
            self._waiting += 1
            self._start_workers()
            self._work_ready.notify()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._withdraw(job)
            raise

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new calls, fail waiting ones, and (if ``wait``) join the workers.

        Running calls finish first, so ``wait=True`` blocks for up to one hash:
        call it off the event loop, or pass ``wait=False``.
        """
        with self._lock:
            self._closed = True
            dropped: list[_Job[Any]] = []
            for client, entry in list(self._clients.items()):
                dropped.extend(entry.queue)
                entry.admitted -= len(entry.queue)
                entry.queue.clear()
                self._forget_if_idle(client, entry)
            self._admitted -= len(dropped)
            self._waiting = 0
            for job in dropped:
                job.state = _WITHDRAWN
            threads = list(self._threads)
            self._work_ready.notify_all()
        for job in dropped:
            _deliver(job, RuntimeError("HashingPool has been shut down"), failed=True)
        if wait:
            current = threading.current_thread()
            for thread in threads:
                if thread is not current:
                    thread.join()

    def _withdraw(self, job: _Job[Any]) -> None:
        with self._lock:
            if job.state == _QUEUED:
                entry = self._clients[job.client]
                entry.queue.remove(job)
                job.state = _WITHDRAWN
                self._waiting -= 1
                self._admitted -= 1
                entry.admitted -= 1
                self._forget_if_idle(job.client, entry)

    def _forget_if_idle(self, client: str | None, entry: _Client) -> None:
        # Lock held. Bounds the bookkeeping by the pool's capacity, not by
        # how many clients were ever seen.
        if entry.admitted == 0:
            del self._clients[client]

    def _next_job(self) -> _Job[Any]:
        # Lock held, at least one job waiting: round robin between clients.
        best: _Client | None = None
        for entry in self._clients.values():
            if not entry.queue:
                continue
            if best is None or (entry.running, entry.last_start, entry.queue[0].seq) < (
                best.running,
                best.last_start,
                best.queue[0].seq,
            ):
                best = entry
        assert best is not None
        job = best.queue.popleft()
        best.running += 1
        best.last_start = next(self._seq)
        return job

    def _start_workers(self) -> None:
        # Called with the lock held.
        while len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._work,
                name=f"qs-hashing-{len(self._threads)}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        self._lower_priority()
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._work_ready.wait()
                if not self._waiting:
                    return
                job = self._next_job()
                job.state = _RUNNING
                self._waiting -= 1
                self._running += 1
            outcome: Any
            failed = False
            try:
                outcome = job.call()
            except Exception as exc:
                outcome, failed = exc, True
            except BaseException as exc:  # never let a worker die with a waiter pending
                outcome = RuntimeError(f"hashing call aborted: {exc!r}")
                failed = True
            finally:
                with self._lock:
                    self._running -= 1
                    self._admitted -= 1
                    entry = self._clients[job.client]
                    entry.running -= 1
                    entry.admitted -= 1
                    self._forget_if_idle(job.client, entry)
            _deliver(job, outcome, failed=failed)

    def _lower_priority(self) -> None:
        if not sys.platform.startswith("linux"):
            self._report_renice("per-thread priorities are only supported on Linux")
            return
        tid = threading.get_native_id()
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < self._nice:
                os.setpriority(os.PRIO_PROCESS, tid, self._nice)
        except OSError as exc:
            self._report_renice(str(exc))

    def _report_renice(self, reason: str) -> None:
        with self._lock:
            if self._renice_reported:
                return
            self._renice_reported = True
        log.warning(
            "hashing threads keep normal priority (could not set nice %d: %s); "
            "password hashing may slow down other requests",
            self._nice,
            reason,
        )


def _deliver(job: _Job[Any], outcome: Any, *, failed: bool) -> None:
    def settle() -> None:
        if job.future.done():  # its awaiter was cancelled
            return
        if failed:
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

    try:
        job.loop.call_soon_threadsafe(settle)
    except RuntimeError:
        pass  # that loop is closed: nobody is waiting any more


def _reset_after_fork() -> None:
    # The parent's threads do not exist in the child and its lock may be held.
    for pool in list(_pools):
        closed = pool._closed
        pool._reset_state()
        pool._closed = closed


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
