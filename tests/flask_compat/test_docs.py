"""Every example in docs/flask.md runs, and does what the page says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.flask_client import sync_json_login

DOC = Path(__file__).resolve().parents[2] / "docs" / "flask.md"
JSON = {"Accept": "application/json"}


def _snippets() -> dict[str, str]:
    text = DOC.read_text()
    found = re.findall(r"<!-- example: ([\w-]+) -->\n```python\n(.*?)```", text, re.S)
    return dict(found)


@pytest.fixture
def run_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Exec one example as its own module; shut its hashing pool down afterwards."""
    apps: list[Any] = []
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/example.db")

    def run(name: str) -> dict[str, Any]:
        namespace: dict[str, Any] = {"__name__": f"flask_doc_example_{name.replace('-', '_')}"}
        exec(compile(_snippets()[name], f"docs/flask.md[{name}]", "exec"), namespace)
        apps.append(namespace["app"])
        return namespace

    yield run
    for app in apps:
        app.extensions["security"].hashing_pool.shutdown()


def test_every_python_block_is_a_tested_example() -> None:
    text = DOC.read_text()
    assert text.count("```python") == len(_snippets()) == 4


def test_minimal_fsqla_app(run_example: Any) -> None:
    ns = run_example("fsqla")
    app = ns["app"]
    client = app.test_client()
    anonymous = client.get("/")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?next=/"
    assert sync_json_login(client, "ada@example.com", "wrong").status_code == 400
    login = sync_json_login(client, "ada@example.com", "correct horse")
    assert login.status_code == 200, login.get_data(as_text=True)
    home = client.get("/")
    assert home.status_code == 200
    assert home.get_data(as_text=True) == "Welcome, ada@example.com"
    # The datastore the app passed is the sync one, as in Flask-Security.
    with app.app_context():
        user = app.security.datastore.find_user(email="ada@example.com")
        assert user.email == "ada@example.com" and user.active


def test_own_models_with_roles(run_example: Any) -> None:
    app = run_example("own-models")["app"]
    client = app.test_client()
    assert client.get("/reports", headers=JSON).status_code == 401
    assert sync_json_login(client, "grace@example.com", "s3cret pass").status_code == 200
    response = client.get("/reports", headers=JSON)
    assert response.get_json() == {"reader": "grace@example.com"}


def test_plain_scoped_session(run_example: Any) -> None:
    app = run_example("session")["app"]
    client = app.test_client()
    assert client.get("/me", headers=JSON).status_code == 401
    assert sync_json_login(client, "alan@example.com", "enigma machine").status_code == 200
    assert client.get("/me", headers=JSON).get_json() == {"email": "alan@example.com"}


def test_scoped_session_example_starts_again_on_its_own_database(run_example: Any) -> None:
    # Its database is a file: a restart finds the user already there.
    run_example("session")
    app = run_example("session")["app"]
    login = sync_json_login(app.test_client(), "alan@example.com", "enigma machine")
    assert login.status_code == 200


def test_flask_security_fsqla_lite_example_with_its_imports_changed(run_example: Any) -> None:
    """Flask-Security's basic Flask-SQLAlchemy-Lite app: only ``flask_security`` imports differ."""
    source = _snippets()["fsqla-lite"]
    assert "flask_security" not in source
    imports = [line for line in source.splitlines() if line.startswith(("from ", "import "))]
    assert (
        "from flask_compat import Security, FSQLALiteUserDatastore, auth_required, hash_password"
        in imports
    )
    assert "from flask_compat.models import sqla as sqla" in imports
    ns = run_example("fsqla-lite")
    app = ns["app"]
    client = app.test_client()
    anonymous = client.get("/")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?next=/"
    assert sync_json_login(client, "test@me.com", "wrong").status_code == 400
    login = sync_json_login(client, "test@me.com", "password")
    assert login.status_code == 200, login.get_data(as_text=True)
    assert client.get("/").get_data(as_text=True) == "Hello test@me.com"
    assert ns["security"].datastore is ns["user_datastore"]
    with app.app_context():
        user = ns["user_datastore"].find_user(email="test@me.com")
        assert user.email == "test@me.com" and user.active
        assert ns["db"].session.get(ns["User"], user.id) is user  # one session per app context
