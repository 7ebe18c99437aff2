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


async def test_a_null_json_body_is_an_empty_form(client: Any, app: Any) -> None:
    """``null`` is valid JSON: the answer is the one for a form with no fields."""
    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        data=b"null",
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf},
    )
    assert response.status_code == 400
    errors = (await body(response))["response"]["field_errors"]
    assert errors["email"] == [app.config["SECURITY_MSG_EMAIL_NOT_PROVIDED"][0]]
    assert errors["password"] == [app.config["SECURITY_MSG_PASSWORD_NOT_PROVIDED"][0]]


@pytest.mark.parametrize("member", [{"remember": 1}, {"email": {"$ne": None}}, {"next": [1]}])
async def test_a_known_field_with_a_value_no_field_can_take_is_refused(
    client: Any, app: Any, member: dict[str, Any]
) -> None:
    csrf = await get_csrf(client)
    payload = {"email": "matt@lp.com", "password": PASSWORD, **member}
    response = await client.post("/login", json=payload, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 400
    ((field, messages),) = (await body(response))["response"]["field_errors"].items()
    assert field == next(iter(member))
    assert messages == [app.config["SECURITY_MSG_INVALID_INPUT"][0]]
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_unknown_members_of_any_type_are_ignored(client: Any) -> None:
    csrf = await get_csrf(client)
    payload = {
        "email": "matt@lp.com",
        "password": PASSWORD,
        "login_count": 99,
        "roles": [{"name": "admin"}],
        "meta": {"$where": "1"},
        "ratio": 1.5,
    }
    response = await client.post("/login", json=payload, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, await response.get_data(as_text=True)
