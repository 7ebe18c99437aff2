"""Bad input never gives a 500 or a hang: a 4xx in the envelope, nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf

JSON_BODIES = [
    b"{",
    b"[]",
    b'"str"',
    b"null",
    b"1e99999",
    b"NaN",
    b'{"email": {"$ne": null}, "password": "x"}',
    b'{"email": ["a", "b"], "password": 1}',
    b'{"email": "matt@lp.com", "password": 123}',
    b'{"email": "matt@lp.com", "password": {"x": 1}}',
    b'{"email": "matt@lp.com", "password": "x", "remember": "yes", "remember": 1}',
    b"[" * 100000 + b"]" * 100000,
    b"\xff\xfe\x00\x00",
    b"\xef\xbb\xbf{}",
    b"",
]


@pytest.mark.parametrize("payload", JSON_BODIES, ids=range(len(JSON_BODIES)))
async def test_malformed_json_bodies(client: Any, payload: bytes) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        data=payload,
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf},
    )
    assert 400 <= response.status_code < 500
    data = await body(response)
    assert data["meta"]["code"] == response.status_code
    assert data["response"]["errors"]
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_one_mebibyte_body_is_413(client: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": "x" * (1024 * 1024)},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 413
    assert (await body(response))["meta"]["code"] == 413


async def test_long_password_is_a_quick_normal_failure(client: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": "x" * 20000},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 400


async def test_form_body_wrong_content_type_for_json_fields(client: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        data=f"email=matt%40lp.com&password={PASSWORD}&csrf_token={csrf}",
        headers={"Content-Type": "application/x-www-form-urlencoded", **JSON},
    )
    # A urlencoded body is a valid way to log in, answered in JSON because of Accept.
    assert response.status_code == 200
    assert (await body(response))["meta"]["code"] == 200


async def test_charset_latin1_json_is_handled(client: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        data='{"email": "mätt@lp.com", "password": "x"}'.encode("latin-1"),
        headers={"Content-Type": "application/json; charset=latin-1", "X-CSRF-Token": csrf},
    )
    assert response.status_code == 400


async def test_odd_unicode_identities(client: Any) -> None:
    csrf = await get_csrf(client)
    for identity in [
        "m\u0131tt@lp.com",
        "matt\u200b@lp.com",
        "ｍａｔｔ@lp.com",
        "a" * 10000,
        "\x00",
    ]:
        response = await client.post(
            "/login",
            json={"email": identity, "password": PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 400, identity
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.settings(password_hash_pool_size=1, password_hash_queue_size=0)
async def test_hashing_overload_is_503_with_retry_after(test_app: Any) -> None:
    """A full hashing pool answers at once with 503, not an ever-growing queue."""
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
            json={"email": "matt@lp.com", "password": PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
    finally:
        gate.set()
        await holder
    assert response.status_code == 503, await response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1
    data = await body(response)
    assert data["meta"]["code"] == 503
    assert data["response"]["errors"] == [test_app.app.config["SECURITY_MSG_HASHING_OVERLOADED"][0]]
    # Once the pool drains, the same login works.
    again = await client.post(
        "/login",
        json={"email": "matt@lp.com", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert again.status_code == 200


@pytest.mark.parametrize("payload", [b"{", b"[]", b'{"x": {"$ne": 1}}', b"\xff"])
async def test_bad_json_on_a_protected_app_route_is_400_not_500(
    client: Any, payload: bytes
) -> None:
    """auth_required reads the body for the CSRF token: a bad body is the client's error."""
    from tests.support.http import json_login

    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    response = await client.post(
        "/api/me",
        data=payload,
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf, **JSON},
    )
    assert response.status_code == 400
    assert (await body(response))["meta"]["code"] == 400
