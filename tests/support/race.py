"""Make parallel requests meet at one point, so a race is certain instead of likely.

A check-then-write race (look the identity up, find nobody, write it) only
shows when several requests finish the check before any of them writes.
``rendezvous`` holds the first ``parties`` matching calls of an async method,
after it has returned, until all of them have made it; then they go on
together. It works on the Quart app (one event loop) and on the flask_compat
app (one thread and loop per request): the waiting happens on threads of its
own, never on an event loop.

Flask requests in these tests run on the test loop's default executor (six
threads on a two-core machine), so keep ``parties`` at five or fewer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

#: Only a safety net: a party that never arrives breaks the barrier (the
#: waiting requests fail) instead of hanging the test run.
GIVE_UP_AFTER = 60.0


@contextmanager
def rendezvous(
    target: Any, method: str, parties: int, when: Callable[..., bool] = lambda **kw: True
) -> Iterator[list[Any]]:
    """Inside the block, ``target.method`` holds its first ``parties`` matching calls.

    ``when(**kwargs)`` picks the calls that count. Yields the results of the
    held calls, in arrival order, so the test can check they raced.
    """
    original = getattr(target, method)
    barrier = threading.Barrier(parties, timeout=GIVE_UP_AFTER)
    lock = threading.Lock()
    held: list[Any] = []
    pool = ThreadPoolExecutor(max_workers=parties, thread_name_prefix="rendezvous")

    async def gated(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        with lock:
            hold = len(held) < parties and when(**kwargs)
            if hold:
                held.append(result)
        if hold:
            await asyncio.get_running_loop().run_in_executor(pool, barrier.wait)
        return result

    setattr(target, method, gated)
    try:
        yield held
    finally:
        delattr(target, method)
        barrier.abort()  # frees anyone still waiting if the block failed
        pool.shutdown(wait=True)
