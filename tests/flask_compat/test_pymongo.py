"""PyMongoUserDatastore: a Flask app on MongoDB through a sync PyMongo database.

The app under test is the example of docs/datastores.md, run as written
(configured through its environment: a fresh database per test, the test's
SMTP sink). Requests go through Flask's own sync test client; the parallel
ones run on real threads, as a threaded server would run them. The shared
HTTP suite (tests/web/) also runs on this datastore (its "flask-mongo" apps).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pymongo import AsyncMongoClient, MongoClient

import flask_compat
import flask_compat.datastore
from flask_compat import PyMongoUserDatastore, Security
from flask_compat.mongo import _AwaitableDatabase
from quart_security.datastore.mongo import (
    CASE_INSENSITIVE,
    MongoCollectionLike,
    MongoUserDatastore,
)
from quart_security.errors import ConfigurationError
from quart_security.models.mongo import MongoRole, MongoUser
from tests.support.app_factory import FAST_ARGON2
from tests.support.flask_client import sync_json_login
from tests.support.mail import SmtpSink

MONGO_URL = os.environ.get("QS_TEST_MONGO_URL")
if not MONGO_URL:
    pytest.skip("QS_TEST_MONGO_URL is not set", allow_module_level=True)

DOC = Path(__file__).resolve().parents[2] / "docs" / "datastores.md"
JSON = {"Accept": "application/json"}
LINK = re.compile(r"https://app\.example/reset/([A-Za-z0-9_.\-]+)")
ADA = ("ada@example.com", "correct horse")


def _example() -> str:
    found = re.findall(r"<!-- example: ([\w-]+) -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    return dict(found)["flask-pymongo"]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink) -> Iterator[dict[str, Any]]:
    """The docs example's namespace, on its own database; dropped afterwards."""
    with _example_app(monkeypatch, smtp_sink) as namespace:
        yield namespace


@contextmanager
def _example_app(monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink) -> Iterator[dict[str, Any]]:
    name = f"qs_flask_doc_{uuid.uuid4().hex[:16]}"
    env = {
        "MONGO_URL": MONGO_URL,
        "MONGO_DATABASE": name,
        "FLASK_MAIL_SERVER": "127.0.0.1",
        "FLASK_MAIL_PORT": str(smtp_sink.port),
        "FLASK_SECURITY_EXTERNAL_BASE_URL": "https://app.example",
        "FLASK_SECURITY_PASSWORD_HASH_OPTIONS": json.dumps(FAST_ARGON2),
        # The race below signs one account in eleven times: past its password
        # budget (tests/web/test_rate_limits.py tests the budgets).
        "FLASK_SECURITY_RATE_LIMIT_ENABLED": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    namespace: dict[str, Any] = {"__name__": "flask_doc_example_pymongo"}
    try:
        exec(compile(_example(), "docs/datastores.md[flask-pymongo]", "exec"), namespace)
        yield namespace
    finally:
        app = namespace.get("app")
        if app is not None and "security" in app.extensions:
            app.extensions["security"].drain_mail()
            app.extensions["security"].hashing_pool.shutdown()
        mongo = namespace.get("mongo")
        if mongo is not None:
            mongo.drop_database(name)
            mongo.close()


def _csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path, headers=JSON)
    assert page.status_code == 200, page.get_data(as_text=True)
    token: str = page.get_json()["response"]["csrf_token"]
    return token


def _post(client: FlaskClient, path: str, payload: dict[str, Any]) -> Any:
    csrf = _csrf(client, path)
    return client.post(path, json=payload, headers={**JSON, "X-CSRF-Token": csrf})


def _users(example: dict[str, Any], email: str) -> int:
    """Stored users with this address in any case, read with PyMongo itself."""
    collection = example["datastore"].db["user"]
    return int(collection.count_documents({"email": email}, collation=CASE_INSENSITIVE))


# ---------------------------------------------------------------------- construction
def test_exported_from_flask_compat_and_its_datastore_module() -> None:
    assert flask_compat.PyMongoUserDatastore is PyMongoUserDatastore
    assert flask_compat.datastore.PyMongoUserDatastore is PyMongoUserDatastore
    assert issubclass(PyMongoUserDatastore, flask_compat.UserDatastore)
    with pytest.raises(AttributeError):
        flask_compat.NoSuchDatastore  # noqa: B018


def test_sql_only_apps_do_not_import_pymongo() -> None:
    code = (
        "import sys, flask_compat, flask_compat.datastore\n"
        "from flask_compat import *\n"
        "assert 'pymongo' not in sys.modules and 'bson' not in sys.modules, 'imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=DOC.parents[1]
    )
    assert done.returncode == 0, done.stderr


def test_wrong_handles_are_refused_at_construction() -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(MONGO_URL, connect=False)
    async_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO_URL, connect=False)
    try:
        with pytest.raises(TypeError, match="not a client"):
            PyMongoUserDatastore(client, MongoUser, MongoRole)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="needs a sync database"):
            PyMongoUserDatastore(async_client["app"], MongoUser, MongoRole)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not dict"):
            PyMongoUserDatastore({}, MongoUser, MongoRole)  # type: ignore[arg-type]
    finally:
        client.close()


def test_flask_security_refuses_the_async_mongo_datastore() -> None:
    async_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO_URL, connect=False)
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="salt")
    with pytest.raises(ConfigurationError, match="PyMongoUserDatastore"):
        Security(app, MongoUserDatastore(async_client["app"], MongoUser, MongoRole))  # type: ignore[arg-type]


def test_create_indexes_on_start_runs_when_security_is_set_up() -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(MONGO_URL, serverSelectionTimeoutMS=5000)
    name = f"qs_flask_{uuid.uuid4().hex[:16]}"
    try:
        for on_start in (False, True):
            app = Flask(__name__)
            app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="salt")
            store = PyMongoUserDatastore(
                client[name], MongoUser, MongoRole, create_indexes_on_start=on_start
            )
            security = Security(app, store)
            security.hashing_pool.shutdown()
            indexes = set(client[name]["user"].index_information())
            assert ("qs_email_ci" in indexes) is on_start
    finally:
        client.drop_database(name)
        client.close()


# ---------------------------------------------------------------------- the docs app
def test_example_app_signs_in(example: dict[str, Any]) -> None:
    client = example["app"].test_client()
    assert client.get("/", headers=JSON).status_code == 401
    assert sync_json_login(client, ADA[0], "wrong").status_code == 400
    assert sync_json_login(client, *ADA).status_code == 200
    assert client.get("/", headers=JSON).get_json() == {"email": ADA[0]}
    # The datastore the app passed is the sync one; the indexes were created.
    assert example["app"].security.datastore is example["datastore"]
    assert "qs_email_ci" in example["datastore"].db["user"].index_information()


def test_register_then_a_case_variant_gets_the_generic_answer(
    example: dict[str, Any], smtp_sink: SmtpSink
) -> None:
    app = example["app"]
    password = "a fine long password"
    new = {"email": "Grace@example.com", "password": password, "password_confirm": password}
    first = _post(app.test_client(), "/register", new)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert sync_json_login(app.test_client(), "Grace@example.com", password).status_code == 200
    assert app.security.drain_mail(10)
    mails = len(smtp_sink.messages)
    # Another spelling of the same address: the same answer, no second account,
    # nobody signed in, and the notice goes to the stored spelling.
    client = app.test_client()
    taken = _post(client, "/register", {**new, "email": "GRACE@example.com"})
    assert taken.status_code == 200
    assert _users(example, "grace@example.com") == 1
    assert client.get("/", headers=JSON).status_code == 401
    assert app.security.drain_mail(10)
    assert [m.envelope_to for m in smtp_sink.messages[mails:]] == [["Grace@example.com"]]


@pytest.mark.parametrize("variant", ["ada@example.com", "ADA@example.com", "Ada@Example.com"])
def test_a_taken_address_is_refused_without_generic_responses(
    monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink, variant: str
) -> None:
    monkeypatch.setenv("FLASK_SECURITY_RETURN_GENERIC_RESPONSES", "false")
    with _example_app(monkeypatch, smtp_sink) as namespace:
        password = "a fine long password"
        payload = {"email": variant, "password": password, "password_confirm": password}
        taken = _post(namespace["app"].test_client(), "/register", payload)
        assert taken.status_code == 400
        assert list(taken.get_json()["response"]["field_errors"]) == ["email"]
        assert _users(namespace, "ada@example.com") == 1


def test_documents_are_the_async_datastores(example: dict[str, Any]) -> None:
    """One layout: what the sync store wrote, the core's async store over PyMongo async reads."""
    name = example["datastore"].db.name
    sync_user = example["datastore"].find_user(email=ADA[0])
    role = example["datastore"].create_role(name="editor")
    example["datastore"].add_role_to_user(sync_user, role)

    async def read() -> Any:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO_URL)
        try:
            store = MongoUserDatastore(client[name], MongoUser, MongoRole)
            return await store.find_user(case_insensitive=True, email="ADA@example.com")
        finally:
            await client.close()

    other = asyncio.run(read())
    assert other.id == sync_user.id
    assert other.fs_uniquifier == sync_user.fs_uniquifier
    assert [r.name for r in other.roles] == ["editor"]


def test_ten_parallel_uses_of_one_reset_link_give_one_success(
    example: dict[str, Any], smtp_sink: SmtpSink
) -> None:
    app = example["app"]
    assert _post(app.test_client(), "/reset", {"email": ADA[0]}).status_code == 200
    assert app.security.drain_mail(10)
    assert len(smtp_sink.messages) == 1
    match = LINK.search(smtp_sink.messages[0].text)
    assert match is not None
    path = f"/reset/{match.group(1)}"
    passwords = [f"parallel password {i:02d}" for i in range(10)]
    clients = [app.test_client() for _ in passwords]
    tokens = [_csrf(c, "/reset") for c in clients]
    start = threading.Barrier(len(clients))

    def use(client: FlaskClient, csrf: str, password: str) -> int:
        start.wait(timeout=30)
        response = client.post(
            path,
            json={"password": password, "password_confirm": password},
            headers={**JSON, "X-CSRF-Token": csrf},
        )
        return int(response.status_code)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        statuses = list(pool.map(use, clients, tokens, passwords))
    assert sorted(statuses) == [200] + [400] * 9
    winner = passwords[statuses.index(200)]
    for password in passwords:
        status = sync_json_login(app.test_client(), ADA[0], password).status_code
        assert status == (200 if password == winner else 400), password
    assert sync_json_login(app.test_client(), *ADA).status_code == 400


def test_a_password_change_ends_the_other_sessions(example: dict[str, Any]) -> None:
    app = example["app"]
    changer, other = app.test_client(), app.test_client()
    for client in (changer, other):
        assert sync_json_login(client, *ADA).status_code == 200
        assert client.get("/", headers=JSON).status_code == 200
    changed = _post(
        changer,
        "/change",
        {
            "password": ADA[1],
            "new_password": "a new long passphrase",
            "new_password_confirm": "a new long passphrase",
        },
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changer.get("/", headers=JSON).status_code == 200
    assert other.get("/", headers=JSON).status_code == 401
    fresh = app.test_client()
    assert sync_json_login(fresh, ADA[0], "a new long passphrase").status_code == 200


def test_every_collection_method_the_core_calls_is_awaitable() -> None:
    """The core's MongoCollectionLike lists what it awaits; a new one must be wrapped too."""
    called = [n for n, v in vars(MongoCollectionLike).items() if callable(v) and n[0] != "_"]
    assert "update_one" in called and "aggregate" in called
    client: MongoClient[dict[str, Any]] = MongoClient(MONGO_URL, connect=False)
    try:
        collection = _AwaitableDatabase(client["app"])["user"]
        for name in called:
            assert inspect.iscoroutinefunction(getattr(collection, name)), name
    finally:
        client.close()
