"""The request/response port: what the views need from a web framework.

Quart and Flask both build their request and response objects on Werkzeug's
sans-IO classes, so headers, args, cookies, host, Accept parsing, and
``set_cookie``/``delete_cookie`` are shared already. What differs is I/O
(reading the body is a coroutine in Quart), the session and ``g`` objects,
``url_for``, template rendering, and how a response is constructed. Those few
things are this port; ``web/quart_adapter.py`` and ``flask_compat`` implement it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Protocol

from werkzeug.datastructures import MultiDict
from werkzeug.sansio.request import Request as SansIORequest
from werkzeug.sansio.response import Response as SansIOResponse


class WebPort(Protocol):
    """One request as the core sees it."""

    @property
    def request(self) -> SansIORequest:
        """Headers, args, cookies, method, host, scheme, remote_addr, Accept."""
        ...

    @property
    def session(self) -> MutableMapping[str, Any]:
        """The framework session (a signed cookie by default)."""
        ...

    @property
    def g(self) -> Any:
        """Per-request attribute namespace (``quart.g`` / ``flask.g``)."""
        ...

    @property
    def is_websocket(self) -> bool: ...

    async def get_body(self, limit: int) -> bytes:
        """The raw body; raises ``BodyTooLarge`` past ``limit`` bytes."""
        ...

    async def get_form(self) -> MultiDict[str, str]:
        """Parsed urlencoded or multipart form fields."""
        ...

    async def body_field(self, name: str) -> Any:
        """One top-level member of a JSON or form body, or None.

        Read through the framework's own parser and cache, under the app's own
        size limit, so the app's view can still read the body: this is how the
        CSRF check (and the "json" auth-token source) look into an app route's
        body without taking it from the app.
        """
        ...

    def url_for(self, endpoint: str, **values: Any) -> str: ...

    async def render_template(self, template: str, **context: Any) -> str: ...

    def make_response(
        self,
        body: str | bytes,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> SansIOResponse: ...

    def redirect(self, location: str, status: int = 302) -> SansIOResponse: ...

    async def make_app_response(self, value: Any) -> SansIOResponse:
        """What an app callback returned (tuple, dict, str...) as the framework's response."""
        ...


class BodyTooLarge(Exception):
    """The request body is larger than the endpoint accepts (413)."""
