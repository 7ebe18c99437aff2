"""How the core's coroutines run from Flask's threads: one loop per thread, no leaks."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flask_compat import driver, hash_password
from quart_security import state
from tests.support.app_factory import PASSWORD
from tests.support.flask_app_factory import flask_app_sync
from tests.support.flask_client import sync_json_login

JSON = {"Accept": "application/json"}


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Any]:
    with flask_app_sync("sqlite", tmp_path) as app:
        yield app


def _in_thread(target: Any, *args: Any) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def test_two_threads_log_in_at_once_each_on_its_own_loop(built: Any) -> None:
    app = built.app.flask_app
    barrier = threading.Barrier(2, timeout=30)
    loops: dict[str, Any] = {}
    errors: list[BaseException] = []

    def user_session(email: str) -> None:
        try:
            barrier.wait()
            for _ in range(4):
                client = app.test_client()
                login = sync_json_login(client, email, PASSWORD)
                assert login.status_code == 200, login.get_data(as_text=True)
                assert client.get("/api/me", headers=JSON).get_json() == {"email": email}
            loops[email] = driver._threads.holder.loop
            # Nothing a request set is left in this thread's own context.
            assert state._current.get() is None
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=user_session, args=(email,))
        for email in ("matt@lp.com", "joe@lp.com")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert loops["matt@lp.com"] is not loops["joe@lp.com"]
    # Each loop is closed once its thread is gone.
    del threads
    gc.collect()
    assert all(loop.is_closed() for loop in loops.values())


def test_sync_api_refuses_to_nest_in_a_running_loop(built: Any) -> None:
    app = built.app.flask_app

    async def async_caller() -> None:
        with app.app_context():
            hash_password("a password")

    def run() -> None:
        with pytest.raises(RuntimeError, match="already running an event loop"):
            asyncio.run(async_caller())

    _in_thread(run)


def test_each_request_gets_a_fresh_context(built: Any) -> None:
    app = built.app.flask_app

    def requests() -> None:
        client = app.test_client()
        assert sync_json_login(client, "matt@lp.com", PASSWORD).status_code == 200
        anonymous = app.test_client()
        for _ in range(3):
            # Same thread: the logged-in request never leaves its user behind.
            assert client.get("/api/me", headers=JSON).get_json() == {"email": "matt@lp.com"}
            assert anonymous.get("/api/me", headers=JSON).status_code == 401
            assert anonymous.get("/").get_json() == {"authenticated": False}

    _in_thread(requests)


def test_datastore_works_without_a_loop_even_inside_one(built: Any) -> None:
    app = built.app.flask_app

    async def async_caller() -> str:
        with app.app_context():
            return str(built.datastore.find_user(email="joe@lp.com").username)

    def run() -> None:
        assert asyncio.run(async_caller()) == "joe"

    _in_thread(run)
