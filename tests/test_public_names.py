"""The exported names against Flask-Security 5.9.2's, the compatibility target.

Every one of the 121 names ``flask_security/__init__.py`` exports is either
exported by ``quart_security`` and ``flask_compat`` or listed in NOT_PROVIDED
with the issue that brings it and why. Both directions are checked, so the
table stays true: a name listed as missing that is in fact exported fails too.
docs/api/public-names.md shows the same table (checked at the end), and the
Flask-Security submodules we mirror must hold the same objects.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("quart_security", "flask_compat")

#: flask_security 5.9.2 ``__init__.py``: its 121 names, by the module each comes from.
FLASK_SECURITY_5_9_2: dict[str, list[str]] = {
    "change_email": ["ChangeEmailForm"],
    "change_username": ["ChangeUsernameForm"],
    "changeable": ["admin_change_password"],
    "core": [
        "FormInfo",
        "RefreshTrackerMixin",
        "RoleMixin",
        "Security",
        "UserMixin",
        "WebAuthnMixin",
        "current_user",
    ],
    "datastore": [
        "AsaList",
        "FSQLALiteUserDatastore",
        "MongoEngineUserDatastore",
        "PeeweeUserDatastore",
        "SQLAlchemySessionUserDatastore",
        "SQLAlchemyUserDatastore",
        "UserDatastore",
    ],
    "decorators": [
        "anonymous_user_required",
        "auth_required",
        "auth_token_required",
        "handle_csrf",
        "http_auth_required",
        "login_required",
        "permissions_accepted",
        "permissions_required",
        "roles_accepted",
        "roles_required",
        "unauth_csrf",
    ],
    "forms": [
        "ChangePasswordForm",
        "ConfirmRegisterForm",
        "ForgotPasswordForm",
        "Form",
        "LoginForm",
        "LogoutForm",
        "PasswordlessLoginForm",
        "RegisterForm",
        "RegisterFormV2",
        "ResetPasswordForm",
        "SendConfirmationForm",
        "TwoFactorRescueForm",
        "TwoFactorSetupForm",
        "TwoFactorVerifyCodeForm",
        "UsernameRecoveryForm",
        "VerifyForm",
        "unique_identity_attribute",
    ],
    "mail_util": ["EmailValidateException", "MailUtil"],
    "oauth_glue": ["OAuthGlue"],
    "oauth_provider": ["FsOAuthProvider"],
    "password_util": ["PasswordUtil"],
    "phone_util": ["PhoneUtil"],
    "recovery_codes": ["MfRecoveryCodesForm", "MfRecoveryCodesUtil", "MfRecoveryForm"],
    "signals": [
        "change_email_confirmed",
        "change_email_instructions_sent",
        "confirm_instructions_sent",
        "login_instructions_sent",
        "password_changed",
        "password_reset",
        "refresh_tracker_created",
        "refresh_tracker_revoked",
        "reset_password_instructions_sent",
        "tf_code_confirmed",
        "tf_disabled",
        "tf_profile_changed",
        "tf_security_token_sent",
        "us_profile_changed",
        "us_security_token_sent",
        "user_authenticated",
        "user_confirmed",
        "user_failed_authn",
        "user_not_registered",
        "user_registered",
        "user_unauthenticated",
        "username_changed",
        "username_recovery_email_sent",
        "wan_deleted",
        "wan_registered",
    ],
    "tf_plugin": ["TwoFactorSelectForm"],
    "tokens": ["RefreshTokenForm"],
    "totp": ["Totp"],
    "twofactor": ["tf_send_security_token"],
    "unified_signin": [
        "UnifiedSigninForm",
        "UnifiedSigninSetupForm",
        "UnifiedSigninSetupValidateForm",
        "UnifiedVerifyForm",
        "us_send_security_token",
    ],
    "username_util": ["UsernameUtil"],
    "utils": [
        "SmsSenderBaseClass",
        "SmsSenderFactory",
        "check_and_get_token_status",
        "check_and_update_authn_fresh",
        "get_hmac",
        "get_request_attr",
        "get_url",
        "hash_password",
        "input_svn",
        "login_user",
        "logout_user",
        "lookup_identity",
        "naive_utcnow",
        "password_breached_validator",
        "password_complexity_validator",
        "password_length_validator",
        "pwned",
        "send_mail",
        "transform_url",
        "uia_email_mapper",
        "uia_phone_mapper",
        "uia_username_mapper",
        "url_for_security",
        "verify_and_update_password",
        "verify_password",
    ],
    "webauthn": [
        "WebAuthnDeleteForm",
        "WebAuthnRegisterForm",
        "WebAuthnRegisterResponseForm",
        "WebAuthnSigninForm",
        "WebAuthnSigninResponseForm",
        "WebAuthnVerifyForm",
    ],
    "webauthn_util": ["WebauthnUtil"],
}
MODULE_OF = {name: module for module, names in FLASK_SECURITY_5_9_2.items() for name in names}

#: Flask-Security submodules mirrored by both packages (docs/api/public-names.md says
#: why the others are not): each must hold every name of it that the package exports.
MIRRORED_SUBMODULES = (
    "core",
    "datastore",
    "decorators",
    "mail_util",
    "phone_util",
    "signals",
    "totp",
    "utils",
)


class Missing(NamedTuple):
    issue: str  # "#N", or "none yet"
    reason: str
    packages: tuple[str, ...] = PACKAGES  # the packages it is missing from


TF_SEND = (
    "not exported yet; call `user.tf_send_security_token(method)` (a coroutine in quart_security)"
)
UNIFIED = "unified sign-in is not built yet"
WEBAUTHN = "WebAuthn is not built yet"
REFRESH = "refresh tokens (Flask-Security 5.9) are not built and no issue plans them yet"
OAUTH = "OAuth glue is not built and no issue plans it yet"
DATASTORE = (
    "a sync ORM datastore Flask-Security has; #21 brings it to flask_compat. Quart apps use"
    " the async datastores (SQLAlchemy, MongoDB through PyMongo)"
)

NOT_PROVIDED: dict[str, Missing] = {
    # --- #13
    "input_svn": Missing(
        "none yet",
        "Flask-Security's sanitises HTML with nh3, not a dependency here; UsernameUtil"
        " refuses markup in usernames instead of cleaning it",
    ),
    # --- #14: two-factor is built; its module-level send function is not exported
    "tf_send_security_token": Missing("#14", TF_SEND),
    # --- #15: unified sign-in (and the passwordless login it replaces)
    "UnifiedSigninForm": Missing("#15", UNIFIED),
    "UnifiedSigninSetupForm": Missing("#15", UNIFIED),
    "UnifiedSigninSetupValidateForm": Missing("#15", UNIFIED),
    "UnifiedVerifyForm": Missing("#15", UNIFIED),
    "us_send_security_token": Missing("#15", UNIFIED),
    "PasswordlessLoginForm": Missing(
        "#15", "Flask-Security's deprecated passwordless login is served by unified sign-in"
    ),
    # --- #16: WebAuthn
    "WebAuthnRegisterForm": Missing("#16", WEBAUTHN),
    "WebAuthnRegisterResponseForm": Missing("#16", WEBAUTHN),
    "WebAuthnSigninForm": Missing("#16", WEBAUTHN),
    "WebAuthnSigninResponseForm": Missing("#16", WEBAUTHN),
    "WebAuthnDeleteForm": Missing("#16", WEBAUTHN),
    "WebAuthnVerifyForm": Missing("#16", WEBAUTHN),
    "WebauthnUtil": Missing("#16", WEBAUTHN),
    # --- #21: Flask-Security's other datastores
    "FSQLALiteUserDatastore": Missing(
        "none yet",
        "Flask-SQLAlchemy-Lite is a Flask extension (flask_compat has it); Quart apps use the"
        " async SQLAlchemyUserDatastore, which takes the same plain SQLAlchemy models",
        ("quart_security",),
    ),
    "MongoEngineUserDatastore": Missing("#21", DATASTORE),
    "PeeweeUserDatastore": Missing("#21", DATASTORE),
    # --- not planned yet
    "RefreshTrackerMixin": Missing("none yet", REFRESH),
    "RefreshTokenForm": Missing("none yet", REFRESH),
    "OAuthGlue": Missing("none yet", OAUTH),
    "FsOAuthProvider": Missing("none yet", OAUTH),
}


def exported(package: ModuleType, name: str) -> bool:
    return name in getattr(package, "__all__", ()) and hasattr(package, name)


def test_the_target_is_flask_security_5_9_2s_121_names() -> None:
    names = [name for names in FLASK_SECURITY_5_9_2.values() for name in names]
    assert len(names) == len(set(names)) == 121


def test_the_table_lists_only_flask_security_names_with_an_issue() -> None:
    assert set(NOT_PROVIDED) <= set(MODULE_OF), set(NOT_PROVIDED) - set(MODULE_OF)
    for name, row in NOT_PROVIDED.items():
        assert re.fullmatch(r"#\d+|none yet", row.issue), name
        assert row.reason and row.packages and set(row.packages) <= set(PACKAGES), name


@pytest.mark.parametrize("package_name", PACKAGES)
def test_every_name_is_exported_or_in_the_table(package_name: str) -> None:
    package = importlib.import_module(package_name)
    neither = sorted(
        name
        for name in MODULE_OF
        if not exported(package, name)
        and not (name in NOT_PROVIDED and package_name in NOT_PROVIDED[name].packages)
    )
    assert neither == [], f"{package_name} neither exports nor lists these"


@pytest.mark.parametrize("package_name", PACKAGES)
def test_no_name_in_the_table_is_exported(package_name: str) -> None:
    """Keeps the table true: a name that arrives must leave it (and the docs)."""
    package = importlib.import_module(package_name)
    stale = sorted(
        name
        for name, row in NOT_PROVIDED.items()
        if package_name in row.packages and (exported(package, name) or hasattr(package, name))
    )
    assert stale == [], f"{package_name} exports these: remove them from NOT_PROVIDED"


@pytest.mark.parametrize("package_name", PACKAGES)
@pytest.mark.parametrize("submodule", MIRRORED_SUBMODULES)
def test_mirrored_submodules_hold_the_same_objects(package_name: str, submodule: str) -> None:
    """``from flask_security.utils import hash_password`` keeps working with the import changed."""
    package = importlib.import_module(package_name)
    module = importlib.import_module(f"{package_name}.{submodule}")
    for name in FLASK_SECURITY_5_9_2[submodule]:
        if exported(package, name):
            assert getattr(module, name, None) is getattr(package, name), f"{submodule}.{name}"


# ---------------------------------------------------------------------- the docs
DOC = ROOT / "docs" / "api" / "public-names.md"
ROW = re.compile(r"^\|\s*`(\w+)`\s*\|\s*([^|]+?)\s*\|\s*(#\d+|none yet)\s*\|", re.M)


def documented_rows() -> dict[str, tuple[str, str]]:
    """The not-provided table of the docs: name -> (missing from, issue)."""
    text = DOC.read_text()
    table = text[text.index("## Not provided yet") :]
    table = table[: table.index("\n## ", 4)] if "\n## " in table[4:] else table
    return {m.group(1): (m.group(2), m.group(3)) for m in ROW.finditer(table)}


def test_the_docs_list_every_missing_name_with_its_issue() -> None:
    rows = documented_rows()
    assert sorted(set(NOT_PROVIDED) - set(rows)) == [], "missing from the docs"
    assert sorted(set(rows) - set(NOT_PROVIDED)) == [], "in the docs but provided"
    for name, row in NOT_PROVIDED.items():
        missing_from, issue = rows[name]
        assert issue == row.issue, name
        expected = "both" if set(row.packages) == set(PACKAGES) else ", ".join(row.packages)
        assert missing_from.strip("`") == expected, name


def test_the_docs_page_is_linked_from_the_index() -> None:
    assert "api/public-names.md" in (ROOT / "docs" / "index.md").read_text()
