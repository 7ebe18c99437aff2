"""What every web adapter does around a request, written once.

The Quart adapter (web/quart_adapter.py) and the Flask one (flask_compat) only
decide how to reach the request and how to run a coroutine; what happens
before the view, after it, and how a view's typed failure becomes the
documented envelope lives here, so the two frameworks cannot drift apart.

One unit of work per request, ended in one place (``settle``): when the view
succeeded, the request's mail intents are rendered, the unit of work is
committed, and only then is the mail handed to delivery. A library view is
settled before its answer leaves ``run_view``, so a database error is an
error answer, not a 500 after a success was built; an app's view is settled
in the after-request hook. Any failure (an error answer, an exception) rolls
the unit of work back at teardown and sends no mail. Flows never commit.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

from ..crypto.hashing_pool import hashing_client
from ..errors import HashingOverloaded, SecurityError, TooManyRequests
from ..state import request_state
from . import authn
from .attempts import client_attempt
from .client import client_key
from .csrf import queue_csrf_cookie
from .envelope import error_payload, render_json, want_json
from .form_input import InvalidInput
from .responses import (
    apply_cache_control,
    error_page,
    input_error_response,
    problem_message,
    refusal,
)
from .routes import Route, enabled_routes
from .templates import mail_renderer

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

log = logging.getLogger("quart_security")


async def run_view(
    security: Security, port: WebPort, view: Any, endpoint: str | None = None
) -> Response:
    """Call a core view, turn typed failures into the documented envelope, settle
    a success, and mark every answer of the library as not to be cached.

    A POST first counts against its endpoint's per-client budget (RATE_LIMITS),
    so a client over it is refused before any work, hashing included; the
    view's password hashes are counted against its client's share of the
    hashing pool (``hashing_client``), so one source cannot starve the rest.
    """
    token = hashing_client.set(client_key(security, port))
    try:
        response = await _answer(security, port, view, endpoint)
    finally:
        hashing_client.reset(token)
    if response.status_code < 400 or request_state(port.g).commit_on_error:
        response = await settle(security, port, response)
    return apply_cache_control(security, response)


async def settle(security: Security, port: WebPort, response: Response) -> Response:
    """The end of a successful request: render its mail, commit, hand the mail over.

    A commit that fails is an error answer (500, in the envelope) and sends
    no mail; the unit of work is rolled back.
    """
    state = request_state(port.g)
    intents = []
    for intent in state.outbox.take():
        # MAIL_LIMIT: over it, rendered at the same cost and not sent (the
        # answer cannot tell a capped address from another).
        if intent.deliver and not await security.throttle.mail_allowed(
            intent.recipient, intent.template
        ):
            intent = dataclasses.replace(intent, deliver=False)
        intents.append(intent)
    messages = await security.mailer.render_all(intents, mail_renderer(security, port))
    try:
        await security.store.end_unit_of_work(commit=True)
    except Exception:
        log.exception("the unit of work of %s could not be committed", port.request.path)
        await security.store.end_unit_of_work(commit=False)
        return await server_error(security, port)
    await security.mailer.hand_over(messages)
    return response


async def server_error(security: Security, port: WebPort) -> Response:
    msg = security.message("SERVER_ERROR")
    if want_json(security, port):
        return await render_json(security, port, error_payload(msg), 500)
    try:
        return await error_page(security, port, "server_error", msg, 500)
    except Exception:  # the page itself may be what fails: never a second error
        log.exception("the server-error page could not be rendered")
        return port.make_response(msg, 500, {"Content-Type": "text/plain; charset=utf-8"})


async def _answer(security: Security, port: WebPort, view: Any, endpoint: str | None) -> Response:
    try:
        if endpoint is not None and port.request.method == "POST":
            await client_attempt(security, port, endpoint)
        response: Response = await view(security, port)
        return response
    except InvalidInput as exc:
        return await input_error_response(security, port, exc)
    except (HashingOverloaded, TooManyRequests) as exc:
        return await refusal(security, port, exc)
    except SecurityError as exc:
        msg = problem_message(security, exc.problems[0])
        if want_json(security, port):
            return await render_json(security, port, error_payload(msg), exc.status)
        return port.make_response(msg, exc.status)


async def has_credentials(security: Security, port: WebPort) -> bool:
    """Cheap test (no datastore I/O) whether loading the user could find anyone."""
    request = port.request
    if security.app_config.get("SESSION_COOKIE_NAME", "session") in request.cookies:
        return True
    if security.remember_cookie_name in request.cookies:
        return True
    return bool(await authn.presented_auth_token(security, port))


async def start_request(security: Security, port: WebPort) -> None:
    """Before the view: resolve the user once, only if the request carries credentials."""
    if await has_credentials(security, port):
        await authn.load_request_user(security, port)


async def finish_response(security: Security, port: WebPort, response: Response) -> Response:
    """After any view: settle a success (an app view's work), then the cookies.

    A library view was settled already; this finds nothing left to do.
    """
    if response.status_code < 400:
        response = await settle(security, port, response)
    queue_csrf_cookie(security, port)
    for action in request_state(port.g).cookie_actions:
        action.apply(response)
    return response


async def end_request(security: Security) -> None:
    """Teardown: close the unit of work, discarding anything not committed."""
    await security.store.end_unit_of_work(commit=False)


TEMPLATE_FOLDER = str(Path(__file__).resolve().parent.parent / "templates")


def build_blueprint(
    security: Security,
    blueprint_class: Any,
    endpoint_for: Callable[[Security, Route], Any],
) -> Any:
    """The security blueprint of either framework, from the one route table."""
    blueprint = blueprint_class(
        security.cv("BLUEPRINT_NAME"),
        __name__,
        url_prefix=security.cv("URL_PREFIX"),
        subdomain=security.cv("SUBDOMAIN"),
        template_folder=TEMPLATE_FOLDER,
    )
    for route in enabled_routes(security):
        blueprint.add_url_rule(
            route.url(security),
            route.endpoint,
            endpoint_for(security, route),
            methods=route.method_list(security),
        )
    return blueprint
