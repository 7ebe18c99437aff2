"""examples/demo.py: the README's demo works on SQLite and, by one setting, on MongoDB.

It has every page the library builds, keeps its secrets across restarts in its
instance directory, and shows its mail at /_demo/mail instead of sending it.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import JSON, get_csrf
from tests.support.mail import SmtpSink

MONGO = os.environ.get("QS_TEST_MONGO_URL")
DATABASES = ["sqlite"] + (["mongo"] if MONGO else [])


def _import_demo() -> Any:
    """A fresh examples.demo (its app is built at import, from the environment)."""
    sys.modules.pop("examples.demo", None)
    return importlib.import_module("examples.demo")


@pytest.fixture(params=DATABASES)
async def demo(
    request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/demo.db"
    else:
        assert MONGO is not None
        base, _, query = MONGO.partition("?")
        url = f"{base.rstrip('/')}/demo_{uuid.uuid4().hex[:12]}?{query}"
    monkeypatch.setenv("DEMO_DATABASE_URL", url)
    monkeypatch.setenv("DEMO_INSTANCE_DIR", str(tmp_path / "instance"))
    for name in ("DEMO_SECRET_KEY", "DEMO_PASSWORD_SALT"):
        monkeypatch.delenv(name, raising=False)
    module = _import_demo()
    await module.app.startup()
    try:
        yield module
    finally:
        await module.app.shutdown()
        module.security.hashing_pool.shutdown(wait=False)
        if module.engine is not None:
            await module.engine.dispose()
        else:
            client = module.user_datastore.db.client
            await client.drop_database(module.user_datastore.db.name)
            await client.close()
        sys.modules.pop("examples.demo", None)


async def test_demo_login_profile_admin(demo: Any) -> None:
    client = demo.app.test_client()
    home = await (await client.get("/")).get_data(as_text=True)
    assert demo.DEMO_EMAIL in home
    page = await client.get("/login", headers={"Accept": "application/json"})
    csrf = (await page.get_json())["response"]["csrf_token"]
    login = await client.post(
        "/login",
        json={"email": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert login.status_code == 200
    profile = await (await client.get("/profile")).get_json()
    assert profile == {"email": demo.DEMO_EMAIL, "roles": ["admin"]}
    assert (await client.get("/admin")).status_code == 200


async def _json_login(client: Any, demo: Any) -> None:
    csrf = await get_csrf(client)
    login = await client.post(
        "/login",
        json={"email": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert login.status_code == 200, await login.get_data(as_text=True)


async def test_demo_has_every_page(demo: Any) -> None:
    client = demo.app.test_client()
    for path in ("/login", "/register", "/reset", "/confirm", "/recover-username", "/_demo/mail"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "<style>" in await response.get_data(as_text=True), path  # the one layout
    login_page = await (await client.get("/login")).get_data(as_text=True)
    assert 'href="/register"' in login_page and 'href="/reset"' in login_page
    for path in ("/change", "/change-email", "/change-username"):
        assert (await client.get(path)).status_code == 302, path  # to /login
    await _json_login(client, demo)
    for path in ("/change", "/change-email", "/change-username", "/tf-setup", "/mf-recovery-codes"):
        assert (await client.get(path)).status_code == 200, path
    home = await (await client.get("/")).get_data(as_text=True)
    assert "<style>" in home and 'href="/change-email"' in home
    assert 'href="/tf-setup"' in home and 'href="/mf-recovery-codes"' in home
    setup = await (await client.get("/tf-setup")).get_data(as_text=True)
    assert 'value="authenticator"' in setup and 'value="sms"' not in setup


async def test_register_mail_lands_in_the_outbox_and_confirms(
    demo: Any, smtp_sink: SmtpSink
) -> None:
    """The confirmation mail is at /_demo/mail, its link confirms, and no SMTP is tried.

    The app is pointed at a real SMTP server: had the demo used SMTP, the mail
    would have arrived there.
    """
    demo.app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.port)
    client = demo.app.test_client()
    email = "newcomer@example.com"
    csrf = await get_csrf(client)
    registered = await client.post(
        "/register",
        json={
            "email": email,
            "username": "newcomer",
            "password": "a long enough passphrase",
            "password_confirm": "a long enough passphrase",
        },
        headers={"X-CSRF-Token": csrf, **JSON},
    )
    assert registered.status_code == 200, await registered.get_data(as_text=True)
    await demo.security.mailer.drain()
    assert smtp_sink.messages == []
    assert [m.recipient for m in demo.outbox] == [email]

    page = await (await client.get("/_demo/mail")).get_data(as_text=True)
    links = re.findall(r'<a href="(http://127\.0\.0\.1:\d+(/confirm/[^"]+))">\1</a>', page)
    assert len(links) == 1, page
    async with demo.app.app_context(), demo.user_datastore.unit_of_work():
        user = await demo.user_datastore.find_user(email=email)
        assert user is not None and user.confirmed_at is None
    confirmed = await client.get(links[0][1])
    assert confirmed.status_code == 302
    async with demo.app.app_context(), demo.user_datastore.unit_of_work():
        user = await demo.user_datastore.find_user(email=email)
        assert user is not None and user.confirmed_at is not None


def _demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    instance = tmp_path / "instance"
    monkeypatch.setenv("DEMO_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/demo.db")
    monkeypatch.setenv("DEMO_INSTANCE_DIR", str(instance))
    for name in ("DEMO_SECRET_KEY", "DEMO_PASSWORD_SALT"):
        monkeypatch.delenv(name, raising=False)
    return instance


async def test_secrets_persist_across_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart keeps SECRET_KEY and the salt: a form opened before it still posts."""
    instance = _demo_env(tmp_path, monkeypatch)
    builds: list[Any] = []
    try:
        first = _import_demo()
        builds.append(first)
        await first.app.startup()
        client = first.app.test_client()
        page = await client.get("/login", headers=JSON)
        csrf = (await page.get_json())["response"]["csrf_token"]
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        await first.app.shutdown()

        second = _import_demo()
        builds.append(second)
        await second.app.startup()
        login = await second.app.test_client().post(
            "/login",
            json={"email": second.DEMO_EMAIL, "password": second.DEMO_PASSWORD},
            headers={"X-CSRF-Token": csrf, "Cookie": cookie},
        )
        assert login.status_code == 200, await login.get_data(as_text=True)
        await second.app.shutdown()
    finally:
        for build in builds:
            build.security.hashing_pool.shutdown(wait=False)
            await build.engine.dispose()
        sys.modules.pop("examples.demo", None)
    assert first.app.config["SECRET_KEY"] == second.app.config["SECRET_KEY"]
    assert first.app.config["SECURITY_PASSWORD_SALT"] == second.app.config["SECURITY_PASSWORD_SALT"]
    assert len(first.app.config["SECRET_KEY"]) >= 32
    path = instance / "demo-secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_foreign_secrets_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    instance = _demo_env(tmp_path, monkeypatch)
    instance.mkdir()
    (instance / "demo-secrets.json").write_text("not json")
    try:
        with pytest.raises(SystemExit, match="remove it to make a new one"):
            _import_demo()
    finally:
        sys.modules.pop("examples.demo", None)
