"""A Flask app on Flask-SQLAlchemy-Lite with FSQLALiteUserDatastore, over HTTP.

Flask-SQLAlchemy-Lite hands out a plain Session per app context (closed at its
teardown) instead of Flask-SQLAlchemy's scoped_session, so this checks what
that changes could break: sign-in and registration through the app's own
``db.session``, single use of a reset link under ten parallel requests, and
nothing left behind by a request that fails after the datastore wrote. On
SQLite and PostgreSQL (each test in its own schema), with
flask_compat.models.sqla's plain SQLAlchemy models and the real SMTP sink.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy_lite import SQLAlchemy
from sqlalchemy import String, create_engine, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_compat import (
    FSQLALiteUserDatastore,
    Security,
    auth_required,
    current_user,
    hash_password,
    password_reset,
    roles_required,
    user_registered,
)
from flask_compat.models import sqla
from tests.support.app_factory import FAST_ARGON2, PASSWORD
from tests.support.flask_app_factory import sync_database_url
from tests.support.flask_client import AsyncFlaskClient
from tests.support.http import JSON, body, get_csrf, json_login
from tests.support.mail import SmtpSink
from tests.support.signals import captured

EMAIL = "ada@lp.com"
LINK = re.compile(r"https://app\.example/reset/([A-Za-z0-9_.\-]+)")


class Base(DeclarativeBase):
    pass


sqla.FsModels.set_db_info(base_model=Base)


class Role(Base, sqla.FsRoleMixin):
    pass


class User(Base, sqla.FsUserMixin):
    nickname: Mapped[str | None] = mapped_column(String(64), default=None)  # the app's own


class WebAuthn(Base, sqla.FsWebAuthnMixin):
    pass


@dataclass
class LiteApp:
    app: Flask
    db: SQLAlchemy
    security: Security
    datastore: FSQLALiteUserDatastore

    def client(self) -> AsyncFlaskClient:
        return AsyncFlaskClient(self.app.test_client())

    def count_users(self, **criteria: str) -> int:
        """Rows in the user table, read through a new app context's own session.

        Call it in a thread (asyncio.to_thread): leaving an app context runs
        Flask-SQLAlchemy-Lite's async teardown, which asgiref refuses to run
        on a thread whose event loop is running.
        """
        with self.app.app_context():
            query = select(func.count()).select_from(User).filter_by(**criteria)
            return int(self.db.session.scalar(query) or 0)


@contextmanager
def _engine_options(backend: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = sync_database_url(backend, tmp_path) if backend == "sqlite" else None
    if url is not None:
        yield {"url": url}
        return
    try:
        url = sync_database_url(backend, tmp_path)
    except RuntimeError:
        pytest.skip("QS_TEST_POSTGRES_URL is not set")
    schema = f"qs_lite_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {"url": url, "execution_options": {"schema_translate_map": {None: schema}}}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def build(engine: dict[str, Any], sink: SmtpSink) -> LiteApp:
    """The app as a Flask-Security app on Flask-SQLAlchemy-Lite builds it (sync: no loop)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test-secret-key-0123456789abcdef",
        SECURITY_PASSWORD_SALT="test-salt",
        SECURITY_PASSWORD_HASH_OPTIONS=FAST_ARGON2,
        SECURITY_PASSWORD_HASH_POOL_SIZE=2,
        SECURITY_REGISTERABLE=True,
        SECURITY_RECOVERABLE=True,
        SQLALCHEMY_ENGINES={"default": engine},
        TESTING=True,
        **sink.app_settings(),
    )
    db = SQLAlchemy(app)
    datastore = FSQLALiteUserDatastore(db, User, Role, WebAuthn)
    security = Security(app, datastore)

    @app.route("/me")
    @auth_required()
    @roles_required("reader")
    def me() -> Any:
        return {"email": current_user.email}

    with app.app_context():
        Base.metadata.create_all(db.engine)
        datastore.create_role(name="reader")
        datastore.create_user(email=EMAIL, password=hash_password(PASSWORD), roles=["reader"])
        db.session.commit()
    return LiteApp(app, db, security, datastore)


def dispose(built: LiteApp) -> None:
    with built.app.app_context():
        built.db.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def lite(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_sink: SmtpSink
) -> AsyncIterator[LiteApp]:
    with _engine_options(request.param, tmp_path) as engine:
        built = await asyncio.to_thread(build, engine, smtp_sink)
        try:
            yield built
        finally:
            await asyncio.to_thread(built.security.drain_mail)
            built.security.hashing_pool.shutdown()
            # Leaving an app context runs Flask-SQLAlchemy-Lite's async teardown
            # through asgiref, which refuses a thread with a running loop.
            await asyncio.to_thread(dispose, built)


async def status_of_login(lite: LiteApp, email: str, password: str) -> int:
    return int((await json_login(lite.client(), email, password)).status_code)


# ---------------------------------------------------------------------- sign-in
async def test_login_then_a_protected_view(lite: LiteApp) -> None:
    client = lite.client()
    assert (await client.get("/me", headers=JSON)).status_code == 401
    assert (await json_login(client, EMAIL, "not the password")).status_code == 400
    login = await json_login(client, EMAIL, PASSWORD)
    assert login.status_code == 200, await login.get_data(as_text=True)
    me = await client.get("/me", headers=JSON)
    assert (await me.get_json()) == {"email": EMAIL}

    def stored() -> tuple[bool, list[str]]:
        # A new app context's own session: the datastore and the app share it.
        with lite.app.app_context():
            user = lite.db.session.scalars(select(User).filter_by(email=EMAIL)).one()
            found = lite.datastore.find_user(case_insensitive=True, email=EMAIL.upper())
            role = lite.datastore.find_role("reader")
            # Relationships load lazily in a sync app, as in Flask-Security.
            return found is user, [u.email for u in role.users]

    assert await asyncio.to_thread(stored) == (True, [EMAIL])


# ---------------------------------------------------------------------- register
async def test_register_writes_the_user_and_mails_a_welcome(
    lite: LiteApp, smtp_sink: SmtpSink
) -> None:
    client = lite.client()
    csrf = await get_csrf(client)
    password = "correct mule glacier"
    with captured(user_registered) as registered:
        response = await client.post(
            "/register",
            json={"email": "new@lp.com", "password": password, "password_confirm": password},
            headers={**JSON, "X-CSRF-Token": csrf},
        )
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert len(registered) == 1
    assert await asyncio.to_thread(lite.count_users, email="new@lp.com") == 1
    await asyncio.to_thread(lite.security.drain_mail)
    assert [m.envelope_to for m in smtp_sink.messages] == [["new@lp.com"]]
    assert await status_of_login(lite, "new@lp.com", password) == 200
    # The identity is taken, whatever its case.
    again = await client.post(
        "/register",
        json={"email": "NEW@lp.com", "password": password, "password_confirm": password},
        headers={**JSON, "X-CSRF-Token": await get_csrf(client)},
    )
    assert again.status_code == 400
    assert await asyncio.to_thread(lite.count_users) == 2


async def test_a_failed_request_leaves_no_row(lite: LiteApp, smtp_sink: SmtpSink) -> None:
    """A user_registered receiver raising after the user was staged: nothing is written."""

    def refuse(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the app refuses this registration")

    client = lite.client()
    csrf = await get_csrf(client)
    payload = {"email": "refused@lp.com", "password": PASSWORD, "password_confirm": PASSWORD}
    with user_registered.connected_to(refuse), pytest.raises(RuntimeError, match="refuses"):
        # Flask's test client re-raises under TESTING; a server answers 500.
        await client.post("/register", json=payload, headers={**JSON, "X-CSRF-Token": csrf})
    assert await asyncio.to_thread(lite.count_users, email="refused@lp.com") == 0
    await asyncio.to_thread(lite.security.drain_mail)
    assert smtp_sink.messages == []
    # The next request on the same app registers normally.
    retry = await client.post(
        "/register", json=payload, headers={**JSON, "X-CSRF-Token": await get_csrf(client)}
    )
    assert retry.status_code == 200, await retry.get_data(as_text=True)
    assert await asyncio.to_thread(lite.count_users, email="refused@lp.com") == 1


# ---------------------------------------------------------------------- reset, raced
async def test_ten_parallel_uses_of_a_reset_link_give_one_success(
    lite: LiteApp, smtp_sink: SmtpSink
) -> None:
    asker = lite.client()
    forgot = await asker.post(
        "/reset", json={"email": EMAIL}, headers={**JSON, "X-CSRF-Token": await get_csrf(asker)}
    )
    assert forgot.status_code == 200, await forgot.get_data(as_text=True)
    await smtp_sink.wait_for(1)
    match = LINK.search(smtp_sink.messages[0].text)
    assert match is not None, smtp_sink.messages[0].text
    token = match.group(1)

    passwords = [f"parallel password {i:02d}" for i in range(10)]
    clients = [lite.client() for _ in passwords]
    csrfs = [await get_csrf(c) for c in clients]

    async def use(client: AsyncFlaskClient, csrf: str, password: str) -> int:
        response = await client.post(
            f"/reset/{token}",
            json={"password": password, "password_confirm": password},
            headers={**JSON, "X-CSRF-Token": csrf},
        )
        if response.status_code != 200:
            errors = (await body(response))["response"].get("field_errors", {})
            assert errors, await response.get_data(as_text=True)  # refused, not broken
        return response.status_code

    with captured(password_reset) as resets:
        statuses = await asyncio.gather(
            *(use(c, t, p) for c, t, p in zip(clients, csrfs, passwords, strict=True))
        )
    assert sorted(statuses) == [200] + [400] * 9
    assert len(resets) == 1
    winner = passwords[statuses.index(200)]
    await asyncio.to_thread(lite.security.drain_mail)
    assert [m.envelope_to for m in smtp_sink.messages] == [[EMAIL]] * 2  # link + one notice
    assert await status_of_login(lite, EMAIL, winner) == 200
    for loser in passwords:
        if loser != winner:
            assert await status_of_login(lite, EMAIL, loser) == 400
