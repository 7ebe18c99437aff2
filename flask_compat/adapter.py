"""The Flask adapter: the WebPort over Flask, the blueprint, the request hooks.

Same route table, views and request lifecycle as the Quart adapter
(quart_security/web/lifecycle.py); each endpoint and hook is a sync function
that drives the async core through flask_compat.driver. Flask marks its
session as accessed whenever the core reads it, so Flask adds "Vary: Cookie"
itself.

A request thread's loop only runs during the request, so mail is delivered by
a ThreadMailQueue: one daemon thread with its own loop, each delivery in the
app context (a Flask-Security app's MailUtil.send_mail may use current_app).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, MutableMapping
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, TypeVar

import flask
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.request import Request as SansIORequest
from werkzeug.sansio.response import Response

from quart_security import cli
from quart_security.extension import Adapter
from quart_security.mail_queue import ThreadMailQueue
from quart_security.state import set_current_security
from quart_security.web.form_input import FORM_MIMETYPES, is_json_mimetype, json_member
from quart_security.web.lifecycle import (
    build_blueprint,
    end_request,
    finish_response,
    run_view,
    start_request,
)
from quart_security.web.port import BodyTooLarge
from quart_security.web.routes import Route
from quart_security.web.templates import template_globals

from .driver import forget_request_context, run_in_request, run_nonsuspending

if TYPE_CHECKING:
    from quart_security.extension import Security

T = TypeVar("T")


class FlaskPort:
    """The WebPort for the current Flask request."""

    @property
    def request(self) -> SansIORequest:
        return flask.request

    @property
    def session(self) -> MutableMapping[str, Any]:
        return flask.session

    @property
    def g(self) -> Any:
        return flask.g

    @property
    def is_websocket(self) -> bool:
        return False

    async def get_body(self, limit: int) -> bytes:
        # Flask 3.1's per-request limit bounds a chunked body too; the data is
        # cached, so a view behind a decorator can still read it.
        request = flask.request
        previous = request.max_content_length
        if previous is None or previous > limit:
            request.max_content_length = limit
        try:
            return request.get_data(cache=True)
        except RequestEntityTooLarge:
            raise BodyTooLarge() from None
        finally:
            request.max_content_length = previous

    async def get_form(self) -> MultiDict[str, str]:
        try:
            return flask.request.form
        except RequestEntityTooLarge:
            raise BodyTooLarge() from None

    async def body_field(self, name: str) -> Any:
        request = flask.request
        if is_json_mimetype(request.mimetype):
            return json_member(request.get_data(cache=True), name)
        if request.mimetype in FORM_MIMETYPES:
            return request.form.get(name)
        return None

    def url_for(self, endpoint: str, **values: Any) -> str:
        return flask.url_for(endpoint, **values)

    async def render_template(self, template: str, **context: Any) -> str:
        return flask.render_template(template, **context)

    def make_response(
        self, body: str | bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return flask.Response(body, status=status, headers=headers)

    def redirect(self, location: str, status: int = 302) -> Response:
        return flask.redirect(location, status)

    async def make_app_response(self, value: Any) -> Response:
        return flask.make_response(value)


def _endpoint_function(security: Security, route: Route) -> Any:
    def endpoint(**kwargs: Any) -> Response:
        port = FlaskPort()
        if kwargs:
            port.g.fs_view_args = kwargs
        return run_in_request(run_view(security, port, route.view, route.endpoint))

    endpoint.__name__ = route.endpoint
    return endpoint


class FlaskAdapter(Adapter):
    def register(self, security: Security, app: Any, register_blueprint: bool) -> None:
        async def deliver(message: EmailMessage) -> None:
            with app.app_context():
                set_current_security(security)
                await security.mailer.deliver(message)

        security.mailer.queue = ThreadMailQueue(deliver, security.cv("MAIL_QUEUE_SIZE"))
        if register_blueprint:
            app.register_blueprint(build_blueprint(security, flask.Blueprint, _endpoint_function))

        async def start() -> None:
            set_current_security(security)
            await start_request(security, FlaskPort())

        def before() -> None:
            run_in_request(start())

        def after(response: flask.Response) -> Response:
            return run_in_request(finish_response(security, FlaskPort(), response))

        def teardown(exc: BaseException | None) -> None:
            try:
                run_in_request(end_request(security))
            finally:
                forget_request_context()

        # Document stores (MongoDB) may ask for their indexes at start-up; Flask
        # has no before_serving hook, so a sync store creates them here, once.
        if getattr(security.store, "create_indexes_on_start", False):
            run_nonsuspending(security.store.create_indexes())  # type: ignore[attr-defined]

        app.before_request(before)
        app.after_request(after)
        app.teardown_request(teardown)

        def security_context() -> dict[str, Any]:
            return template_globals(security, FlaskPort())

        app.context_processor(security_context)
        cli.register_commands(security, app.cli, _cli_runner(security, app))


def _cli_runner(security: Security, app: Any) -> cli.Runner:
    """Each command in an app context, on this thread's loop (as a request runs)."""

    def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        async def main() -> T:
            set_current_security(security)
            return await make()

        with app.app_context():  # a fresh one: its own g, so its own context copy
            return run_in_request(main())

    return run
