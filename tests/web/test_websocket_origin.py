"""Cross-site websocket hijacking: a cookie- or Basic-authenticated handshake
counts only from the app's own origin or WEBSOCKET_ALLOWED_ORIGINS."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from quart_security.errors import ConfigurationError
from quart_security.web.websocket_origin import Origin, _is_own, parse_origin
from tests.support.app_factory import PASSWORD
from tests.support.http import auth_token, json_login


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://app.example", Origin("https", "app.example", 443)),
        ("http://app.example", Origin("http", "app.example", 80)),
        ("https://APP.example:8443", Origin("https", "app.example", 8443)),
        ("http://localhost:5000", Origin("http", "localhost", 5000)),
    ],
)
def test_parse_origin(value: str, expected: Origin) -> None:
    assert parse_origin(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "null",
        "app.example",
        "ftp://app.example",
        "https://app.example/",
        "https://app.example/path",
        "https://app.example?x=1",
        "https://user@app.example",
        "https://app.example:99999",
        " https://app.example",
        "javascript://app.example",
        "https://",
    ],
)
def test_not_an_origin(value: str) -> None:
    assert parse_origin(value) is None


@pytest.mark.parametrize(
    ("origin", "host", "own"),
    [
        ("https://app.example", "app.example", True),  # TLS ends at a proxy: ws:// here
        ("http://app.example", "app.example", True),
        ("https://app.example:8443", "app.example:8443", True),
        ("https://app.example", "app.example:443", True),
        ("https://app.example:8443", "app.example", False),
        ("https://app.example", "app.example:8443", False),
        ("https://evil.example", "app.example", False),
        ("https://app.example.evil.example", "app.example", False),
        ("https://sub.app.example", "app.example", False),
    ],
)
def test_own_origin(origin: str, host: str, own: bool) -> None:
    parsed = parse_origin(origin)
    assert parsed is not None
    assert _is_own(parsed, host) is own


# ---------------------------------------------------------------------- handshakes
async def _refused(client: Any, path: str, headers: dict[str, str]) -> int:
    from quart.testing import WebsocketResponseError

    with pytest.raises(WebsocketResponseError) as info:
        async with client.websocket(path, headers=headers) as ws:
            await ws.receive()
    return int(info.value.response.status_code)


@pytest.mark.quart_only
@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost.evil.example",
        "null",
        None,
        "http://localhost:8080",
    ],
)
async def test_a_session_cookie_from_another_origin_is_refused(
    app: Any, origin: str | None
) -> None:
    client = app.test_client()
    await json_login(client)
    headers = {} if origin is None else {"Origin": origin}
    assert await _refused(client, "/ws", headers) == 401
    # An undecorated route does not see the user either.
    async with client.websocket("/ws/open", headers=headers) as ws:
        assert await ws.receive() == "False"


@pytest.mark.quart_only
async def test_a_session_cookie_from_the_apps_own_origin_is_accepted(app: Any) -> None:
    client = app.test_client()
    await json_login(client)
    async with client.websocket("/ws", headers={"Origin": "http://localhost"}) as ws:
        assert await ws.receive() == "matt@lp.com"


@pytest.mark.quart_only
@pytest.mark.settings(websocket_allowed_origins=["https://admin.example", "http://localhost:3000"])
async def test_allowed_origins(app: Any) -> None:
    client = app.test_client()
    await json_login(client)
    for origin in ("https://admin.example", "http://localhost:3000", "http://localhost"):
        async with client.websocket("/ws", headers={"Origin": origin}) as ws:
            assert await ws.receive() == "matt@lp.com"
    assert await _refused(client, "/ws", {"Origin": "https://other.example"}) == 401


@pytest.mark.quart_only
async def test_basic_credentials_from_another_origin_are_refused(app: Any) -> None:
    """Browsers resend cached Basic credentials as readily as cookies."""
    creds = base64.b64encode(f"matt@lp.com:{PASSWORD}".encode()).decode()
    basic = {"Authorization": f"Basic {creds}"}
    client = app.test_client()
    assert await _refused(client, "/ws/basic", {**basic, "Origin": "https://evil.example"}) == 401
    async with client.websocket("/ws/basic", headers={**basic, "Origin": "http://localhost"}) as ws:
        assert await ws.receive() == "matt@lp.com"


@pytest.mark.quart_only
async def test_a_token_handshake_needs_no_origin(app: Any) -> None:
    token = await auth_token(app.test_client(), "joe@lp.com")
    client = app.test_client()
    for headers in ({}, {"Origin": "https://evil.example"}):
        async with client.websocket(
            "/ws", headers={"Authentication-Token": token, **headers}
        ) as ws:
            assert await ws.receive() == "joe@lp.com"


@pytest.mark.parametrize(
    "value", [["app.example"], ["https://app.example/"], "https://a.example", [1]]
)
def test_bad_allowed_origins_are_refused_at_start_up(tmp_path: Any, value: Any) -> None:
    from quart import Quart
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from quart_security import Security
    from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
    from tests.support.models import Role, User, WebAuthn

    app = Quart(__name__)
    app.config.update(
        SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="salt", SECURITY_WEBSOCKET_ALLOWED_ORIGINS=value
    )
    store = SQLAlchemyUserDatastore(
        async_sessionmaker(create_async_engine("sqlite+aiosqlite://")), User, Role, WebAuthn
    )
    with pytest.raises(ConfigurationError) as info:
        Security(app, store)
    assert "SECURITY_WEBSOCKET_ALLOWED_ORIGINS" in str(info.value)
