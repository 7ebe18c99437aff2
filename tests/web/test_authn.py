"""Every way in passes the same account rules; login starts from a clean session;
freshness cannot be planted or faked with a clock in the future."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from quart_security.clock import utcnow_naive
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, json_login

BASIC = {"Authorization": "Basic " + base64.b64encode(f"matt@lp.com:{PASSWORD}".encode()).decode()}


async def _user(test_app: Any, email: str = "matt@lp.com") -> Any:
    async with test_app.app.app_context():
        return await test_app.store.find_user(email=email)


async def _confirm(test_app: Any, email: str) -> None:
    async with test_app.app.app_context():
        user = await test_app.store.find_user(email=email)
        user.confirmed_at = utcnow_naive(test_app.clock)
        await test_app.store.put(user)
        await test_app.store.commit()
        await test_app.store.end_unit_of_work()


@pytest.mark.settings(confirmable=True)
async def test_basic_refuses_an_unconfirmed_account(test_app: Any) -> None:
    client = test_app.app.test_client()
    refused = await client.get("/api/basic", headers={**JSON, **BASIC})
    assert refused.status_code == 401
    await _confirm(test_app, "matt@lp.com")
    served = await client.get("/api/basic", headers={**JSON, **BASIC})
    assert served.status_code == 200


@pytest.mark.settings(confirmable=True, login_without_confirmation=True)
async def test_basic_serves_an_unconfirmed_account_when_confirmation_is_optional(
    test_app: Any,
) -> None:
    response = await test_app.app.test_client().get("/api/basic", headers={**JSON, **BASIC})
    assert response.status_code == 200


@pytest.mark.settings(confirmable=True)
async def test_token_of_an_unconfirmed_account_is_refused(test_app: Any) -> None:
    async with test_app.app.app_context():
        user = await test_app.store.find_user(email="matt@lp.com")
        token = test_app.security.tokens.auth_token_for(user)
    headers = {**JSON, "Authentication-Token": token}
    assert (await test_app.app.test_client().get("/api/token", headers=headers)).status_code == 401
    await _confirm(test_app, "matt@lp.com")
    assert (await test_app.app.test_client().get("/api/token", headers=headers)).status_code == 200


@pytest.mark.settings(confirmable=True)
async def test_remember_cookie_of_an_unconfirmed_account_is_refused(test_app: Any) -> None:
    user = await _user(test_app)
    cookie = test_app.security.tokens.remember_cookie_for(str(user.fs_uniquifier))
    headers = {**JSON, "Cookie": f"remember_token={cookie}"}
    refused = await test_app.app.test_client().get("/api/me", headers=headers)
    assert refused.status_code == 401
    await _confirm(test_app, "matt@lp.com")
    served = await test_app.app.test_client().get("/api/me", headers=headers)
    assert served.status_code == 200


@pytest.mark.settings(confirmable=True, login_without_confirmation=True)
async def test_session_ends_when_confirmation_becomes_required(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert (await json_login(client)).status_code == 200
    assert (await client.get("/api/me", headers=JSON)).status_code == 200
    test_app.app.config["SECURITY_LOGIN_WITHOUT_CONFIRMATION"] = False
    assert (await client.get("/api/me", headers=JSON)).status_code == 401


@pytest.mark.settings(confirmable=True)
async def test_login_user_refuses_an_unconfirmed_account(test_app: Any) -> None:
    """App code's login_user passes the same rules as every other way in."""
    client = test_app.app.test_client()
    refused = await client.post("/api/app-login", json={"email": "matt@lp.com"})
    assert (await refused.get_json()) == {"logged_in": False}
    assert (await client.get("/api/me", headers=JSON)).status_code == 401
    await _confirm(test_app, "matt@lp.com")
    accepted = await client.post("/api/app-login", json={"email": "matt@lp.com"})
    assert (await accepted.get_json()) == {"logged_in": True}
    assert (await client.get("/api/me", headers=JSON)).status_code == 200


# ---------------------------------------------------------------------- clean slate
async def test_login_discards_planted_session_state(test_app: Any) -> None:
    """Nothing an attacker put in the session before login survives it."""
    client = test_app.app.test_client()
    await client.get("/login", headers=JSON)
    far_future = test_app.clock.time() + 10 * 365 * 86400
    async with client.session_transaction() as session:
        session["fs_gexp"] = far_future
        session["fs_paa"] = far_future
        session["_fresh"] = True
        session["_id"] = "attacker-chosen"
        session["_user_id"] = "someone-else"
        session["_remember"] = "set"
        session["tf_user_id"] = 2
        session["tf_state"] = "ready"
        session["tf_primary_method"] = "email"
        session["tf_totp_secret"] = "JBSWY3DPEHPK3PXP"
        session["tf_remember_login"] = True
        session["tf_select"] = True
    assert (await json_login(client)).status_code == 200
    async with client.session_transaction() as session:
        planted = {k for k in session if k.startswith("tf_") or k in ("_id", "_remember")}
        assert planted == set()
        assert session.get("fs_gexp") is None
        assert session["fs_paa"] == pytest.approx(test_app.clock.time())
        user = await _user(test_app)
        assert session["_user_id"] == str(user.fs_uniquifier)
    # The planted grace period would keep this fresh for ten years; it is gone.
    test_app.clock.advance(timedelta(minutes=61))
    stale = await client.get("/api/fresh", headers=JSON)
    assert stale.status_code == 401
    assert (await body(stale))["response"]["reauth_required"] is True


# ---------------------------------------------------------------------- freshness
async def test_an_authentication_time_in_the_future_is_not_fresh(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert (await json_login(client)).status_code == 200
    # The clock goes back two hours: fs_paa now lies two hours ahead (a forged
    # or skewed value), which is outside the 60-minute window in either direction.
    test_app.clock.advance(timedelta(hours=-2))
    response = await client.get("/api/fresh", headers=JSON)
    assert response.status_code == 401
    assert (await body(response))["response"]["reauth_required"] is True
    test_app.clock.advance(timedelta(hours=2, minutes=1))
    assert (await client.get("/api/fresh", headers=JSON)).status_code == 200
