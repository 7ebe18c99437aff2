"""Rate limits, lockout and mail caps over HTTP (issue #17), on both frameworks and every backend.

Budgets are made small with settings so a test reaches them in a few
requests; the client address is the connection's (``scope_base`` sets it),
or X-Forwarded-For's behind TRUSTED_PROXIES. Reference: security.md A-07.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from flask_compat import Security as FlaskSecurity
from quart_security import signals
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body
from tests.support.mail import SmtpSink, free_port
from tests.support.signals import captured

ON = pytest.mark.settings(rate_limit_enabled=True, mail_limit=None, lockout_failures=0)
pytestmark = ON


def at(address: str) -> dict[str, Any]:
    return {"scope_base": {"client": (address, 40000)}}


async def csrf_for(client: Any, address: str = "198.51.100.1") -> str:
    response = await client.get("/login", headers=JSON, **at(address))
    token: str = (await body(response))["response"]["csrf_token"]
    return token


async def login(
    client: Any,
    email: str = "matt@lp.com",
    password: str = PASSWORD,
    address: str = "198.51.100.1",
    headers: dict[str, str] | None = None,
) -> Any:
    csrf = await csrf_for(client, address)
    return await client.post(
        "/login",
        json={"email": email, "password": password},
        headers={**JSON, "X-CSRF-Token": csrf, **(headers or {})},
        **at(address),
    )


def refused(response: Any) -> bool:
    return int(response.status_code) == 429


async def assert_429(response: Any) -> None:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    data = await body(response)
    assert data["meta"]["code"] == 429
    assert data["response"]["errors"] == ["Too many attempts. Please wait a little and try again."]


# ---------------------------------------------------------------------- per client
@pytest.mark.settings(rate_limits={"login": "3/minute"})
async def test_a_client_over_its_login_budget_gets_429_before_any_hash(test_app: Any) -> None:
    client = test_app.app.test_client()
    for _ in range(3):
        assert (await login(client, password="wrong")).status_code == 400
    with captured(signals.rate_limit_exceeded) as seen:
        over = await login(client)  # even the right password: nothing is checked
    await assert_429(over)
    assert [(s["action"], s["scope"], s["client"]) for s in seen] == [
        ("login", "client", "198.51.100.1")
    ]
    # Another client is not concerned.
    assert (await login(test_app.app.test_client(), address="198.51.100.2")).status_code == 200


@pytest.mark.settings(rate_limits={"login": "2/minute"})
async def test_a_forged_x_forwarded_for_changes_nothing_without_trusted_proxies(
    test_app: Any,
) -> None:
    client = test_app.app.test_client()
    answers = [
        await login(client, password="wrong", headers={"X-Forwarded-For": f"203.0.113.{n}"})
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [400, 400, 429, 429]


@pytest.mark.settings(rate_limits={"login": "2/minute"}, trusted_proxies=1)
async def test_with_one_trusted_proxy_its_address_is_honoured_and_a_spoofed_left_part_is_not(
    test_app: Any,
) -> None:
    client = test_app.app.test_client()

    async def attempt(forwarded: str) -> int:
        answer = await login(client, password="wrong", headers={"X-Forwarded-For": forwarded})
        return int(answer.status_code)

    # The proxy appends the real client; whatever the client put in front is ignored.
    assert [await attempt(f"10.9.9.{n}, 203.0.113.5") for n in range(3)] == [400, 400, 429]
    assert await attempt("203.0.113.6") == 400  # another real client, its own budget


ENDPOINTS = {
    "register": "/register",
    "send_confirmation": "/confirm",
    "forgot_password": "/reset",
    "reset_password": "/reset/not-a-token",
    "change_password": "/change",
    "change_email": "/change-email",
    "change_username": "/change-username",
    "recover_username": "/recover-username",
    "verify": "/verify",
    "two_factor_setup": "/tf-setup",
    "two_factor_setup_validate": "/tf-setup/not-a-token",
    "two_factor_token_validation": "/tf-validate",
    "two_factor_rescue": "/tf-rescue",
    "mf_recovery": "/mf-recovery",
    "mf_recovery_codes": "/mf-recovery-codes",
}


@pytest.mark.settings(
    registerable=True,
    confirmable=True,
    login_without_confirmation=True,
    recoverable=True,
    changeable=True,
    change_email=True,
    username_enable=True,
    change_username=True,
    username_recovery=True,
    two_factor=True,
    totp_secrets={"1": "a-test-totp-secret-of-enough-length"},
    totp_issuer="Test",
    multi_factor_recovery_codes=True,
)
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
async def test_every_limited_endpoint_counts_its_own_posts(test_app: Any, endpoint: str) -> None:
    test_app.security.app_config["SECURITY_RATE_LIMITS"] = {endpoint: "2/minute"}
    test_app.security._build_throttle()
    client = test_app.app.test_client()
    assert (await login(client)).status_code == 200  # signed in: the login budget is another
    csrf = (await body(await client.get("/login", headers=JSON, **at("198.51.100.1"))))["response"][
        "csrf_token"
    ]
    statuses = []
    for _ in range(3):
        answer = await client.post(
            ENDPOINTS[endpoint],
            json={},
            headers={**JSON, "X-CSRF-Token": csrf},
            **at("198.51.100.1"),
        )
        statuses.append(answer.status_code)
    assert 429 not in statuses[:2], statuses
    assert statuses[2] == 429, statuses
    # Another client's budget is its own.
    other = await client.post(
        ENDPOINTS[endpoint], json={}, headers={**JSON, "X-CSRF-Token": csrf}, **at("198.51.100.2")
    )
    assert other.status_code != 429


# ---------------------------------------------------------------------- per account
@pytest.mark.settings(rate_limits={"password": "3/15 minutes"})
async def test_an_accounts_budget_spans_clients_and_answers_the_same_for_a_right_password(
    test_app: Any,
) -> None:
    for n in range(3):
        client = test_app.app.test_client()
        assert (await login(client, password="wrong", address=f"198.51.100.{n}")).status_code == 400
    right = await login(test_app.app.test_client(), address="198.51.100.9")
    wrong = await login(test_app.app.test_client(), password="wrong", address="198.51.100.8")
    await assert_429(right)
    await assert_429(wrong)
    assert (await body(right))["response"]["errors"] == (await body(wrong))["response"]["errors"]
    # Another account is not concerned.
    other = await login(test_app.app.test_client(), email="joe@lp.com", address="198.51.100.7")
    assert other.status_code == 200


@pytest.mark.settings(rate_limits={"password": "3/15 minutes"}, username_enable=True)
async def test_spelling_variants_and_the_username_share_one_budget(test_app: Any) -> None:
    variants = ["MATT@lp.com", " matt@LP.COM ", "matt@lp.com"]
    for n, variant in enumerate(variants):
        answer = await login(
            test_app.app.test_client(), email=variant, password="wrong", address=f"198.51.100.{n}"
        )
        assert answer.status_code == 400, variant
    client = test_app.app.test_client()
    csrf = await csrf_for(client, "198.51.100.50")
    by_username = await client.post(
        "/login",
        json={"username": "matt", "password": PASSWORD},
        headers={**JSON, "X-CSRF-Token": csrf},
        **at("198.51.100.50"),
    )
    await assert_429(by_username)


@pytest.mark.settings(rate_limits={"password": "2/15 minutes"})
async def test_an_unknown_identity_is_limited_exactly_like_a_known_one(test_app: Any) -> None:
    known, unknown = [], []
    for n in range(3):
        known.append(
            await login(test_app.app.test_client(), password="wrong", address=f"10.0.0.{n}")
        )
        unknown.append(
            await login(
                test_app.app.test_client(),
                email="nobody@lp.com",
                password="wrong",
                address=f"10.0.1.{n}",
            )
        )
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [400, 400, 429]
    assert [(await body(r))["response"]["errors"] for r in known] == [
        (await body(r))["response"]["errors"] for r in unknown
    ]


@pytest.mark.settings(rate_limits={"password": "3/15 minutes"})
async def test_a_success_resets_nothing(test_app: Any) -> None:
    assert (
        await login(test_app.app.test_client(), password="wrong", address="10.0.0.1")
    ).status_code == 400
    assert (await login(test_app.app.test_client(), address="10.0.0.2")).status_code == 200
    assert (
        await login(test_app.app.test_client(), password="wrong", address="10.0.0.1")
    ).status_code == 400
    await assert_429(await login(test_app.app.test_client(), address="10.0.0.2"))


# ---------------------------------------------------------------------- lockout
@pytest.mark.settings(lockout_failures=3, rate_limits={"password": "100/15 minutes"})
async def test_lockout_pauses_right_and_wrong_passwords_mails_the_owner_once_and_unlocks(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    with captured(signals.user_locked_out) as locked:
        for n in range(5):
            answer = await login(
                test_app.app.test_client(), password="wrong", address=f"10.0.0.{n}"
            )
            assert answer.status_code == (400 if n < 3 else 429), n
    assert len(locked) == 1
    await assert_429(await login(test_app.app.test_client(), address="10.0.9.9"))
    mails = await smtp_sink.wait_for(1)
    await test_app.security.mailer.drain()
    assert [m.envelope_to for m in smtp_sink.messages] == [["matt@lp.com"]]
    assert "paused" in mails[0].text.lower()
    # An admin unlocks the account: the right password works again.
    async with test_app.app.app_context():
        user = await test_app.store.find_user(email="matt@lp.com")
        if isinstance(test_app.security, FlaskSecurity):  # a plain call, from sync code
            await asyncio.to_thread(test_app.security.unlock_user, user)
        else:
            await test_app.security.unlock_user(user)
    assert (await login(test_app.app.test_client(), address="10.0.9.9")).status_code == 200


@pytest.mark.settings(lockout_failures=2, rate_limits={"password": "100/15 minutes"})
async def test_an_unknown_identity_locks_the_same_way_and_nobody_is_mailed(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    statuses = [
        (
            await login(
                test_app.app.test_client(),
                email="ghost@lp.com",
                password="x",
                address=f"10.0.0.{n}",
            )
        ).status_code
        for n in range(3)
    ]
    assert statuses == [400, 400, 429]
    await test_app.security.mailer.drain()
    assert smtp_sink.messages == []


# ---------------------------------------------------------------------- HTTP Basic
def basic(email: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}", **JSON}


@pytest.mark.settings(rate_limits={"basic": "3/minute"})
async def test_basic_checks_count_against_the_clients_basic_budget(test_app: Any) -> None:
    client = test_app.app.test_client()
    answers = [
        await client.get("/api/basic", headers=basic("matt@lp.com", PASSWORD), **at("10.1.1.1"))
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    await assert_429(answers[-1])


@pytest.mark.settings(lockout_failures=2, rate_limits={"password": "100/15 minutes"})
async def test_wrong_basic_passwords_feed_the_accounts_lockout(test_app: Any) -> None:
    client = test_app.app.test_client()
    for n in range(2):
        wrong = await client.get(
            "/api/basic", headers=basic("matt@lp.com", "wrong"), **at(f"10.2.0.{n}")
        )
        assert wrong.status_code == 401
    await assert_429(await login(test_app.app.test_client(), address="10.2.9.9"))


# ---------------------------------------------------------------------- mail caps
@pytest.mark.settings(recoverable=True, mail_limit="2/hour", rate_limits={"forgot_password": None})
async def test_mail_caps_send_at_most_k_mails_and_answer_the_same(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    client = test_app.app.test_client()
    answers = []
    for _ in range(5):
        csrf = await csrf_for(client)
        answers.append(
            await client.post(
                "/reset",
                json={"email": "matt@lp.com"},
                headers={**JSON, "X-CSRF-Token": csrf},
                **at("198.51.100.1"),
            )
        )
    assert [a.status_code for a in answers] == [200] * 5
    await smtp_sink.wait_for(2)
    await test_app.security.mailer.drain()
    assert len(smtp_sink.messages) == 2


# ---------------------------------------------------------------------- the switch and the page
@pytest.mark.settings(rate_limit_enabled=False, rate_limits={"login": "1/minute"})
async def test_rate_limit_enabled_false_turns_every_budget_off(test_app: Any) -> None:
    client = test_app.app.test_client()
    assert [(await login(client, password="wrong")).status_code for _ in range(3)] == [400] * 3


@pytest.mark.settings(rate_limits={"login": "1/minute"})
async def test_an_html_client_gets_a_429_page(test_app: Any) -> None:
    client = test_app.app.test_client()
    await login(client, password="wrong")
    csrf = await csrf_for(client)
    page = await client.post(
        "/login",
        form={"email": "matt@lp.com", "password": PASSWORD, "csrf_token": csrf},
        **at("198.51.100.1"),
    )
    assert page.status_code == 429
    assert page.headers["Retry-After"]
    assert "Too many attempts" in await page.get_data(as_text=True)


# ---------------------------------------------------------------------- the store
def redis_url(db: int = 2) -> str:
    url = os.environ.get("QS_TEST_REDIS_URL")
    if not url:
        pytest.fail("QS_TEST_REDIS_URL is not set: scripts/services.sh starts Redis", pytrace=False)
    return url.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
def clean_redis() -> Iterator[str]:
    import redis

    url = redis_url()
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


async def test_budgets_in_redis(test_app: Any, clean_redis: str) -> None:
    security = test_app.security
    security.app_config["SECURITY_RATE_LIMIT_STORAGE_URI"] = clean_redis
    security.app_config["SECURITY_RATE_LIMITS"] = {"login": "2/minute"}
    security._build_throttle()
    client = test_app.app.test_client()
    statuses = [(await login(client, password="wrong")).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    import redis

    assert redis.Redis.from_url(clean_redis).keys("qs*")  # counted in Redis, not in memory


@pytest.mark.parametrize("fail_open", [False, True], ids=["closed", "open"])
async def test_a_store_outage_fails_closed_by_default(test_app: Any, fail_open: bool) -> None:
    security = test_app.security
    security.app_config["SECURITY_RATE_LIMIT_STORAGE_URI"] = f"redis://127.0.0.1:{free_port()}/0"
    security.app_config["SECURITY_RATE_LIMIT_FAIL_OPEN"] = fail_open
    security._build_throttle()
    answer = await login(test_app.app.test_client())
    if fail_open:
        assert answer.status_code == 200  # let through, logged
    else:
        assert answer.status_code == 503
        assert answer.headers["Retry-After"]
        data = await body(answer)
        assert data["response"]["errors"] == [
            "Signing in is unavailable for a moment. Please try again shortly."
        ]


RESET_LINK = re.compile(r"https://app\.example/reset/([A-Za-z0-9_.\-]+)")


@pytest.mark.settings(
    recoverable=True, lockout_failures=2, rate_limits={"password": "100/15 minutes"}
)
async def test_a_password_reset_ends_a_lockout(test_app: Any, smtp_sink: SmtpSink) -> None:
    for n in range(2):
        await login(test_app.app.test_client(), password="wrong", address=f"10.3.0.{n}")
    await assert_429(await login(test_app.app.test_client(), address="10.3.9.9"))
    client = test_app.app.test_client()
    csrf = await csrf_for(client)
    asked = await client.post(
        "/reset", json={"email": "matt@lp.com"}, headers={**JSON, "X-CSRF-Token": csrf}
    )
    assert asked.status_code == 200
    mails = await smtp_sink.wait_for(2)  # the lockout notice, then the reset link
    token = next(m for m in (RESET_LINK.search(x.text) for x in mails) if m is not None)
    new = "correct mule glacier"
    csrf = await csrf_for(client)
    done = await client.post(
        f"/reset/{token.group(1)}",
        json={"password": new, "password_confirm": new},
        headers={**JSON, "X-CSRF-Token": csrf},
    )
    assert done.status_code == 200
    assert (
        await login(test_app.app.test_client(), password=new, address="10.3.9.9")
    ).status_code == 200
