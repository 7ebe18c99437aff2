"""Rate-limit counters: a moving window per key, in memory or in Redis.

Why moving windows: a fixed window ("10 per 15 minutes" reset on the quarter
hour) lets a client spend 10 just before the edge and 10 more just after it,
twice the limit within seconds. A moving window counts the hits of the last
15 minutes at every instant, so no burst beats the limit. The counting is
limits' ``MovingWindowRateLimiter`` (an atomic Lua script in Redis, a lock
per key in memory); this module only names keys, shapes the answer and turns
storage failures into one exception the caller can fail closed or open on.

Why one Redis client per event loop: redis-py's asyncio connections belong to
the loop that opened them. quart_security runs one loop, but flask_compat runs
a private loop per thread (``flask_compat/driver.py``), so one shared client
would be awaited from several loops and break. Each loop gets its own client,
created on first use there; clients of loops that have since closed are
dropped, and a forked child starts with none (its parent's sockets are not its
own). Timestamps are the client's ``time.time()``, so instances sharing one
Redis need synchronised clocks (NTP), as with any limits-based limiter.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.errors
import limits.storage
import limits.strategies

if TYPE_CHECKING:
    import redis.asyncio

T = TypeVar("T")

_EXAMPLE = "'10 per 15 minutes', '10/15 minutes', '5/minute', '100/hour' or '3 per day'"
_ZERO_WINDOW = re.compile(r"(/|per)\s*0+\s*[a-z]+\s*$", re.IGNORECASE)
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix")
_NAMESPACE = "rl"
REDIS_INSTALL_HINT = "pip install 'quart-flask-security[redis]'"


@dataclass(frozen=True)
class Limit:
    """At most ``amount`` hits in any ``seconds``-long window."""

    amount: int
    seconds: int

    def __post_init__(self) -> None:
        for name in ("amount", "seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"a rate limit's {name} must be a whole number >= 1: {value!r}")

    @classmethod
    def parse(cls, text: str | Limit) -> Limit:
        """Read limits' notation ("10 per 15 minutes"); one limit only, never zero."""
        if isinstance(text, Limit):
            return text
        if not isinstance(text, str):
            raise ValueError(f"a rate limit must be a string such as {_EXAMPLE}: {text!r}")
        try:
            items = limits.parse_many(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a rate limit: write it as {_EXAMPLE}") from None
        if len(items) != 1:
            raise ValueError(
                f"{text!r} holds {len(items)} rate limits, not one: write one, such as {_EXAMPLE}"
            )
        if items[0].amount < 1 or _ZERO_WINDOW.search(text):
            raise ValueError(f"{text!r} allows nothing or has an empty window: write {_EXAMPLE}")
        return cls(items[0].amount, items[0].get_expiry())

    def __str__(self) -> str:
        return f"{self.amount} per {self.seconds} seconds"

    def _item(self) -> limits.RateLimitItem:
        return limits.RateLimitItemPerSecond(self.amount, self.seconds, namespace=_NAMESPACE)


@dataclass(frozen=True)
class Verdict:
    """The answer to one hit (or test).

    ``retry_after``: whole seconds until a hit would be allowed (>= 1 when
    refused, 0 when allowed); ``remaining``: hits left in the window after this one.
    """

    allowed: bool
    retry_after: int
    remaining: int


class RateLimitUnavailable(Exception):
    """The store cannot answer (Redis down, timeout): the caller decides (fail closed/open)."""


class RateLimitStore(Protocol):
    async def hit(self, limit: Limit, *key: str) -> Verdict:
        """Count one hit for ``key`` unless refused (a refused hit is not counted); atomic."""
        ...

    async def test(self, limit: Limit, *key: str) -> Verdict:
        """The verdict ``hit`` would give now, counting nothing."""
        ...

    async def clear(self, limit: Limit, *key: str) -> None:
        """Forget this key's hits under this limit (an admin unlock)."""
        ...

    async def check(self) -> bool:
        """Can the store answer right now?"""
        ...

    async def aclose(self) -> None:
        """Release connections (those of the calling event loop, for Redis)."""
        ...


def _key(key: tuple[str, ...]) -> str:
    # limits joins identifiers with "/"; quoting each part first keeps
    # ("a/b", "c") and ("a", "b/c") apart, and ":" or spaces harmless.
    return "/".join(quote(part, safe="") for part in key)


def _verdict(allowed: bool, stats: limits.WindowStats, limit: Limit, now: float) -> Verdict:
    if allowed:
        return Verdict(True, 0, max(0, stats.remaining))
    wait = math.ceil(stats.reset_time - now)
    return Verdict(False, min(max(1, wait), limit.seconds), 0)


class MemoryRateLimitStore:
    """One process's counters (limits' thread-safe MemoryStorage; no I/O, any loop or thread)."""

    def __init__(self) -> None:
        self._limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())

    async def hit(self, limit: Limit, *key: str) -> Verdict:
        item, ident = limit._item(), _key(key)
        allowed = self._limiter.hit(item, ident)
        return _verdict(allowed, self._limiter.get_window_stats(item, ident), limit, time.time())

    async def test(self, limit: Limit, *key: str) -> Verdict:
        stats = self._limiter.get_window_stats(limit._item(), _key(key))
        return _test_verdict(stats, limit)

    async def clear(self, limit: Limit, *key: str) -> None:
        self._limiter.clear(limit._item(), _key(key))

    async def check(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def _test_verdict(stats: limits.WindowStats, limit: Limit) -> Verdict:
    # The verdict a hit would get: allowed while a hit is left, and then one fewer remains.
    if stats.remaining >= 1:
        return Verdict(True, 0, stats.remaining - 1)
    return _verdict(False, stats, limit, time.time())


class _LoopClient:
    """The Redis pool, limits storage and limiter that belong to one event loop."""

    def __init__(self, url: str, key_prefix: str, timeout: float) -> None:
        import redis.asyncio

        self.pool: redis.asyncio.ConnectionPool = redis.asyncio.ConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        storage = limits.aio.storage.RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=key_prefix,
            connection_pool=self.pool,  # type: ignore[arg-type]
        )
        self.limiter = limits.aio.strategies.MovingWindowRateLimiter(storage)
        self.storage = storage


_redis_stores: weakref.WeakSet[RedisRateLimitStore] = weakref.WeakSet()


class RedisRateLimitStore:
    """Counters in Redis, shared by every worker and instance that points at it."""

    def __init__(self, url: str, *, key_prefix: str, timeout: float) -> None:
        import redis.asyncio

        self._url, self._key_prefix, self._timeout = url, key_prefix, timeout
        try:  # a malformed URI is refused here, at start-up, not at the first request
            parts = urlsplit(url)
            port = parts.port
            redis.asyncio.ConnectionPool.from_url(url)  # parses only, connects nothing
            if parts.scheme != "unix" and not re.fullmatch(r"/?\d*", parts.path):
                # redis-py would silently use database 0 for "/cache".
                raise ValueError(f"the database must be a number: {parts.path!r}")
        except ValueError as exc:
            raise ValueError(f"the rate-limit store URI is not a valid Redis URL: {exc}") from None
        # Messages name the server, never its password.
        self._where = parts.hostname or parts.path or url.split("://", 1)[0]
        if port:
            self._where += f":{port}"
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        _redis_stores.add(self)

    def _client(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            for old in [old for old in self._clients if old.is_closed()]:
                del self._clients[old]  # its loop's thread has ended
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = _LoopClient(
                    self._url, self._key_prefix, self._timeout
                )
            return client

    def _forget_clients(self) -> None:
        self._clients = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    async def _run(self, op: Callable[[_LoopClient], Awaitable[T]]) -> T:
        import redis.exceptions

        try:
            async with asyncio.timeout(self._timeout):
                return await op(self._client())
        except (
            redis.exceptions.RedisError,
            limits.errors.StorageError,
            OSError,
            TimeoutError,
        ) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise RateLimitUnavailable(
                f"the rate-limit store (Redis at {self._where}) did not answer within "
                f"{self._timeout} s ({detail})"
            ) from exc

    async def hit(self, limit: Limit, *key: str) -> Verdict:
        item, ident = limit._item(), _key(key)

        async def op(client: _LoopClient) -> Verdict:
            allowed = await client.limiter.hit(item, ident)
            stats = await client.limiter.get_window_stats(item, ident)
            return _verdict(allowed, stats, limit, time.time())

        return await self._run(op)

    async def test(self, limit: Limit, *key: str) -> Verdict:
        item, ident = limit._item(), _key(key)

        async def op(client: _LoopClient) -> Verdict:
            return _test_verdict(await client.limiter.get_window_stats(item, ident), limit)

        return await self._run(op)

    async def clear(self, limit: Limit, *key: str) -> None:
        item, ident = limit._item(), _key(key)

        async def op(client: _LoopClient) -> None:
            await client.limiter.clear(item, ident)

        await self._run(op)

    async def check(self) -> bool:
        async def op(client: _LoopClient) -> bool:
            return await client.storage.check()  # a PING; False on any error

        try:
            return await self._run(op)
        except RateLimitUnavailable:
            return False

    async def aclose(self) -> None:
        """Close the calling loop's connections (other loops' clients close with their loop)."""
        with self._lock:
            client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.pool.aclose()


def _forget_after_fork() -> None:
    for store in list(_redis_stores):
        store._forget_clients()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def open_store(uri: str, *, key_prefix: str = "qs", timeout: float = 0.5) -> RateLimitStore:
    """The store a URI names: "memory://", or "redis://host:port/db" ("rediss://", "redis+unix://")."""
    if not isinstance(key_prefix, str) or not key_prefix:
        raise ValueError(f"the rate-limit key prefix must be a non-empty string: {key_prefix!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(
            f"the rate-limit store timeout must be a number of seconds > 0: {timeout!r}"
        )
    scheme = uri.split("://", 1)[0].lower() if isinstance(uri, str) and "://" in uri else ""
    if scheme == "memory":
        return MemoryRateLimitStore()
    if scheme in _REDIS_SCHEMES:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ValueError(
                f"the rate-limit store {scheme}:// needs the redis package: {REDIS_INSTALL_HINT}"
            ) from None
        url = "unix://" + uri.split("://", 1)[1] if scheme == "redis+unix" else uri
        return RedisRateLimitStore(url, key_prefix=key_prefix, timeout=float(timeout))
    raise ValueError(
        f"unknown rate-limit store {uri!r}: use memory:// (one process) or "
        "redis://host:port/db, rediss://... or redis+unix:///path (shared by several workers)"
    )
