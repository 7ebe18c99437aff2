"""The Quart adapter: the WebPort over Quart, the blueprint, the request hooks.

Mail is delivered by a consumer task on the app's event loop (a
LoopMailQueue), each delivery in the app context; after_serving waits for it,
within its shutdown bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, MutableMapping
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, TypeVar

import quart
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.request import Request as SansIORequest
from werkzeug.sansio.response import Response

from .. import cli
from ..extension import Adapter
from ..mail_queue import LoopMailQueue
from ..state import request_state, set_current_security
from .form_input import FORM_MIMETYPES, is_json_mimetype, json_member
from .lifecycle import build_blueprint, end_request, finish_response, run_view, start_request
from .port import BodyTooLarge
from .routes import Route
from .templates import template_globals

if TYPE_CHECKING:
    from ..extension import Security


class QuartPort:
    """The WebPort for the current Quart request or websocket."""

    def __init__(self, *, websocket: bool = False) -> None:
        self._websocket = websocket

    @property
    def request(self) -> SansIORequest:
        return quart.websocket if self._websocket else quart.request

    @property
    def session(self) -> MutableMapping[str, Any]:
        # Quart's session proxy does not set ``accessed``, so Quart would never
        # add "Vary: Cookie" for us (the Flask CVE-2023-30861 class); record it.
        request_state(quart.g).session_used = True
        return quart.session

    @property
    def g(self) -> Any:
        return quart.g

    @property
    def is_websocket(self) -> bool:
        return self._websocket

    async def get_body(self, limit: int) -> bytes:
        request = quart.request
        data = bytearray()
        try:
            async with asyncio.timeout(request.body_timeout):
                async for chunk in request.body:
                    data.extend(chunk)
                    if len(data) > limit:
                        raise BodyTooLarge()
        except RequestEntityTooLarge:
            raise BodyTooLarge() from None
        return bytes(data)

    async def get_form(self) -> MultiDict[str, str]:
        try:
            form = await quart.request.form
        except RequestEntityTooLarge:
            raise BodyTooLarge() from None
        return form

    async def body_field(self, name: str) -> Any:
        request = quart.request
        if is_json_mimetype(request.mimetype):
            # Parsed here from the cached raw body: Quart's get_json raises on
            # a body that is not UTF-8 even when asked to be silent.
            raw = await request.get_data(True, False, False)  # cached, bytes
            return json_member(raw, name)
        if request.mimetype in FORM_MIMETYPES:
            return (await request.form).get(name)
        return None

    def url_for(self, endpoint: str, **values: Any) -> str:
        return quart.url_for(endpoint, **values)

    async def render_template(self, template: str, **context: Any) -> str:
        return await quart.render_template(template, **context)

    def make_response(
        self, body: str | bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return quart.Response(body, status=status, headers=headers)

    def redirect(self, location: str, status: int = 302) -> Response:
        return quart.redirect(location, status)

    async def make_app_response(self, value: Any) -> Response:
        return await quart.make_response(value)


def _endpoint_function(security: Security, route: Route) -> Any:
    async def endpoint(**kwargs: Any) -> Response:
        port = QuartPort()
        if kwargs:
            port.g.fs_view_args = kwargs
        return await run_view(security, port, route.view, route.endpoint)

    endpoint.__name__ = route.endpoint
    return endpoint


T = TypeVar("T")


def _cli_runner(security: Security, app: Any) -> cli.Runner:
    """Quart's CLI is sync: each command gets a loop of its own and an app context."""

    def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        async def main() -> T:
            # asyncio.run's task has a context copy: the current Security set here
            # stays in it.
            async with app.app_context():
                set_current_security(security)
                return await make()

        return asyncio.run(main())

    return run


class QuartAdapter(Adapter):
    def register(self, security: Security, app: Any, register_blueprint: bool) -> None:
        async def deliver(message: EmailMessage) -> None:
            # Off the request, in the app context a MailUtil.send_mail may need.
            async with app.app_context():
                set_current_security(security)
                await security.mailer.deliver(message)

        security.mailer.queue = LoopMailQueue(deliver, security.cv("MAIL_QUEUE_SIZE"))
        if register_blueprint:
            app.register_blueprint(build_blueprint(security, quart.Blueprint, _endpoint_function))

        async def before() -> None:
            set_current_security(security)
            await start_request(security, QuartPort())

        async def before_ws() -> None:
            set_current_security(security)
            await start_request(security, QuartPort(websocket=True))

        async def after(response: Response) -> Response:
            port = QuartPort()
            response = await finish_response(security, port, response)
            if request_state(port.g).session_used:
                response.vary.add("Cookie")
            return response

        async def teardown(exc: BaseException | None) -> None:
            await end_request(security)
            set_current_security(None)

        async def create_indexes() -> None:
            # Document stores (MongoDB) may ask for their indexes at start-up.
            if getattr(security.store, "create_indexes_on_start", False):
                await security.store.create_indexes()  # type: ignore[attr-defined]

        app.before_serving(create_indexes)
        app.after_serving(security.mailer.shutdown)

        async def close_throttle() -> None:
            await security.throttle.aclose()

        app.after_serving(close_throttle)
        app.before_request(before)
        app.before_websocket(before_ws)
        app.after_request(after)
        app.teardown_request(teardown)
        app.teardown_websocket(teardown)

        async def security_context() -> dict[str, Any]:
            return template_globals(security, QuartPort())

        app.context_processor(security_context)
        cli.register_commands(security, app.cli, _cli_runner(security, app))
