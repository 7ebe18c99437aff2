"""Config table, precedence, typo warnings, validation, durations and messages."""

from __future__ import annotations

import copy
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from quart_security import config
from quart_security.config import (
    ADDED_KEYS,
    ADDED_MESSAGES,
    BUILT_FORM_KEYS,
    DEFAULT_CONFIG,
    DEFAULT_MESSAGES,
    FORM_KEYS,
    KEY_STATUS,
    NOT_BUILT,
    ConfigView,
    Status,
    at_default,
    get_message,
    init_config,
    normalize_durations,
    not_built_settings,
    parse_duration,
    unknown_keys,
    validate_config,
    warn_unknown_keys,
)
from quart_security.errors import ConfigurationError
from tests.support.flask_security_592 import FS_592_KEYS

# (flash category, placeholder names) of every _default_messages entry of 5.9.2.
FS_592_MESSAGE_SHAPES = {
    "ALREADY_CONFIRMED": ("info", ()),
    "ANONYMOUS_USER_REQUIRED": ("error", ()),
    "API_ERROR": ("error", ()),
    "CHANGE_EMAIL_CONFIRMED": ("success", ()),
    "CHANGE_EMAIL_EXPIRED": ("error", ("within",)),
    "CHANGE_EMAIL_SENT": ("success", ("email",)),
    "CODE_HAS_BEEN_SENT": ("info", ()),
    "CONFIRMATION_EXPIRED": ("error", ("within",)),
    "CONFIRMATION_REQUEST": ("info", ("email",)),
    "CONFIRMATION_REQUIRED": ("error", ()),
    "CONFIRM_REGISTRATION": ("success", ("email",)),
    "DISABLED_ACCOUNT": ("error", ()),
    "EMAIL_ALREADY_ASSOCIATED": ("error", ("email",)),
    "EMAIL_CONFIRMED": ("success", ()),
    "EMAIL_NOT_PROVIDED": ("error", ()),
    "FAILED_TO_SEND_CODE": ("error", ()),
    "FORGOT_PASSWORD": ("info", ()),
    "GENERIC_AUTHN_FAILED": ("error", ()),
    "GENERIC_RECOVERY": ("info", ()),
    "GENERIC_US_SIGNIN": ("info", ()),
    "IDENTITY_ALREADY_ASSOCIATED": ("error", ("attr", "value")),
    "IDENTITY_NOT_REGISTERED": ("error", ("id",)),
    "INVALID_CODE": ("error", ()),
    "INVALID_CONFIRMATION_TOKEN": ("error", ()),
    "INVALID_EMAIL_ADDRESS": ("error", ()),
    "INVALID_INPUT": ("error", ()),
    "INVALID_INPUT_LENGTH": ("error", ("length",)),
    "INVALID_LOGIN_TOKEN": ("error", ()),
    "INVALID_PASSWORD": ("error", ()),
    "INVALID_PASSWORD_CODE": ("error", ()),
    "INVALID_RECOVERY_CODE": ("error", ()),
    "INVALID_REDIRECT": ("error", ()),
    "INVALID_RESET_PASSWORD_TOKEN": ("error", ()),
    "LOGIN": ("info", ()),
    "LOGIN_EMAIL_SENT": ("success", ("email",)),
    "LOGIN_EXPIRED": ("error", ("email", "within")),
    "NO_RECOVERY_CODES_SETUP": ("info", ()),
    "OAUTH_HANDSHAKE_ERROR": ("error", ("exdesc", "exerror")),
    "PASSWORDLESS_LOGIN_SUCCESSFUL": ("success", ()),
    "PASSWORD_BREACHED": ("error", ()),
    "PASSWORD_BREACHED_SITE_ERROR": ("error", ()),
    "PASSWORD_CHANGE": ("success", ()),
    "PASSWORD_INVALID_LENGTH": ("error", ("length",)),
    "PASSWORD_IS_THE_SAME": ("error", ()),
    "PASSWORD_MISMATCH": ("error", ()),
    "PASSWORD_NOT_PROVIDED": ("error", ()),
    "PASSWORD_RESET": ("success", ()),
    "PASSWORD_RESET_EXPIRED": ("error", ("within",)),
    "PASSWORD_RESET_NO_LOGIN": ("success", ()),
    "PASSWORD_RESET_REQUEST": ("info", ("email",)),
    "PASSWORD_TOO_SIMPLE": ("error", ()),
    "PHONE_INVALID": ("error", ()),
    "REAUTHENTICATION_REQUIRED": ("error", ()),
    "REAUTHENTICATION_SUCCESSFUL": ("info", ()),
    "REFRESH": ("info", ()),
    "REFRESH_TOKEN_INVALID": ("error", ("reason",)),
    "RETYPE_PASSWORD_MISMATCH": ("error", ()),
    "TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL": ("success", ()),
    "TWO_FACTOR_DISABLED": ("success", ()),
    "TWO_FACTOR_INVALID_TOKEN": ("error", ()),
    "TWO_FACTOR_LOGIN_SUCCESSFUL": ("success", ()),
    "TWO_FACTOR_METHOD_NOT_AVAILABLE": ("error", ()),
    "TWO_FACTOR_PERMISSION_DENIED": ("error", ()),
    "TWO_FACTOR_SETUP_EXPIRED": ("error", ("within",)),
    "UNAUTHENTICATED": ("error", ()),
    "UNAUTHORIZED": ("error", ()),
    "USERNAME_ALREADY_ASSOCIATED": ("error", ("username",)),
    "USERNAME_CHANGE": ("success", ()),
    "USERNAME_DISALLOWED_CHARACTERS": ("error", ()),
    "USERNAME_INVALID_LENGTH": ("error", ("max", "min")),
    "USERNAME_NOT_PROVIDED": ("error", ()),
    "USERNAME_RECOVERY_REQUEST": ("info", ()),
    "USER_DOES_NOT_EXIST": ("error", ()),
    "USE_CODE": ("info", ("code",)),
    "US_CURRENT_METHODS": ("info", ("method_list",)),
    "US_METHOD_NOT_AVAILABLE": ("error", ()),
    "US_SETUP_EXPIRED": ("error", ("within",)),
    "US_SETUP_SUCCESSFUL": ("info", ()),
    "US_SPECIFY_IDENTITY": ("error", ()),
    "WEBAUTHN_CREDENTIAL_DELETED": ("info", ("name",)),
    "WEBAUTHN_CREDENTIAL_ID_INUSE": ("error", ()),
    "WEBAUTHN_CREDENTIAL_WRONG_USAGE": ("error", ()),
    "WEBAUTHN_EXPIRED": ("error", ("within",)),
    "WEBAUTHN_MISMATCH_USER_HANDLE": ("error", ()),
    "WEBAUTHN_NAME_DISALLOWED_CHARACTERS": ("error", ()),
    "WEBAUTHN_NAME_INUSE": ("error", ("name",)),
    "WEBAUTHN_NAME_NOT_FOUND": ("error", ("name",)),
    "WEBAUTHN_NAME_REQUIRED": ("error", ()),
    "WEBAUTHN_NO_VERIFY": ("error", ("cause",)),
    "WEBAUTHN_ORPHAN_CREDENTIAL_ID": ("error", ()),
    "WEBAUTHN_REGISTER_SUCCESSFUL": ("info", ("name",)),
    "WEBAUTHN_UNKNOWN_CREDENTIAL_ID": ("error", ()),
}


def fresh(**settings: Any) -> dict[str, Any]:
    """An initialised app config that passes validation, plus ``settings``."""
    cfg: dict[str, Any] = {"SECURITY_PASSWORD_SALT": "pepper-for-tests"}
    cfg.update({"SECURITY_" + k: v for k, v in settings.items()})
    init_config(cfg, {})
    return cfg


# ------------------------------------------------------------------ the table


def test_every_flask_security_592_key_is_present_plus_our_additions() -> None:
    assert len(FS_592_KEYS) == 255
    assert len(ADDED_KEYS) == 28
    assert set(DEFAULT_CONFIG) == FS_592_KEYS | ADDED_KEYS
    assert len(DEFAULT_CONFIG) == 283
    assert not FS_592_KEYS & ADDED_KEYS
    assert ADDED_KEYS == {
        "PASSWORD_MAX_LENGTH",
        "PASSWORD_HASH_POOL_SIZE",
        "PASSWORD_HASH_QUEUE_SIZE",
        "PASSWORD_HASH_NICE",
        "TOKEN_AUTHENTICATION_SOURCES",
        "EXTERNAL_BASE_URL",
        "SEND_MAIL_INLINE",
        "MAIL_QUEUE_SIZE",
        "HTTP_AUTH_CHARSET",
        "WEBSOCKET_ALLOWED_ORIGINS",
        "DEFAULT_COOKIE_SAMESITE",
        "PASSWORD_BREACHED_RANGE_URL",
        "PASSWORD_BREACHED_TIMEOUT",
        "TWO_FACTOR_REPLAY_PROTECTION",
        "TWO_FACTOR_MAX_ATTEMPTS",
        "TWO_FACTOR_PENDING_WITHIN",
        "PASSWORD_HASH_CLIENT_SHARE",
        "RATE_LIMIT_ENABLED",
        "RATE_LIMIT_STORAGE_URI",
        "RATE_LIMIT_FAIL_OPEN",
        "RATE_LIMITS",
        "LOCKOUT_FAILURES",
        "LOCKOUT_WITHIN",
        "LOCKOUT_NOTIFY",
        "LOCKOUT_EMAIL_TEMPLATE",
        "EMAIL_SUBJECT_LOCKOUT",
        "MAIL_LIMIT",
        "TRUSTED_PROXIES",
    }


def test_every_flask_security_592_message_keeps_category_and_placeholders() -> None:
    assert len(FS_592_MESSAGE_SHAPES) == 92
    assert set(DEFAULT_MESSAGES) == set(FS_592_MESSAGE_SHAPES) | ADDED_MESSAGES
    assert len(DEFAULT_MESSAGES) == 102
    for key, (category, placeholders) in FS_592_MESSAGE_SHAPES.items():
        text, our_category = DEFAULT_MESSAGES[key]
        assert our_category == category, key
        assert tuple(sorted(set(re.findall(r"%\((\w+)\)", text)))) == placeholders, key


def test_our_messages() -> None:
    assert DEFAULT_MESSAGES["HASHING_OVERLOADED"] == (
        "The server is busy. Please try again shortly.",
        "error",
    )
    for key in ADDED_MESSAGES:
        text, category = DEFAULT_MESSAGES[key]
        assert text and category == "error"


def test_defaults_changed_in_flask_security_5_7_to_5_9() -> None:
    assert DEFAULT_CONFIG["LOGOUT_METHODS"] == ["POST"]
    assert DEFAULT_CONFIG["TOKEN_MAX_AGE"] == timedelta(minutes=15)
    assert DEFAULT_CONFIG["USE_REGISTER_V2"] is True
    assert DEFAULT_CONFIG["CONFIRM_EMAIL_WITHIN"] == timedelta(days=2)
    assert DEFAULT_CONFIG["CSRF_COOKIE"]["secure"] is True
    assert DEFAULT_CONFIG["TWO_FACTOR_VALIDITY_COOKIE"]["secure"] is True
    assert DEFAULT_CONFIG["REFRESH_TOKEN_COOKIE"]["secure"] is True
    assert "BACKWARDS_COMPAT_UNAUTHN" not in DEFAULT_CONFIG
    assert "USERNAME_NORMALIZE_FORM" not in DEFAULT_CONFIG
    for key in (
        "LOGIN_WITHIN",
        "CHANGE_EMAIL_WITHIN",
        "RESET_PASSWORD_WITHIN",
        "TWO_FACTOR_SETUP_WITHIN",
        "US_SETUP_WITHIN",
        "WAN_REGISTER_WITHIN",
        "WAN_SIGNIN_WITHIN",
        "TWO_FACTOR_LOGIN_VALIDITY",
    ):
        assert isinstance(DEFAULT_CONFIG[key], timedelta), key


def test_our_defaults_and_safer_differences() -> None:
    assert DEFAULT_CONFIG["PASSWORD_MAX_LENGTH"] == 128
    assert DEFAULT_CONFIG["PASSWORD_HASH_POOL_SIZE"] is None
    assert DEFAULT_CONFIG["PASSWORD_HASH_QUEUE_SIZE"] is None
    assert DEFAULT_CONFIG["PASSWORD_HASH_NICE"] == 10
    assert DEFAULT_CONFIG["TOKEN_AUTHENTICATION_SOURCES"] == ["header"]
    assert DEFAULT_CONFIG["RETURN_GENERIC_RESPONSES"] is True
    assert DEFAULT_CONFIG["LOGOUT_CSRF"] is True
    assert "plaintext" not in DEFAULT_CONFIG["PASSWORD_SCHEMES"]
    assert DEFAULT_CONFIG["PASSWORD_HASH"] == "argon2"
    assert DEFAULT_CONFIG["TWO_FACTOR_IMPLEMENTATIONS"] == {
        "code": "quart_security.flows.two_factor.CodeTfPlugin",
        "webauthn": "quart_security.flows.webauthn.WebAuthnTfPlugin",
    }
    assert DEFAULT_CONFIG["USER_IDENTITY_ATTRIBUTES"] == [
        {
            "email": {
                "mapper": "quart_security.identity.uia_email_mapper",
                "case_insensitive": True,
            }
        }
    ]


def test_default_table_cannot_be_modified() -> None:
    with pytest.raises(TypeError):
        DEFAULT_CONFIG["PASSWORD_HASH"] = "plaintext"  # type: ignore[index]
    with pytest.raises(TypeError):
        DEFAULT_MESSAGES["LOGIN"] = ("x", "info")  # type: ignore[index]


def test_callable_defaults() -> None:
    cfg = fresh()
    before = datetime.now(UTC).replace(tzinfo=None)
    now = cfg["SECURITY_DATETIME_FACTORY"]()
    after = datetime.now(UTC).replace(tzinfo=None)
    assert now.tzinfo is None
    assert before <= now <= after
    assert cfg["SECURITY_TOKEN_EXPIRE_TIMESTAMP"](object()) == 0


# ------------------------------------------------------------------ statuses

NOT_YET = sorted(k for k, s in KEY_STATUS.items() if s is Status.NOT_YET and k not in FORM_KEYS)
HONOURED = sorted(k for k, s in KEY_STATUS.items() if s is Status.HONOURED)
INERT = sorted(k for k, s in KEY_STATUS.items() if s is Status.INERT)
ROOT = Path(__file__).resolve().parents[1]


def other_than(default: Any) -> Any:
    """A value that asks for something else than ``default`` does."""
    if isinstance(default, bool):
        return not default
    if default is None:
        return "something"
    if isinstance(default, int | float):
        return default + 1
    if isinstance(default, str):
        return default + "-other"
    if isinstance(default, timedelta):
        return default + timedelta(seconds=1)
    if isinstance(default, list | tuple | set):
        return [*default, "other"]
    if isinstance(default, dict):
        return {**default, "other": 1}
    if callable(default):
        return lambda *args: None
    raise AssertionError(f"no other value for {default!r}")


def test_every_key_has_a_status() -> None:
    assert set(KEY_STATUS) == set(DEFAULT_CONFIG) | FORM_KEYS
    assert all(isinstance(status, Status) for status in KEY_STATUS.values())
    # The forms of built features are honoured; unified sign-in & co.'s are not.
    assert all(KEY_STATUS[k] is Status.HONOURED for k in BUILT_FORM_KEYS)
    assert all(KEY_STATUS[k] is Status.NOT_YET for k in FORM_KEYS - BUILT_FORM_KEYS)
    assert len(HONOURED) + len(INERT) + len(NOT_YET) + len(FORM_KEYS - BUILT_FORM_KEYS) == len(
        KEY_STATUS
    )


def test_every_built_form_key_is_a_form_the_views_build() -> None:
    from quart_security.web.form_info import FORM_BASES

    assert {k.lower() for k in BUILT_FORM_KEYS} == {*FORM_BASES, "render_template"}


def test_a_key_added_without_a_status_stops_the_import() -> None:
    with pytest.raises(TypeError, match="SECURITY_MAIL_QUEUE_SIZE: give each a status"):
        config._split({"LOGIN_URL": config.honoured("/login"), "MAIL_QUEUE_SIZE": 100})
    defaults, _ = config._split({"MAIL_QUEUE_SIZE": config.honoured(100)})
    assert defaults == {"MAIL_QUEUE_SIZE": 100}


def test_feature_switches_say_what_is_built() -> None:
    built = {
        "REGISTERABLE", "CONFIRMABLE", "RECOVERABLE", "CHANGEABLE", "CHANGE_EMAIL",
        "CHANGE_USERNAME", "USERNAME_RECOVERY", "USERNAME_ENABLE", "TRACKABLE",
        "PASSWORD_CHECK_BREACHED", "TWO_FACTOR", "TWO_FACTOR_REQUIRED",
        "MULTI_FACTOR_RECOVERY_CODES",
    }  # fmt: skip
    not_built = {
        "UNIFIED_SIGNIN", "WEBAUTHN", "PASSWORDLESS", "OAUTH_ENABLE", "REFRESH_TOKEN",
        "PASSWORD_COMPLEXITY_CHECKER", "TWO_FACTOR_IMPLEMENTATIONS",
    }  # fmt: skip
    assert {k for k in built if KEY_STATUS[k] is not Status.HONOURED} == set()
    assert {k for k in not_built if KEY_STATUS[k] is not Status.NOT_YET} == set()


def test_inert_keys_are_few_and_say_why() -> None:
    assert INERT == ["CHANGE_EMAIL_CONFIRM_URL", "CHANGE_SALT", "JOIN_USER_ROLES"]
    for key in INERT:
        assert config._ENTRIES[key].note, key
        validate_config(fresh(**{key: other_than(DEFAULT_CONFIG[key])}))


@pytest.mark.parametrize("key", NOT_YET)
def test_a_setting_not_built_is_refused_away_from_its_default(key: str) -> None:
    value = other_than(DEFAULT_CONFIG[key])
    assert not at_default(key, value)
    cfg = fresh()
    cfg["SECURITY_" + key] = value
    problems = not_built_settings(cfg)
    assert len(problems) == 1 and problems[0].startswith(f"SECURITY_{key} {NOT_BUILT}; ")
    assert "remove it or set it back to" in problems[0]
    with pytest.raises(ConfigurationError, match=f"SECURITY_{key} {NOT_BUILT}"):
        validate_config(cfg)


@pytest.mark.parametrize("key", NOT_YET)
def test_a_setting_not_built_is_accepted_at_its_default(key: str) -> None:
    cfg = fresh()
    cfg["SECURITY_" + key] = copy.deepcopy(DEFAULT_CONFIG[key])
    assert not_built_settings(cfg) == []


@pytest.mark.parametrize("key", sorted(FORM_KEYS - BUILT_FORM_KEYS))
def test_a_form_override_is_refused_when_set_at_all(key: str) -> None:
    cfg = fresh()
    cfg["SECURITY_" + key] = object
    with pytest.raises(ConfigurationError, match=f"SECURITY_{key} {NOT_BUILT}"):
        validate_config(cfg)
    with pytest.raises(ConfigurationError, match=f"argument {key.lower()} {NOT_BUILT}"):
        validate_config(fresh(), {key.lower(): object})


def test_security_arguments_count_as_settings() -> None:
    # What init_config would store, even when validation runs first.
    with pytest.raises(ConfigurationError, match=f"SECURITY_WEBAUTHN {NOT_BUILT}"):
        validate_config({"SECURITY_PASSWORD_SALT": "pepper"}, {"webauthn": True})
    # The app's own value wins over the argument, as in init_config.
    validate_config({"SECURITY_PASSWORD_SALT": "pepper", "SECURITY_WEBAUTHN": False},
                    {"webauthn": True})  # fmt: skip


def test_issue_examples_are_refused_by_validation() -> None:
    cfg = fresh(
        WEBAUTHN=True,
        WAN_ALLOW_AS_FIRST_FACTOR=False,
        UNIFIED_SIGNIN=True,
        PASSWORD_COMPLEXITY_CHECKER="zxcvbn",
        US_SIGNIN_FORM=object,
        TWO_FACTOR_IMPLEMENTATIONS={"code": "myapp.CodePlugin"},
    )
    with pytest.raises(ConfigurationError) as info:
        validate_config(cfg)
    for key in (
        "WEBAUTHN", "WAN_ALLOW_AS_FIRST_FACTOR", "UNIFIED_SIGNIN",
        "PASSWORD_COMPLEXITY_CHECKER", "US_SIGNIN_FORM", "TWO_FACTOR_IMPLEMENTATIONS",
    ):  # fmt: skip
        assert f"SECURITY_{key} {NOT_BUILT}" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TWO_FACTOR", 0),
        ("TWO_FACTOR", None),
        ("TWO_FACTOR_ALWAYS_VALIDATE", 1),
        ("TWO_FACTOR_SETUP_WITHIN", "30 minutes"),
        ("TWO_FACTOR_SETUP_WITHIN", 1800),
        ("TWO_FACTOR_ENABLED_METHODS", ("email", "authenticator", "sms")),
        ("DATETIME_FACTORY", config.naive_utcnow),
    ],
)
def test_defaults_spelled_another_way_are_defaults(key: str, value: Any) -> None:
    assert at_default(key, value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TWO_FACTOR", "yes"),
        ("TWO_FACTOR_SETUP_WITHIN", "31 minutes"),
        ("TWO_FACTOR_SETUP_WITHIN", "soon"),
        ("TWO_FACTOR_ENABLED_METHODS", ["email"]),
        ("TOTP_SECRETS", {}),
        ("DATETIME_FACTORY", lambda: None),
    ],
)
def test_other_values_are_not_defaults(key: str, value: Any) -> None:
    assert not at_default(key, value)


def _package_sources() -> dict[Path, str]:
    files = [
        *(ROOT / "quart_security").rglob("*.py"),
        *(ROOT / "flask_compat").rglob("*.py"),
        *(ROOT / "quart_security" / "templates").rglob("*.html"),
        *(ROOT / "quart_security" / "templates").rglob("*.txt"),
    ]
    return {p: p.read_text() for p in files if p != ROOT / "quart_security" / "config.py"}


def test_every_honoured_key_is_read_outside_the_table() -> None:
    """A key marked honoured that no code names is not honoured (flip it to not_yet)."""
    sources = "\n".join(_package_sources().values())
    unread = [
        key
        for key in HONOURED
        if key not in BUILT_FORM_KEYS  # read by name.upper() in web/form_info.py, tested above
        and not re.search(rf"[\"']((SECURITY_)?{key})[\"']|\bSECURITY_{key}\b", sources)
    ]
    assert unread == []


# ------------------------------------------------------------------ init_config


def test_defaults_applied_with_prefix() -> None:
    cfg: dict[str, Any] = {}
    init_config(cfg, {})
    assert len(cfg) == len(DEFAULT_CONFIG) + len(DEFAULT_MESSAGES)
    for key, value in DEFAULT_CONFIG.items():
        if key not in ("EMAIL_SENDER",):
            assert cfg["SECURITY_" + key] == value, key
    for key, message in DEFAULT_MESSAGES.items():
        assert cfg["SECURITY_MSG_" + key] == message
    assert cfg["SECURITY_LOGOUT_METHODS"] == ["POST"]


def test_app_config_wins_over_kwargs() -> None:
    cfg: dict[str, Any] = {
        "SECURITY_REGISTERABLE": False,
        "SECURITY_MSG_LOGIN": ("app text", "info"),
    }
    init_config(cfg, {"registerable": True, "msg_login": ("kwarg text", "info")})
    assert cfg["SECURITY_REGISTERABLE"] is False
    assert cfg["SECURITY_MSG_LOGIN"] == ("app text", "info")


def test_kwargs_win_over_defaults_in_either_case() -> None:
    cfg: dict[str, Any] = {}
    init_config(
        cfg,
        {
            "registerable": True,
            "PASSWORD_LENGTH_MIN": 12,
            "msg_unauthorized": ("Nope.", "error"),
            "MSG_LOGIN": ("Sign in.", "info"),
            "not_a_setting": 1,
        },
    )
    assert cfg["SECURITY_REGISTERABLE"] is True
    assert cfg["SECURITY_PASSWORD_LENGTH_MIN"] == 12
    assert cfg["SECURITY_MSG_UNAUTHORIZED"] == ("Nope.", "error")
    assert cfg["SECURITY_MSG_LOGIN"] == ("Sign in.", "info")
    assert "SECURITY_NOT_A_SETTING" not in cfg


def test_kwarg_false_or_none_still_overrides() -> None:
    cfg: dict[str, Any] = {}
    init_config(cfg, {"flash_messages": False, "post_login_view": None})
    assert cfg["SECURITY_FLASH_MESSAGES"] is False
    assert cfg["SECURITY_POST_LOGIN_VIEW"] is None


def test_post_login_and_logout_views_follow_application_root() -> None:
    cfg: dict[str, Any] = {"APPLICATION_ROOT": "/app"}
    init_config(cfg, {})
    assert cfg["SECURITY_POST_LOGIN_VIEW"] == "/app"
    assert cfg["SECURITY_POST_LOGOUT_VIEW"] == "/app"
    cfg = {"APPLICATION_ROOT": "/app"}
    init_config(cfg, {"post_login_view": "/home"})
    assert cfg["SECURITY_POST_LOGIN_VIEW"] == "/home"


def test_two_apps_do_not_share_mutable_defaults() -> None:
    one: dict[str, Any] = {}
    two: dict[str, Any] = {}
    init_config(one, {})
    init_config(two, {})
    mutable = [k for k, v in DEFAULT_CONFIG.items() if isinstance(v, list | dict | set)]
    assert "USER_IDENTITY_ATTRIBUTES" in mutable
    assert "PASSWORD_SINGLE_HASH" in mutable
    for key in mutable:
        assert one["SECURITY_" + key] is not two["SECURITY_" + key], key
        assert one["SECURITY_" + key] is not DEFAULT_CONFIG[key], key

    one["SECURITY_LOGOUT_METHODS"].append("GET")
    one["SECURITY_CSRF_COOKIE"]["secure"] = False
    one["SECURITY_USER_IDENTITY_ATTRIBUTES"][0]["email"]["case_insensitive"] = False
    one["SECURITY_PASSWORD_SINGLE_HASH"].add("argon2")
    assert two["SECURITY_LOGOUT_METHODS"] == ["POST"]
    assert two["SECURITY_CSRF_COOKIE"]["secure"] is True
    assert two["SECURITY_USER_IDENTITY_ATTRIBUTES"][0]["email"]["case_insensitive"] is True
    assert "argon2" not in two["SECURITY_PASSWORD_SINGLE_HASH"]
    assert DEFAULT_CONFIG["LOGOUT_METHODS"] == ["POST"]
    assert "argon2" not in DEFAULT_CONFIG["PASSWORD_SINGLE_HASH"]


# ------------------------------------------------------------------ ConfigView


def test_config_view_reads_prefixed_keys_and_names_unknown_ones() -> None:
    cv = ConfigView(fresh(REGISTERABLE=True))
    assert cv("REGISTERABLE") is True
    assert cv("LOGIN_URL") == "/login"
    with pytest.raises(KeyError, match="SECURITY_NO_SUCH_KEY"):
        cv("NO_SUCH_KEY")


def test_email_sender_is_resolved_when_read() -> None:
    cfg = fresh()
    cv = ConfigView(cfg)
    assert cv("EMAIL_SENDER") == "no-reply@localhost"
    cfg["MAIL_DEFAULT_SENDER"] = "team@example.com"  # set after init, as apps do
    assert cv("EMAIL_SENDER") == "team@example.com"
    cfg["SECURITY_EMAIL_SENDER"] = "security@example.com"
    assert cv("EMAIL_SENDER") == "security@example.com"


def test_config_view_message() -> None:
    cv = ConfigView(fresh())
    assert cv.message("PASSWORD_INVALID_LENGTH", length=8) == get_message(
        cv._config, "PASSWORD_INVALID_LENGTH", length=8
    )


# ------------------------------------------------------------------ unknown keys


def test_unknown_key_warning_names_the_nearest_key(caplog: pytest.LogCaptureFixture) -> None:
    cfg = fresh()
    cfg["SECURITY_PASWORD_HASH"] = "super-secret-value"
    logger = logging.getLogger("tests.config")
    with caplog.at_level(logging.WARNING, logger="tests.config"):
        warn_unknown_keys(cfg, logger)
    assert [r.getMessage() for r in caplog.records] == [
        "Unknown setting SECURITY_PASWORD_HASH; did you mean SECURITY_PASSWORD_HASH?"
    ]
    assert "super-secret-value" not in caplog.text


def test_unknown_keys_cover_messages_removed_keys_and_hopeless_typos() -> None:
    cfg = fresh()
    cfg.update(
        {
            "SECURITY_MSG_UNAUTHORISED": ("x", "error"),
            "SECURITY_REGISTRABLE": True,
            "SECURITY_ZZZZZZZZ": 1,
            "SECURITY_USERNAME_NORMALIZE_FORM": "NFKC",
            "SECURITY_BACKWARDS_COMPAT_UNAUTHN": True,
            "SECURITY_LOGIN_FORM": object,  # form override: known, not a typo
            "SECURITY_RENDER_TEMPLATE": print,
            "SECRET_KEY": "not ours",
            "MAIL_SERVER": "not ours",
        }
    )
    assert unknown_keys(cfg) == [
        ("SECURITY_BACKWARDS_COMPAT_UNAUTHN", None),
        ("SECURITY_MSG_UNAUTHORISED", "SECURITY_MSG_UNAUTHORIZED"),
        ("SECURITY_REGISTRABLE", "SECURITY_REGISTERABLE"),
        ("SECURITY_USERNAME_NORMALIZE_FORM", "SECURITY_INPUT_NORMALIZE_FORM"),
        ("SECURITY_ZZZZZZZZ", None),
    ]


def test_no_warning_for_a_clean_config(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.config")
    with caplog.at_level(logging.WARNING, logger="tests.config"):
        warn_unknown_keys(fresh(), logger)
    assert caplog.records == []


def test_removed_and_unmatched_key_warnings(caplog: pytest.LogCaptureFixture) -> None:
    cfg = fresh()
    cfg["SECURITY_USERNAME_NORMALIZE_FORM"] = "NFKC"
    cfg["SECURITY_ZZZZZZZZ"] = 1
    logger = logging.getLogger("tests.config")
    with caplog.at_level(logging.WARNING, logger="tests.config"):
        warn_unknown_keys(cfg, logger)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Setting SECURITY_USERNAME_NORMALIZE_FORM was removed in Flask-Security 5.9 and is"
        " ignored; use SECURITY_INPUT_NORMALIZE_FORM instead",
        "Unknown setting SECURITY_ZZZZZZZZ; it is ignored.",
    ]


# ------------------------------------------------------------------ validate_config


def test_valid_configurations_pass() -> None:
    validate_config(fresh())
    validate_config(
        fresh(
            LOGOUT_METHODS=None,
            TOKEN_MAX_AGE=None,
            TOKEN_AUTHENTICATION_SOURCES=["header", "query", "json"],
            CSRF_COOKIE={"samesite": "None", "secure": True},
            PASSWORD_HASH_POOL_SIZE=2,
            PASSWORD_HASH_QUEUE_SIZE=1,
            CONFIRM_EMAIL_WITHIN="5 days",
            REDIRECT_BEHAVIOR="spa",
        )
    )
    # Single-hash schemes need no salt.
    cfg = fresh(PASSWORD_HASH="plaintext", PASSWORD_SCHEMES=["argon2", "plaintext"])
    cfg["SECURITY_PASSWORD_SALT"] = None
    validate_config(cfg)
    cfg = fresh(PASSWORD_SINGLE_HASH=True)
    cfg["SECURITY_PASSWORD_SALT"] = None
    validate_config(cfg)


INVALID: list[tuple[dict[str, Any], list[str]]] = [
    (
        {"PASSWORD_HASH": "md5_crypt"},
        ["SECURITY_PASSWORD_HASH", "SECURITY_PASSWORD_SCHEMES"],
    ),
    (
        {"PASSWORD_REQUIRED": False},
        ["SECURITY_PASSWORD_REQUIRED", "SECURITY_UNIFIED_SIGNIN"],
    ),
    (
        {"USER_IDENTITY_ATTRIBUTES": [{"email": {"mapper": str}, "username": {"mapper": str}}]},
        ["SECURITY_USER_IDENTITY_ATTRIBUTES"],
    ),
    (
        {"USER_IDENTITY_ATTRIBUTES": ["email"]},
        ["SECURITY_USER_IDENTITY_ATTRIBUTES"],
    ),
    (
        {"USER_IDENTITY_ATTRIBUTES": [{"email": {"case_insensitive": True}}]},
        ["SECURITY_USER_IDENTITY_ATTRIBUTES", "mapper"],
    ),
    (
        {"TWO_FACTOR": True, "TOTP_ISSUER": "Example"},
        ["SECURITY_TWO_FACTOR", "SECURITY_TOTP_SECRETS", "SECURITY_TOTP_ISSUER"],
    ),
    (
        {"UNIFIED_SIGNIN": True, "TOTP_SECRETS": {"1": "s"}},
        ["SECURITY_UNIFIED_SIGNIN", "SECURITY_TOTP_SECRETS", "SECURITY_TOTP_ISSUER"],
    ),
    (
        {"MULTI_FACTOR_RECOVERY_CODES": True},
        ["SECURITY_MULTI_FACTOR_RECOVERY_CODES", "SECURITY_TOTP_SECRETS"],
    ),
    (
        {
            "TWO_FACTOR": True,
            "TWO_FACTOR_ENABLED_METHODS": [],
            "TOTP_SECRETS": {"1": "s"},
            "TOTP_ISSUER": "Example",
        },
        ["SECURITY_TWO_FACTOR_ENABLED_METHODS"],
    ),
    (
        {
            "UNIFIED_SIGNIN": True,
            "US_ENABLED_METHODS": [],
            "TOTP_SECRETS": {"1": "s"},
            "TOTP_ISSUER": "Example",
        },
        ["SECURITY_US_ENABLED_METHODS"],
    ),
    (
        {"PASSWORD_SALT": None},
        ["SECURITY_PASSWORD_SALT", "SECURITY_PASSWORD_HASH", "SECURITY_PASSWORD_SINGLE_HASH"],
    ),
    (
        {"PASSWORD_SALT": "", "PASSWORD_SINGLE_HASH": False},
        ["SECURITY_PASSWORD_SALT"],
    ),
    ({"PASSWORD_HASH_POOL_SIZE": 0}, ["SECURITY_PASSWORD_HASH_POOL_SIZE"]),
    ({"PASSWORD_HASH_POOL_SIZE": -2}, ["SECURITY_PASSWORD_HASH_POOL_SIZE"]),
    ({"PASSWORD_HASH_POOL_SIZE": True}, ["SECURITY_PASSWORD_HASH_POOL_SIZE"]),
    ({"PASSWORD_HASH_QUEUE_SIZE": -1}, ["SECURITY_PASSWORD_HASH_QUEUE_SIZE"]),
    ({"PASSWORD_HASH_NICE": -5}, ["SECURITY_PASSWORD_HASH_NICE"]),
    ({"PASSWORD_MAX_LENGTH": 0}, ["SECURITY_PASSWORD_MAX_LENGTH"]),
    (
        {"PASSWORD_MAX_LENGTH": 6},
        ["SECURITY_PASSWORD_MAX_LENGTH", "SECURITY_PASSWORD_LENGTH_MIN"],
    ),
    (
        {"CSRF_COOKIE": {"samesite": "Loose", "secure": True}},
        ["SECURITY_CSRF_COOKIE", "samesite"],
    ),
    (
        {"TWO_FACTOR_VALIDITY_COOKIE": {"samesite": "None", "secure": False}},
        ["SECURITY_TWO_FACTOR_VALIDITY_COOKIE", "secure"],
    ),
    (
        {"REFRESH_TOKEN_COOKIE": {"samesite": 1}},
        ["SECURITY_REFRESH_TOKEN_COOKIE"],
    ),
    (
        {"TOKEN_AUTHENTICATION_SOURCES": ["header", "cookie"]},
        ["SECURITY_TOKEN_AUTHENTICATION_SOURCES", "cookie"],
    ),
    (
        {"TOKEN_AUTHENTICATION_SOURCES": "header"},
        ["SECURITY_TOKEN_AUTHENTICATION_SOURCES", "list"],
    ),
    (
        {"LOGOUT_METHODS": ["POST", "DELETE"]},
        ["SECURITY_LOGOUT_METHODS", "DELETE"],
    ),
    (
        {"LOGOUT_METHODS": ["post"]},
        ["SECURITY_LOGOUT_METHODS", "post"],
    ),
    (
        {"CSRF_PROTECT_MECHANISMS": ["sesion"]},
        ["SECURITY_CSRF_PROTECT_MECHANISMS", "sesion"],
    ),
    (
        {"API_ENABLED_METHODS": ["session", "tokens"]},
        ["SECURITY_API_ENABLED_METHODS", "tokens"],
    ),
    ({"CONFIRM_EMAIL_WITHIN": "five days"}, ["SECURITY_CONFIRM_EMAIL_WITHIN"]),
    # Values of honoured settings that nothing here implements.
    ({"REDIRECT_BEHAVIOR": "SPA"}, ["SECURITY_REDIRECT_BEHAVIOR", "'SPA'", "'spa'"]),
    ({"REDIRECT_BEHAVIOR": "json"}, ["SECURITY_REDIRECT_BEHAVIOR", "'json'"]),
    (
        {"CSRF_COOKIE": {"key": "XSRF-TOKEN", "samesite": "Strict"}},
        ["SECURITY_CSRF_COOKIE", "'key'", "SECURITY_CSRF_COOKIE_NAME"],
    ),
    (
        {"CSRF_COOKIE": {"expires": 3600, "partitioned": True}},
        ["SECURITY_CSRF_COOKIE", "'expires'", "'partitioned'"],
    ),
    ({"FRESHNESS": None}, ["SECURITY_FRESHNESS"]),
    ({"MSG_LOGIN": "just a string"}, ["SECURITY_MSG_LOGIN"]),
    ({"MSG_LOGIN": ("text", "info", "extra")}, ["SECURITY_MSG_LOGIN"]),
]


@pytest.mark.parametrize(("settings", "named"), INVALID)
def test_invalid_combinations_raise_naming_the_keys(
    settings: dict[str, Any], named: list[str]
) -> None:
    cfg = fresh()
    cfg.update({"SECURITY_" + k: v for k, v in settings.items()})
    with pytest.raises(ConfigurationError) as info:
        validate_config(cfg)
    for name in named:
        assert name in str(info.value)


def test_validation_reports_every_problem_at_once() -> None:
    cfg = fresh(PASSWORD_HASH="nope", LOGOUT_METHODS=["PUT"], PASSWORD_HASH_NICE=40)
    with pytest.raises(ConfigurationError) as info:
        validate_config(cfg)
    text = str(info.value)
    assert "SECURITY_PASSWORD_HASH" in text
    assert "SECURITY_LOGOUT_METHODS" in text
    assert "SECURITY_PASSWORD_HASH_NICE" in text


def test_validate_works_before_init_config() -> None:
    with pytest.raises(ConfigurationError, match="SECURITY_PASSWORD_SALT"):
        validate_config({})
    validate_config({"SECURITY_PASSWORD_SALT": "pepper"})


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5 days", timedelta(days=5)),
        ("1 days", timedelta(days=1)),
        ("1 day", timedelta(days=1)),
        ("1 minutes", timedelta(minutes=1)),
        ("30 minutes", timedelta(minutes=30)),
        ("2 hours", timedelta(hours=2)),
        ("1 hour", timedelta(hours=1)),
        ("45 seconds", timedelta(seconds=45)),
        ("1 second", timedelta(seconds=1)),
        ("2 weeks", timedelta(weeks=2)),
        ("1 week", timedelta(weeks=1)),
        ("  3   Days ", timedelta(days=3)),
        ("1.5 hours", timedelta(minutes=90)),
        ("-1 minutes", timedelta(minutes=-1)),
        (90, timedelta(seconds=90)),
        (0.5, timedelta(milliseconds=500)),
        (timedelta(hours=3), timedelta(hours=3)),
    ],
)
def test_parse_duration(value: str | int | float | timedelta, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "days",
        "5",
        "5days",
        "5 fortnights",
        "5 days ago",
        "five days",
        "1_000 seconds",
        "\u0663 days",  # Arabic-Indic digit three
        "nan days",
        "inf seconds",
        "1e3 seconds",
        "99999999999999 weeks",
        float("nan"),
        float("inf"),
        10**20,
        True,
        None,
        [5, "days"],
    ],
)
def test_parse_duration_rejects_bad_input(value: Any) -> None:
    with pytest.raises(ConfigurationError):
        parse_duration(value)


def test_normalize_durations_converts_legacy_forms_in_place() -> None:
    cfg = fresh(
        CONFIRM_EMAIL_WITHIN="5 days",
        TOKEN_MAX_AGE=3600,
        WAN_SIGNIN_WITHIN="1 minutes",
        TWO_FACTOR_LOGIN_VALIDITY="30 days",
    )
    normalize_durations(cfg)
    assert cfg["SECURITY_CONFIRM_EMAIL_WITHIN"] == timedelta(days=5)
    assert cfg["SECURITY_TOKEN_MAX_AGE"] == timedelta(hours=1)
    assert cfg["SECURITY_WAN_SIGNIN_WITHIN"] == timedelta(minutes=1)
    assert cfg["SECURITY_TWO_FACTOR_LOGIN_VALIDITY"] == timedelta(days=30)
    assert cfg["SECURITY_RESET_PASSWORD_WITHIN"] == timedelta(days=1)

    cfg = fresh(TOKEN_MAX_AGE=None)
    normalize_durations(cfg)
    assert cfg["SECURITY_TOKEN_MAX_AGE"] is None

    cfg = fresh(LOGIN_WITHIN="soon")
    with pytest.raises(ConfigurationError, match="SECURITY_LOGIN_WITHIN"):
        normalize_durations(cfg)


# ------------------------------------------------------------------ messages


def test_get_message_formats_placeholders() -> None:
    cfg = fresh()
    text, category = get_message(cfg, "CONFIRMATION_REQUEST", email="ann@example.com")
    assert "ann@example.com" in text
    assert "%(" not in text
    assert category == "info"
    text, _ = get_message(cfg, "USERNAME_INVALID_LENGTH", min=4, max=32)
    assert "4" in text and "32" in text


def test_get_message_without_placeholders_ignores_kwargs() -> None:
    cfg = fresh()
    assert get_message(cfg, "UNAUTHENTICATED") == DEFAULT_MESSAGES["UNAUTHENTICATED"]
    assert get_message(cfg, "UNAUTHENTICATED", email="x") == DEFAULT_MESSAGES["UNAUTHENTICATED"]


def test_get_message_with_missing_kwargs_does_not_raise() -> None:
    cfg = fresh()
    text, category = get_message(cfg, "PASSWORD_INVALID_LENGTH")
    assert "%(length)s" in text
    assert category == "error"


def test_get_message_override_through_app_config() -> None:
    cfg = fresh()
    cfg["SECURITY_MSG_PASSWORD_INVALID_LENGTH"] = ("Need %(length)s or more.", "warning")
    assert get_message(cfg, "PASSWORD_INVALID_LENGTH", length=10) == (
        "Need 10 or more.",
        "warning",
    )
    cfg["SECURITY_MSG_LOGIN"] = ["100% required: sign in", "info"]  # list, bad %-format
    assert get_message(cfg, "LOGIN") == ("100% required: sign in", "info")
    cfg["SECURITY_MSG_LOGIN"] = ("100%% sure", "info")
    assert get_message(cfg, "LOGIN") == ("100% sure", "info")


def test_get_message_never_dumps_all_kwargs_into_a_stray_percent() -> None:
    cfg = fresh()
    # Plain "text % kwargs" would render "% s" as the repr of every kwarg.
    cfg["SECURITY_MSG_USE_CODE"] = ("Use % s code: %(code)s", "info")
    text, _ = get_message(cfg, "USE_CODE", code="123456", email="ann@example.com")
    assert text == "Use % s code: 123456"
    assert "ann@example.com" not in text


def test_get_message_conversions() -> None:
    cfg = fresh()
    cfg["SECURITY_MSG_USERNAME_INVALID_LENGTH"] = ("%(min)d to %(max)03d chars", "error")
    assert get_message(cfg, "USERNAME_INVALID_LENGTH", min=4, max=32)[0] == "4 to 032 chars"
    # A value that does not fit its conversion leaves the placeholder as written.
    assert get_message(cfg, "USERNAME_INVALID_LENGTH", min="four", max=32)[0] == (
        "%(min)d to 032 chars"
    )


def test_get_message_values_are_inserted_verbatim() -> None:
    cfg = fresh()
    hostile = "<script>%(email)s</script>"
    text, _ = get_message(cfg, "EMAIL_ALREADY_ASSOCIATED", email=hostile)
    assert hostile in text  # no re-formatting of values; escaping is the renderer's job


def test_get_message_falls_back_to_defaults_and_names_unknown_keys() -> None:
    assert get_message({}, "UNAUTHORIZED") == DEFAULT_MESSAGES["UNAUTHORIZED"]
    with pytest.raises(KeyError, match="SECURITY_MSG_NO_SUCH_MESSAGE"):
        get_message({}, "NO_SUCH_MESSAGE")
