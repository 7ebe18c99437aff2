"""The Flask twin of app_factory.create_test_app, built with flask_compat.

Same users, roles, routes and settings markers, on Flask-SQLAlchemy with the
fsqla_v3 models (backend "mongo": PyMongoUserDatastore over a sync MongoClient
database, one database per app, with the Quart twin's Mongo models), so the
shared HTTP suite (tests/web/) runs unchanged on both frameworks. The app is
built in a worker thread, as a Flask server would run it: flask_compat drives
the core on that thread's own event loop, and the test's loop never blocks on
it. ``BuiltApp.app`` is a small facade whose ``test_client()`` and
``app_context()`` speak the Quart test API the suite uses
(tests/support/flask_client.py).
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy

from flask_compat import (
    Security,
    SQLAlchemyUserDatastore,
    auth_required,
    auth_token_required,
    current_user,
    hash_password,
    http_auth_required,
    permissions_accepted,
    permissions_required,
    roles_accepted,
    roles_required,
    unauth_csrf,
)
from flask_compat.models import fsqla_v3 as fsqla
from quart_security.clock import FrozenClock

from .app_factory import FAST_ARGON2, PASSWORD, ROLES, USERS
from .flask_client import AsyncFlaskClient

# Committed objects stay readable after the request (a signal receiver's user),
# as with the Quart twin's sessionmaker; Flask-SQLAlchemy's default expires them.
db = SQLAlchemy(session_options={"expire_on_commit": False})
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
    pass


class User(db.Model, fsqla.FsUserMixin, fsqla.FsTfCountersMixin):  # type: ignore[name-defined,misc]
    # An app's own profile fields (Flask-Security's extended register form).
    first_name = db.Column(db.String(64))
    last_name = db.Column(db.String(64))


class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):  # type: ignore[name-defined,misc]
    pass


def sync_database_url(backend: str, tmp_path: Any) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/test-flask.db"
    if backend == "postgres":
        url = os.environ.get("QS_TEST_POSTGRES_URL")
        if not url:
            raise RuntimeError("QS_TEST_POSTGRES_URL is not set")
        return url.replace("+asyncpg", "+psycopg", 1)
    raise ValueError(backend)


class FlaskTestApp:
    """The Flask app as the shared tests see it (a Quart-like test API)."""

    def __init__(self, app: Flask) -> None:
        self.flask_app = app
        self.config = app.config

    def test_client(self) -> AsyncFlaskClient:
        return AsyncFlaskClient(self.flask_app.test_client())

    @asynccontextmanager
    async def app_context(self) -> AsyncIterator[None]:
        """``async with app.app_context()``: Flask's app context on the test's own task.

        ``test_app.store`` coroutines never suspend (they run over the sync
        session), so awaiting them here does the database work inline.
        """
        with self.flask_app.app_context():
            yield


@dataclass
class FlaskBuiltApp:
    app: FlaskTestApp
    security: Security
    store: Any  # the async datastore the core awaits (SyncSessionStore)
    datastore: Any  # the sync one the app passed (SQLAlchemy or PyMongo)
    clock: FrozenClock
    #: Releases what the app's datastore holds (the Mongo test database).
    close: Callable[[], None] = field(default=lambda: None)


def _mongo_datastore(backend: str) -> tuple[Any, Callable[[], None]]:
    """PyMongoUserDatastore on a fresh database of the MongoDB-wire server."""
    from pymongo import MongoClient

    from flask_compat import PyMongoUserDatastore
    from quart_security.models.mongo import MongoRole, MongoWebAuthn

    from .models import MongoProfileUser

    url = os.environ.get("QS_TEST_MONGO_URL")
    if not url:
        raise RuntimeError("QS_TEST_MONGO_URL is not set")
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=5000)
    name = f"qs_flask_{uuid.uuid4().hex[:16]}"
    datastore = PyMongoUserDatastore(
        client[name], MongoProfileUser, MongoRole, MongoWebAuthn, create_indexes_on_start=True
    )

    def close() -> None:
        client.drop_database(name)
        client.close()

    return datastore, close


def build_flask_app(
    backend: str,
    tmp_path: Any,
    settings: Mapping[str, Any] | None = None,
    app_settings: Mapping[str, Any] | None = None,
    *,
    seed: bool = True,
    security_kwargs: Mapping[str, Any] | None = None,
) -> FlaskBuiltApp:
    """Build (and seed: a fresh database) the app; sync, so call it where no loop runs."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test-secret-key-0123456789abcdef",
        SECURITY_PASSWORD_SALT="test-salt",
        SECURITY_PASSWORD_HASH_OPTIONS=FAST_ARGON2,
        SECURITY_PASSWORD_HASH_POOL_SIZE=2,
        # Links in mails are built from this, never from the Host header.
        SECURITY_EXTERNAL_BASE_URL="https://app.example",
        # The budgets (on by default) would refuse the many sign-ins of one
        # account a test makes; the tests of the limits turn them on
        # (tests/web/test_rate_limits.py).
        SECURITY_RATE_LIMIT_ENABLED=False,
        TESTING=True,
    )
    app.config.update({k.upper(): v for k, v in (app_settings or {}).items()})
    app.config.update({"SECURITY_" + k.upper(): v for k, v in (settings or {}).items()})
    datastore: Any
    close: Callable[[], None] = lambda: None  # noqa: E731
    if backend == "mongo":
        datastore, close = _mongo_datastore(backend)
    else:
        app.config["SQLALCHEMY_DATABASE_URI"] = sync_database_url(backend, tmp_path)
        db.init_app(app)
        datastore = SQLAlchemyUserDatastore(db, User, Role, WebAuthn)
    clock = FrozenClock()
    try:
        security = Security(app, datastore, clock=clock, **(security_kwargs or {}))
    except BaseException:
        close()
        raise
    add_test_routes(app)
    built = FlaskBuiltApp(
        FlaskTestApp(app), security, datastore.async_store, datastore, clock, close
    )
    if not seed:
        return built
    with app.app_context():
        if backend != "mongo":
            db.drop_all()
            db.create_all()
        for name, perms in ROLES:
            datastore.create_role(name=name, permissions=perms)
        datastore.commit()
        pw = hash_password(PASSWORD)
        for email, username, roles, active in USERS:
            datastore.create_user(
                email=email, username=username, password=pw, roles=roles, active=active
            )
        datastore.commit()
    return built


def dispose(built: FlaskBuiltApp) -> None:
    built.security.drain_mail()  # no delivery outlives its test
    built.security.hashing_pool.shutdown()
    if "sqlalchemy" in built.app.flask_app.extensions:
        with built.app.flask_app.app_context():
            db.engine.dispose()
    built.close()


@asynccontextmanager
async def flask_test_app(
    backend: str,
    tmp_path: Any,
    settings: Mapping[str, Any] | None = None,
    app_settings: Mapping[str, Any] | None = None,
    security_kwargs: Mapping[str, Any] | None = None,
) -> AsyncIterator[FlaskBuiltApp]:
    built = await asyncio.to_thread(
        functools.partial(
            build_flask_app,
            backend,
            tmp_path,
            settings,
            app_settings,
            security_kwargs=security_kwargs,
        )
    )
    try:
        yield built
    finally:
        await asyncio.to_thread(dispose, built)


@contextmanager
def flask_app_sync(backend: str, tmp_path: Any, **settings: Any) -> Iterator[FlaskBuiltApp]:
    built = build_flask_app(backend, tmp_path, settings)
    try:
        yield built
    finally:
        dispose(built)


def _echo() -> dict[str, Any]:
    """What an app view reads of its request body after the library's guards ran."""
    raw = request.get_data()
    return {
        "raw": raw.decode("latin-1"),
        "json": request.get_json(silent=True),
        "form": request.form.to_dict(flat=False),
        "files": sorted(request.files.keys()),
        "user": current_user.email if current_user.is_authenticated else None,
    }


def add_test_routes(app: Flask) -> None:
    """The routes of app_factory._add_test_routes, as Flask (sync) views."""

    @app.route("/")
    def index() -> Any:
        return jsonify(authenticated=bool(current_user.is_authenticated))

    @app.route("/api/public")
    def public() -> Any:
        return jsonify(ok=True)

    @app.route("/api/me", methods=["GET", "POST"])
    @auth_required()
    def me() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/app-login", methods=["POST"])
    def app_login() -> Any:
        """App code signing a user in itself (it checked the credentials its own way)."""
        from flask import current_app

        from flask_compat import login_user

        datastore = current_app.extensions["security"].datastore
        user = datastore.find_user(email=request.get_json()["email"])
        return jsonify(logged_in=login_user(user))

    @app.route("/api/echo", methods=["POST", "PUT"])
    @auth_required()
    def echo() -> Any:
        return jsonify(_echo())

    @app.route("/api/open-echo", methods=["POST"])
    @unauth_csrf()
    def open_echo() -> Any:
        return jsonify(_echo())

    @app.route("/api/token", methods=["GET", "POST"])
    @auth_token_required
    def token_only() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/session")
    @auth_required("session")
    def session_only() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/basic", methods=["GET", "POST"])
    @http_auth_required
    def basic_only() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/basic-realm")
    @http_auth_required("Reports")
    def basic_realm() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/open-echo-fall-through", methods=["POST"])
    @unauth_csrf(fall_through=True)
    def open_echo_fall_through() -> Any:
        return jsonify(_echo())

    @app.route("/api/multi")
    @auth_required("token", "session", "basic")
    def multi() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/fresh", methods=["GET", "POST"])
    @auth_required(within=60, grace=0)
    def fresh() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/admin")
    @auth_required()
    @roles_required("admin")
    def admin() -> Any:
        return jsonify(ok=True)

    @app.route("/api/admin-or-editor")
    @auth_required()
    @roles_accepted("admin", "editor")
    def admin_or_editor() -> Any:
        return jsonify(ok=True)

    @app.route("/api/admin-and-editor")
    @auth_required()
    @roles_required("admin", "editor")
    def admin_and_editor() -> Any:
        return jsonify(ok=True)

    @app.route("/api/perm-super")
    @auth_required()
    @permissions_required("super")
    def perm_super() -> Any:
        return jsonify(ok=True)

    @app.route("/api/perm-any")
    @auth_required()
    @permissions_accepted("super", "read")
    def perm_any() -> Any:
        return jsonify(ok=True)

    @app.route("/api/sync")
    @auth_required()
    def sync_view() -> Any:
        return jsonify(email=current_user.email)
