"""The answers every view gives: the JSON envelope, the HTML page, and their failures.

One helper per kind of answer, shared by every view: ``json_ok`` for a JSON
success, ``render_page`` for a page, ``form_failure`` for a refused form
(the envelope with field errors, or the page again with its template
context), ``csrf_failure``, ``overloaded`` and ``input_error_response`` for a request
the library cannot use (``error_page`` is their HTML form), ``flash`` for
Flask's flash messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

from .. import signals
from ..config import DEFAULT_MESSAGES
from ..errors import HashingOverloaded, HashingShareExceeded, TooManyRequests
from .client import client_key
from .csrf import generate_csrf
from .envelope import error_payload, render_json, want_json
from .form_input import InvalidInput
from .templates import page_group, processor_context, renderer
from .urls import safe_next_url

if TYPE_CHECKING:
    from ..errors import Problem, SecurityError
    from ..extension import Security
    from .forms import Form
    from .port import WebPort

HTML = "text/html; charset=utf-8"


def apply_cache_control(security: Security, response: Response) -> Response:
    """SECURITY_CACHE_CONTROL on an answer of the library (Flask-Security's add_cache_control).

    Every library endpoint and every refusal of a decorator gets it: they
    carry CSRF and auth tokens, user data, or say who is signed in.
    """
    for directive, value in (security.cv("CACHE_CONTROL") or {}).items():
        setattr(response.cache_control, directive.replace("-", "_"), value)
    return response


def flash(security: Security, port: WebPort, key: str, **kwargs: Any) -> None:
    """Flask's/Quart's flash (session ``_flashes``), honouring FLASH_MESSAGES."""
    if not security.cv("FLASH_MESSAGES"):
        return
    text, category = security.message_with_category(key, **kwargs)
    flashes = list(port.session.get("_flashes") or [])
    flashes.append((category, text))
    port.session["_flashes"] = flashes


def wants_auth_token(port: WebPort) -> bool:
    """``?include_auth_token`` on a POST (never on GET: C-04)."""
    return port.request.method == "POST" and "include_auth_token" in port.request.args


def user_payload(
    security: Security, port: WebPort, user: Any, *, with_token: bool
) -> dict[str, Any]:
    payload = dict(user.get_security_payload())
    if with_token or (security.cv("BACKWARDS_COMPAT_AUTH_TOKEN") and port.request.method == "POST"):
        payload["authentication_token"] = user.get_auth_token()
    return payload


async def input_error_response(security: Security, port: WebPort, exc: InvalidInput) -> Response:
    """A body we cannot use (bad JSON, wrong types, too large): 4xx in the envelope."""
    if exc.field_errors:
        fields = {f: [security.message(k) for k in keys] for f, keys in exc.field_errors.items()}
        payload = error_payload(None, fields)
    else:
        payload = error_payload(security.message(exc.message_key))
    return await render_json(security, port, payload, exc.status)


async def csrf_failure(
    security: Security, port: WebPort, message_key: str, *, as_json: bool = False
) -> Response:
    """The one answer to a request that fails CSRF (400), for every endpoint and guard.

    Shaped like Flask-Security's form-level CSRF error: the message in
    ``errors`` and under the ``csrf_token`` field. ``as_json`` forces JSON
    (``handle_csrf(method, json_response=True)``); otherwise it is chosen as
    for every answer.
    """
    msg = security.message(message_key)
    if as_json or want_json(security, port):
        return await render_json(security, port, error_payload(None, {"csrf_token": [msg]}), 400)
    return await error_page(security, port, "csrf", msg, 400)


async def overloaded(
    security: Security, port: WebPort, message_key: str, retry_after: int, status: int = 503
) -> Response:
    """The answer when the hashing pool refuses a call (503 when it is full, 429 when
    this client holds its share of it) or a rate limit does (429): Retry-After,
    JSON or a page."""
    headers = {"Retry-After": str(retry_after)}
    msg = security.message(message_key)
    if want_json(security, port):
        return await render_json(security, port, error_payload(msg), status, headers)
    response = await error_page(security, port, "overloaded", msg, status)
    response.headers.update(headers)
    return response


async def refusal(
    security: Security, port: WebPort, exc: HashingOverloaded | TooManyRequests
) -> Response:
    """The answer to a refusal before any work (a full or shared-out hashing pool, a
    rate limit); a pool share refused is signalled here (the limits signal their own)."""
    if isinstance(exc, HashingShareExceeded):
        await signals.send(
            signals.rate_limit_exceeded,
            security.app,
            action="hashing",
            scope="pool",
            client=client_key(security, port),
            user=None,
        )
    return await overloaded(security, port, exc.message_key, exc.retry_after, exc.status)


def back_url(port: WebPort) -> str:
    """Where "back to the form" goes: this URL again, as a GET (a fresh form and token).

    The request's own path and query, never the Referer: the library's pages
    send none (``no-referrer``), and a path cannot point off-site.
    """
    request = port.request
    query = request.query_string.decode("latin-1")
    path = (request.root_path or "") + request.path
    return f"{path}?{query}" if query else path


async def error_page(
    security: Security, port: WebPort, kind: str, message: str, status: int
) -> Response:
    """The styled HTML page (security/error.html) for a refusal that has no form page.

    Rendered by the framework (an app overrides it with its own
    templates/security/error.html), not by a render_template hook, which
    only knows the SECURITY_*_TEMPLATE pages.
    """
    html = await port.render_template(
        "security/error.html", kind=kind, message=message, back_url=back_url(port)
    )
    return port.make_response(html, status, {"Content-Type": HTML})


async def json_ok(
    security: Security,
    port: WebPort,
    payload: dict[str, Any] | None = None,
    *,
    user: Any = None,
    with_token: bool = False,
    status: int = 200,
) -> Response:
    """A JSON success: ``csrf_token``, the view's members and (if given) ``user``."""
    body: dict[str, Any] = {"csrf_token": generate_csrf(security, port)}
    body.update(payload or {})
    if user is not None:
        body["user"] = user_payload(security, port, user, with_token=with_token)
    return await render_json(security, port, body, status, user=user)


def problem_message(security: Security, problem: Problem) -> str:
    """What the client reads for one problem: a key translated for this request,
    or the app's own text (a custom util's error) as it is."""
    if problem.text is not None:
        return problem.text
    return security.message(problem.key, **problem.kwargs)


def message_errors(security: Security, form: Form) -> dict[str, list[str]]:
    """The form's errors per field, in order: the library's (translated, or a
    custom util's text), then the app's validators' text as they wrote it."""
    errors = {
        field: [problem_message(security, p) for p in problems]
        for field, problems in form.key_errors.items()
    }
    for field, texts in form.app_errors().items():
        for text in texts:
            # An app's validator may name a library message by its key
            # (DataRequired(message="PASSWORD_NOT_PROVIDED")), as Flask-Security allows.
            if text in DEFAULT_MESSAGES:
                text = security.message(text)
            if text not in errors.setdefault(field, []):
                errors[field].append(text)
    return errors


async def render_page(
    security: Security,
    port: WebPort,
    template_key: str,
    *,
    form: Form | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    """An HTML page from the template named by a SECURITY_*_TEMPLATE key.

    The template gets the form, its errors, a CSRF token, what the app's
    context processors add (global, then this page's), and ``context``; the
    names every template gets come from the adapters' context processor
    (web/templates.py). An app's ``render_template`` hook renders it instead
    when there is one.
    """
    errors = message_errors(security, form) if form is not None else {}
    rendered = await renderer(security, port)(
        security.cv(template_key),
        **{
            # The app's names first: the library's own (form, csrf_token, ...) win.
            **await processor_context(security, page_group(template_key)),
            "form": form,
            "field_errors": errors,
            "form_errors": errors.get("", []),
            "csrf_token": generate_csrf(security, port),
            **context,
        },
    )
    if isinstance(rendered, Response):  # an app's render_template hook may answer itself
        if status != 200:
            rendered.status_code = status
        return rendered
    return port.make_response(rendered, status, {"Content-Type": HTML})


async def form_failure(
    security: Security,
    port: WebPort,
    form: Form,
    template_key: str,
    *,
    error: SecurityError | None = None,
    status: int | None = None,
    **context: Any,
) -> Response:
    """The one answer to a refused form: the envelope with its field errors (JSON),
    or the page again with them and ``context`` (HTML).

    ``error`` (a flow's refusal) adds its problems to the form and gives the
    status, unless ``status`` is given.
    """
    if error is not None:
        for problem in error.problems:
            form.add_problem(problem)
        status = status or error.status
    status = status or 400
    if want_json(security, port):
        return await render_json(
            security, port, error_payload(None, message_errors(security, form)), status
        )
    return await render_page(security, port, template_key, form=form, status=status, **context)


def refuse_unsafe_next(security: Security, port: WebPort, form: Form) -> None:
    """INVALID_REDIRECT on the form's ``next`` (or the query's) when it is not safe.

    Flask-Security's NextFormMixin: a form that takes ``next`` fails with a
    field error rather than quietly going elsewhere, in JSON and HTML alike.
    """
    target = form.data.get("next") or port.request.args.get("next")
    if target and safe_next_url(security, port, target) is None:
        form.add_error("next", "INVALID_REDIRECT")
        if "next" in form:
            form["next"].data = ""  # never rendered back into the page
