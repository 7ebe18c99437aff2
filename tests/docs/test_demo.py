"""examples/demo.py: the README's demo works on SQLite and, by one setting, on MongoDB."""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

MONGO = os.environ.get("QS_TEST_MONGO_URL")
DATABASES = ["sqlite"] + (["mongo"] if MONGO else [])


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
    sys.modules.pop("examples.demo", None)
    module = importlib.import_module("examples.demo")
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
