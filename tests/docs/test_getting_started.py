"""docs/getting-started.md: its Python blocks, run in order, make a working app."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.fixture
async def doc_app(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/app.db")
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 4
    module = types.ModuleType("getting_started_app")
    sys.modules[module.__name__] = module
    try:
        exec(compile("\n".join(blocks), str(DOC), "exec"), module.__dict__)
        app = module.__dict__["app"]
        await app.startup()
        yield app
        await app.shutdown()
        module.__dict__["security"].hashing_pool.shutdown(wait=False)
        await module.__dict__["engine"].dispose()
    finally:
        sys.modules.pop(module.__name__, None)


async def test_getting_started_app_works(doc_app: Any) -> None:
    client = doc_app.test_client()
    assert (await client.get("/profile", headers={"Accept": "application/json"})).status_code == 401
    page = await client.get("/login", headers={"Accept": "application/json"})
    csrf = (await page.get_json())["response"]["csrf_token"]
    login = await client.post(
        "/login?include_auth_token",
        json={"email": "admin@example.com", "password": "a long passphrase"},
        headers={"X-CSRF-Token": csrf},
    )
    assert login.status_code == 200
    answer = (await login.get_json())["response"]
    token = answer["user"]["authentication_token"]
    assert (await (await client.get("/profile")).get_json()) == {"email": "admin@example.com"}
    assert (await client.get("/reports")).status_code == 200
    other = doc_app.test_client()
    by_token = await other.get("/reports", headers={"Authentication-Token": token})
    assert by_token.status_code == 200
    # Step 5.3: the pre-login token was rotated; the login answer's one logs out.
    assert answer["csrf_token"] != csrf
    stale = await client.post("/logout", json={}, headers={"X-CSRF-Token": csrf})
    assert stale.status_code == 400
    logout = await client.post("/logout", json={}, headers={"X-CSRF-Token": answer["csrf_token"]})
    assert logout.status_code == 200
    assert (await client.get("/profile", headers={"Accept": "application/json"})).status_code == 401


async def test_getting_started_browser_lands_on_the_home_page(doc_app: Any) -> None:
    client = doc_app.test_client()
    page = await client.get("/login", headers={"Accept": "application/json"})
    csrf = (await page.get_json())["response"]["csrf_token"]
    login = await client.post(
        "/login",
        form={"email": "admin@example.com", "password": "a long passphrase", "csrf_token": csrf},
    )
    assert login.status_code == 302
    assert login.headers["Location"] == "/"
    home = await client.get("/")
    assert home.status_code == 200
