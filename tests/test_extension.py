"""Security(app, datastore): init-time checks, kwargs precedence, signals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from quart import Quart
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import scoped_session, sessionmaker

import flask_compat
from quart_security import Security, signals
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
from quart_security.errors import ConfigurationError
from tests.support import flask_app_factory as flask_models
from tests.support.models import Role, User, WebAuthn


def make_app(**config: Any) -> Quart:
    app = Quart(__name__)
    app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="salt")
    app.config.update(config)
    return app


@pytest.fixture
def datastore() -> SQLAlchemyUserDatastore[Any, Any]:
    engine = create_async_engine("sqlite+aiosqlite://")
    return SQLAlchemyUserDatastore(async_sessionmaker(engine), User, Role, WebAuthn)


def test_app_config_wins_over_kwargs(datastore: Any) -> None:
    app = make_app(SECURITY_TRACKABLE=False)
    security = Security(app, datastore, trackable=True, login_url="/sign-in")
    assert security.cv("TRACKABLE") is False
    assert security.cv("LOGIN_URL") == "/sign-in"
    assert app.extensions["security"] is security


def test_init_app_later(datastore: Any) -> None:
    security = Security()
    app = make_app()
    security.init_app(app, datastore)
    assert "security.login" in {rule.endpoint for rule in app.url_map.iter_rules()}


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"SECURITY_TWO_FACTOR": True}, ["TOTP_SECRETS"]),
        ({"SECURITY_PASSWORD_HASH": "md5"}, ["PASSWORD_HASH"]),
        ({"SECURITY_PASSWORD_SALT": None}, ["PASSWORD_SALT"]),
        ({"SECURITY_UNIFIED_SIGNIN": True, "SECURITY_US_ENABLED_METHODS": []}, ["US_ENABLED"]),
    ],
)
def test_invalid_combinations_fail_at_init(datastore: Any, config: Any, words: list[str]) -> None:
    app = make_app(**config)
    with pytest.raises(ConfigurationError) as info:
        Security(app, datastore)
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------ settings not built yet
# Security() on both frameworks: the refusal is the core's, flask_compat adds nothing.

Build = Callable[..., Any]


@pytest.fixture(params=["quart", "flask"])
def build(request: pytest.FixtureRequest) -> Iterator[Build]:
    """``build(config, **kwargs)``: Security(app, datastore, **kwargs) on one framework."""
    if request.param == "quart":
        engine = create_async_engine("sqlite+aiosqlite://")
        store = SQLAlchemyUserDatastore(async_sessionmaker(engine), User, Role, WebAuthn)

        def quart_security(config: dict[str, Any], **kwargs: Any) -> Any:
            return Security(make_app(**config), store, **kwargs)

        yield quart_security
        return
    sync_engine = create_engine("sqlite://")
    sessions = scoped_session(sessionmaker(bind=sync_engine))
    sync_store = flask_compat.SQLAlchemySessionUserDatastore(
        sessions, flask_models.User, flask_models.Role, flask_models.WebAuthn
    )

    def flask_security(config: dict[str, Any], **kwargs: Any) -> Any:
        app = Flask(__name__)
        app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="salt")
        app.config.update(config)
        return flask_compat.Security(app, sync_store, **kwargs)

    yield flask_security
    sessions.remove()
    sync_engine.dispose()


def refusal(build: Build, config: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        build(config, **kwargs)
    return str(info.value)


NOT_BUILT = "is not built yet in quart-flask-security"


# Issue #11's examples: each was accepted and failed open (or into a 500).
ISSUE_EXAMPLES: list[tuple[dict[str, Any], list[str]]] = [
    (
        {"SECURITY_WEBAUTHN": True, "SECURITY_WAN_ALLOW_AS_FIRST_FACTOR": False},
        ["SECURITY_WEBAUTHN", "SECURITY_WAN_ALLOW_AS_FIRST_FACTOR"],
    ),
    ({"SECURITY_UNIFIED_SIGNIN": True}, ["SECURITY_UNIFIED_SIGNIN"]),
    ({"SECURITY_PASSWORD_COMPLEXITY_CHECKER": "zxcvbn"}, ["SECURITY_PASSWORD_COMPLEXITY_CHECKER"]),
    ({"SECURITY_US_SIGNIN_FORM": type("MySigninForm", (), {})}, ["SECURITY_US_SIGNIN_FORM"]),
    ({"SECURITY_WAN_REGISTER_FORM": object}, ["SECURITY_WAN_REGISTER_FORM"]),
    (
        {"SECURITY_TWO_FACTOR_IMPLEMENTATIONS": {"code": "myapp.tf.CodePlugin"}},
        ["SECURITY_TWO_FACTOR_IMPLEMENTATIONS"],
    ),
]


@pytest.mark.parametrize(("config", "names"), ISSUE_EXAMPLES)
def test_issue_examples_are_refused_at_start_up(
    build: Build, config: dict[str, Any], names: list[str]
) -> None:
    text = refusal(build, config)
    assert NOT_BUILT in text
    for name in names:
        assert f"{name} {NOT_BUILT}" in text


def test_every_setting_not_built_is_named_in_one_error(build: Build) -> None:
    config: dict[str, Any] = {}
    for settings, _ in ISSUE_EXAMPLES:
        config.update(settings)
    text = refusal(build, config)
    for _, names in ISSUE_EXAMPLES:
        for name in names:
            assert f"{name} {NOT_BUILT}" in text


def test_the_refusal_says_how_to_fix_it(build: Build) -> None:
    text = refusal(build, {"SECURITY_WEBAUTHN": True})
    expected = (
        "SECURITY_WEBAUTHN is not built yet in quart-flask-security;"
        " remove it or set it back to False"
    )
    assert expected in text
    text = refusal(build, {"SECURITY_US_SETUP_FORM": object})
    assert "SECURITY_US_SETUP_FORM is not built yet in quart-flask-security" in text
    assert "remove it" in text


def test_form_overrides_of_features_not_built_are_refused(build: Build) -> None:
    # Flask-Security takes form classes as Security() arguments too.
    text = refusal(build, {}, us_signin_form=object, wan_signin_form=object)
    assert f"us_signin_form {NOT_BUILT}" in text
    assert f"wan_signin_form {NOT_BUILT}" in text


def test_feature_switches_given_as_kwargs_are_refused(build: Build) -> None:
    text = refusal(build, {}, passwordless=True, webauthn=True)
    assert f"SECURITY_PASSWORDLESS {NOT_BUILT}" in text
    assert f"SECURITY_WEBAUTHN {NOT_BUILT}" in text


def test_the_refusal_never_shows_the_value(build: Build) -> None:
    text = refusal(build, {"SECURITY_WAN_SALT": "hunter2-secret"})
    assert f"SECURITY_WAN_SALT {NOT_BUILT}" in text
    assert "hunter2-secret" not in text


def test_settings_left_at_their_defaults_start(build: Build) -> None:
    # A Flask-Security 5.6 app that spells out defaults (old duration strings, tuples).
    build(
        {
            "SECURITY_TWO_FACTOR": False,
            "SECURITY_UNIFIED_SIGNIN": 0,
            "SECURITY_TWO_FACTOR_SETUP_WITHIN": "30 minutes",
            "SECURITY_TWO_FACTOR_ENABLED_METHODS": ("email", "authenticator", "sms"),
            "SECURITY_PHONE_REGION_DEFAULT": "US",
        }
    )


def test_missing_secret_key_fails(datastore: Any) -> None:
    app = make_app()
    app.config["SECRET_KEY"] = None
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Security(app, datastore)


def test_no_datastore_fails() -> None:
    with pytest.raises(ConfigurationError, match="datastore"):
        Security(make_app())


def test_unknown_setting_warns_with_nearest(datastore: Any, caplog: Any) -> None:
    app = make_app(SECURITY_PASWORD_HASH="argon2")
    with caplog.at_level(logging.WARNING, logger="quart_security"):
        Security(app, datastore)
    assert "SECURITY_PASSWORD_HASH" in caplog.text
    assert "SECURITY_PASWORD_HASH" in caplog.text


def test_every_flask_security_signal_exists() -> None:
    names = {
        "user_authenticated", "user_unauthenticated", "user_registered", "user_not_registered",
        "user_confirmed", "confirm_instructions_sent", "login_instructions_sent", "password_reset",
        "password_changed", "reset_password_instructions_sent", "tf_code_confirmed",
        "tf_profile_changed", "tf_security_token_sent", "tf_disabled", "us_security_token_sent",
        "us_profile_changed", "wan_registered", "wan_deleted", "change_email_instructions_sent",
        "change_email_confirmed", "username_recovery_email_sent", "username_changed",
        "user_failed_authn", "refresh_tracker_created", "refresh_tracker_revoked",
    }  # fmt: skip
    for name in names:
        assert hasattr(signals, name), name


def test_signal_receivers_sync_and_async_both_run() -> None:
    got: list[str] = []

    def sync_receiver(sender: Any, **kwargs: Any) -> None:
        got.append(f"sync:{kwargs['user']}")

    async def async_receiver(sender: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0)
        got.append(f"async:{kwargs['user']}")

    signals.password_changed.connect(sync_receiver)
    signals.password_changed.connect(async_receiver)
    try:
        asyncio.run(signals.send(signals.password_changed, "app", user="u1"))
    finally:
        signals.password_changed.disconnect(sync_receiver)
        signals.password_changed.disconnect(async_receiver)
    assert sorted(got) == ["async:u1", "sync:u1"]


# ---------------------------------------------------------------------- links in mails
LINK_FEATURES = [
    ({"SECURITY_RECOVERABLE": True}, "SECURITY_RECOVERABLE"),
    ({"SECURITY_CONFIRMABLE": True}, "SECURITY_CONFIRMABLE"),
    ({"SECURITY_CHANGE_EMAIL": True}, "SECURITY_CHANGE_EMAIL"),
]


@pytest.mark.parametrize(("config", "named"), LINK_FEATURES)
def test_a_feature_that_mails_links_needs_a_base_url(
    datastore: Any, config: dict[str, Any], named: str
) -> None:
    """Without one the first /reset would be a 500; refuse it at start-up."""
    with pytest.raises(ConfigurationError) as info:
        Security(make_app(**config), datastore)
    assert named in str(info.value)
    assert "SECURITY_EXTERNAL_BASE_URL" in str(info.value)


@pytest.mark.parametrize(("config", "named"), LINK_FEATURES)
def test_a_feature_that_mails_links_needs_a_base_url_on_flask(
    tmp_path: Any, config: dict[str, Any], named: str
) -> None:
    from tests.support.flask_app_factory import build_flask_app

    settings = {k.removeprefix("SECURITY_").lower(): v for k, v in config.items()}
    with pytest.raises(ConfigurationError) as info:
        build_flask_app("sqlite", tmp_path, {**settings, "external_base_url": None}, seed=False)
    assert named in str(info.value)


@pytest.mark.parametrize(
    "config",
    [
        {"SECURITY_RECOVERABLE": True, "SECURITY_EXTERNAL_BASE_URL": "https://app.example"},
        {"SECURITY_CONFIRMABLE": True, "SERVER_NAME": "app.example"},
        # The app mails reset links itself (reset_password_instructions_sent).
        {"SECURITY_RECOVERABLE": True, "SECURITY_SEND_PASSWORD_RESET_EMAIL": False},
    ],
)
def test_a_base_url_or_no_mailed_link_starts(datastore: Any, config: dict[str, Any]) -> None:
    Security(make_app(**config), datastore)


@pytest.mark.parametrize(
    "argument",
    ["webauthn_util_cls", "oauth", "typo_cls"],
)
def test_security_arguments_nothing_honours_are_refused(datastore: Any, argument: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Security(make_app(), datastore, **{argument: object})
    assert argument in str(info.value)


def test_multi_factor_class_arguments_are_taken(datastore: Any) -> None:
    from quart_security import MfRecoveryCodesUtil, PhoneUtil, Totp

    class MyTotp(Totp):
        pass

    class MyPhoneUtil(PhoneUtil):
        pass

    class MyCodesUtil(MfRecoveryCodesUtil):
        pass

    app = make_app(
        SECURITY_TWO_FACTOR=True,
        SECURITY_TOTP_SECRETS={"1": "a-test-totp-secret-of-enough-length"},
        SECURITY_TOTP_ISSUER="Example",
        SECURITY_TWO_FACTOR_ENABLED_METHODS=["email"],
        SECURITY_MULTI_FACTOR_RECOVERY_CODES=True,
    )
    security = Security(
        app,
        datastore,
        totp_cls=MyTotp,
        phone_util_cls=MyPhoneUtil,
        mf_recovery_codes_util_cls=MyCodesUtil,
    )
    assert type(security.totp_factory) is MyTotp
    assert type(security.phone_util) is MyPhoneUtil
    assert type(security.mf_recovery_codes_util) is MyCodesUtil


def test_setting_and_message_arguments_are_taken(datastore: Any) -> None:
    security = Security(make_app(), datastore, login_url="/sign-in", msg_login=("Hello", "info"))
    assert security.cv("LOGIN_URL") == "/sign-in"
    assert security.message("LOGIN") == "Hello"
