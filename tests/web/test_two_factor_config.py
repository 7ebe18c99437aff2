"""Two-factor at start-up: what it needs is checked before the first request (fail closed)."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from quart_security import Security
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
from quart_security.errors import ConfigurationError
from quart_security.flows.two_factor import CodeTfPlugin
from quart_security.models.sqla import FsRoleMixin, FsUserMixin

TWO_FACTOR = {
    "SECURITY_TWO_FACTOR": True,
    "SECURITY_TOTP_SECRETS": {"1": "a-test-totp-secret-of-enough-length"},
    "SECURITY_TOTP_ISSUER": "Test",
}


class PlainBase(DeclarativeBase):
    """Flask-Security's user model, without the opt-in two-factor counters."""


class PlainRole(PlainBase, FsRoleMixin):
    pass


class PlainUser(PlainBase, FsUserMixin):
    pass


def build(tmp_path: Any, **config: Any) -> Security:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    store = SQLAlchemyUserDatastore(async_sessionmaker(engine), PlainUser, PlainRole)
    app = Quart(__name__)
    app.config.update(SECRET_KEY="x" * 32, SECURITY_PASSWORD_SALT="salt", **config)
    return Security(app, store)


def test_a_model_without_the_counters_is_refused_while_the_guards_are_on(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError) as refused:
        build(tmp_path, **TWO_FACTOR)
    message = str(refused.value)
    assert "SECURITY_TWO_FACTOR_REPLAY_PROTECTION" in message
    assert "SECURITY_TWO_FACTOR_MAX_ATTEMPTS" in message
    assert "tf_totp_last_counter" in message


def test_with_both_guards_off_such_a_model_gets_flask_securitys_behaviour(tmp_path: Any) -> None:
    security = build(
        tmp_path,
        **TWO_FACTOR,
        SECURITY_TWO_FACTOR_REPLAY_PROTECTION=False,
        SECURITY_TWO_FACTOR_MAX_ATTEMPTS=0,
    )
    assert [type(p) for p in security.second_factor_plugins] == [CodeTfPlugin]


def test_without_two_factor_the_plain_model_needs_nothing(tmp_path: Any) -> None:
    security = build(tmp_path)
    assert security.totp_factory is None
    assert [p.name for p in security.second_factor_plugins] == ["none"]


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"SECURITY_TWO_FACTOR": True}, "SECURITY_TOTP_SECRETS"),
        (
            {
                "SECURITY_MULTI_FACTOR_RECOVERY_CODES": True,
                **{k: v for k, v in TWO_FACTOR.items() if k != "SECURITY_TWO_FACTOR"},
            },
            "needs SECURITY_TWO_FACTOR",
        ),
        ({**TWO_FACTOR, "SECURITY_TWO_FACTOR_MAX_ATTEMPTS": -1}, "TWO_FACTOR_MAX_ATTEMPTS"),
        (
            {**TWO_FACTOR, "SECURITY_TWO_FACTOR_ENABLED_METHODS": ["email", "carrier-pigeon"]},
            "carrier-pigeon",
        ),
        ({**TWO_FACTOR, "SECURITY_SMS_SERVICE": "NoSuchGateway"}, "NoSuchGateway"),
        ({**TWO_FACTOR, "SECURITY_TOTP_SECRETS": {"bad tag!": "x"}}, "TOTP_SECRETS"),
    ],
)
def test_what_two_factor_needs_is_checked_at_start_up(
    tmp_path: Any, config: dict[str, Any], needle: str
) -> None:
    guards_off = {
        "SECURITY_TWO_FACTOR_REPLAY_PROTECTION": False,
        "SECURITY_TWO_FACTOR_MAX_ATTEMPTS": 0,
    }
    with pytest.raises(ConfigurationError, match=needle):
        build(tmp_path, **{**guards_off, **config})


@pytest.mark.parametrize("argument", ["totp_cls", "phone_util_cls", "mf_recovery_codes_util_cls"])
def test_a_class_argument_that_is_not_the_librarys_kind_is_refused(
    tmp_path: Any, argument: str
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    store = SQLAlchemyUserDatastore(async_sessionmaker(engine), PlainUser, PlainRole)
    app = Quart(__name__)
    app.config.update(SECRET_KEY="x" * 32, SECURITY_PASSWORD_SALT="salt", **TWO_FACTOR)
    with pytest.raises(ConfigurationError, match=f"{argument} must be a subclass"):
        Security(app, store, **{argument: object})
