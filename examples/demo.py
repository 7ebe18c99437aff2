"""A small Quart app using quart_security exactly as docs/getting-started.md shows.

Run it with ``bash scripts/demo.sh`` (hypercorn on http://127.0.0.1:5000). The
schema is created and a demo user is seeded (and printed) at start-up, on
SQLite by default. One setting changes the database: DEMO_DATABASE_URL, an
SQLAlchemy async URL (``postgresql+asyncpg://...``) or a MongoDB URL
(``mongodb://127.0.0.1:27017/demo``), as docs/datastores.md shows.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from quart import Quart, jsonify, render_template_string
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from quart_security import (
    Security,
    auth_required,
    current_user,
    hash_password,
    roles_required,
)
from quart_security.datastore.base import UserDatastore
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
from quart_security.models.sqla import FsModels, FsRoleMixin, FsUserMixin, FsWebAuthnMixin

DATABASE_URL = os.environ.get("DEMO_DATABASE_URL", "sqlite+aiosqlite:///demo.db")
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "correct horse battery staple")


class Base(DeclarativeBase):
    pass


FsModels.set_db_info(base_model=Base)


class Role(Base, FsRoleMixin):
    pass


class User(Base, FsUserMixin):
    pass


class WebAuthn(Base, FsWebAuthnMixin):
    pass


app = Quart(__name__)
# Demo only: a random key per start (every restart logs everyone out). A real
# app loads SECRET_KEY and SECURITY_PASSWORD_SALT from its environment.
app.config["SECRET_KEY"] = os.environ.get("DEMO_SECRET_KEY", secrets.token_urlsafe(32))
app.config["SECURITY_PASSWORD_SALT"] = os.environ.get("DEMO_PASSWORD_SALT", "demo-salt")


def make_datastore(url: str) -> tuple[UserDatastore[Any, Any], Any]:
    """The datastore for ``url``, and the SQL engine (None for MongoDB)."""
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from pymongo import AsyncMongoClient
        from pymongo.uri_parser import parse_uri

        from quart_security.datastore.mongo import MongoUserDatastore
        from quart_security.models.mongo import MongoRole, MongoUser, MongoWebAuthn

        database = parse_uri(url).get("database") or "demo"
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        mongo = MongoUserDatastore(
            client[database], MongoUser, MongoRole, MongoWebAuthn, create_indexes_on_start=True
        )
        return mongo, None
    sql_engine = create_async_engine(url)
    sql = SQLAlchemyUserDatastore(
        async_sessionmaker(sql_engine, expire_on_commit=False), User, Role, WebAuthn
    )
    return sql, sql_engine


user_datastore, engine = make_datastore(DATABASE_URL)
security = Security(app, user_datastore)

PAGE = """<!doctype html><title>quart-flask-security demo</title>
<h1>quart-flask-security demo</h1>
{% if current_user.is_authenticated %}
  <p>Signed in as {{ current_user.email }}.</p>
  <form method="post" action="{{ url_for_security('logout') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
    <button>Sign out</button></form>
{% else %}
  <p><a href="{{ url_for_security('login') }}">Sign in</a> as {{ email }}.</p>
{% endif %}
<p><a href="/profile">Profile (needs login)</a> ·
   <a href="/admin">Admin (needs the admin role)</a></p>
"""


@app.before_serving
async def create_schema_and_demo_user() -> None:
    if engine is not None:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    async with app.app_context(), user_datastore.unit_of_work():
        admin = await user_datastore.find_or_create_role("admin", permissions=["admin-read"])
        if await user_datastore.find_user(email=DEMO_EMAIL) is None:
            await user_datastore.create_user(
                email=DEMO_EMAIL, password=await hash_password(DEMO_PASSWORD), roles=[admin]
            )
    print(f"Demo user: {DEMO_EMAIL} / {DEMO_PASSWORD}", flush=True)


@app.route("/")
async def index() -> Any:
    from quart_security.web.csrf import generate_csrf
    from quart_security.web.quart_adapter import QuartPort

    return await render_template_string(
        PAGE, email=DEMO_EMAIL, csrf_token=generate_csrf(security, QuartPort())
    )


@app.route("/profile")
@auth_required()
async def profile() -> Any:
    return jsonify(email=current_user.email, roles=[r.name for r in current_user.roles])


@app.route("/admin")
@auth_required()
@roles_required("admin")
async def admin() -> Any:
    return jsonify(message="Hello, admin.")
