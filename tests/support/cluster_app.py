"""The Quart app tests/web/test_cluster.py serves twice, as two instances of one site.

Both hypercorn processes share one PostgreSQL database and one Redis, so the
rate limits are counted in Redis across instances (issue #17). Each process
reads its setup from the environment: the asyncpg URL (``QS_CLUSTER_DB``), the
Redis URL (``QS_CLUSTER_REDIS``), the SMTP sink's port
(``QS_CLUSTER_SMTP_PORT``) and its own address (``QS_CLUSTER_BASE_URL``, so a
mailed link leads back to the server that sent it). hypercorn loads it as
``tests.support.cluster_app:from_environment()``.

No tables are created here: two processes starting together would race on
CREATE TABLE. The test calls ``prepare_database`` once, before either starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from quart import Quart
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from quart_security import Security, hash_password
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore

from .app_factory import FAST_ARGON2, PASSWORD
from .models import Base, Role, User, WebAuthn

EMAIL = "matt@lp.com"
#: The account's password budget across both servers (the test counts to it).
PASSWORD_BUDGET = 5
#: Shared by both servers (a session or CSRF token of one is valid on the
#: other, as behind a load balancer) and by the seeding app (the same salt,
#: so the seeded hash verifies).
SECRETS = {
    "SECRET_KEY": "cluster-test-secret-key-0123456789",
    "SECURITY_PASSWORD_SALT": "cluster-test-salt",
    "SECURITY_PASSWORD_HASH_OPTIONS": FAST_ARGON2,
}


def create_app(database_url: str, redis_url: str, smtp_port: int, base_url: str) -> Quart:
    """One instance: the limits in Redis, the account in PostgreSQL, mail to the sink."""
    app = Quart(__name__)
    app.config.update(
        SECRETS,
        SECURITY_RATE_LIMIT_STORAGE_URI=redis_url,
        # Merged over the defaults: every other budget stays as shipped.
        SECURITY_RATE_LIMITS={"password": f"{PASSWORD_BUDGET}/15 minutes"},
        SECURITY_RECOVERABLE=True,
        # Delivered before the answer: when POST /reset answers, the mail is there.
        SECURITY_SEND_MAIL_INLINE=True,
        SECURITY_EXTERNAL_BASE_URL=base_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_port,
        SESSION_COOKIE_SECURE=False,  # plain http on 127.0.0.1
    )
    engine = create_async_engine(database_url)
    store = SQLAlchemyUserDatastore(
        async_sessionmaker(engine, expire_on_commit=False), User, Role, WebAuthn
    )
    Security(app, store)

    @app.after_serving
    async def close_database() -> None:
        await store.aclose()
        await engine.dispose()

    return app


def from_environment(env: Mapping[str, str] = os.environ) -> Quart:
    """The app hypercorn serves, from the QS_CLUSTER_* variables the test sets."""
    return create_app(
        env["QS_CLUSTER_DB"],
        env["QS_CLUSTER_REDIS"],
        int(env["QS_CLUSTER_SMTP_PORT"]),
        env["QS_CLUSTER_BASE_URL"],
    )


async def prepare_database(database_url: str) -> None:
    """Drop and create the schema, then add the one account, through the datastore."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
        store = SQLAlchemyUserDatastore(
            async_sessionmaker(engine, expire_on_commit=False), User, Role, WebAuthn
        )
        app = Quart(__name__)
        app.config.update(SECRETS, SECURITY_RATE_LIMIT_ENABLED=False)
        security = Security(app, store)
        try:
            async with app.app_context():
                async with store.unit_of_work():
                    password: Any = await hash_password(PASSWORD)
                    await store.create_user(email=EMAIL, password=password, active=True)
        finally:
            await security.throttle.aclose()
            security.hashing_pool.shutdown()
            await store.aclose()
    finally:
        await engine.dispose()
