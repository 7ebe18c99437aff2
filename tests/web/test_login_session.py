"""The authentication pipeline as the views use it: every way in ends in sign_in,
which asks the second-factor plugins; a pending step is not a session.

The plugin here is a test double of a real second factor (the two-factor
issue brings the first real one): it asks one chosen account for a step.
"""

from __future__ import annotations

from typing import Any

import pytest

from quart_security.flows.authentication import PendingStep, Proof
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf, json_login


class StepFor:
    """Asks ``email`` (only) for a second step after any first factor."""

    name = "test-step"

    def __init__(self, email: str) -> None:
        self.email = email
        self.asked: list[tuple[str, tuple[str, ...], bool]] = []

    async def second_step(self, ctx: Any, user: Any, proof: Proof) -> PendingStep | None:
        self.asked.append((str(user.email), proof.via, proof.renews))
        if user.email != self.email:
            return None
        return PendingStep(
            plugin=self.name,
            endpoint="verify",
            payload={"tf_state": "ready", "tf_primary_method": "test"},
            state={"method": "test"},
        )


@pytest.fixture
def plugin(test_app: Any) -> StepFor:
    step = StepFor("joe@lp.com")
    test_app.security.second_factor_plugins.append(step)
    return step


async def test_a_pending_second_step_is_not_a_session(test_app: Any, plugin: StepFor) -> None:
    client = test_app.app.test_client()
    response = await json_login(client, "joe@lp.com")
    assert response.status_code == 200
    data = (await body(response))["response"]
    assert data["tf_required"] is True
    assert data["tf_state"] == "ready"
    assert (await client.get("/api/me", headers=JSON)).status_code == 401
    async with client.session_transaction() as session:
        assert "_user_id" not in session
        assert session["fs_pending"]["plugin"] == "test-step"
        assert session["fs_pending"]["via"] == ["password"]
    assert plugin.asked == [("joe@lp.com", ("password",), False)]


async def test_no_second_step_signs_in(test_app: Any, plugin: StepFor) -> None:
    client = test_app.app.test_client()
    response = await json_login(client, "matt@lp.com")
    assert (await body(response))["response"]["tf_required"] is False
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    async with client.session_transaction() as session:
        assert "fs_pending" not in session


async def test_html_login_goes_to_the_plugins_page(test_app: Any, plugin: StepFor) -> None:
    client = test_app.app.test_client()
    csrf = await get_csrf(client)
    response = await client.post(
        "/login", form={"email": "joe@lp.com", "password": PASSWORD, "csrf_token": csrf}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/verify"
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


async def test_the_account_rules_come_before_the_plugins(test_app: Any, plugin: StepFor) -> None:
    response = await json_login(test_app.app.test_client(), "tiya@lp.com")  # inactive
    assert response.status_code == 400
    assert plugin.asked == []


@pytest.mark.settings(registerable=True)
async def test_auto_login_after_registration_asks_the_plugins(
    test_app: Any, smtp_sink: Any
) -> None:
    step = StepFor("new@lp.com")
    test_app.security.second_factor_plugins.append(step)
    client = test_app.app.test_client()
    page = await client.get("/register", headers=JSON)
    csrf = (await body(page))["response"]["csrf_token"]
    password = "correct mule glacier"
    response = await client.post(
        "/register",
        json={"email": "new@lp.com", "password": password, "password_confirm": password},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200
    assert (await body(response))["response"]["tf_required"] is True
    assert (await client.get("/api/me", headers=JSON)).status_code == 401
    assert step.asked == [("new@lp.com", ("register",), False)]


@pytest.mark.settings(changeable=True)
async def test_a_password_change_renews_the_session_without_a_second_step(
    test_app: Any, plugin: StepFor
) -> None:
    plugin.email = "matt@lp.com"  # matt signed in before the plugin asked him
    test_app.security.second_factor_plugins.remove(plugin)
    client = test_app.app.test_client()
    login = await json_login(client)
    csrf = (await body(login))["response"]["csrf_token"]
    test_app.security.second_factor_plugins.append(plugin)
    new = "correct mule glacier"
    changed = await client.post(
        "/change",
        json={"password": PASSWORD, "new_password": new, "new_password_confirm": new},
        headers={**JSON, "X-CSRF-Token": csrf},
    )
    assert changed.status_code == 200, await changed.get_data(as_text=True)
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    assert plugin.asked == []  # a renewed session is not asked again


async def test_a_plugin_that_cannot_decide_fails_closed(test_app: Any) -> None:
    class Broken:
        name = "broken"

        async def second_step(self, ctx: Any, user: Any, proof: Proof) -> PendingStep | None:
            raise RuntimeError("the code service is down")

    test_app.security.second_factor_plugins.append(Broken())
    client = test_app.app.test_client()
    try:
        response = await json_login(client)
    except RuntimeError:
        pass  # Flask's test client re-raises under TESTING
    else:
        assert response.status_code == 500  # Quart answers it
    assert (await client.get("/api/me", headers=JSON)).status_code == 401
