"""docs/customizing.md: its two example apps, run as written, behave as the page says
(Flask-Security's customizing examples on Quart and on Flask)."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import ChoiceLoader, DictLoader

DOC = Path(__file__).resolve().parents[2] / "docs" / "customizing.md"

#: The app's own registration page, as a Flask-Security app overrides it.
REGISTER_PAGE = """<p>{{ hello }} {{ something }}</p>
<form>{{ register_user_form.first_name() }}{{ register_user_form.last_name() }}</form>
{% for field, messages in field_errors.items() %}{{ field }}: {{ messages|join("; ") }}
{% endfor %}"""
OWN_TEMPLATES = {"security/register_user.html": REGISTER_PAGE}
PASSWORD = "a long enough passphrase"


def example(name: str) -> str:
    (block,) = re.findall(rf"```python {name}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return block


def run_example(name: str) -> types.ModuleType:
    module = types.ModuleType(f"customizing_{name.replace('-', '_')}")
    sys.modules[module.__name__] = module
    exec(compile(example(name), str(DOC), "exec"), module.__dict__)
    return module


def own_templates(app: Any) -> None:
    app.jinja_env.loader = ChoiceLoader([DictLoader(OWN_TEMPLATES), app.jinja_env.loader])


def registration(**fields: Any) -> dict[str, Any]:
    return {
        "email": "ada@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        **fields,
    }


@pytest.fixture
async def quart_example(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/app.db")
    module = run_example("quart-example")
    try:
        app = module.app
        own_templates(app)
        await app.startup()
        yield module
        await app.shutdown()
        module.security.hashing_pool.shutdown(wait=False)
        await module.engine.dispose()
    finally:
        sys.modules.pop(module.__name__, None)


@pytest.fixture
def flask_example(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/app.db")
    module = run_example("flask-example")
    try:
        own_templates(module.app)
        yield module
        module.app.security.hashing_pool.shutdown(wait=False)
    finally:
        sys.modules.pop(module.__name__, None)


async def test_the_quart_example(quart_example: Any) -> None:
    client = quart_example.app.test_client()
    page = await (await client.get("/register")).get_data(as_text=True)
    assert "<p>world else</p>" in page
    assert 'name="first_name"' in page and 'name="last_name"' in page
    csrf = (
        await (await client.get("/register", headers={"Accept": "application/json"})).get_json()
    )["response"]["csrf_token"]
    headers = {"X-CSRF-Token": csrf}

    missing = await client.post("/register", json=registration(first_name="Ada"), headers=headers)
    assert missing.status_code == 400
    assert (await missing.get_json())["response"]["field_errors"] == {
        "last_name": ["This field is required."]
    }
    named = registration(first_name="Ada", last_name="L", password="ada is long enough")
    named["password_confirm"] = named["password"]
    refused = await client.post("/register", json=named, headers=headers)
    assert (await refused.get_json())["response"]["field_errors"] == {
        "password": ["Keep your name out of your password"]
    }
    ok = await client.post(
        "/register", json=registration(first_name="Ada", last_name="Lovelace"), headers=headers
    )
    assert ok.status_code == 200, await ok.get_data(as_text=True)
    async with quart_example.app.app_context(), quart_example.user_datastore.unit_of_work():
        user = await quart_example.user_datastore.find_user(email="ada@example.com")
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")


def test_the_flask_example(flask_example: Any) -> None:
    app = flask_example.app
    client = app.test_client()
    page = client.get("/register").get_data(as_text=True)
    assert "<p>world else</p>" in page
    csrf = client.get("/register", headers={"Accept": "application/json"}).get_json()["response"][
        "csrf_token"
    ]
    headers = {"X-CSRF-Token": csrf}
    missing = client.post("/register", json=registration(last_name="L"), headers=headers)
    assert missing.status_code == 400
    assert missing.get_json()["response"]["field_errors"] == {
        "first_name": ["This field is required."]
    }
    named = registration(first_name="Ada", last_name="L", password="ada is long enough")
    named["password_confirm"] = named["password"]
    refused = client.post("/register", json=named, headers=headers)
    assert refused.get_json()["response"]["field_errors"] == {
        "password": ["Keep your name out of your password"]
    }
    # The form's error is on the app's own page too.
    html = client.post(
        "/register", data={**registration(last_name="L"), "csrf_token": csrf}
    ).get_data(as_text=True)
    assert "first_name: This field is required." in html
    ok = client.post(
        "/register", json=registration(first_name="Ada", last_name="Lovelace"), headers=headers
    )
    assert ok.status_code == 200, ok.get_data(as_text=True)
    with app.app_context():
        user = app.security.datastore.find_user(email="ada@example.com")
        assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
