"""HashingPool: the bound, cancellation, loop liveness, thread priority, and
fairness between clients (the share and the round-robin order).

The tests of the pool's own bound make all their calls from one client (no
``hashing_client``), so they run with ``client_share=1.0``: the behaviour
from before the share existed, which they check is kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import warnings
from collections.abc import AsyncIterator, Callable

import argon2
import pytest

from quart_security.crypto.hashing_pool import HashingPool, hashing_client
from quart_security.errors import HashingOverloaded, HashingShareExceeded

GATE_TIMEOUT = 30.0  # only a safety net against a hung test, never asserted on


@pytest.fixture
async def pool() -> AsyncIterator[HashingPool]:
    p = HashingPool(size=2, queue_size=1, client_share=1.0)
    yield p
    p.shutdown(wait=False)


class Gate:
    """A blocking call whose start we can observe and whose end we control."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.ran = False

    def __call__(self, value: int = 0) -> int:
        self.ran = True
        self.started.set()
        if not self.release.wait(GATE_TIMEOUT):
            raise AssertionError("gate never released")
        return value


async def wait_for(event: threading.Event) -> None:
    assert await asyncio.get_running_loop().run_in_executor(None, event.wait, GATE_TIMEOUT)


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(int(GATE_TIMEOUT / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


def done_at_once() -> int:
    return 42


async def test_size_and_queue_bound_then_overflow_refused(pool: HashingPool) -> None:
    gates = [Gate(), Gate(), Gate()]
    tasks = [asyncio.create_task(pool.run(g, i)) for i, g in enumerate(gates)]
    await wait_for(gates[0].started)
    await wait_for(gates[1].started)
    await wait_until(lambda: pool.in_flight == 3)

    assert pool.capacity == 3
    assert pool.running == 2
    assert pool.waiting == 1
    assert not gates[2].ran  # only `size` calls run at once

    # Full: refused immediately, even though the call itself would be instant.
    with pytest.raises(HashingOverloaded) as caught:
        await pool.run(done_at_once)
    assert type(caught.value) is HashingOverloaded  # the pool's bound, not a share
    assert caught.value.status == 503
    assert caught.value.retry_after >= 1

    for g in gates:
        g.release.set()
    assert await asyncio.gather(*tasks) == [0, 1, 2]
    assert pool.in_flight == 0
    assert await pool.run(done_at_once) == 42


async def test_cancelled_waiter_frees_its_slot_and_never_runs(pool: HashingPool) -> None:
    running = [Gate(), Gate()]
    holders = [asyncio.create_task(pool.run(g)) for g in running]
    await wait_for(running[0].started)
    await wait_for(running[1].started)

    queued_gate = Gate()
    queued = asyncio.create_task(pool.run(queued_gate))
    await wait_until(lambda: pool.waiting == 1)
    with pytest.raises(HashingOverloaded):
        await pool.run(done_at_once)

    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert pool.in_flight == 2
    assert pool.waiting == 0

    # The freed slot is usable again.
    replacement = asyncio.create_task(pool.run(done_at_once))
    await wait_until(lambda: pool.waiting == 1)

    for g in running:
        g.release.set()
    await asyncio.gather(*holders)
    assert await replacement == 42
    assert not queued_gate.ran
    assert pool.in_flight == 0


async def test_cancelled_running_call_keeps_slot_until_it_finishes() -> None:
    pool = HashingPool(size=1, queue_size=0, client_share=1.0)
    try:
        gate = Gate()
        task = asyncio.create_task(pool.run(gate))
        await wait_for(gate.started)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        # The thread is still hashing: its slot is still taken.
        assert pool.in_flight == 1
        with pytest.raises(HashingOverloaded):
            await pool.run(done_at_once)

        gate.release.set()
        await wait_until(lambda: pool.in_flight == 0)
        assert await pool.run(done_at_once) == 42
    finally:
        pool.shutdown()


async def test_exception_in_call_propagates_and_frees_slot() -> None:
    pool = HashingPool(size=1, queue_size=0, client_share=1.0)

    def boom() -> None:
        raise ValueError("bad input")

    try:
        with pytest.raises(ValueError, match="bad input"):
            await pool.run(boom)
        assert pool.in_flight == 0
        assert await pool.run(done_at_once) == 42
    finally:
        pool.shutdown()


async def test_event_loop_stays_free_while_real_argon2_hashes_run() -> None:
    pool = HashingPool(size=2, queue_size=0, client_share=1.0)
    hasher = argon2.PasswordHasher()  # the real default cost: m=64 MiB, t=3, p=4
    order: list[str] = []
    ticks = 0

    async def hash_one(i: int) -> None:
        await pool.run(hasher.hash, f"password {i}")
        order.append("hash")

    async def ticker() -> None:
        nonlocal ticks
        while "hash" not in order:
            ticks += 1
            if ticks == 200:
                order.append("ticks")
            await asyncio.sleep(0)

    try:
        await asyncio.gather(hash_one(0), hash_one(1), ticker())
    finally:
        pool.shutdown()
    # The loop ran 200 iterations of other work before the first hash finished.
    assert order[0] == "ticks"
    assert order.count("hash") == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux-only")
async def test_worker_threads_run_at_the_configured_nice_value() -> None:
    main_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    pool = HashingPool(size=2, queue_size=0, nice=10, client_share=1.0)

    def own_nice() -> tuple[int, int]:
        tid = threading.get_native_id()
        return tid, os.getpriority(os.PRIO_PROCESS, tid)

    try:
        tid, nice = await pool.run(own_nice)
    finally:
        pool.shutdown()
    assert tid != threading.get_native_id()
    assert nice == max(main_nice, 10)
    # Only the hashing threads were reniced, not the loop's thread.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_nice


async def test_failure_to_renice_is_tolerated_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing real refuses a larger nice value to an unprivileged process, so
    # this is the one place a failure has to be simulated.
    def refuse(*args: int) -> None:
        raise PermissionError("not allowed")

    monkeypatch.setattr(os, "setpriority", refuse)
    monkeypatch.setattr(os, "getpriority", lambda *args: 0)
    monkeypatch.setattr(sys, "platform", "linux")
    pool = HashingPool(size=2, queue_size=2, nice=10, client_share=1.0)
    try:
        with caplog.at_level(logging.WARNING, logger="quart_security.crypto.hashing_pool"):
            results = await asyncio.gather(*(pool.run(done_at_once) for _ in range(4)))
            await wait_until(lambda: pool.in_flight == 0)
            pool.shutdown()  # both workers have started (and tried) by now
    finally:
        pool.shutdown()
    assert results == [42] * 4
    warnings = [r for r in caplog.records if "nice" in r.getMessage()]
    assert len(warnings) == 1


def test_usable_from_several_event_loops() -> None:
    pool = HashingPool(size=1, queue_size=4, client_share=1.0)
    results: list[int] = []
    errors: list[BaseException] = []

    async def use(value: int) -> int:
        return await pool.run(lambda: value * 2)

    def in_own_loop(value: int) -> None:
        try:
            results.append(asyncio.run(use(value)))
        except BaseException as exc:
            errors.append(exc)

    try:
        # One loop after another, then two loops at the same time.
        in_own_loop(1)
        in_own_loop(2)
        threads = [threading.Thread(target=in_own_loop, args=(v,)) for v in (3, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(GATE_TIMEOUT)
    finally:
        pool.shutdown()
    assert not errors
    assert sorted(results) == [2, 4, 6, 8]


async def test_shutdown_fails_waiters_and_refuses_new_calls() -> None:
    pool = HashingPool(size=1, queue_size=1, client_share=1.0)
    gate = Gate()
    running = asyncio.create_task(pool.run(gate, 7))
    await wait_for(gate.started)
    waiting = asyncio.create_task(pool.run(done_at_once))
    await wait_until(lambda: pool.waiting == 1)

    pool.shutdown(wait=False)
    with pytest.raises(RuntimeError, match="shut down"):
        await waiting
    with pytest.raises(RuntimeError, match="shut down"):
        await pool.run(done_at_once)

    gate.release.set()
    assert await running == 7  # a running call still completes
    await wait_until(lambda: pool.in_flight == 0)


def test_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError):
        HashingPool(size=0, queue_size=1)
    with pytest.raises(ValueError):
        HashingPool(size=1, queue_size=-1)
    for share in (0, -0.5, 1.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="client_share"):
            HashingPool(size=1, queue_size=1, client_share=share)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_a_working_pool() -> None:
    # gunicorn --preload forks after the app (and maybe a first hash) exists:
    # the child must not wait on the parent's threads, which it does not have.
    pool = HashingPool(size=1, queue_size=1)
    try:
        assert asyncio.run(pool.run(done_at_once)) == 42  # parent threads started
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
            pid = os.fork()
        if pid == 0:  # child: report through the exit status only
            code = 1
            try:
                code = 0 if asyncio.run(asyncio.wait_for(pool.run(done_at_once), 30)) == 42 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        pool.shutdown()


# ------------------------------------------------------------ fairness


async def run_as(pool: HashingPool, client: str | None, fn: Callable[..., int], *args: int) -> int:
    """One call made for ``client``, as the web layer makes it (in its own task)."""
    hashing_client.set(client)
    return await pool.run(fn, *args)


def call_as(
    pool: HashingPool, client: str | None, fn: Callable[..., int], *args: int
) -> asyncio.Task[int]:
    return asyncio.create_task(run_as(pool, client, fn, *args))


def test_client_limit_is_the_floored_share_of_capacity_but_at_least_one() -> None:
    assert HashingPool(size=2, queue_size=2).client_limit == 2
    assert HashingPool(size=2, queue_size=3, client_share=0.5).client_limit == 2
    assert HashingPool(size=1, queue_size=0, client_share=0.5).client_limit == 1
    assert HashingPool(size=4, queue_size=16, client_share=0.25).client_limit == 5
    assert HashingPool(size=2, queue_size=3, client_share=1.0).client_limit == 5


async def test_client_over_its_share_is_refused_at_once_while_others_are_served() -> None:
    pool = HashingPool(size=2, queue_size=2, client_share=0.5)  # 2 calls per client
    b1, a1, a2, b2 = Gate(), Gate(), Gate(), Gate()
    try:
        tb1 = call_as(pool, "10.0.0.2", b1, 1)
        await wait_for(b1.started)
        ta1 = call_as(pool, "10.0.0.1", a1, 2)
        await wait_for(a1.started)
        ta2 = call_as(pool, "10.0.0.1", a2, 3)
        await wait_until(lambda: pool.waiting == 1)
        assert pool.held_by("10.0.0.1") == 2

        # A third call of the same client: refused before it waits, with 429.
        with pytest.raises(HashingShareExceeded) as caught:
            await run_as(pool, "10.0.0.1", done_at_once)
        assert caught.value.status == 429
        assert caught.value.message_key == "HASHING_SHARE_EXCEEDED"
        assert caught.value.retry_after >= 1
        assert pool.in_flight == 3  # the refused call took no slot

        # Another client is still admitted, up to the pool's capacity ...
        tb2 = call_as(pool, "10.0.0.2", b2, 4)
        await wait_until(lambda: pool.in_flight == 4)
        # ... and past that everyone hears that the pool is full (503), except
        # a client over its share, which hears that it is the reason (429).
        with pytest.raises(HashingOverloaded) as full:
            await run_as(pool, "10.0.0.3", done_at_once)
        assert type(full.value) is HashingOverloaded
        with pytest.raises(HashingShareExceeded):
            await run_as(pool, "10.0.0.1", done_at_once)

        # The first free worker goes to the client with fewer running calls
        # (b2, although a2 waited longer).
        b1.release.set()
        assert await tb1 == 1
        await wait_for(b2.started)
        assert not a2.ran
        for g in (a1, a2, b2):
            g.release.set()
        assert await asyncio.gather(ta1, ta2, tb2) == [2, 3, 4]
        assert pool.in_flight == 0
        assert pool.held_by("10.0.0.1") == pool.held_by("10.0.0.2") == 0
        assert await run_as(pool, "10.0.0.1", done_at_once) == 42
    finally:
        for g in (b1, a1, a2, b2):
            g.release.set()
        pool.shutdown(wait=False)


async def test_queue_is_round_robin_between_clients() -> None:
    # No share here: order alone keeps one client's long queue from sitting in
    # front of the others' calls.
    pool = HashingPool(size=1, queue_size=40, client_share=1.0)
    order: list[str] = []

    def record(label: str) -> Callable[[], int]:
        def call() -> int:
            order.append(label)  # one worker: appends never race
            return 0

        return call

    first = Gate()
    try:
        holder = call_as(pool, "flood", first)
        await wait_for(first.started)
        order.append("flood-0")
        tasks = [call_as(pool, "flood", record(f"flood-{i}")) for i in range(1, 31)]
        tasks += [
            call_as(pool, "alice", record("alice-1")),
            call_as(pool, "alice", record("alice-2")),
        ]
        tasks.append(call_as(pool, "bob", record("bob-1")))
        await wait_until(lambda: pool.waiting == 33)
        first.release.set()
        await asyncio.gather(holder, *tasks)
    finally:
        first.release.set()
        pool.shutdown(wait=False)
    assert order[:6] == ["flood-0", "alice-1", "bob-1", "flood-1", "alice-2", "flood-2"]
    assert order[6:] == [f"flood-{i}" for i in range(3, 31)]  # one client alone: FIFO


async def test_share_one_is_the_old_behaviour_one_client_fills_the_pool() -> None:
    pool = HashingPool(size=1, queue_size=2, client_share=1.0)
    gate = Gate()
    try:
        tasks = [call_as(pool, "10.0.0.1", gate, i) for i in range(3)]
        await wait_until(lambda: pool.in_flight == 3)
        with pytest.raises(HashingOverloaded) as caught:
            await run_as(pool, "10.0.0.1", done_at_once)
        assert type(caught.value) is HashingOverloaded
        assert caught.value.status == 503
        gate.release.set()
        assert await asyncio.gather(*tasks) == [0, 1, 2]
    finally:
        gate.release.set()
        pool.shutdown(wait=False)

    # The same calls with the default share: the second waiting call is refused.
    shared = HashingPool(size=1, queue_size=2)
    gate = Gate()
    try:
        tasks = [call_as(shared, "10.0.0.1", gate, 0)]
        await wait_for(gate.started)
        with pytest.raises(HashingShareExceeded):
            await run_as(shared, "10.0.0.1", done_at_once)
    finally:
        gate.release.set()
        await asyncio.gather(*tasks)
        shared.shutdown(wait=False)


async def test_client_is_per_task_and_calls_without_one_share_one_bucket() -> None:
    pool = HashingPool(size=1, queue_size=5, client_share=0.5)  # 3 per client
    gate = Gate()
    try:
        named = call_as(pool, "10.0.0.1", gate, 1)
        await wait_for(gate.started)
        # The task's client did not leak into this task, nor into new ones.
        assert hashing_client.get() is None
        anonymous = [asyncio.create_task(pool.run(done_at_once)) for _ in range(3)]
        await wait_until(lambda: pool.in_flight == 4)
        assert pool.held_by("10.0.0.1") == 1
        assert pool.held_by(None) == 3
        with pytest.raises(HashingShareExceeded):
            await pool.run(done_at_once)  # no client: the shared bucket is at its share
        # ... while the named client, a bucket of its own, is still admitted.
        extra = call_as(pool, "10.0.0.1", done_at_once)
        await wait_until(lambda: pool.held_by("10.0.0.1") == 2)
        gate.release.set()
        assert await named == 1
        assert await extra == 42
        assert await asyncio.gather(*anonymous) == [42, 42, 42]
    finally:
        gate.release.set()
        pool.shutdown(wait=False)


async def test_withdrawn_call_gives_its_client_its_share_back() -> None:
    pool = HashingPool(size=1, queue_size=3, client_share=0.5)  # 2 per client
    gate = Gate()
    try:
        running = call_as(pool, "10.0.0.1", gate, 1)
        await wait_for(gate.started)
        queued = call_as(pool, "10.0.0.1", done_at_once)
        await wait_until(lambda: pool.waiting == 1)
        with pytest.raises(HashingShareExceeded):
            await run_as(pool, "10.0.0.1", done_at_once)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert pool.held_by("10.0.0.1") == 1
        again = call_as(pool, "10.0.0.1", done_at_once)
        await wait_until(lambda: pool.waiting == 1)
        gate.release.set()
        assert await running == 1
        assert await again == 42
        assert pool.held_by("10.0.0.1") == 0
    finally:
        gate.release.set()
        pool.shutdown(wait=False)
