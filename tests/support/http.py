"""Small HTTP helpers for the test client: JSON login, CSRF, envelope access."""

from __future__ import annotations

from typing import Any

from .app_factory import PASSWORD

JSON = {"Accept": "application/json"}


async def get_csrf(client: Any) -> str:
    response = await client.get("/login", headers=JSON)
    assert response.status_code == 200
    token: str = (await response.get_json())["response"]["csrf_token"]
    return token


async def json_login(
    client: Any,
    email: str = "matt@lp.com",
    password: str = PASSWORD,
    *,
    remember: bool = False,
    query: str = "",
) -> Any:
    csrf = await get_csrf(client)
    return await client.post(
        "/login" + query,
        json={"email": email, "password": password, "remember": remember},
        headers={"X-CSRF-Token": csrf},
    )


async def body(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = await response.get_json()
    return data


async def auth_token(client: Any, email: str = "matt@lp.com") -> str:
    response = await json_login(client, email, query="?include_auth_token")
    assert response.status_code == 200, await response.get_data(as_text=True)
    token: str = (await body(response))["response"]["user"]["authentication_token"]
    return token


def set_cookie_headers(response: Any) -> list[str]:
    return list(response.headers.getlist("Set-Cookie"))


def cookie_value(client: Any, name: str) -> str | None:
    for cookie in client.cookie_jar:
        if cookie.name == name:
            return str(cookie.value)
    return None
