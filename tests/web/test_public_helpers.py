"""The remaining public helpers, on the Quart app and on the flask_compat app:
get_hmac, check_and_get_token_status, get_url, get_request_attr, handle_csrf.

Each test registers the same small views on whichever framework ``test_app``
is: async views over ``quart_security`` for Quart, sync views over
``flask_compat`` for Flask (the helpers an app calls differ only in that).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from argon2 import PasswordHasher
from quart import Quart

import flask_compat
import quart_security
from quart_security.web.csrf import CSRFError
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, auth_token, body, get_csrf, json_login

HTML = {"Accept": "text/html"}


def is_quart(test_app: Any) -> bool:
    return isinstance(test_app.app, Quart)


def basic(email: str, password: str = PASSWORD) -> dict[str, str]:
    raw = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def add_views(test_app: Any) -> list[str]:
    """The views of these tests; returns the list the CSRF views append to when they run."""
    ran: list[str] = []
    if is_quart(test_app):
        _add_quart_views(test_app.app, ran)
    else:
        _add_flask_views(test_app.app.flask_app, ran)
    return ran


def _attrs(get_request_attr: Any) -> dict[str, Any]:
    return {
        "via": get_request_attr("fs_authn_via"),
        "paa": get_request_attr("fs_paa"),
        "csrf_valid": get_request_attr("csrf_valid"),
        "app_attr": get_request_attr("app_attr"),
        "missing": get_request_attr("no_such_attribute"),
    }


def _add_quart_views(app: Any, ran: list[str]) -> None:
    from quart import g, jsonify, request

    qs = quart_security

    @app.route("/helpers/attrs", methods=["GET", "POST"])
    @qs.auth_required("token", "session", "basic")
    async def attrs() -> Any:
        g.app_attr = "set by the app"
        return jsonify(_attrs(qs.get_request_attr))

    @app.route("/helpers/attrs-open")
    async def attrs_open() -> Any:
        return jsonify(_attrs(qs.get_request_attr))

    @app.route("/helpers/url")
    async def url() -> Any:
        args = request.args.to_dict()
        target = args.pop("target")
        return jsonify(url=qs.get_url(target, args or None))

    @app.route("/helpers/csrf-json", methods=["POST"])
    async def csrf_json() -> Any:
        refused = await qs.handle_csrf(request.args.get("method", "session"), json_response=True)
        if refused is not None:
            return refused
        ran.append("csrf-json")
        return jsonify(ok=True, csrf_valid=qs.get_request_attr("csrf_valid"))

    @app.route("/helpers/csrf-raise", methods=["POST"])
    async def csrf_raise() -> Any:
        # The return value ignored, as Flask-Security's default behaviour allows.
        await qs.handle_csrf(request.args.get("method", "session"))
        ran.append("csrf-raise")
        return jsonify(ok=True, csrf_valid=qs.get_request_attr("csrf_valid"))

    @app.route("/helpers/csrf-after-guard", methods=["POST"])
    @qs.auth_required("session")
    async def csrf_after_guard() -> Any:
        await qs.handle_csrf("session")
        ran.append("csrf-after-guard")
        return jsonify(ok=True)


def _add_flask_views(app: Any, ran: list[str]) -> None:
    from flask import g, jsonify, request

    fc = flask_compat

    @app.route("/helpers/attrs", methods=["GET", "POST"])
    @fc.auth_required("token", "session", "basic")
    def attrs() -> Any:
        g.app_attr = "set by the app"
        return jsonify(_attrs(fc.get_request_attr))

    @app.route("/helpers/attrs-open")
    def attrs_open() -> Any:
        return jsonify(_attrs(fc.get_request_attr))

    @app.route("/helpers/url")
    def url() -> Any:
        args = request.args.to_dict()
        target = args.pop("target")
        return jsonify(url=fc.get_url(target, args or None))

    @app.route("/helpers/csrf-json", methods=["POST"])
    def csrf_json() -> Any:
        refused = fc.handle_csrf(request.args.get("method", "session"), json_response=True)
        if refused is not None:
            return refused
        ran.append("csrf-json")
        return jsonify(ok=True, csrf_valid=fc.get_request_attr("csrf_valid"))

    @app.route("/helpers/csrf-raise", methods=["POST"])
    def csrf_raise() -> Any:
        fc.handle_csrf(request.args.get("method", "session"))
        ran.append("csrf-raise")
        return jsonify(ok=True, csrf_valid=fc.get_request_attr("csrf_valid"))

    @app.route("/helpers/csrf-after-guard", methods=["POST"])
    @fc.auth_required("session")
    def csrf_after_guard() -> Any:
        fc.handle_csrf("session")
        ran.append("csrf-after-guard")
        return jsonify(ok=True)


# ---------------------------------------------------------------------- get_hmac
def expected_hmac(salt: str, password: str) -> bytes:
    mac = hmac.new(salt.encode(), password.encode(), hashlib.sha512).digest()
    return base64.b64encode(mac)


async def test_get_hmac_is_the_salted_hmac_the_hashes_use(test_app: Any) -> None:
    async with test_app.app.app_context():
        value = quart_security.get_hmac("correct horse")
        assert value == expected_hmac("test-salt", "correct horse")
        assert quart_security.get_hmac(b"correct horse") == value
        assert quart_security.get_hmac("correct horse") == value  # stable
        assert quart_security.get_hmac("correct horsf") != value
        # It is what argon2 hashed: a stored hash verifies against it.
        user = await test_app.store.find_user(email="matt@lp.com")
        assert PasswordHasher().verify(user.password, quart_security.get_hmac(PASSWORD))


@pytest.mark.app_settings(security_password_salt="another-salt")
async def test_get_hmac_is_keyed_by_password_salt(test_app: Any) -> None:
    async with test_app.app.app_context():
        value = quart_security.get_hmac("correct horse")
    assert value == expected_hmac("another-salt", "correct horse")
    assert value != expected_hmac("test-salt", "correct horse")


@pytest.mark.app_settings(security_password_salt=None)
@pytest.mark.settings(password_single_hash=True)
async def test_get_hmac_refuses_without_a_salt(test_app: Any) -> None:
    async with test_app.app.app_context():
        with pytest.raises(RuntimeError, match="SECURITY_PASSWORD_SALT"):
            quart_security.get_hmac("correct horse")


# ---------------------------------------------------------------------- token status
async def test_check_and_get_token_status(test_app: Any) -> None:
    security = test_app.security
    within = timedelta(minutes=5)
    data = {"email": "matt@lp.com", "n": 1}
    check = quart_security.check_and_get_token_status
    async with test_app.app.app_context():
        token = security.tokens.dumps("confirm", data)
        assert check(token, "confirm", within) == (False, False, data)
        # Another serializer's salt: invalid, never read as this one's.
        assert check(token, "reset", within) == (False, True, None)
        # The signature's FIRST character: all six of its bits are signature bits
        # (the last one's low bits are base64 padding, so changing it may not).
        start = token.rindex(".") + 1
        swapped = "A" if token[start] != "A" else "B"
        tampered = token[:start] + swapped + token[start + 1 :]
        assert check(tampered, "confirm", within) == (False, True, None)
        payload_tampered = "x" + token[1:]
        assert check(payload_tampered, "confirm", within) == (False, True, None)
        for junk in ("", "garbage", "a" * 9000, None, 42):
            assert check(junk, "confirm", within) == (False, True, None)  # type: ignore[arg-type]
        test_app.clock.advance(within + timedelta(seconds=1))
        # Expired: its data still comes back (the signature held), as in Flask-Security.
        assert check(token, "confirm", within) == (True, False, data)
        assert check(token, "confirm", timedelta(minutes=10)) == (False, False, data)
        with pytest.raises(ValueError, match=r"unknown serializer 'nope'.*confirm"):
            check(token, "nope", within)


async def test_check_and_get_token_status_reads_auth_tokens(test_app: Any) -> None:
    client = test_app.app.test_client()
    token = await auth_token(client, "joe@lp.com")
    async with test_app.app.app_context():
        expired, invalid, data = quart_security.check_and_get_token_status(
            token, "remember", timedelta(hours=1)
        )
        user = await test_app.store.find_user(email="joe@lp.com")
    assert (expired, invalid) == (False, False)
    assert data["uid"] in {user.fs_uniquifier, getattr(user, "fs_token_uniquifier", None)}


# ---------------------------------------------------------------------- get_url
async def get_url(client: Any, target: str, **qparams: str) -> str:
    response = await client.get("/helpers/url?" + urlencode({"target": target, **qparams}))
    assert response.status_code == 200, await response.get_data(as_text=True)
    url: str = (await body(response))["url"]
    return url


async def test_get_url_in_a_request(test_app: Any) -> None:
    add_views(test_app)
    client = test_app.app.test_client()
    assert await get_url(client, "security.login") == "/login"
    assert await get_url(client, "security.login", next="/x") == "/login?next=%2Fx"
    assert await get_url(client, "index") == "/"
    # Not an endpoint: the value itself, as a URL.
    assert await get_url(client, "/spa/confirmed", a="1") == "/spa/confirmed?a=1"
    assert await get_url(client, "https://spa.example/r") == "https://spa.example/r"


@pytest.mark.settings(redirect_host="localhost:8080")
async def test_get_url_sends_external_urls_to_redirect_host(test_app: Any) -> None:
    add_views(test_app)
    client = test_app.app.test_client()
    assert await get_url(client, "security.login") == "/login"  # an endpoint stays the app's
    assert await get_url(client, "/spa/x", q="1") == "//localhost:8080/spa/x?q=1"
    assert await get_url(client, "https://spa.example/r") == "https://localhost:8080/r"


async def test_get_url_outside_a_request(test_app: Any) -> None:
    """No request: url_for builds absolute URLs from SERVER_NAME, and without it
    nothing can be built, so the value is returned as the URL it must be."""
    api: Any = quart_security if is_quart(test_app) else flask_compat
    async with test_app.app.app_context():
        assert api.get_url("security.login", {"a": "b"}) == "security.login?a=b"
    # An app context binds its URL adapter when it starts.
    test_app.app.config["SERVER_NAME"] = "app.example"
    async with test_app.app.app_context():
        assert api.get_url("security.login") == "http://app.example/login"
        assert api.get_url("security.login", {"a": "b"}) == "http://app.example/login?a=b"


# ---------------------------------------------------------------------- get_request_attr
async def test_get_request_attr_by_session(test_app: Any) -> None:
    add_views(test_app)
    client = test_app.app.test_client()
    login_time = test_app.clock.time()
    assert (await json_login(client, "joe@lp.com")).status_code == 200
    test_app.clock.advance(30)
    seen = await body(await client.get("/helpers/attrs", headers=JSON))
    assert seen["via"] == "session"
    assert seen["paa"] == pytest.approx(login_time)
    assert seen["app_attr"] == "set by the app"
    assert seen["missing"] is None
    # Without a decorator: the user was loaded for the request all the same.
    open_view = await body(await client.get("/helpers/attrs-open", headers=JSON))
    assert (open_view["via"], open_view["paa"]) == ("session", pytest.approx(login_time))


async def test_get_request_attr_by_token(test_app: Any) -> None:
    add_views(test_app)
    login_time = test_app.clock.time()
    token = await auth_token(test_app.app.test_client(), "joe@lp.com")
    test_app.clock.advance(30)
    seen = await body(
        await test_app.app.test_client().get(
            "/helpers/attrs", headers={**JSON, "Authentication-Token": token}
        )
    )
    # The token's own authentication time (FRESHNESS_ALLOW_AUTH_TOKEN, True by default).
    assert (seen["via"], seen["paa"]) == ("token", pytest.approx(login_time))
    # A GET is never CSRF-checked, so nothing marked it valid.
    assert seen["csrf_valid"] is None


@pytest.mark.settings(freshness_allow_auth_token=False)
async def test_get_request_attr_no_fs_paa_for_a_token_without_token_freshness(
    test_app: Any,
) -> None:
    add_views(test_app)
    token = await auth_token(test_app.app.test_client(), "joe@lp.com")
    seen = await body(
        await test_app.app.test_client().get(
            "/helpers/attrs", headers={**JSON, "Authentication-Token": token}
        )
    )
    assert (seen["via"], seen["paa"]) == ("token", None)


async def test_get_request_attr_by_basic(test_app: Any) -> None:
    add_views(test_app)
    client = test_app.app.test_client()
    seen = await body(await client.get("/helpers/attrs", headers={**JSON, **basic("joe@lp.com")}))
    assert (seen["via"], seen["paa"]) == ("basic", None)


async def test_get_request_attr_unauthenticated(test_app: Any) -> None:
    add_views(test_app)
    client = test_app.app.test_client()
    seen = await body(await client.get("/helpers/attrs-open", headers=JSON))
    assert (seen["via"], seen["paa"], seen["csrf_valid"]) == (None, None, None)
    assert (await client.get("/helpers/attrs", headers=JSON)).status_code == 401


# ---------------------------------------------------------------------- handle_csrf
async def test_handle_csrf_json_refuses_without_a_token(test_app: Any) -> None:
    ran = add_views(test_app)
    client = test_app.app.test_client()
    await get_csrf(client)  # a session with a CSRF secret
    # No Accept header: json_response alone makes the refusal JSON.
    response = await client.post("/helpers/csrf-json", data="x=1")
    assert response.status_code == 400
    payload = await body(response)
    assert payload["meta"] == {"code": 400}
    assert payload["response"]["errors"]
    assert list(payload["response"]["field_errors"]) == ["csrf_token"]
    assert ran == []


@pytest.mark.parametrize("place", ["header", "form"])
async def test_handle_csrf_passes_with_a_token(test_app: Any, place: str) -> None:
    ran = add_views(test_app)
    client = test_app.app.test_client()
    csrf = await get_csrf(client)
    kwargs: dict[str, Any] = (
        {"headers": {"X-CSRF-Token": csrf}, "json": {"a": 1}}
        if place == "header"
        else {"form": {"csrf_token": csrf, "a": "1"}}
    )
    for path in ("/helpers/csrf-json", "/helpers/csrf-raise"):
        response = await client.post(path, **kwargs)
        assert response.status_code == 200, await response.get_data(as_text=True)
        assert (await body(response))["csrf_valid"] is True
    assert ran == ["csrf-json", "csrf-raise"]


async def test_handle_csrf_raises_a_400_the_view_cannot_ignore(test_app: Any) -> None:
    ran = add_views(test_app)
    client = test_app.app.test_client()
    await get_csrf(client)
    # A browser (HTML): the library's 400 error page with a way back, never a 500.
    page = await client.post("/helpers/csrf-raise", form={"a": "1"}, headers=HTML)
    assert page.status_code == 400
    assert page.headers["Content-Type"].startswith("text/html")
    html = await page.get_data(as_text=True)
    assert "CSRF" in html and '<a href="/helpers/csrf-raise">' in html
    # An SPA (JSON): the same refusal in the envelope.
    spa = await client.post("/helpers/csrf-raise", json={"a": 1}, headers=JSON)
    assert spa.status_code == 400
    assert list((await body(spa))["response"]["field_errors"]) == ["csrf_token"]
    # A wrong token is refused as well as a missing one.
    wrong = await client.post(
        "/helpers/csrf-raise", json={}, headers={**JSON, "X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 400
    assert ran == []


async def test_handle_csrf_refusal_can_be_handled_by_the_app(test_app: Any) -> None:
    ran = add_views(test_app)
    if is_quart(test_app):

        @test_app.app.errorhandler(CSRFError)
        async def custom(error: CSRFError) -> Any:
            return {"custom": error.description}, 419

    else:

        @test_app.app.flask_app.errorhandler(CSRFError)
        def custom_flask(error: CSRFError) -> Any:
            return {"custom": error.description}, 419

    client = test_app.app.test_client()
    await get_csrf(client)
    response = await client.post("/helpers/csrf-raise", json={})
    assert response.status_code == 419
    assert "CSRF" in (await response.get_json())["custom"]
    assert ran == []


@pytest.mark.settings(csrf_protect_mechanisms=["session", "basic"])
async def test_handle_csrf_skips_mechanisms_it_does_not_protect(test_app: Any) -> None:
    ran = add_views(test_app)
    client = test_app.app.test_client()
    await get_csrf(client)
    refused = await client.post("/helpers/csrf-raise?method=basic", json={})
    assert refused.status_code == 400
    response = await client.post("/helpers/csrf-raise?method=token", json={})
    assert response.status_code == 200
    # Flask-Security's g.csrf_valid: downstream code knows to skip its CSRF.
    assert (await body(response))["csrf_valid"] is True
    assert ran == ["csrf-raise"]


@pytest.mark.app_settings(wtf_csrf_enabled=False)
async def test_handle_csrf_does_nothing_when_csrf_is_off(test_app: Any) -> None:
    ran = add_views(test_app)
    response = await test_app.app.test_client().post("/helpers/csrf-raise", json={})
    assert response.status_code == 200
    assert ran == ["csrf-raise"]


async def test_handle_csrf_after_auth_required_checks_nothing_twice(test_app: Any) -> None:
    ran = add_views(test_app)
    client = test_app.app.test_client()
    await json_login(client, "joe@lp.com")
    csrf = await get_csrf(client)
    ok = await client.post("/helpers/csrf-after-guard", json={}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    refused = await client.post("/helpers/csrf-after-guard", json={}, headers=JSON)
    assert refused.status_code == 400  # the guard's own refusal, before the view
    assert ran == ["csrf-after-guard"]
