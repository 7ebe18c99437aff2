"""The reference: Flask-Security 5.9.2 as shipped, only what the benchmark needs configured.

Defaults kept on purpose: CSRF on for JSON login, session + token auth for
``@auth_required()``, ``Authentication-Token`` header, fsqla_v3 models, no trackable.
"""

from __future__ import annotations

from typing import Any

import benchcommon as bc
from flask import Flask, jsonify
from flask_security import (
    Security,
    SQLAlchemyUserDatastore,
    auth_required,
    current_user,
)
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
_params = bc.argon2_params()
app.config.update(
    SECRET_KEY=bc.secret_key(),
    SECURITY_PASSWORD_SALT=bc.password_salt(),
    SECURITY_PASSWORD_HASH="argon2",
    # Same argon2 parameters as the seed and every other app (passlib ones are
    # argon2-cffi's defaults anyway; set explicitly so a quick mode can lower them).
    SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS={
        "argon2__rounds": _params.time_cost,
        "argon2__memory_cost": _params.memory_cost,
        "argon2__parallelism": _params.parallelism,
    },
    SQLALCHEMY_DATABASE_URI=bc.db_url_sync(),
)

db = SQLAlchemy(app)
fsqla.FsModels.set_db_info(db)  # type: ignore[attr-defined,no-untyped-call]


class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
    pass


class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
    pass


class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):  # type: ignore[name-defined,misc]
    """Needed with fsqla_v3 or mapper configuration fails (User.webauthn relationship)."""


user_datastore = SQLAlchemyUserDatastore(db, User, Role)
security = Security(app, user_datastore)


@app.get("/api/public")
def public() -> Any:
    return jsonify(ok=True)


@app.get("/api/me")
@auth_required()
def me() -> Any:
    return jsonify(id=current_user.id, email=current_user.email)
