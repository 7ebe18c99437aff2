"""Every A-05 payload through the real /login endpoint, as form field and query arg.

tests/web/test_redirects.py checks the redirect guard function itself; this
checks that the endpoints use it for every source of ``next``. The Location
header is resolved the way a browser does (WHATWG, via ada-url) and must stay
on the app's own origin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import ada_url
import pytest

from tests.support.app_factory import PASSWORD, BuiltApp, create_test_app
from tests.support.http import get_csrf
from tests.web.test_redirects import CORPUS

ORIGIN = "http://localhost"


@pytest.fixture
async def sqlite_app(tmp_path: Any) -> AsyncIterator[BuiltApp]:
    built = await create_test_app("sqlite", tmp_path)
    try:
        yield built
    finally:
        built.security.hashing_pool.shutdown()
        await built.close()


def stays_home(location: str) -> bool:
    resolved = ada_url.URL(location, base=ORIGIN + "/login")
    return bool(resolved.origin == ORIGIN)


PAYLOADS = sorted({payload for _, payload, _, _ in CORPUS})


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
async def test_login_next_form_field(sqlite_app: BuiltApp, payload: str) -> None:
    client = sqlite_app.app.test_client()
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf, "next": payload},
    )
    await assert_refused_or_home(sqlite_app, response)


async def assert_refused_or_home(built: BuiltApp, response: Any) -> None:
    """An unsafe target fails the login (INVALID_REDIRECT, Flask-Security's answer);
    any target that is followed keeps the browser on the app's own origin."""
    if response.status_code == 400:
        assert "Location" not in response.headers
        refusal = built.app.config["SECURITY_MSG_INVALID_REDIRECT"][0]
        assert refusal in await response.get_data(as_text=True)
        return
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "\r" not in location and "\n" not in location
    assert stays_home(location), location


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
async def test_login_next_query_arg(sqlite_app: BuiltApp, payload: str) -> None:
    client = sqlite_app.app.test_client()
    csrf = await get_csrf(client)
    response = await client.post(
        "/login?next=" + quote(payload, safe=""),
        form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf},
    )
    await assert_refused_or_home(sqlite_app, response)


@pytest.mark.parametrize("payload", ["https://evil.example", "//evil.example", "/\\evil.example"])
async def test_logout_and_verify_next(sqlite_app: BuiltApp, payload: str) -> None:
    sqlite_app.app.config["SECURITY_LOGOUT_METHODS"] = ["GET", "POST"]
    client = sqlite_app.app.test_client()
    csrf = await get_csrf(client)
    await client.post(
        "/login", form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf}
    )
    csrf = await get_csrf(client)
    verify = await client.post(
        "/verify?next=" + quote(payload, safe=""),
        form={"password": PASSWORD, "csrf_token": csrf},
    )
    assert verify.status_code == 302
    assert stays_home(verify.headers["Location"])
    # The unauthenticated handler builds next from the request path only.
    anonymous = sqlite_app.app.test_client()
    bounce = await anonymous.get("/api/me", headers={"Referer": payload})
    assert stays_home(bounce.headers["Location"])
