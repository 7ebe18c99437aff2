"""How flask_compat runs quart_security's coroutines from Flask's synchronous world.

One event loop per thread, never shared. Each thread that calls into the core
(a gunicorn sync or gthread worker thread, a waitress thread, the Werkzeug
dev server's thread, a test's worker thread) gets its own loop, created the
first time it needs one and closed when the thread ends. A request is served
from start to end by one thread, so everything the core awaits for it (the
hashing pool's futures, database work) belongs to that thread's loop, and no
object is ever awaited from two loops: the "attached to a different loop"
class of bugs cannot happen. The hashing pool is the one thing shared between
threads, and it delivers each result to the loop that asked for it.

A loop already running in the calling thread (an ``async def`` Flask view, or
asyncio code calling the sync API) is refused with a clear error rather than
nested or worked around: there, await quart_security's coroutines instead.

Context variables: each request runs all of its coroutines (before hook,
decorators, views, API calls, after hook, teardown) in one copy of the
thread's context taken at its start and kept on ``flask.g``. They see the
current Flask request, and nothing they set (the current extension, anything
a datastore keeps in a ContextVar) leaks into the thread's context, so the next
request served by the same thread starts clean.

A bare loop is used rather than ``asyncio.Runner`` because a Runner's close()
runs the loop again, which a finalizer firing on an arbitrary thread cannot
do; ``loop.close()`` can run anywhere. After ``fork()`` the child forgets the
parent's loops (their selectors are shared file descriptors) and makes new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

import flask

T = TypeVar("T")

_CONTEXT_ATTR = "_qs_context"


class _Closable(Protocol):
    async def aclose(self) -> None: ...


#: What holds per-loop resources (the rate-limit store's Redis clients): told to
#: close this thread's before its loop closes.
_per_loop_owners: weakref.WeakSet[Any] = weakref.WeakSet()


def close_with_each_loop(owner: _Closable) -> None:
    """Call ``owner.aclose()`` on each thread's loop just before that loop closes."""
    _per_loop_owners.add(owner)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    # The finalizer may run on any thread (the garbage collector's choice); where
    # a loop is already running there, nothing can be run to completion: just close.
    try:
        asyncio.get_running_loop()
        runnable = False
    except RuntimeError:
        runnable = True
    if runnable and not loop.is_running() and not loop.is_closed():
        for owner in list(_per_loop_owners):
            # Best effort: the sockets die with the thread anyway.
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait_for(owner.aclose(), 1.0))
    loop.close()


class _ThreadLoop:
    """The event loop of one thread; closed when the thread's locals are freed."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        closer = weakref.finalize(self, _close_loop, self.loop)
        closer.atexit = False  # at exit the thread may still be inside run_until_complete


_threads = threading.local()


def _forget_loops() -> None:
    global _threads
    _threads = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_loops)


def run(coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None) -> T:
    """Run ``coro`` to completion on this thread's own loop, in ``context`` (else a copy)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError(
            "flask_compat's sync API was called from a thread that is already running an "
            "event loop (an async Flask view, or asyncio code). It drives quart_security's "
            "coroutines on a private per-thread loop and cannot nest inside another one: "
            "await the quart_security coroutine there instead, or call from sync code."
        )
    holder: _ThreadLoop | None = getattr(_threads, "holder", None)
    if holder is None:
        holder = _threads.holder = _ThreadLoop()
    task = holder.loop.create_task(coro, context=context)
    return holder.loop.run_until_complete(task)


def run_in_request(coro: Coroutine[Any, Any, T]) -> T:
    """``run`` in the current request's (or app context's) own context copy."""
    context = None
    if flask.has_app_context():
        context = flask.g.get(_CONTEXT_ATTR)
        if context is None:
            context = contextvars.copy_context()
            setattr(flask.g, _CONTEXT_ATTR, context)
    return run(coro, context)


def forget_request_context() -> None:
    flask.g.pop(_CONTEXT_ATTR, None)


def run_nonsuspending(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that must finish without waiting (a sync datastore's), no loop needed."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError(
        "a datastore coroutine tried to wait: flask_compat datastores run over a synchronous "
        "session or database and drive the core's coroutines without an event loop, so they "
        "must never suspend. Use flask_compat.SQLAlchemyUserDatastore, "
        "SQLAlchemySessionUserDatastore or PyMongoUserDatastore."
    )
