"""quart_security.rate_limit: limit notation, and the memory and Redis stores' counting.

Redis is the real server from QS_TEST_REDIS_URL (databases 1-3 only, flushed
around each test); the tests fail, not skip, without it. Window movement is
checked on a fake clock patched into limits' storages (they read
``time.time()``), plus one short real-time window.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import limits.aio.storage.redis.redispy
import limits.storage.memory
import pytest
import redis

import quart_security.rate_limit as rate_limit
from quart_security.rate_limit import (
    Limit,
    RateLimitStore,
    RateLimitUnavailable,
    Verdict,
    open_store,
)
from tests.support.mail import free_port

ROOT = Path(__file__).resolve().parent.parent


def redis_url(db: int = 1) -> str:
    url = os.environ.get("QS_TEST_REDIS_URL")
    if not url:
        pytest.fail("QS_TEST_REDIS_URL is not set: these tests need the Redis service")
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


@pytest.fixture
def redis_db() -> Iterator[str]:
    url = redis_url(1)
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RateLimitStore]:
    uri = "memory://" if request.param == "memory" else request.getfixturevalue("redis_db")
    opened = open_store(uri)
    try:
        yield opened
    finally:
        await opened.aclose()


class FakeTime:
    """Stands in for the ``time`` module where limits and rate_limit read the clock."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    ns = SimpleNamespace(time=fake.time)
    for module in (rate_limit, limits.storage.memory, limits.aio.storage.redis.redispy):
        monkeypatch.setattr(module, "time", ns)
    return fake


# --------------------------------------------------------------------- notation
@pytest.mark.parametrize(
    ("text", "amount", "seconds"),
    [
        ("10/15 minutes", 10, 900),
        ("10 per 15 minutes", 10, 900),
        ("5/minute", 5, 60),
        ("100/hour", 100, 3600),
        ("3 per day", 3, 86400),
        ("2 per 3 seconds", 2, 3),
        (" 5 / Minute ", 5, 60),
    ],
)
def test_parse_reads_limits_notation(text: str, amount: int, seconds: int) -> None:
    assert Limit.parse(text) == Limit(amount, seconds)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "5 per fortnight", "0/minute", "10/0 minutes", "5/minute;3/hour", "5", "-1/hour"],
)
def test_parse_refuses_anything_else_naming_text_and_example(text: str) -> None:
    with pytest.raises(ValueError) as info:
        Limit.parse(text)
    assert repr(text) in str(info.value)
    assert "10 per 15 minutes" in str(info.value)


def test_parse_refuses_non_strings_and_passes_limits_through() -> None:
    with pytest.raises(ValueError, match="10 per 15 minutes"):
        Limit.parse(5)  # type: ignore[arg-type]
    limit = Limit(3, 60)
    assert Limit.parse(limit) is limit


@pytest.mark.parametrize(("amount", "seconds"), [(0, 60), (3, 0), (-1, 60), (True, 60)])
def test_limit_refuses_empty_values(amount: int, seconds: int) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        Limit(amount, seconds)


def test_limit_str_states_amount_and_window() -> None:
    assert str(Limit.parse("10/15 minutes")) == "10 per 900 seconds"


@pytest.mark.parametrize(
    "uri", ["", "memory", "http://localhost", "memcached://x:1", "mongodb://x"]
)
def test_open_store_refuses_unknown_schemes(uri: str) -> None:
    with pytest.raises(ValueError) as info:
        open_store(uri)
    assert "memory://" in str(info.value)
    assert "redis://" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "word"), [({"timeout": 0}, "timeout"), ({"key_prefix": ""}, "prefix")]
)
def test_open_store_refuses_bad_options(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        open_store("memory://", **kwargs)  # type: ignore[arg-type]


# -------------------------------------------------------------------- semantics
async def test_hit_test_clear(store: RateLimitStore) -> None:
    limit = Limit(3, 60)
    assert await store.test(limit, "login", "ann@example.com") == Verdict(True, 0, 2)
    verdicts = [await store.hit(limit, "login", "ann@example.com") for _ in range(3)]
    assert [(v.allowed, v.remaining) for v in verdicts] == [(True, 2), (True, 1), (True, 0)]
    assert all(v.retry_after == 0 for v in verdicts)

    refused = await store.hit(limit, "login", "ann@example.com")
    assert not refused.allowed
    assert refused.remaining == 0
    assert 0 < refused.retry_after <= 60
    assert not (await store.test(limit, "login", "ann@example.com")).allowed

    await store.clear(limit, "login", "ann@example.com")
    assert await store.test(limit, "login", "ann@example.com") == Verdict(True, 0, 2)
    assert (await store.hit(limit, "login", "ann@example.com")).allowed


async def test_test_counts_nothing(store: RateLimitStore) -> None:
    limit = Limit(1, 60)
    for _ in range(5):
        assert (await store.test(limit, "k")).allowed
    assert (await store.hit(limit, "k")).allowed


async def test_window_moves_and_refused_hits_are_not_counted(
    store: RateLimitStore, clock: FakeTime
) -> None:
    limit = Limit(2, 10)
    start = clock.now
    assert (await store.hit(limit, "k")).allowed
    clock.now = start + 5
    assert (await store.hit(limit, "k")).allowed
    for offset in (6, 7, 8, 9):
        clock.now = start + offset
        refused = await store.hit(limit, "k")
        assert not refused.allowed
        # The oldest hit (at 0) leaves the window at 10.
        assert refused.retry_after == 10 - offset
    # Moving, not fixed: at 10.5 only the hit at 0 has left, the one at 5 still counts,
    # and the four refused hits never did.
    clock.now = start + 10.5
    assert await store.hit(limit, "k") == Verdict(True, 0, 0)
    refused = await store.hit(limit, "k")
    assert not refused.allowed
    assert refused.retry_after == 5  # the hit at 5 leaves at 15
    clock.now = start + 15.5
    assert (await store.hit(limit, "k")).allowed


async def test_window_moves_in_real_time(store: RateLimitStore) -> None:
    limit = Limit(1, 1)
    assert (await store.hit(limit, "real")).allowed
    refused = await store.hit(limit, "real")
    assert (refused.allowed, refused.retry_after) == (False, 1)
    for _ in range(40):  # bounded: the window is one second
        await asyncio.sleep(0.1)
        if (await store.test(limit, "real")).allowed:
            break
    assert (await store.hit(limit, "real")).allowed


async def test_distinct_limits_on_one_key_are_independent(store: RateLimitStore) -> None:
    short, other_window, other_amount = Limit(1, 60), Limit(1, 61), Limit(2, 60)
    assert (await store.hit(short, "k")).allowed
    assert not (await store.hit(short, "k")).allowed
    assert (await store.hit(other_window, "k")).allowed
    assert (await store.hit(other_amount, "k")).allowed
    assert (await store.hit(other_amount, "k")).allowed


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a:b", "c"), ("a", "b:c")),
        (("a/b", "c"), ("a", "b/c")),
        (("a b",), ("a", "b")),
        (("a%2Fb",), ("a/b",)),
        (("::1", "x"), (":", ":1/x")),
    ],
)
async def test_keys_with_separators_do_not_collide(
    store: RateLimitStore, first: tuple[str, ...], second: tuple[str, ...]
) -> None:
    limit = Limit(1, 60)
    assert (await store.hit(limit, *first)).allowed
    assert (await store.hit(limit, *second)).allowed
    assert not (await store.hit(limit, *first)).allowed


async def test_concurrent_hits_allow_exactly_the_amount(store: RateLimitStore) -> None:
    verdicts = await asyncio.gather(*(store.hit(Limit(3, 60), "burst") for _ in range(10)))
    assert sum(v.allowed for v in verdicts) == 3
    assert all(0 < v.retry_after <= 60 for v in verdicts if not v.allowed)


async def test_threads_each_with_their_own_loop_share_the_counters(store: RateLimitStore) -> None:
    """flask_compat's case: a private event loop per thread, one store."""
    limit = Limit(4, 60)
    results: list[bool] = []
    errors: list[BaseException] = []

    async def in_thread() -> None:
        try:
            verdicts = await asyncio.gather(*(store.hit(limit, "threads") for _ in range(3)))
            results.extend(v.allowed for v in verdicts)
        finally:
            await store.aclose()

    def run() -> None:
        try:
            asyncio.run(in_thread())
        except BaseException as exc:  # reported below, in the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(results) == [False] * 5 + [True] * 4
    # The test's own loop sees the same counters.
    assert not (await store.test(limit, "threads")).allowed


async def test_check_answers_when_reachable(store: RateLimitStore) -> None:
    assert await store.check() is True


# ------------------------------------------------------------------ Redis only
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from quart_security.rate_limit import Limit, open_store

    async def main():
        store = open_store(sys.argv[1])
        assert await store.check()
        print("ready", flush=True)
        sys.stdin.readline()
        verdicts = await asyncio.gather(*(store.hit(Limit(3, 60), "shared") for _ in range(5)))
        await store.aclose()
        print(json.dumps([v.allowed for v in verdicts]), flush=True)

    asyncio.run(main())
    """
)


async def test_redis_stores_in_two_processes_share_counters(redis_db: str) -> None:
    children = [
        subprocess.Popen(  # noqa: ASYNC220 (the test drives them by pipe, briefly)
            [sys.executable, "-c", CHILD, redis_db],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:  # both go at once
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        allowed = 0
        for child in children:
            out, _ = child.communicate(timeout=30)
            assert child.returncode == 0
            allowed += sum(json.loads(out))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert allowed == 3
    store = open_store(redis_db)
    try:
        assert not (await store.test(Limit(3, 60), "shared")).allowed
    finally:
        await store.aclose()


async def test_redis_key_prefix_separates_stores(redis_db: str) -> None:
    ours, theirs = open_store(redis_db, key_prefix="app1"), open_store(redis_db, key_prefix="app2")
    try:
        assert (await ours.hit(Limit(1, 60), "k")).allowed
        assert (await theirs.hit(Limit(1, 60), "k")).allowed
        assert not (await ours.hit(Limit(1, 60), "k")).allowed
        assert redis.Redis.from_url(redis_db).keys("app1:*")
    finally:
        await ours.aclose()
        await theirs.aclose()


async def _assert_unavailable(store: RateLimitStore, secret: str | None = None) -> None:
    for call in (store.hit, store.test, store.clear):
        with pytest.raises(RateLimitUnavailable) as info:
            # The outer bound only proves there is no hang; the store's own timeout is 0.3 s.
            await asyncio.wait_for(call(Limit(3, 60), "k"), 10)
        assert "Redis at 127.0.0.1" in str(info.value) or "Redis at /" in str(info.value)
        if secret:
            assert secret not in str(info.value)
    assert await asyncio.wait_for(store.check(), 10) is False
    await store.aclose()


async def test_redis_down_raises_unavailable() -> None:
    port = free_port()  # nothing listens: connection refused
    await _assert_unavailable(
        open_store(f"redis://:s3cret@127.0.0.1:{port}/1", timeout=0.3), "s3cret"
    )


async def test_redis_silent_server_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _assert_unavailable(open_store(f"redis://127.0.0.1:{port}/1", timeout=0.3))
        # Four calls, each cut off by the 0.3 s timeout rather than waiting on the socket.
        assert loop.time() - started < 8


@pytest.mark.parametrize(
    "uri", ["redis://localhost:notaport/1", "redis://localhost:6379/notadb", "rediss://h:99999/1"]
)
def test_open_store_refuses_malformed_redis_urls(uri: str) -> None:
    with pytest.raises(ValueError, match="not a valid Redis URL"):
        open_store(uri)


async def test_redis_unix_socket_scheme_is_accepted() -> None:
    store = open_store("redis+unix:///nonexistent/redis.sock?db=1", timeout=0.3)
    await _assert_unavailable(store)
