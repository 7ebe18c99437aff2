"""The Quart app the browser tests (tests/browser/) serve with hypercorn.

Registration with confirmation, password reset and change on: the account
pages a person goes through in a browser. The test passes, through the
environment, the SQLite file (``QS_BROWSER_DB``), the SMTP sink's port
(``QS_BROWSER_SMTP_PORT``) and the server's own address
(``QS_BROWSER_BASE_URL``), so that the links in the mails it sends lead back
to this server and can be clicked.
"""

from __future__ import annotations

import os
from typing import Any

from quart import Quart, render_template_string
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from quart_security import Security, auth_required
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
from quart_security.web.csrf import generate_csrf
from quart_security.web.quart_adapter import QuartPort

from .app_factory import FAST_ARGON2
from .models import Base, Role, User, WebAuthn

app = Quart(__name__)
app.config.update(
    SECRET_KEY="browser-test-secret-key-0123456789",
    SECURITY_PASSWORD_SALT="browser-test-salt",
    SECURITY_PASSWORD_HASH_OPTIONS=FAST_ARGON2,
    SECURITY_REGISTERABLE=True,
    SECURITY_CONFIRMABLE=True,
    SECURITY_RECOVERABLE=True,
    SECURITY_CHANGEABLE=True,
    # Delivered before the answer: when the page after "Register" shows, the mail is there.
    SECURITY_SEND_MAIL_INLINE=True,
    SECURITY_EXTERNAL_BASE_URL=os.environ["QS_BROWSER_BASE_URL"],
    MAIL_SERVER="127.0.0.1",
    MAIL_PORT=int(os.environ["QS_BROWSER_SMTP_PORT"]),
    # Plain http on 127.0.0.1: the session cookie must not be Secure (Quart's
    # default, said here because the test depends on it). The CSRF cookie is
    # not sent at all unless CSRF_COOKIE_NAME is set, which it is not.
    SESSION_COOKIE_SECURE=False,
    # Two-factor (optional per user) and recovery codes, for the two-factor pages.
    SECURITY_TWO_FACTOR=True,
    SECURITY_TOTP_SECRETS={"1": "browser-test-totp-secret-0123456789"},
    SECURITY_TOTP_ISSUER="Browser Test",
    SECURITY_MULTI_FACTOR_RECOVERY_CODES=True,
)
engine = create_async_engine(f"sqlite+aiosqlite:///{os.environ['QS_BROWSER_DB']}")
store = SQLAlchemyUserDatastore(
    async_sessionmaker(engine, expire_on_commit=False), User, Role, WebAuthn
)
security = Security(app, store)

PAGE = """{% extends "security/base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block body %}
<h1>{{ title }}</h1>
{% include "security/_messages.html" %}
{% if current_user.is_authenticated %}
  <p id="who">Signed in as {{ current_user.email }}</p>
  <nav>
    <a href="/profile">Profile</a>
    <a href="{{ url_for_security('change_password') }}">Change password</a>
  </nav>
  <form method="post" action="{{ url_for_security('logout') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
    <button type="submit">Sign out</button>
  </form>
{% else %}
  <p id="who">Not signed in</p>
  <nav>
    <a href="{{ url_for_security('login') }}">Sign in</a>
    <a href="{{ url_for_security('register') }}">Register</a>
  </nav>
{% endif %}
{% endblock %}
"""


@app.before_serving
async def create_schema() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


@app.after_serving
async def close_database() -> None:
    await store.aclose()
    await engine.dispose()


async def page(title: str) -> str:
    """The app's own page, in the library's layout, with its flashed messages."""
    token = generate_csrf(security, QuartPort())
    return await render_template_string(PAGE, title=title, csrf_token=token)


@app.route("/")
async def home() -> Any:
    return await page("Home")


@app.route("/profile")
@auth_required()
async def profile() -> Any:
    return await page("Profile")
