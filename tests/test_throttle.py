"""throttle.py: the budgets' settings refused at start-up when wrong, and the account key."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from quart import Quart

from quart_security import Security
from quart_security.errors import ConfigurationError
from quart_security.identity import IdentityResolver
from quart_security.throttle import account_key
from tests.support.app_factory import sql_store


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"SECURITY_RATE_LIMITS": {"loginn": "3/minute"}}, "unknown names \\['loginn'\\]"),
        ({"SECURITY_RATE_LIMITS": {"login": "three a minute"}}, "RATE_LIMITS\\['login'\\]"),
        ({"SECURITY_RATE_LIMITS": ["login"]}, "must be a dict"),
        ({"SECURITY_MAIL_LIMIT": "often"}, "MAIL_LIMIT"),
        ({"SECURITY_LOCKOUT_FAILURES": -1}, "LOCKOUT_FAILURES"),
        ({"SECURITY_RATE_LIMIT_STORAGE_URI": "memcached://x"}, "RATE_LIMIT_STORAGE_URI"),
        ({"SECURITY_TRUSTED_PROXIES": "10.0.0.0/8"}, "TRUSTED_PROXIES"),
        ({"SECURITY_PASSWORD_HASH_CLIENT_SHARE": 0}, "PASSWORD_HASH_CLIENT_SHARE"),
        ({"SECURITY_PASSWORD_HASH_CLIENT_SHARE": 1.5}, "PASSWORD_HASH_CLIENT_SHARE"),
    ],
)
async def test_a_budget_setting_that_cannot_work_is_refused_at_start_up(
    tmp_path: Any, config: dict[str, Any], needle: str
) -> None:
    store, close = await sql_store("sqlite", tmp_path)
    app = Quart(__name__)
    app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="salt", **config)
    try:
        with pytest.raises(ConfigurationError, match=needle):
            Security(app, store)
    finally:
        await close()


async def test_a_partial_rate_limits_dict_is_merged_over_the_defaults(tmp_path: Any) -> None:
    store, close = await sql_store("sqlite", tmp_path)
    app = Quart(__name__)
    app.config.update(
        SECRET_KEY="k" * 32,
        SECURITY_PASSWORD_SALT="salt",
        SECURITY_RATE_LIMITS={"login": "5/minute", "register": None},
    )
    try:
        budgets = Security(app, store).throttle.budgets
    finally:
        await close()
    assert (budgets["login"].amount, budgets["login"].seconds) == (5, 60)  # type: ignore[union-attr]
    assert budgets["register"] is None
    assert budgets["password"] is not None and budgets["password"].seconds == 900


def test_an_accounts_key_is_its_id_else_its_canonical_identity() -> None:
    resolver = IdentityResolver([{"email": {"mapper": "quart_security.identity.uia_email_mapper"}}])
    user = SimpleNamespace(id=7, fs_uniquifier="u7")
    assert account_key(resolver, user, "anything") == "user:7"
    typed = [account_key(resolver, None, v) for v in ("Ghost@LP.com", " ghost@lp.com ")]
    assert typed[0] == typed[1]
    assert account_key(resolver, None, "not an email") == "raw:not an email"
    assert account_key(resolver, None, None) == "raw:"
