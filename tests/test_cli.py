"""The users and roles commands (quart_security/cli.py), invoked for real.

Through Click's CliRunner on the app's own ``app.cli`` (a Quart app and a
Flask app, SQLite and PostgreSQL), and through the ``quart`` and ``flask``
executables in a subprocess, as an operator types them. What a command did is
judged by what the app then does: a created user signs in at /login, a
deactivated one cannot, a reset session stops working.

The tests are sync: a Quart command runs its own loop (``asyncio.run``), as it
does under ``quart``, so the Quart app's engine has no pool (a pooled
connection would belong to the loop of the command before).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from quart import Quart
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from quart_security import Security, hash_password
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
from tests.support.app_factory import (
    FAST_ARGON2,
    PASSWORD,
    ROLES,
    USERS,
    _add_test_routes,
    database_url,
)
from tests.support.flask_app_factory import build_flask_app, dispose
from tests.support.flask_client import sync_json_login
from tests.support.http import json_login
from tests.support.models import Base, Role, User, WebAuthn

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JSON = {"Accept": "application/json"}
NEW_PASSWORD = "correct horse battery"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _needs_postgres(backend: str) -> None:
    if backend == "postgres" and not os.environ.get("QS_TEST_POSTGRES_URL"):
        pytest.skip("QS_TEST_POSTGRES_URL is not set")


# ---------------------------------------------------------------------- the two apps
class QuartHarness:
    """A seeded Quart app (as tests/support/app_factory builds it, without a pool)."""

    framework = "quart"

    def __init__(self, backend: str, tmp_path: Path, settings: dict[str, Any]) -> None:
        self.engine = create_async_engine(database_url(backend, tmp_path), poolclass=NullPool)
        self.store = SQLAlchemyUserDatastore(
            async_sessionmaker(self.engine, expire_on_commit=False), User, Role, WebAuthn
        )
        app = Quart(__name__)
        app.config.update(
            SECRET_KEY="test-secret-key-0123456789abcdef",
            SECURITY_PASSWORD_SALT="test-salt",
            SECURITY_PASSWORD_HASH_OPTIONS=FAST_ARGON2,
            SECURITY_EXTERNAL_BASE_URL="https://app.example",
            TESTING=True,
        )
        app.config.update({"SECURITY_" + k.upper(): v for k, v in settings.items()})
        self.security = Security(app, self.store)
        _add_test_routes(app)
        self.app = app
        asyncio.run(self._seed())

    async def _seed(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
        async with self.app.app_context():
            async with self.store.unit_of_work():
                for name, permissions in ROLES:
                    await self.store.create_role(name=name, permissions=permissions)
            async with self.store.unit_of_work():
                hashed = await hash_password(PASSWORD)
                for email, username, roles, active in USERS:
                    await self.store.create_user(
                        email=email, username=username, password=hashed, roles=roles, active=active
                    )

    @property
    def cli(self) -> Any:
        return self.app.cli

    def user(self, email: str) -> Any:
        async def find() -> Any:
            async with self.store.unit_of_work():
                return await self.store.find_user(email=email)

        return asyncio.run(find())

    def role(self, name: str) -> Any:
        async def find() -> Any:
            async with self.store.unit_of_work():
                return await self.store.find_role(name)

        return asyncio.run(find())

    def client(self) -> QuartClient:
        return QuartClient(self.app.test_client())

    def close(self) -> None:
        self.security.hashing_pool.shutdown()
        asyncio.run(self.engine.dispose())


class QuartClient:
    """One browser: its cookies persist across the sync calls of a test."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def login(self, email: str, password: str, query: str = "") -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            response = await json_login(self._client, email, password, query=query)
            return response.status_code, await response.get_json()

        return asyncio.run(go())

    def get(self, path: str, headers: dict[str, str] | None = None) -> int:
        async def go() -> int:
            response = await self._client.get(path, headers={**JSON, **(headers or {})})
            return int(response.status_code)

        return asyncio.run(go())


class FlaskHarness:
    """The seeded Flask app of tests/support/flask_app_factory."""

    framework = "flask"

    def __init__(self, backend: str, tmp_path: Path, settings: dict[str, Any]) -> None:
        self.built = build_flask_app(backend, tmp_path, settings)
        self.app = self.built.app.flask_app

    @property
    def cli(self) -> Any:
        return self.app.cli

    def user(self, email: str) -> Any:
        with self.app.app_context():
            user = self.built.datastore.find_user(email=email)
            if user is not None:
                _ = [r.name for r in user.roles]  # loaded before the session goes
            return user

    def role(self, name: str) -> Any:
        with self.app.app_context():
            return self.built.datastore.find_role(name)

    def client(self) -> FlaskClient:
        return FlaskClient(self.app.test_client())

    def close(self) -> None:
        dispose(self.built)


class FlaskClient:
    def __init__(self, client: Any) -> None:
        self._client = client

    def login(self, email: str, password: str, query: str = "") -> tuple[int, Any]:
        response = sync_json_login(self._client, email, password, query=query)
        return response.status_code, response.get_json()

    def get(self, path: str, headers: dict[str, str] | None = None) -> int:
        return int(self._client.get(path, headers={**JSON, **(headers or {})}).status_code)


Harness = QuartHarness | FlaskHarness


def invoke(harness: Harness, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(harness.cli, list(args), input=input)


@pytest.fixture(params=["quart", "flask"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=BACKENDS)
def app(request: pytest.FixtureRequest, framework: str, tmp_path: Path) -> Iterator[Harness]:
    backend = str(request.param)
    _needs_postgres(backend)
    settings: dict[str, Any] = {}
    for marker in request.node.iter_markers("settings"):
        settings = {**marker.kwargs, **settings}
    harness: Harness = (
        QuartHarness(backend, tmp_path, settings)
        if framework == "quart"
        else FlaskHarness(backend, tmp_path, settings)
    )
    try:
        yield harness
    finally:
        harness.close()


def refused(result: Result, text: str) -> None:
    """A refusal: Click's bad-input exit code, the reason on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    assert text in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# ---------------------------------------------------------------------- users create
def test_create_then_sign_in(app: Harness) -> None:
    result = invoke(app, "users", "create", "new@example.com", "--password", PASSWORD, "-a")
    assert result.exit_code == 0, result.output
    assert "User created successfully." in result.stdout
    assert PASSWORD not in result.output
    status, _ = app.client().login("new@example.com", PASSWORD)
    assert status == 200


def test_created_user_is_inactive_without_active(app: Harness) -> None:
    result = invoke(app, "users", "create", "new@example.com", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert app.user("new@example.com").active is False
    assert app.client().login("new@example.com", PASSWORD)[0] == 400


def test_password_is_prompted_without_echo(app: Harness) -> None:
    result = invoke(app, "users", "create", "new@example.com", "-a", input=f"{PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.output
    assert "Password" in result.output and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    assert app.client().login("new@example.com", PASSWORD)[0] == 200


def test_prompted_passwords_must_match(app: Harness) -> None:
    typed = f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n"
    result = invoke(app, "users", "create", "new@example.com", "-a", input=typed)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert app.client().login("new@example.com", PASSWORD)[0] == 200


def test_duplicate_email_is_refused_even_in_another_case(app: Harness) -> None:
    result = invoke(app, "users", "create", "MATT@lp.com", "--password", NEW_PASSWORD)
    refused(result, "already used by another account")
    # matt's account is untouched: the old password still works.
    assert app.client().login("matt@lp.com", PASSWORD)[0] == 200


def test_bad_email_is_refused(app: Harness) -> None:
    refused(
        invoke(app, "users", "create", "not-an-email", "--password", PASSWORD),
        "not accepted by SECURITY_USER_IDENTITY_ATTRIBUTES",
    )
    refused(
        invoke(app, "users", "create", "email:a@b@example.com", "--password", PASSWORD),
        "not accepted",
    )


def test_short_password_is_refused_and_nothing_written(app: Harness) -> None:
    result = invoke(app, "users", "create", "new@example.com", "--password", "short")
    refused(result, "password: ")
    assert "8 characters" in result.stderr
    assert app.user("new@example.com") is None


def test_password_may_not_be_the_email(app: Harness) -> None:
    # The registration checks, context words included (PasswordUtil.validate).
    result = invoke(app, "users", "create", "longname@example.com", "--password", "longname")
    refused(result, "password: ")
    assert app.user("longname@example.com") is None


def test_unknown_attribute_is_refused(app: Harness) -> None:
    result = invoke(app, "users", "create", "new@example.com", "nosuch:1", "--password", PASSWORD)
    refused(result, 'no attribute "nosuch"')
    result = invoke(
        app, "users", "create", "new@example.com", "roles:admin", "--password", PASSWORD
    )
    refused(result, "roles add")
    assert app.user("new@example.com") is None


def test_other_attributes_reach_the_user(app: Harness) -> None:
    result = invoke(
        app, "users", "create", "new@example.com", "first_name:Ada", "--password", PASSWORD
    )
    assert result.exit_code == 0, result.output
    assert app.user("new@example.com").first_name == "Ada"


@pytest.mark.settings(username_enable=True)
def test_create_with_username(app: Harness) -> None:
    args = ["users", "create", "new@example.com", "--password", PASSWORD, "-a", "-u", "Newbie"]
    assert invoke(app, *args).exit_code == 0
    assert app.user("new@example.com").username == "Newbie"  # as /register stores it
    taken = ["users", "create", "other@example.com", "--password", PASSWORD, "-u", "MATT"]
    refused(invoke(app, *taken), "username: ")
    assert app.user("other@example.com") is None


def test_username_needs_username_enable(app: Harness) -> None:
    args = ["users", "create", "new@example.com", "--password", PASSWORD, "-u", "newbie"]
    refused(invoke(app, *args), "USERNAME_ENABLE")


@pytest.mark.settings(confirmable=True)
def test_created_user_is_not_confirmed(app: Harness) -> None:
    # As Flask-Security's CLI: the user confirms through the usual mail.
    args = ["users", "create", "new@example.com", "--password", PASSWORD, "-a"]
    assert invoke(app, *args).exit_code == 0
    assert app.user("new@example.com").confirmed_at is None
    assert app.client().login("new@example.com", PASSWORD)[0] == 400


# ---------------------------------------------------------------------- users others
def test_deactivate_then_activate(app: Harness) -> None:
    result = invoke(app, "users", "deactivate", "matt@lp.com")
    assert result.exit_code == 0 and "has been deactivated" in result.stdout
    assert app.client().login("matt@lp.com", PASSWORD)[0] == 400
    again = invoke(app, "users", "deactivate", "matt@lp.com")
    assert again.exit_code == 0 and "already deactivated" in again.stdout
    result = invoke(app, "users", "activate", "matt@lp.com")
    assert result.exit_code == 0 and "has been activated" in result.stdout
    assert app.client().login("matt@lp.com", PASSWORD)[0] == 200


def test_deactivate_ends_an_existing_session(app: Harness) -> None:
    browser = app.client()
    assert browser.login("matt@lp.com", PASSWORD)[0] == 200
    assert browser.get("/api/me") == 200
    assert invoke(app, "users", "deactivate", "matt@lp.com").exit_code == 0
    assert browser.get("/api/me") == 401


def test_change_password(app: Harness) -> None:
    browser = app.client()
    assert browser.login("joe@lp.com", PASSWORD)[0] == 200
    result = invoke(app, "users", "change_password", "joe@lp.com", "--password", NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert browser.get("/api/me") == 401  # every session ended
    assert app.client().login("joe@lp.com", PASSWORD)[0] == 400
    assert app.client().login("joe@lp.com", NEW_PASSWORD)[0] == 200


def test_change_password_is_validated(app: Harness) -> None:
    refused(invoke(app, "users", "change_password", "joe@lp.com", "--password", "short"), "8")
    assert app.client().login("joe@lp.com", PASSWORD)[0] == 200


def test_reset_access_ends_sessions_and_tokens(app: Harness) -> None:
    browser = app.client()
    status, body = browser.login("dave@lp.com", PASSWORD, query="?include_auth_token")
    assert status == 200
    token = body["response"]["user"]["authentication_token"]
    assert browser.get("/api/me") == 200
    tokened = app.client()
    assert tokened.get("/api/token", {"Authentication-Token": token}) == 200
    result = invoke(app, "users", "reset_access", "dave@lp.com")
    assert result.exit_code == 0 and "have been reset" in result.stdout
    assert browser.get("/api/me") == 401
    assert tokened.get("/api/token", {"Authentication-Token": token}) == 401
    # The password is kept.
    assert app.client().login("dave@lp.com", PASSWORD)[0] == 200


@pytest.mark.parametrize("command", ["activate", "deactivate", "reset_access", "change_password"])
def test_unknown_user_is_refused(app: Harness, command: str) -> None:
    extra = ["--password", NEW_PASSWORD] if command == "change_password" else []
    refused(invoke(app, "users", command, "nobody@lp.com", *extra), 'User "nobody@lp.com" not')


# ---------------------------------------------------------------------- roles
def test_roles_create_with_permissions(app: Harness) -> None:
    result = invoke(app, "roles", "create", "ops", "-d", "Operators", "-p", "deploy, restart")
    assert result.exit_code == 0, result.output
    role = app.role("ops")
    assert role.description == "Operators"
    assert role.get_permissions() == {"deploy", "restart"}
    refused(invoke(app, "roles", "create", "ops"), 'Role "ops" already exists')


def test_roles_add_and_remove(app: Harness) -> None:
    result = invoke(app, "roles", "add", "joe@lp.com", "author")
    assert result.exit_code == 0 and "added" in result.stdout
    assert sorted(r.name for r in app.user("joe@lp.com").roles) == ["author", "editor"]
    refused(invoke(app, "roles", "add", "joe@lp.com", "author"), "already has")
    result = invoke(app, "roles", "remove", "joe@lp.com", "editor")
    assert result.exit_code == 0 and "removed" in result.stdout
    assert [r.name for r in app.user("joe@lp.com").roles] == ["author"]
    refused(invoke(app, "roles", "remove", "joe@lp.com", "editor"), "does not have")


@pytest.mark.settings(username_enable=True)
def test_user_is_any_identity_attribute(app: Harness) -> None:
    assert invoke(app, "roles", "add", "joe", "author").exit_code == 0
    assert "author" in {r.name for r in app.user("joe@lp.com").roles}


def test_unknown_role_or_user_for_roles(app: Harness) -> None:
    refused(invoke(app, "roles", "add", "joe@lp.com", "nosuch"), 'Role "nosuch" not found')
    refused(invoke(app, "roles", "remove", "nobody@lp.com", "admin"), "not found")
    refused(invoke(app, "roles", "add_permissions", "nosuch", "a"), 'Role "nosuch" not found')
    refused(invoke(app, "roles", "remove_permissions", "nosuch", "a"), "not found")


def test_add_and_remove_permissions(app: Harness) -> None:
    result = invoke(app, "roles", "add_permissions", "author", "publish,review")
    assert result.exit_code == 0, result.output
    assert app.role("author").get_permissions() == {"read", "write", "publish", "review"}
    result = invoke(app, "roles", "remove_permissions", "author", "write, review")
    assert result.exit_code == 0, result.output
    assert app.role("author").get_permissions() == {"read", "publish"}


# ---------------------------------------------------------------------- group names
@pytest.mark.settings(cli_users_name=False)
def test_falsy_users_name_registers_no_group(app: Harness) -> None:
    assert "users" not in app.cli.commands
    assert "roles" in app.cli.commands
    assert invoke(app, "users", "activate", "matt@lp.com").exit_code != 0


@pytest.mark.settings(cli_users_name="accounts", cli_roles_name=None)
def test_custom_group_name(app: Harness) -> None:
    assert "users" not in app.cli.commands and "roles" not in app.cli.commands
    assert invoke(app, "accounts", "deactivate", "matt@lp.com").exit_code == 0
    assert app.user("matt@lp.com").active is False


# ---------------------------------------------------------------------- the executables
QUART_MODULE = """
    import asyncio

    from quart import Quart
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from sqlalchemy.pool import NullPool

    from quart_security import Security
    from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
    from tests.support.models import Base, Role, User, WebAuthn

    engine = create_async_engine("sqlite+aiosqlite:///{db}", poolclass=NullPool)


    async def _tables() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)


    asyncio.run(_tables())
    app = Quart(__name__)
    app.config.update(
        SECRET_KEY="cli-test-secret-key-0123456789abcdef",
        SECURITY_PASSWORD_SALT="salt",
        SECURITY_PASSWORD_HASH_OPTIONS={argon2},
    )
    security = Security(
        app,
        SQLAlchemyUserDatastore(
            async_sessionmaker(engine, expire_on_commit=False), User, Role, WebAuthn
        ),
    )
"""

FLASK_MODULE = """
    from flask import Flask

    from flask_compat import Security, SQLAlchemyUserDatastore
    from tests.support.flask_app_factory import Role, User, WebAuthn, db

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="cli-test-secret-key-0123456789abcdef",
        SECURITY_PASSWORD_SALT="salt",
        SECURITY_PASSWORD_HASH_OPTIONS={argon2},
        SQLALCHEMY_DATABASE_URI="sqlite:///{db}",
    )
    db.init_app(app)
    security = Security(app, SQLAlchemyUserDatastore(db, User, Role, WebAuthn))
    with app.app_context():
        db.create_all()
"""


def _app_module(tmp_path: Path, framework: str) -> str:
    name = f"cli_{framework}_app_{uuid.uuid4().hex[:8]}"
    source = QUART_MODULE if framework == "quart" else FLASK_MODULE
    text = textwrap.dedent(source).format(db=tmp_path / "cli.db", argon2=repr(FAST_ARGON2))
    (tmp_path / f"{name}.py").write_text(text)
    return name


def _run(tmp_path: Path, framework: str, module: str, *args: str, input: str | None = None) -> Any:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    return subprocess.run(
        [str(BIN / framework), "--app", f"{module}:app", *args],
        cwd=tmp_path,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _import(tmp_path: Path, module: str) -> Any:
    spec = importlib.util.spec_from_file_location(module, tmp_path / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def test_the_executable(framework: str, tmp_path: Path) -> None:
    module = _app_module(tmp_path, framework)
    done = _run(tmp_path, framework, module, "roles", "create", "admin", "-p", "read,write")
    assert done.returncode == 0, done.stderr
    done = _run(
        tmp_path, framework, module, "users", "create", "ops@example.com", "--active",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "User created successfully." in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    done = _run(tmp_path, framework, module, "roles", "add", "ops@example.com", "admin")
    assert done.returncode == 0, done.stderr
    refusal = _run(tmp_path, framework, module, "users", "activate", "nobody@example.com")
    assert refusal.returncode == 2
    assert 'User "nobody@example.com" not found.' in refusal.stderr
    assert "Traceback" not in refusal.stderr
    bad = _run(tmp_path, framework, module, "users", "create", "x@example.com", "--password", "s")
    assert bad.returncode == 2 and "8 characters" in bad.stderr

    # The user an operator created signs in on that app.
    loaded = _import(tmp_path, module)
    if framework == "quart":

        async def login() -> int:
            response = await json_login(loaded.app.test_client(), "ops@example.com", PASSWORD)
            return int(response.status_code)

        try:
            assert asyncio.run(login()) == 200
        finally:
            loaded.security.hashing_pool.shutdown()
            asyncio.run(loaded.engine.dispose())
    else:
        try:
            response = sync_json_login(loaded.app.test_client(), "ops@example.com", PASSWORD)
            assert response.status_code == 200, response.get_data(as_text=True)
        finally:
            loaded.security.hashing_pool.shutdown()
            with loaded.app.app_context():
                loaded.db.engine.dispose()


@pytest.mark.settings(
    rate_limit_enabled=True, lockout_failures=2, rate_limits={"password": "100/hour"}
)
def test_unlock_ends_a_lockout(app: Harness) -> None:
    for _ in range(2):
        assert app.client().login("matt@lp.com", "wrong password")[0] == 400
    assert app.client().login("matt@lp.com", PASSWORD)[0] == 429
    result = invoke(app, "users", "unlock", "matt@lp.com")
    assert result.exit_code == 0, result.output
    # In-memory counters: said plainly; this (one) process is unlocked.
    assert "in this process only" in result.stdout
    assert app.client().login("matt@lp.com", PASSWORD)[0] == 200
    refused(invoke(app, "users", "unlock", "nobody@lp.com"), "nobody@lp.com")


@pytest.mark.settings(rate_limit_enabled=False)
def test_unlock_with_the_limits_off_says_so(app: Harness) -> None:
    result = invoke(app, "users", "unlock", "matt@lp.com")
    assert result.exit_code == 0 and "Rate limits are off" in result.stdout
