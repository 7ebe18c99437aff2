"""flask_compat's MfRecoveryCodesUtil: Flask-Security's sync methods over the core's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from flask_compat import MfRecoveryCodesUtil
from quart_security.recovery_codes import HASHED_CODE_PREFIX
from tests.support.flask_app_factory import db, flask_app_sync


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Any]:
    with flask_app_sync("sqlite", tmp_path) as app:
        yield app


def test_sync_methods_over_the_apps_security(built: Any) -> None:
    codes_util = MfRecoveryCodesUtil(built.app.flask_app)
    codes_util.bind(built.security.cv, built.security)  # SECRET_KEY from the app's config
    with built.app.flask_app.app_context():
        user = built.datastore.find_user(email="matt@lp.com")
        codes = codes_util.create_recovery_codes(user)
        assert isinstance(codes, list) and len(codes) == 5
        db.session.commit()
        stored = built.datastore.mf_get_recovery_codes(user)
        assert all(entry.startswith(HASHED_CODE_PREFIX) for entry in stored)
        assert codes_util.get_recovery_codes(user) == []
        assert codes_util.check_recovery_code(user, codes[0]) is True
        assert codes_util.delete_recovery_code(user, codes[0]) is True
        assert codes_util.delete_recovery_code(user, codes[0]) is False
        db.session.commit()
    with built.app.flask_app.app_context():
        user = built.datastore.find_user(email="matt@lp.com")
        assert codes_util.check_recovery_code(user, codes[0]) is False
        assert codes_util.check_recovery_code(user, codes[1]) is True


def test_a_sync_datastore_can_be_bound(built: Any) -> None:
    keys = [Fernet.generate_key()]
    values = {
        "MULTI_FACTOR_RECOVERY_CODES_N": 2,
        "MULTI_FACTOR_RECOVERY_CODES_KEYS": keys,
        "MULTI_FACTOR_RECOVERY_CODE_TTL": None,
    }
    codes_util = MfRecoveryCodesUtil(None)
    codes_util.bind(values.__getitem__, datastore=built.datastore, clock=built.clock)
    with built.app.flask_app.app_context():
        user = built.datastore.find_user(email="matt@lp.com")
        codes = codes_util.create_recovery_codes(user)
        assert not asyncio.iscoroutine(codes)
        assert codes_util.get_recovery_codes(user) == codes
        assert codes_util.delete_recovery_code(user, codes[1]) is True
        assert codes_util.get_recovery_codes(user) == codes[:1]
