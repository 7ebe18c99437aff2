"""flask_compat exports quart_security's whole API, in sync form."""

from __future__ import annotations

import inspect

import flask_compat
import quart_security


def test_every_quart_security_name_is_exported() -> None:
    missing = set(quart_security.__all__) - set(flask_compat.__all__)
    assert not missing
    for name in flask_compat.__all__:
        assert hasattr(flask_compat, name), name


def test_nothing_exported_is_a_coroutine_function() -> None:
    """A new async helper in the core needs its sync twin here (adapter code only)."""
    for name in flask_compat.__all__:
        obj = getattr(flask_compat, name)
        assert not inspect.iscoroutinefunction(obj), name


def test_framework_neutral_names_are_the_core_objects() -> None:
    for name in (
        "UserMixin",
        "RoleMixin",
        "WebAuthnMixin",
        "AnonymousUser",
        "current_user",
        "LoginForm",
        "user_authenticated",
        "password_changed",
        "uia_email_mapper",
    ):
        assert getattr(flask_compat, name) is getattr(quart_security, name), name


def test_flask_specific_names_are_flask_versions() -> None:
    assert issubclass(flask_compat.Security, quart_security.Security)
    for name in ("login_user", "hash_password", "auth_required", "url_for_security"):
        assert getattr(flask_compat, name) is not getattr(quart_security, name), name
