"""An async facade over Flask's test client with the Quart test-client API the suite uses.

Each request runs in a worker thread (``asyncio.to_thread``), as a threaded
WSGI server would run it: flask_compat then drives the core on that thread's
own event loop, never on the test's.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse


@dataclass(frozen=True)
class CookieView:
    name: str
    value: str


class AsyncResponse:
    def __init__(self, response: TestResponse) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Headers:
        return self._response.headers

    async def get_json(self) -> Any:
        return self._response.get_json()

    async def get_data(self, as_text: bool = False) -> Any:
        return self._response.get_data(as_text=as_text)


class AsyncFlaskClient:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    async def get(self, path: str, **kwargs: Any) -> AsyncResponse:
        return await self.open(path, "GET", **kwargs)

    async def post(self, path: str, **kwargs: Any) -> AsyncResponse:
        return await self.open(path, "POST", **kwargs)

    async def open(
        self,
        path: str,
        method: str,
        *,
        json: Any = None,
        data: Any = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        scope_base: Mapping[str, Any] | None = None,
    ) -> AsyncResponse:
        kwargs: dict[str, Any] = {"method": method, "headers": dict(headers or {})}
        if json is not None:
            kwargs["json"] = json
        if files:
            # multipart, as Quart's ``form=`` + ``files=`` (werkzeug FileStorage values)
            kwargs["data"] = {**dict(form or {}), **files}
        elif form is not None:
            kwargs["data"] = dict(form)  # urlencoded, as Quart's ``form=``
        elif data is not None:
            kwargs["data"] = data
        client_addr = (scope_base or {}).get("client")
        if client_addr:
            kwargs["environ_base"] = {"REMOTE_ADDR": client_addr[0]}
        client = self._client
        if any(name.lower() == "cookie" for name in kwargs["headers"]):
            # Werkzeug's client replaces a Cookie header with its jar; send this
            # one as given, through a jar-less client (like a new browser).
            client = client.application.test_client(use_cookies=False)
        response = await asyncio.to_thread(client.open, path, **kwargs)
        return AsyncResponse(response)

    def set_cookie(self, server_name: str, key: str, value: str = "") -> None:
        """Quart's signature (the server name first)."""
        self._client.set_cookie(key, value, domain=server_name)

    def delete_cookie(self, server_name: str, key: str) -> None:
        self._client.delete_cookie(key, domain=server_name)

    @asynccontextmanager
    async def session_transaction(self) -> AsyncIterator[Any]:
        """Quart's ``session_transaction``: read or plant the client's session.

        Flask's own is a sync context manager whose exit runs the app's
        teardown hooks, which drive the core on the calling thread's loop: it
        is entered and left on one worker thread, as a request would be.
        """
        opened: queue.Queue[Any] = queue.Queue()
        done = threading.Event()

        def hold() -> None:
            try:
                with self._client.session_transaction() as session:
                    opened.put(session)
                    done.wait()
            except BaseException as exc:  # reported to the test below
                opened.put(exc)

        worker = threading.Thread(target=hold)
        worker.start()
        session = await asyncio.to_thread(opened.get)
        if isinstance(session, BaseException):
            worker.join()
            raise session
        try:
            yield session
        finally:
            done.set()
            await asyncio.to_thread(worker.join)

    @property
    def cookie_jar(self) -> Iterator[CookieView]:
        # Werkzeug 3 has no public way to list a test client's cookies.
        return iter([CookieView(c.key, c.value) for c in self._client._cookies.values()])


def sync_json_login(
    client: FlaskClient, email: str, password: str, *, query: str = "", remember: bool = False
) -> TestResponse:
    """The JSON login an SPA does, with Flask's own (sync) test client."""
    page = client.get("/login", headers={"Accept": "application/json"})
    csrf = page.get_json()["response"]["csrf_token"]
    return client.post(
        "/login" + query,
        json={"email": email, "password": password, "remember": remember},
        headers={"X-CSRF-Token": csrf},
    )
