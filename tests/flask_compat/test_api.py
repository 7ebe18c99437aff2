"""The helpers as Flask apps call them: plain functions in sync views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import jsonify

from flask_compat import (
    current_user,
    hash_password,
    login_user,
    logout_user,
    lookup_identity,
    url_for_security,
    verify_and_update_password,
    verify_password,
)
from tests.support.app_factory import PASSWORD
from tests.support.flask_app_factory import flask_app_sync
from tests.support.flask_client import sync_json_login

JSON = {"Accept": "application/json"}


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Any]:
    with flask_app_sync("sqlite", tmp_path) as app:
        yield app


def test_login_user_and_logout_user_from_app_code(built: Any) -> None:
    app = built.app.flask_app

    @app.post("/custom-login")
    def custom_login() -> Any:
        user = lookup_identity("JOE@lp.com")
        assert login_user(user, remember=False, authn_via=["custom"])
        return jsonify(email=current_user.email)

    @app.post("/custom-logout")
    def custom_logout() -> Any:
        logout_user()
        return jsonify(authenticated=bool(current_user.is_authenticated))

    @app.post("/login-inactive")
    def login_inactive() -> Any:
        return jsonify(ok=login_user(lookup_identity("tiya@lp.com")))

    client = app.test_client()
    assert client.post("/custom-login").get_json() == {"email": "joe@lp.com"}
    assert client.get("/api/me", headers=JSON).get_json() == {"email": "joe@lp.com"}
    assert client.post("/custom-logout").get_json() == {"authenticated": False}
    assert client.get("/api/me", headers=JSON).status_code == 401
    other = app.test_client()
    assert other.post("/login-inactive").get_json() == {"ok": False}
    assert other.get("/api/me", headers=JSON).status_code == 401


def test_url_for_security(built: Any) -> None:
    with built.app.flask_app.test_request_context("/"):
        assert url_for_security("login") == "/login"
        assert url_for_security("verify", next="/x") == "/verify?next=/x"


def test_password_helpers(built: Any) -> None:
    with built.app.flask_app.app_context():
        hashed = hash_password("a long passphrase")
        assert hashed.startswith("$argon2id$")
        assert verify_password("a long passphrase", hashed)
        assert not verify_password("another one", hashed)
        user = built.datastore.find_user(email="joe@lp.com")
        assert verify_and_update_password(PASSWORD, user)
        assert not verify_and_update_password("wrong password", user)


def test_flask_adds_vary_cookie_when_the_session_is_read(built: Any) -> None:
    client = built.app.flask_app.test_client()
    login = sync_json_login(client, "matt@lp.com", PASSWORD)
    assert "Cookie" in login.headers.get("Vary", "")
    me = client.get("/api/me", headers=JSON)
    assert me.status_code == 200
    assert "Cookie" in me.headers.get("Vary", "")
    # A request with no credentials never touches the session.
    public = built.app.flask_app.test_client().get("/api/public")
    assert "Cookie" not in public.headers.get("Vary", "")


def test_admin_change_password_ends_sessions(built: Any) -> None:
    from flask_compat import admin_change_password

    app = built.app.flask_app
    client = app.test_client()
    assert sync_json_login(client, "joe@lp.com", PASSWORD).status_code == 200
    with app.app_context():
        admin_change_password(built.datastore.find_user(email="joe@lp.com"), "a new passphrase!",
                              notify=False)  # fmt: skip
        built.datastore.commit()
    assert client.get("/api/me", headers=JSON).status_code == 401
    assert sync_json_login(app.test_client(), "joe@lp.com", "a new passphrase!").status_code == 200
