"""username_util_cls over HTTP, on Quart and flask_compat: the app's UsernameUtil
decides at /register and /change-username, and maps the username typed at sign-in.
"""

from __future__ import annotations

from typing import Any

import pytest

from quart_security import UsernameUtil
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf

pytestmark = pytest.mark.settings(
    registerable=True,
    username_enable=True,
    change_username=True,
    send_register_email=False,
    send_username_change_email=False,
)

RESERVED = "That name is reserved for the staff"


class NoStaffNames(UsernameUtil):
    """Sync, as a Flask app writes it: lower-cases, and refuses names with "admin"."""

    def normalize(self, username: str) -> str | None:
        value = super().normalize(username)
        return value.lower() if value else value

    def validate(self, username: str) -> tuple[str | None, str | None]:
        if "admin" in username.lower():
            return RESERVED, None
        error, value = super().validate(username)
        return error, value.lower() if value else value


async def register(client: Any, username: str) -> Any:
    page = await client.get("/register", headers=JSON)
    csrf = (await body(page))["response"]["csrf_token"]
    payload = {
        "email": "new@lp.com",
        "username": username,
        "password": "a long new password",
        "password_confirm": "a long new password",
    }
    return await client.post("/register", json=payload, headers={"X-CSRF-Token": csrf})


async def login(client: Any, username: str, password: str) -> Any:
    csrf = await get_csrf(client)
    return await client.post(
        "/login", json={"username": username, "password": password}, headers={"X-CSRF-Token": csrf}
    )


def message(test_app: Any, key: str, **kwargs: Any) -> str:
    text: str = test_app.app.config[f"SECURITY_MSG_{key}"][0]
    return text % kwargs if kwargs else text


async def test_the_default_util_is_built_with_the_app(test_app: Any) -> None:
    assert type(test_app.security.username_util) is UsernameUtil
    assert test_app.security.username_util.app is test_app.security.app


@pytest.mark.security_kwargs(username_util_cls=NoStaffNames)
async def test_register_uses_the_apps_username_util(test_app: Any) -> None:
    client = test_app.app.test_client()
    refused = await register(client, "SiteAdmin")
    assert refused.status_code == 400
    assert (await body(refused))["response"]["field_errors"] == {"username": [RESERVED]}
    # The built-in rules still answer in translated messages.
    short = await register(client, "ab")
    assert (await body(short))["response"]["field_errors"] == {
        "username": [message(test_app, "USERNAME_INVALID_LENGTH", min=4, max=32)]
    }
    assert (await register(client, "NewComer")).status_code == 200
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        user = await test_app.store.find_user(email="new@lp.com")
        assert user.username == "newcomer"  # stored as this util normalised it
    # Sign-in maps the typed username through the util's normalize.
    response = await login(test_app.app.test_client(), "NEWCOMER", "a long new password")
    assert response.status_code == 200, await body(response)


@pytest.mark.security_kwargs(username_util_cls=NoStaffNames)
async def test_change_username_uses_the_apps_username_util(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert (await login(client, "matt", PASSWORD)).status_code == 200
    page = await client.get("/change-username", headers=JSON)
    csrf = (await body(page))["response"]["csrf_token"]
    headers = {**JSON, "X-CSRF-Token": csrf}
    refused = await client.post("/change-username", json={"username": "admin2"}, headers=headers)
    assert refused.status_code == 400
    assert (await body(refused))["response"]["field_errors"] == {"username": [RESERVED]}
    html_page = await client.get("/change-username")
    token = (await html_page.get_data(as_text=True)).split('name="csrf_token" value="')[1]
    form = {"username": "theadmin", "csrf_token": token.split('"')[0]}
    html = await client.post("/change-username", form=form)
    assert html.status_code == 400
    assert RESERVED in await html.get_data(as_text=True)
    renamed = await client.post("/change-username", json={"username": "Matthew"}, headers=headers)
    assert renamed.status_code == 200, await body(renamed)
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        user = await test_app.store.find_user(email="matt@lp.com")
        assert user.username == "matthew"
