"""quart_security through flask_compat: the reference app with only its imports changed.

Same Flask app, models and settings as ``flask_security_app.py`` (Flask-SQLAlchemy,
fsqla_v3, the same argon2 parameters and pre-hash salt), served the same way
(gunicorn gthread). Two settings differ, both to match what the harness expects of
every system: the argon2 parameters go through our ``PASSWORD_HASH_OPTIONS``
(we do not use passlib), and RETURN_GENERIC_RESPONSES is off so a wrong password
names the password field as Flask-Security does.
"""

from __future__ import annotations

from typing import Any

import benchcommon as bc
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy

from flask_compat import (
    Security,
    SQLAlchemyUserDatastore,
    auth_required,
    current_user,
)
from flask_compat.models import fsqla_v3 as fsqla

app = Flask(__name__)
_params = bc.argon2_params()
app.config.update(
    SECRET_KEY=bc.secret_key(),
    SECURITY_PASSWORD_SALT=bc.password_salt(),
    SECURITY_PASSWORD_HASH="argon2",
    SECURITY_PASSWORD_HASH_OPTIONS={
        "argon2": {
            "time_cost": _params.time_cost,
            "memory_cost": _params.memory_cost,
            "parallelism": _params.parallelism,
        }
    },
    SECURITY_RETURN_GENERIC_RESPONSES=False,
    SECURITY_RATE_LIMIT_ENABLED=bc.rate_limits(),
    SECURITY_RATE_LIMITS=bc.rate_limit_budgets(),
    SQLALCHEMY_DATABASE_URI=bc.db_url_sync(),
)

db = SQLAlchemy(app)
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
    pass


class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
    pass


class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):  # type: ignore[name-defined,misc]
    pass


user_datastore = SQLAlchemyUserDatastore(db, User, Role)
security = Security(app, user_datastore)


@app.get("/api/public")
def public() -> Any:
    return jsonify(ok=True)


@app.get("/api/me")
@auth_required()
def me() -> Any:
    return jsonify(id=current_user.id, email=current_user.email)
