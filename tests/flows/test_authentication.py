"""may_authenticate: the one account rule every way in asks (no app, no request)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from quart_security.flows.authentication import may_authenticate, requires_confirmation


def config(**values: Any) -> Any:
    settings = {"CONFIRMABLE": False, "LOGIN_WITHOUT_CONFIRMATION": False, **values}
    return settings.__getitem__


def user(*, active: bool = True, confirmed: bool = False) -> Any:
    return SimpleNamespace(
        is_active=active, confirmed_at=datetime(2026, 1, 1) if confirmed else None
    )


@pytest.mark.parametrize(
    ("settings", "account", "expected"),
    [
        ({}, user(), None),
        ({}, user(active=False), "DISABLED_ACCOUNT"),
        ({"CONFIRMABLE": True}, user(), "CONFIRMATION_REQUIRED"),
        ({"CONFIRMABLE": True}, user(confirmed=True), None),
        ({"CONFIRMABLE": True, "LOGIN_WITHOUT_CONFIRMATION": True}, user(), None),
        # Flask-Security's order: confirmation before the active flag.
        ({"CONFIRMABLE": True}, user(active=False), "CONFIRMATION_REQUIRED"),
        ({"CONFIRMABLE": True}, user(active=False, confirmed=True), "DISABLED_ACCOUNT"),
        ({}, None, "USER_DOES_NOT_EXIST"),
    ],
)
def test_may_authenticate(settings: dict[str, Any], account: Any, expected: str | None) -> None:
    assert may_authenticate(config(**settings), account) == expected


def test_requires_confirmation_only_when_confirmable() -> None:
    assert not requires_confirmation(config(), user())
    assert requires_confirmation(config(CONFIRMABLE=True), user())
