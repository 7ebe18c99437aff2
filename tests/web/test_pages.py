"""The library's HTML pages: one layout, flashed messages, error pages, login links.

What a browser user meets: a CSRF failure or a full hashing pool is a styled
page with a way back (JSON clients keep the envelope, byte for byte), a
redirect to the login page says why, and the login page links to the account
pages that are on. Both frameworks (the test_app fixture).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, get_csrf

HTML = {"Accept": "text/html"}
FLASH = re.compile(r'<p class="fs-flash fs-flash-(\w+)" role="status">([^<]*)</p>')


def _flashed(page: str) -> list[tuple[str, str]]:
    return FLASH.findall(page)


async def _text(response: Any) -> str:
    return str(await response.get_data(as_text=True))


async def test_csrf_failure_is_a_page_with_a_link_back(client: Any, app: Any) -> None:
    response = await client.post(
        "/login?next=/api/me", form={"email": "matt@lp.com", "password": PASSWORD}, headers=HTML
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    page = await _text(response)
    assert app.config["SECURITY_MSG_CSRF_MISSING"][0] in page
    assert '<a href="/login?next=/api/me">' in page
    assert "<style>" in page  # the library's layout


async def test_csrf_failure_json_is_unchanged(client: Any, app: Any) -> None:
    response = await client.post(
        "/login", json={"email": "matt@lp.com", "password": PASSWORD}, headers=JSON
    )
    assert response.status_code == 400
    msg = app.config["SECURITY_MSG_CSRF_MISSING"][0]
    assert await response.get_json() == {
        "meta": {"code": 400},
        "response": {"errors": [msg], "field_errors": {"csrf_token": [msg]}},
    }


@pytest.mark.settings(password_hash_pool_size=1, password_hash_queue_size=0)
async def test_hashing_overload_is_a_503_page_with_retry_after(test_app: Any) -> None:
    import asyncio
    import threading

    pool = test_app.security.hashing_pool
    gate = threading.Event()
    holder = asyncio.create_task(pool.run(gate.wait, 30))
    while pool.in_flight < 1:
        await asyncio.sleep(0.001)
    try:
        client = test_app.app.test_client()
        csrf = await get_csrf(client)
        response = await client.post(
            "/login",
            form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf},
            headers=HTML,
        )
    finally:
        gate.set()
        await holder
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Content-Type"].startswith("text/html")
    page = await _text(response)
    assert test_app.app.config["SECURITY_MSG_HASHING_OVERLOADED"][0] in page
    assert '<a href="/login">' in page


async def test_redirect_to_login_says_please_sign_in(client: Any, app: Any) -> None:
    redirect = await client.get("/api/session", headers=HTML)
    assert redirect.status_code == 302
    login = await client.get(redirect.headers["Location"], headers=HTML)
    page = await _text(login)
    text, category = app.config["SECURITY_MSG_UNAUTHENTICATED"]
    assert _flashed(page) == [(category, text)]
    # Shown once: a flash is consumed by the page that shows it.
    assert _flashed(await _text(await client.get("/login", headers=HTML))) == []


@pytest.mark.settings(flash_messages=False)
async def test_no_flash_when_flash_messages_is_off(client: Any, app: Any) -> None:
    redirect = await client.get("/api/session", headers=HTML)
    page = await _text(await client.get(redirect.headers["Location"], headers=HTML))
    assert redirect.status_code == 302 and "<h1>" in page
    assert _flashed(page) == []


@pytest.mark.settings(registerable=True, recoverable=True)
async def test_login_links_to_register_and_reset_when_on(client: Any) -> None:
    page = await _text(await client.get("/login"))
    assert '<a href="/register">' in page and '<a href="/reset">' in page
    for path in ("/register", "/reset"):
        assert '<a href="/login">' in await _text(await client.get(path))


@pytest.mark.settings(registerable=False, recoverable=False)
async def test_login_has_no_links_to_pages_that_are_off(client: Any) -> None:
    page = await _text(await client.get("/login"))
    assert 'href="/register"' not in page and 'href="/reset"' not in page


async def test_remember_me_label_sits_beside_its_checkbox(client: Any) -> None:
    page = await _text(await client.get("/login"))
    row = re.search(r'<div class="fs-check">(.*?)</div>', page, re.S)
    assert row is not None
    assert re.fullmatch(
        r'\s*<input[^>]*id="remember"[^>]*>\s*<label for="remember">[^<]+</label>\s*', row.group(1)
    )
    assert re.search(r"\.fs-check label \{ display: inline;", page)


async def test_a_missing_role_is_a_403_page(client: Any, app: Any) -> None:
    from tests.support.http import json_login

    assert (await json_login(client, "joe@lp.com")).status_code == 200  # an editor
    response = await client.get("/api/admin", headers=HTML)
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    page = await _text(response)
    assert app.config["SECURITY_MSG_UNAUTHORIZED"][0] in page
    assert "<style>" in page
    json_answer = await client.get("/api/admin", headers=JSON)  # the envelope is unchanged
    assert await json_answer.get_json() == {
        "meta": {"code": 403},
        "response": {"errors": [app.config["SECURITY_MSG_UNAUTHORIZED"][0]]},
    }


async def test_basic_auth_refusal_is_a_401_page_with_the_challenge(client: Any, app: Any) -> None:
    response = await client.get("/api/basic", headers=HTML)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Login Required"'
    assert response.headers["Content-Type"].startswith("text/html")
    assert app.config["SECURITY_MSG_UNAUTHENTICATED"][0] in await _text(response)


async def test_a_failed_commit_is_a_500_page(test_app: Any) -> None:
    from quart_security import signals

    store = test_app.store
    if not store.transactional:
        pytest.skip("MongoDB writes at once: there is no commit to fail")

    def clash(sender: Any, **kwargs: Any) -> None:
        store.session.add(store.role_model(name="admin"))  # unique: refused at the commit

    client = test_app.app.test_client()
    csrf = await get_csrf(client)
    signals.user_authenticated.connect(clash)
    try:
        response = await client.post(
            "/login",
            form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf},
            headers=HTML,
        )
    finally:
        signals.user_authenticated.disconnect(clash)
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    page = await _text(response)
    assert test_app.app.config["SECURITY_MSG_SERVER_ERROR"][0] in page
    assert '<a href="/login">' in page  # try again
