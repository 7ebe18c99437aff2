"""quart_security on Quart, configured as a Flask-Security user would configure it.

Same database (Flask-Security's fsqla_v3 tables, 1,000 seeded users), same argon2
parameters and pre-hash salt as every other system (benchcommon). The only
settings beyond the app's secret and salt are the argon2 parameters, and
RETURN_GENERIC_RESPONSES off so a wrong password reports the password field as
Flask-Security does (the harness checks that wrong logins fail on the password).
"""

from __future__ import annotations

from typing import Any

import benchcommon as bc
from quart import Quart, jsonify
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from quart_security import Security, auth_required, current_user
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
from quart_security.models.sqla import FsModels, FsRoleMixin, FsUserMixin, FsWebAuthnMixin


class Base(DeclarativeBase):
    pass


FsModels.set_db_info(base_model=Base)


class Role(Base, FsRoleMixin):
    pass


class User(Base, FsUserMixin):
    pass


class WebAuthn(Base, FsWebAuthnMixin):
    pass


params = bc.argon2_params()
app = Quart(__name__)
app.config.update(
    SECRET_KEY=bc.secret_key(),
    SECURITY_PASSWORD_SALT=bc.password_salt(),
    SECURITY_PASSWORD_HASH_OPTIONS={
        "argon2": {
            "time_cost": params.time_cost,
            "memory_cost": params.memory_cost,
            "parallelism": params.parallelism,
        }
    },
    SECURITY_RETURN_GENERIC_RESPONSES=False,
    SECURITY_RATE_LIMIT_ENABLED=bc.rate_limits(),
    SECURITY_RATE_LIMITS=bc.rate_limit_budgets(),
)
engine = create_async_engine(bc.db_url_async(), pool_size=8, max_overflow=8)
datastore = SQLAlchemyUserDatastore(
    async_sessionmaker(engine, expire_on_commit=False), User, Role, WebAuthn
)
security = Security(app, datastore)


@app.route("/api/public")
async def public() -> Any:
    return jsonify(ok=True)


@app.route("/api/me")
@auth_required()
async def me() -> Any:
    return jsonify(email=current_user.email)
