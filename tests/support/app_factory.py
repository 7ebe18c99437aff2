"""Build a Quart test app with quart_security on a real database.

Used by the HTTP tests (tests/web/) through fixtures, and by the real-server
smoke tests. Settings come from ``@pytest.mark.settings(...)`` (SECURITY_*
keys, lower-case like Flask-Security's tests) and ``@pytest.mark.app_settings``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from quart import Quart, jsonify, request, websocket
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from quart_security import (
    Security,
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
from quart_security.clock import FrozenClock
from quart_security.datastore.base import UserDatastore
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore

from .models import Base, Role, User, WebAuthn

#: Fast argon2 for tests (the real parameters are exercised in tests/crypto).
FAST_ARGON2 = {"argon2": {"time_cost": 1, "memory_cost": 8, "parallelism": 1}}
PASSWORD = "battery horse staple"

USERS = [
    # email, username, roles, active
    ("matt@lp.com", "matt", ["admin"], True),
    ("joe@lp.com", "joe", ["editor"], True),
    ("dave@lp.com", "dave", ["admin", "editor"], True),
    ("tiya@lp.com", "tiya", [], False),
]
ROLES = [
    ("admin", ["full-read", "full-write", "super"]),
    ("editor", ["full-read", "full-write"]),
    ("author", ["read", "write"]),
]


SQL_BACKENDS = ("sqlite", "postgres")
#: mongo: PyMongo's AsyncMongoClient; motor: the same server through Motor.
MONGO_BACKENDS = ("mongo", "motor")


def database_url(backend: str, tmp_path: Any) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/test.db"
    if backend == "postgres":
        url = os.environ.get("QS_TEST_POSTGRES_URL")
        if not url:
            raise RuntimeError("QS_TEST_POSTGRES_URL is not set")
        return url
    raise ValueError(backend)


@dataclass
class BuiltApp:
    app: Quart
    security: Security
    store: UserDatastore[Any, Any]  # the async datastore the core uses
    close: Callable[[], Awaitable[None]]  # releases the database
    clock: FrozenClock


async def sql_store(backend: str, tmp_path: Any) -> tuple[UserDatastore[Any, Any], Any]:
    engine = create_async_engine(database_url(backend, tmp_path))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    store = SQLAlchemyUserDatastore(
        async_sessionmaker(engine, expire_on_commit=False), User, Role, WebAuthn
    )

    async def close() -> None:
        await store.aclose()
        await engine.dispose()

    return store, close


async def mongo_store(backend: str) -> tuple[UserDatastore[Any, Any], Any]:
    from quart_security.datastore.mongo import MongoUserDatastore
    from quart_security.models.mongo import MongoRole, MongoWebAuthn

    from .models import MongoProfileUser

    url = os.environ.get("QS_TEST_MONGO_URL")
    if not url:
        raise RuntimeError("QS_TEST_MONGO_URL is not set")
    if backend == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient

        client: Any = AsyncIOMotorClient(url, serverSelectionTimeoutMS=5000)
    else:
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
    name = f"qs_http_{uuid.uuid4().hex[:16]}"
    store = MongoUserDatastore(
        client[name], MongoProfileUser, MongoRole, MongoWebAuthn, create_indexes_on_start=True
    )
    await store.create_indexes()

    async def close() -> None:
        await client.drop_database(name)
        result = client.close()
        if result is not None:  # AsyncMongoClient.close is a coroutine, Motor's is not
            await result

    return store, close


async def create_test_app(
    backend: str,
    tmp_path: Any,
    settings: Mapping[str, Any] | None = None,
    app_settings: Mapping[str, Any] | None = None,
    security_kwargs: Mapping[str, Any] | None = None,
) -> BuiltApp:
    """A seeded Quart app; ``security_kwargs`` go to ``Security()`` (password_util_cls, ...)."""
    if backend in MONGO_BACKENDS:
        datastore, close = await mongo_store(backend)
    else:
        datastore, close = await sql_store(backend, tmp_path)
    app = Quart(__name__)
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
    clock = FrozenClock()
    security = Security(app, datastore, clock=clock, **(security_kwargs or {}))
    _add_test_routes(app)
    async with app.app_context():
        async with datastore.unit_of_work():
            for name, perms in ROLES:
                await datastore.create_role(name=name, permissions=perms)
        async with datastore.unit_of_work():
            pw = await hash_password(PASSWORD)
            for email, username, roles, active in USERS:
                await datastore.create_user(
                    email=email, username=username, password=pw, roles=roles, active=active
                )
    return BuiltApp(app, security, datastore, close, clock)


async def _echo() -> dict[str, Any]:
    """What an app view reads of its request body after the library's guards ran."""
    raw = await request.get_data(True, False, False)
    form = await request.form
    return {
        "raw": raw.decode("latin-1"),
        "json": await request.get_json(silent=True),
        "form": form.to_dict(flat=False),
        "files": sorted((await request.files).keys()),
        "user": current_user.email if current_user.is_authenticated else None,
    }


def _add_test_routes(app: Quart) -> None:
    @app.route("/")
    async def index() -> Any:
        return jsonify(authenticated=bool(current_user.is_authenticated))

    @app.route("/api/public")
    async def public() -> Any:
        return jsonify(ok=True)

    @app.route("/api/me", methods=["GET", "POST"])
    @auth_required()
    async def me() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/app-login", methods=["POST"])
    async def app_login() -> Any:
        """App code signing a user in itself (it checked the credentials its own way)."""
        from quart_security import login_user
        from quart_security.state import current_security

        data = await request.get_json()
        user = await current_security().store.find_user(email=data["email"])
        return jsonify(logged_in=await login_user(user))

    @app.route("/api/echo", methods=["POST", "PUT"])
    @auth_required()
    async def echo() -> Any:
        return jsonify(await _echo())

    @app.route("/api/open-echo", methods=["POST"])
    @unauth_csrf()
    async def open_echo() -> Any:
        return jsonify(await _echo())

    @app.route("/api/token", methods=["GET", "POST"])
    @auth_token_required
    async def token_only() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/session")
    @auth_required("session")
    async def session_only() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/basic", methods=["GET", "POST"])
    @http_auth_required
    async def basic_only() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/basic-realm")
    @http_auth_required("Reports")
    async def basic_realm() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/open-echo-fall-through", methods=["POST"])
    @unauth_csrf(fall_through=True)
    async def open_echo_fall_through() -> Any:
        return jsonify(await _echo())

    @app.route("/api/multi")
    @auth_required("token", "session", "basic")
    async def multi() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/fresh", methods=["GET", "POST"])
    @auth_required(within=60, grace=0)
    async def fresh() -> Any:
        return jsonify(email=current_user.email)

    @app.route("/api/admin")
    @auth_required()
    @roles_required("admin")
    async def admin() -> Any:
        return jsonify(ok=True)

    @app.route("/api/admin-or-editor")
    @auth_required()
    @roles_accepted("admin", "editor")
    async def admin_or_editor() -> Any:
        return jsonify(ok=True)

    @app.route("/api/admin-and-editor")
    @auth_required()
    @roles_required("admin", "editor")
    async def admin_and_editor() -> Any:
        return jsonify(ok=True)

    @app.route("/api/perm-super")
    @auth_required()
    @permissions_required("super")
    async def perm_super() -> Any:
        return jsonify(ok=True)

    @app.route("/api/perm-any")
    @auth_required()
    @permissions_accepted("super", "read")
    async def perm_any() -> Any:
        return jsonify(ok=True)

    @app.route("/api/sync")
    @auth_required()
    def sync_view() -> Any:
        return jsonify(email=current_user.email)

    @app.websocket("/ws")
    @auth_required()
    async def ws() -> None:
        await websocket.accept()
        await websocket.send(str(current_user.email))

    @app.websocket("/ws/basic")
    @http_auth_required
    async def ws_basic() -> None:
        await websocket.accept()
        await websocket.send(str(current_user.email))

    @app.websocket("/ws/open")
    async def ws_open() -> None:
        await websocket.accept()
        await websocket.send(str(bool(current_user.is_authenticated)))
