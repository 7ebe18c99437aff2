"""Building the answers every view gives: JSON envelope or HTML page/redirect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.sansio.response import Response

from .csrf import generate_csrf
from .envelope import error_payload, render_json, want_json
from .form_input import InvalidInput
from .redirects import safe_next

if TYPE_CHECKING:
    from ..extension import Security
    from .forms import SecurityForm
    from .port import WebPort


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


async def csrf_failure(security: Security, port: WebPort, message_key: str) -> Response:
    """The one answer to a request that fails CSRF (400), for every endpoint and guard.

    Shaped like Flask-Security's form-level CSRF error: the message in
    ``errors`` and under the ``csrf_token`` field.
    """
    msg = security.message(message_key)
    if want_json(security, port):
        return await render_json(security, port, error_payload(None, {"csrf_token": [msg]}), 400)
    return port.make_response(msg, 400, {"Content-Type": "text/plain; charset=utf-8"})


async def json_ok(
    security: Security,
    port: WebPort,
    payload: dict[str, Any] | None = None,
    *,
    user: Any = None,
    with_token: bool = False,
    status: int = 200,
) -> Response:
    body: dict[str, Any] = {"csrf_token": generate_csrf(security, port)}
    body.update(payload or {})
    if user is not None:
        body["user"] = user_payload(security, port, user, with_token=with_token)
    return await render_json(security, port, body, status, user=user)


def message_errors(
    security: Security,
    key_errors: dict[str, list[str]],
    message_kwargs: dict[str, dict[str, Any]] | None = None,
) -> dict[str, list[str]]:
    kwargs = message_kwargs or {}
    return {
        field: [security.message(k, **kwargs.get(k, {})) for k in keys]
        for field, keys in key_errors.items()
    }


async def json_errors(
    security: Security,
    port: WebPort,
    key_errors: dict[str, list[str]],
    status: int = 400,
    message_kwargs: dict[str, dict[str, Any]] | None = None,
) -> Response:
    return await render_json(
        security,
        port,
        error_payload(None, message_errors(security, key_errors, message_kwargs)),
        status,
    )


async def render_page(
    security: Security,
    port: WebPort,
    template_key: str,
    *,
    form: SecurityForm | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    """An HTML page from the template named by a SECURITY_*_TEMPLATE key."""
    errors = (
        message_errors(security, form.key_errors, form.message_kwargs) if form is not None else {}
    )
    html = await port.render_template(
        security.cv(template_key),
        form=form,
        field_errors=errors,
        form_errors=errors.get("", []),
        csrf_token=generate_csrf(security, port),
        **security.template_context(port),
        **context,
    )
    return port.make_response(html, status, {"Content-Type": "text/html; charset=utf-8"})


async def form_failure(
    security: Security,
    port: WebPort,
    form: SecurityForm,
    template_key: str,
    status: int = 400,
) -> Response:
    if want_json(security, port):
        return await json_errors(security, port, form.key_errors, status, form.message_kwargs)
    return await render_page(security, port, template_key, form=form, status=status)


def safe_next_url(security: Security, port: WebPort, *candidates: Any) -> str | None:
    request = port.request
    for candidate in candidates:
        if not candidate:
            continue
        target = safe_next(
            candidate,
            request_host=request.host,
            request_scheme=request.scheme,
            server_name=security.app_config.get("SERVER_NAME"),
            allow_subdomains=bool(security.cv("REDIRECT_ALLOW_SUBDOMAINS")),
            base_domain=security.cv("REDIRECT_BASE_DOMAIN"),
            allowed_subdomains=security.cv("REDIRECT_ALLOWED_SUBDOMAINS") or (),
        )
        if target is not None:
            return target
    return None


def refuse_unsafe_next(security: Security, port: WebPort, form: SecurityForm) -> None:
    """INVALID_REDIRECT on the form's ``next`` (or the query's) when it is not safe.

    Flask-Security's NextFormMixin: a form that takes ``next`` fails with a
    field error rather than quietly going elsewhere, in JSON and HTML alike.
    """
    target = form.data.get("next") or port.request.args.get("next")
    if target and safe_next_url(security, port, target) is None:
        form.add_error("next", "INVALID_REDIRECT")
        if "next" in form:
            form["next"].data = ""  # never rendered back into the page


def redirect_after(
    security: Security, port: WebPort, view_key: str, *next_candidates: Any
) -> Response:
    """Redirect to a safe ``next`` if one was given, else the configured view."""
    target = safe_next_url(security, port, *next_candidates)
    if target is None:
        target = security.view_url(port, view_key)
    return port.redirect(target)


def view_redirect_url(
    security: Security, port: WebPort, value: Any, qparams: dict[str, str] | None = None
) -> str:
    """A *_VIEW setting as a URL, with query parameters, as Flask-Security's get_url.

    An endpoint name is resolved with url_for; anything else is a URL of the
    app's front end, whose host REDIRECT_HOST replaces when set (an SPA dev
    server on another port).
    """
    target = str(value() if callable(value) else value)
    resolved = security.resolve_view_url(port, target)
    is_endpoint = not (target.startswith("/") or "://" in target) and resolved != target
    parts = urlsplit(resolved)
    if qparams:
        query = dict(parse_qsl(parts.query))
        query.update(qparams)
        parts = parts._replace(query=urlencode(query))
    host = security.cv("REDIRECT_HOST")
    if host and not is_endpoint:
        parts = parts._replace(netloc=str(host))
    return urlunsplit(parts)
