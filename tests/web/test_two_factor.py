"""Two-factor sign-in over HTTP: Flask-Security 5.9's /tf-* JSON contract, and its attacks.

Runs on Quart and flask_compat, on SQLite, PostgreSQL and MongoDB. Codes are
real: an authenticator's come from pyotp with the key the setup answer gave
(as an app would scan it), emailed ones from the mail the SMTP sink received,
texted ones from the recording SMS sender (no gateway can run here). Time is
the app's frozen clock, moved by the tests.
"""

from __future__ import annotations

import asyncio
import base64
import re
import zlib
from typing import Any

import pyotp
import pytest

from flask_compat import Security as FlaskSecurity
from quart_security import signals
from quart_security.sms import RecordingSmsSender, SmsSenderFactory
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf, json_login
from tests.support.mail import SmtpSink
from tests.support.signals import captured

TOTP_SECRETS = {"1": "a-test-totp-secret-of-enough-length"}


class TfSms(RecordingSmsSender):
    """This module's own record of texted codes."""


SmsSenderFactory.senders["TfTest"] = TfSms

pytestmark = pytest.mark.settings(
    two_factor=True,
    totp_secrets=TOTP_SECRETS,
    totp_issuer="Test App",
    sms_service="TfTest",
    two_factor_validity_cookie={"httponly": True, "secure": False, "samesite": "Strict"},
    multi_factor_recovery_codes=True,
)
REQUIRED = pytest.mark.settings(two_factor_required=True)
CODE = re.compile(r"\b(\d{6})\b")


# ---------------------------------------------------------------------- helpers
async def post(client: Any, url: str, data: dict[str, Any]) -> Any:
    csrf = await get_csrf(client)
    return await client.post(url, json=data, headers={**JSON, "X-CSRF-Token": csrf})


async def me(client: Any) -> int:
    return int((await client.get("/api/me", headers=JSON)).status_code)


def authenticator(setup_answer: dict[str, Any]) -> pyotp.TOTP:
    """The authenticator app a user sets up from /tf-setup's answer."""
    response = setup_answer["response"]
    assert response["tf_authr_issuer"] == "Test App"
    assert response["tf_authr_uri"].startswith("otpauth://totp/")
    return pyotp.TOTP(response["tf_authr_b32key"])


def now(test_app: Any) -> float:
    return float(test_app.clock.time())


async def enrol_authenticator(test_app: Any, email: str = "matt@lp.com") -> pyotp.TOTP:
    """Sign in (two-factor required), set up an authenticator, finish; then sign out."""
    client = test_app.app.test_client()
    answer = await body(await json_login(client, email))
    assert answer["response"]["tf_state"] == "setup_from_login"
    setup = await post(client, "/tf-setup", {"setup": "authenticator"})
    assert setup.status_code == 200, await setup.get_data(as_text=True)
    app = authenticator(await body(setup))
    done = await post(client, "/tf-validate", {"code": app.at(now(test_app))})
    assert done.status_code == 200, await done.get_data(as_text=True)
    test_app.clock.advance(30)  # the next sign-in uses the next code
    return app


async def enrolled_user(test_app: Any) -> Any:
    """matt as the datastore has him now."""
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        return await test_app.store.find_user(email="matt@lp.com")


async def set_user(test_app: Any, **values: Any) -> None:
    """Write fields of matt's record directly (what another program left there)."""
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        user = await test_app.store.find_user(email="matt@lp.com")
        for name, value in values.items():
            setattr(user, name, value)
        await test_app.store.put(user)


async def signed_in_client(test_app: Any, app: pyotp.TOTP, remember: bool = False) -> Any:
    client = test_app.app.test_client()
    answer = await body(await json_login(client, remember=remember))
    assert answer["response"]["tf_required"] is True
    done = await post(client, "/tf-validate", {"code": app.at(now(test_app))})
    assert done.status_code == 200, await done.get_data(as_text=True)
    test_app.clock.advance(30)
    return client


# ---------------------------------------------------------------------- the login answer
@REQUIRED
async def test_required_two_factor_login_answers_setup_from_login_and_no_user(
    test_app: Any,
) -> None:
    client = test_app.app.test_client()
    response = await json_login(client, query="?include_auth_token")
    assert response.status_code == 200
    answer = (await body(response))["response"]
    assert answer["tf_required"] is True
    assert answer["tf_state"] == "setup_from_login"
    assert "user" not in answer  # no user payload, no auth token, before the second factor
    assert await me(client) == 401  # a pending login is not a login


@REQUIRED
async def test_setup_from_login_with_an_authenticator_then_sign_in_with_its_next_code(
    test_app: Any,
) -> None:
    client = test_app.app.test_client()
    await json_login(client)
    choices = (await body(await client.get("/tf-setup", headers=JSON)))["response"]
    assert choices["tf_required"] is True
    assert choices["tf_available_methods"] == ["email", "authenticator", "sms"]  # no disable
    with captured(signals.tf_code_confirmed) as confirmed:
        app = await enrol_authenticator(test_app)
    assert [c["method"] for c in confirmed] == ["authenticator"]
    user = await enrolled_user(test_app)
    assert user.tf_primary_method == "authenticator"
    assert user.tf_totp_secret.startswith('{"enckey"')  # encrypted at rest (TOTP_SECRETS)
    assert app.secret not in user.tf_totp_secret

    client = test_app.app.test_client()
    answer = (await body(await json_login(client)))["response"]
    assert answer == {
        "csrf_token": answer["csrf_token"],
        "tf_required": True,
        "tf_state": "ready",
        "tf_method": "authenticator",
        "tf_primary_method": "authenticator",
    }
    assert await me(client) == 401
    done = await post(client, "/tf-validate?include_auth_token", {"code": app.at(now(test_app))})
    assert done.status_code == 200
    assert (await body(done))["response"]["user"]["authentication_token"]
    assert await me(client) == 200


async def test_a_user_without_two_factor_signs_in_at_once_when_not_required(
    test_app: Any,
) -> None:
    client = test_app.app.test_client()
    answer = (await body(await json_login(client)))["response"]
    assert answer["tf_required"] is False
    assert "user" in answer
    assert await me(client) == 200


@REQUIRED
async def test_email_method_codes_arrive_through_the_smtp_sink(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    client = test_app.app.test_client()
    await json_login(client)
    setup = await post(client, "/tf-setup", {"setup": "email"})
    assert setup.status_code == 200
    assert (await body(setup))["response"]["tf_method"] == "email"
    assert "tf_authr_key" not in (await body(setup))["response"]
    mails = await smtp_sink.wait_for(1)
    code = CODE.search(mails[0].text)
    assert code is not None and mails[0].envelope_to == ["matt@lp.com"]
    assert (await post(client, "/tf-validate", {"code": code.group(1)})).status_code == 200
    assert await me(client) == 200

    test_app.clock.advance(30)
    client = test_app.app.test_client()
    answer = (await body(await json_login(client)))["response"]
    assert answer["tf_state"] == "ready" and answer["tf_method"] == "email"
    mails = await smtp_sink.wait_for(2)
    code = CODE.search(mails[1].text)
    assert code is not None
    assert (await post(client, "/tf-validate", {"code": code.group(1)})).status_code == 200


@REQUIRED
async def test_sms_method_stores_the_phone_in_e164_and_texts_the_code(test_app: Any) -> None:
    TfSms.clear()
    client = test_app.app.test_client()
    await json_login(client)
    bad = await post(client, "/tf-setup", {"setup": "sms", "phone": "not a phone"})
    assert bad.status_code == 400
    assert "phone" in (await body(bad))["response"]["field_errors"]
    setup = await post(client, "/tf-setup", {"setup": "sms", "phone": "(650) 253-0000"})
    assert setup.status_code == 200, await setup.get_data(as_text=True)
    sent = list(TfSms.messages)
    assert [m.to_number for m in sent] == ["+16502530000"]
    code = CODE.search(sent[0].msg)
    assert code is not None
    assert (await post(client, "/tf-validate", {"code": code.group(1)})).status_code == 200
    user = await enrolled_user(test_app)
    assert (user.tf_primary_method, user.tf_phone_number) == ("sms", "+16502530000")


# ---------------------------------------------------------------------- state and binding
@pytest.mark.parametrize(
    "url", ["/tf-validate", "/tf-setup", "/tf-rescue", "/tf-select", "/mf-recovery"]
)
async def test_tf_endpoints_without_a_login_in_progress_answer_400(test_app: Any, url: str) -> None:
    client = test_app.app.test_client()
    response = await client.get(url, headers=JSON)
    assert response.status_code == 400
    errors = (await body(response))["response"]["field_errors"]
    assert errors[""] == ["You are not allowed to access this page right now."]
    posted = await post(client, url, {"code": "123456", "setup": "email", "help_setup": "help"})
    assert posted.status_code == 400


async def test_another_client_cannot_finish_someone_elses_pending_login(test_app: Any) -> None:
    owner = test_app.app.test_client()
    app = await _enrol_without_requirement(test_app)
    await json_login(owner)
    intruder = test_app.app.test_client()
    response = await post(intruder, "/tf-validate", {"code": app.at(now(test_app))})
    assert response.status_code == 400
    assert await me(intruder) == 401
    assert (await post(owner, "/tf-validate", {"code": app.at(now(test_app))})).status_code == 200


async def _enrol_without_requirement(test_app: Any) -> pyotp.TOTP:
    """Sign in (no two-factor), enable an authenticator from the signed-in session."""
    client = test_app.app.test_client()
    assert (await json_login(client)).status_code == 200
    setup = await post(client, "/tf-setup", {"setup": "authenticator"})
    assert setup.status_code == 200, await setup.get_data(as_text=True)
    answer = await body(setup)
    token = answer["response"]["tf_state_token"]
    assert token
    app = authenticator(answer)
    done = await post(client, f"/tf-setup/{token}", {"code": app.at(now(test_app))})
    assert done.status_code == 200, await done.get_data(as_text=True)
    assert (await body(done))["response"]["tf_method"] == "authenticator"
    test_app.clock.advance(30)
    return app


async def test_enabling_from_a_signed_in_session_then_every_login_asks_for_the_code(
    test_app: Any,
) -> None:
    with captured(signals.tf_profile_changed) as changed:
        app = await _enrol_without_requirement(test_app)
    assert [c["method"] for c in changed] == ["authenticator"]
    client = test_app.app.test_client()
    answer = (await body(await json_login(client)))["response"]
    assert answer["tf_required"] is True and answer["tf_state"] == "ready"
    assert (await post(client, "/tf-validate", {"code": "000000"})).status_code == 400
    assert await me(client) == 401
    assert (await post(client, "/tf-validate", {"code": app.at(now(test_app))})).status_code == 200


async def test_get_tf_setup_never_returns_the_secret_of_an_enrolled_user(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = await signed_in_client(test_app, app)
    answer = (await body(await client.get("/tf-setup", headers=JSON)))["response"]
    assert answer["tf_method"] == "authenticator"
    assert answer["tf_available_methods"][0] == "disable"
    text = str(answer)
    assert "tf_authr" not in text and app.secret not in text


# ---------------------------------------------------------------------- attacks
async def test_a_code_is_accepted_once_replay_in_the_same_window_fails(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    first = test_app.app.test_client()
    await json_login(first)
    code = app.at(now(test_app))
    assert (await post(first, "/tf-validate", {"code": code})).status_code == 200
    second = test_app.app.test_client()
    await json_login(second)
    replay = await post(second, "/tf-validate", {"code": code})
    assert replay.status_code == 400
    assert await me(second) == 401


async def test_replay_protection_off_restores_flask_securitys_reuse(test_app: Any) -> None:
    test_app.security.app_config["SECURITY_TWO_FACTOR_REPLAY_PROTECTION"] = False
    app = await _enrol_without_requirement(test_app)
    code = app.at(now(test_app))
    for _ in range(2):
        client = test_app.app.test_client()
        await json_login(client)
        assert (await post(client, "/tf-validate", {"code": code})).status_code == 200


async def test_ten_parallel_submissions_of_one_code_give_one_success(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    clients = []
    for _ in range(10):
        client = test_app.app.test_client()
        await json_login(client)
        clients.append(client)
    code = app.at(now(test_app))
    csrfs = [await get_csrf(c) for c in clients]
    responses = await asyncio.gather(
        *(
            c.post("/tf-validate", json={"code": code}, headers={**JSON, "X-CSRF-Token": t})
            for c, t in zip(clients, csrfs, strict=True)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [400] * 9
    assert [await me(c) for c in clients].count(200) == 1


async def test_code_guessing_ends_the_pending_login_after_the_limit(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = test_app.app.test_client()
    await json_login(client)
    saved = [(c.name, c.value) for c in client.cookie_jar]  # the cookie an attacker replays
    for _ in range(5):
        assert (await post(client, "/tf-validate", {"code": "000000"})).status_code == 400
    over = await post(client, "/tf-validate", {"code": app.at(now(test_app))})
    assert over.status_code == 400
    assert "Too many wrong codes" in str((await body(over))["response"]["field_errors"])
    assert await me(client) == 401
    # Replaying the session cookie from before the guesses does not reset the count.
    replayed = test_app.app.test_client()
    for name, value in saved:
        replayed.set_cookie("localhost", name, value)
    again = await post(replayed, "/tf-validate", {"code": app.at(now(test_app))})
    assert again.status_code == 400
    # A new sign-in with the password starts a new count, and the right code works.
    fresh = test_app.app.test_client()
    await json_login(fresh)
    assert (await post(fresh, "/tf-validate", {"code": app.at(now(test_app))})).status_code == 200


async def test_a_pending_login_expires(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = test_app.app.test_client()
    await json_login(client)
    test_app.clock.advance(16 * 60)
    response = await post(client, "/tf-validate", {"code": app.at(now(test_app))})
    assert response.status_code == 400
    assert await me(client) == 401


# ---------------------------------------------------------------------- remember this device
async def test_remembered_device_skips_the_code_when_always_validate_is_off(
    test_app: Any,
) -> None:
    test_app.security.app_config["SECURITY_TWO_FACTOR_ALWAYS_VALIDATE"] = False
    app = await _enrol_without_requirement(test_app)
    client = await signed_in_client(test_app, app, remember=True)
    assert any(c.name == "tf_validity" for c in client.cookie_jar)
    assert (await post(client, "/logout", {})).status_code == 200
    answer = (await body(await json_login(client)))["response"]
    assert answer["tf_required"] is False
    assert await me(client) == 200
    # Another device still needs the code.
    other = test_app.app.test_client()
    assert (await body(await json_login(other)))["response"]["tf_required"] is True


async def test_always_validate_asks_even_on_a_remembered_device(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = await signed_in_client(test_app, app, remember=True)
    assert not any(c.name == "tf_validity" for c in client.cookie_jar)
    assert (await post(client, "/logout", {})).status_code == 200
    assert (await body(await json_login(client)))["response"]["tf_required"] is True


# ---------------------------------------------------------------------- change and disable
async def test_a_new_method_must_validate_before_it_replaces_the_old_one(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    app = await _enrol_without_requirement(test_app)
    client = await signed_in_client(test_app, app)
    setup = await post(client, "/tf-setup", {"setup": "email"})
    token = (await body(setup))["response"]["tf_state_token"]
    wrong = await post(client, f"/tf-setup/{token}", {"code": "000000"})
    assert wrong.status_code == 400
    user = await enrolled_user(test_app)
    assert user.tf_primary_method == "authenticator"
    mails = await smtp_sink.wait_for(1)
    code = CODE.search(mails[-1].text)
    assert code is not None
    done = await post(client, f"/tf-setup/{token}", {"code": code.group(1)})
    assert done.status_code == 200
    assert (await body(done))["response"]["tf_method"] == "email"
    user = await enrolled_user(test_app)
    assert user.tf_primary_method == "email"


async def test_a_tampered_state_token_is_refused(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = await signed_in_client(test_app, app)
    token = (await body(await post(client, "/tf-setup", {"setup": "authenticator"})))["response"][
        "tf_state_token"
    ]
    tampered = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    response = await post(client, f"/tf-setup/{tampered}", {"code": "123456"})
    assert response.status_code == 400


async def test_disable_when_not_required(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = await signed_in_client(test_app, app)
    with captured(signals.tf_disabled) as disabled:
        response = await post(client, "/tf-setup", {"setup": "disable"})
    assert response.status_code == 200
    assert len(disabled) == 1
    user = await enrolled_user(test_app)
    assert user.tf_primary_method is None and user.tf_totp_secret is None
    other = test_app.app.test_client()
    assert (await body(await json_login(other)))["response"]["tf_required"] is False


@REQUIRED
async def test_disable_is_refused_when_two_factor_is_required(test_app: Any) -> None:
    app = await enrol_authenticator(test_app)
    client = await signed_in_client(test_app, app)
    response = await post(client, "/tf-setup", {"setup": "disable"})
    assert response.status_code == 400
    assert (await enrolled_user(test_app)).tf_primary_method == "authenticator"


async def test_changing_needs_a_fresh_login(test_app: Any) -> None:
    test_app.security.app_config["SECURITY_FRESHNESS"] = __import__("datetime").timedelta(minutes=1)
    test_app.security.app_config["SECURITY_FRESHNESS_GRACE_PERIOD"] = __import__(
        "datetime"
    ).timedelta(0)
    client = test_app.app.test_client()
    await json_login(client)
    test_app.clock.advance(120)
    response = await post(client, "/tf-setup", {"setup": "email"})
    assert response.status_code == 401
    assert (await body(response))["response"].get("reauth_required") is True


# ---------------------------------------------------------------------- rescue
async def test_rescue_by_email_and_help(test_app: Any, smtp_sink: SmtpSink) -> None:
    app = await _enrol_without_requirement(test_app)
    client = test_app.app.test_client()
    await json_login(client)
    options = (await body(await client.get("/tf-validate", headers=JSON)))["response"]
    assert set(options["recovery_options"]) == {"help", "email"}  # no codes generated yet
    assert (await post(client, "/tf-rescue", {"help_setup": "email"})).status_code == 200
    mails = await smtp_sink.wait_for(1)
    assert mails[0].envelope_to == ["matt@lp.com"]
    code = CODE.search(mails[0].text)
    assert code is not None and code.group(1) == app.at(now(test_app))
    assert (await post(client, "/tf-rescue", {"help_setup": "help"})).status_code == 200
    mails = await smtp_sink.wait_for(2)
    assert mails[1].envelope_to == ["no-reply@localhost"]
    assert "matt@lp.com" in mails[1].text
    bad = await post(client, "/tf-rescue", {"help_setup": "nonsense"})
    assert bad.status_code == 400
    assert (await post(client, "/tf-validate", {"code": code.group(1)})).status_code == 200


# ---------------------------------------------------------------------- recovery codes
async def test_recovery_codes_generate_then_each_works_once(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = await signed_in_client(test_app, app)
    generated = await post(client, "/mf-recovery-codes", {})
    assert generated.status_code == 200
    codes = (await body(generated))["response"]["recovery_codes"]
    assert len(codes) == 5 and all(
        re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}", c) for c in codes
    )
    listed = (await body(await client.get("/mf-recovery-codes", headers=JSON)))["response"]
    assert listed["recovery_codes"] == []  # stored hashed: shown only once
    user = await enrolled_user(test_app)
    assert not set(codes) & {str(v) for v in user.mf_recovery_codes}  # no plain code stored

    pending = test_app.app.test_client()
    await json_login(pending)
    options = (await body(await pending.get("/tf-validate", headers=JSON)))["response"]
    assert "recovery_code" in options["recovery_options"]
    wrong = await post(pending, "/mf-recovery", {"code": "0000-0000-0000"})
    assert wrong.status_code == 400
    used = await post(pending, "/mf-recovery", {"code": codes[0]})
    assert used.status_code == 200
    assert await me(pending) == 200

    again = test_app.app.test_client()
    await json_login(again)
    assert (await post(again, "/mf-recovery", {"code": codes[0]})).status_code == 400
    assert (await post(again, "/mf-recovery", {"code": codes[1]})).status_code == 200


async def test_ten_parallel_uses_of_one_recovery_code_give_one_success(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = await signed_in_client(test_app, app)
    codes = (await body(await post(client, "/mf-recovery-codes", {})))["response"]["recovery_codes"]
    clients = []
    for _ in range(10):
        pending = test_app.app.test_client()
        await json_login(pending)
        clients.append(pending)
    csrfs = [await get_csrf(c) for c in clients]
    responses = await asyncio.gather(
        *(
            c.post("/mf-recovery", json={"code": codes[2]}, headers={**JSON, "X-CSRF-Token": t})
            for c, t in zip(clients, csrfs, strict=True)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [400] * 9


# ---------------------------------------------------------------------- other ways in
@REQUIRED
@pytest.mark.settings(registerable=True)
async def test_auto_login_after_register_goes_through_two_factor(test_app: Any) -> None:
    client = test_app.app.test_client()
    csrf = await get_csrf(client)
    response = await client.post(
        "/register?include_auth_token",
        json={"email": "new@lp.com", "password": PASSWORD, "password_confirm": PASSWORD},
        headers={**JSON, "X-CSRF-Token": csrf},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    answer = (await body(response))["response"]
    assert answer["tf_required"] is True and answer["tf_state"] == "setup_from_login"
    assert "user" not in answer
    assert await me(client) == 401


async def test_a_flask_security_written_totp_secret_still_verifies(test_app: Any) -> None:
    """An authenticator enrolled under Flask-Security (passlib's encrypted JSON)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.totp import TOTP

    factory = TOTP.using(issuer="Test App", secrets=TOTP_SECRETS)
    enrolled = factory.new()
    stored = enrolled.to_json(encrypt=True)
    await set_user(test_app, tf_primary_method="authenticator", tf_totp_secret=stored)
    client = test_app.app.test_client()
    assert (await body(await json_login(client)))["response"]["tf_state"] == "ready"
    code = pyotp.TOTP(enrolled.base32_key).at(now(test_app))
    assert (await post(client, "/tf-validate", {"code": code})).status_code == 200


# ---------------------------------------------------------------------- more ways in
RESET_LINK = re.compile(r"https://app\.example/reset/([A-Za-z0-9_.\-]+)")


@pytest.mark.settings(recoverable=True, auto_login_after_reset=True)
async def test_auto_login_after_reset_goes_through_two_factor(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    app = await _enrol_without_requirement(test_app)
    client = test_app.app.test_client()
    assert (await post(client, "/reset", {"email": "matt@lp.com"})).status_code == 200
    mails = await smtp_sink.wait_for(1)
    token = RESET_LINK.search(mails[-1].text)
    assert token is not None
    new = "correct mule glacier"
    done = await post(
        client,
        f"/reset/{token.group(1)}?include_auth_token",
        {"password": new, "password_confirm": new},
    )
    assert done.status_code == 200, await done.get_data(as_text=True)
    answer = (await body(done))["response"]
    assert answer["tf_required"] is True and "user" not in answer
    assert await me(client) == 401
    assert (await post(client, "/tf-validate", {"code": app.at(now(test_app))})).status_code == 200
    assert await me(client) == 200


# ---------------------------------------------------------------------- what the cookie holds
def session_payload(client: Any) -> str:
    """The readable part of the signed session cookie, decoded."""
    value = next(c.value for c in client.cookie_jar if c.name == "session")
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()


@REQUIRED
async def test_no_readable_secret_or_code_in_the_session_cookie(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    client = test_app.app.test_client()
    await json_login(client)
    setup = await post(client, "/tf-setup", {"setup": "authenticator"})
    app = authenticator(await body(setup))
    state = session_payload(client)
    assert "fs_pending" in state
    assert app.secret not in state and app.at(now(test_app)) not in state
    email = await post(client, "/tf-setup", {"setup": "email"})
    assert email.status_code == 200
    mails = await smtp_sink.wait_for(1)
    code = CODE.search(mails[0].text)
    assert code is not None and code.group(1) not in session_payload(client)


# ---------------------------------------------------------------------- compatibility
@pytest.mark.settings(two_factor_enabled_methods=["mail", "google_authenticator"])
async def test_legacy_method_names_still_work(test_app: Any) -> None:
    client = test_app.app.test_client()
    await json_login(client)
    choices = (await body(await client.get("/tf-setup", headers=JSON)))["response"]
    assert choices["tf_available_methods"] == ["email", "authenticator"]
    setup = await post(client, "/tf-setup", {"setup": "google_authenticator"})
    assert setup.status_code == 200
    app = authenticator(await body(setup))
    token = (await body(setup))["response"]["tf_state_token"]
    assert (
        await post(client, f"/tf-setup/{token}", {"code": app.at(now(test_app))})
    ).status_code == 200
    # A user Flask-Security stored with the legacy name signs in as before.
    await set_user(test_app, tf_primary_method="google_authenticator")
    test_app.clock.advance(30)
    other = test_app.app.test_client()
    answer = (await body(await json_login(other)))["response"]
    assert answer["tf_method"] == "authenticator"
    assert (await post(other, "/tf-validate", {"code": app.at(now(test_app))})).status_code == 200


async def test_recovery_codes_flask_security_stored_in_plain_text_still_work(
    test_app: Any,
) -> None:
    await _enrol_without_requirement(test_app)
    await set_user(test_app, mf_recovery_codes=["1111-2222-3333", "4444-5555-6666"])
    client = test_app.app.test_client()
    await json_login(client)
    assert (await post(client, "/mf-recovery", {"code": "4444-5555-6666"})).status_code == 200
    assert (await enrolled_user(test_app)).mf_recovery_codes == ["1111-2222-3333"]


@pytest.mark.parametrize(
    "data",
    [
        {"code": None},
        {"code": {"$ne": None}},
        {"code": ["123456"]},
        {"code": "1" * 5000},
        {"code": "１２３４５６"},
        {"code": True},
        {},
    ],
    ids=["null", "object", "list", "long", "fullwidth", "bool", "missing"],
)
async def test_hostile_codes_are_a_clear_400_and_count_nothing_else(
    test_app: Any, data: dict[str, Any]
) -> None:
    app = await _enrol_without_requirement(test_app)
    client = test_app.app.test_client()
    await json_login(client)
    response = await post(client, "/tf-validate", data)
    assert response.status_code == 400
    assert (await body(response))["response"]["errors"]
    assert await me(client) == 401
    assert (await post(client, "/tf-validate", {"code": app.at(now(test_app))})).status_code == 200


async def test_a_numeric_json_code_is_accepted(test_app: Any) -> None:
    app = await _enrol_without_requirement(test_app)
    client = test_app.app.test_client()
    await json_login(client)
    code = app.at(now(test_app))
    if code.startswith("0"):
        test_app.clock.advance(30)
        code = app.at(now(test_app))
    response = await post(client, "/tf-validate", {"code": int(code)})
    assert response.status_code in (200, 400)
    if response.status_code == 400:  # a body type this field refuses, said clearly
        assert (await body(response))["response"]["field_errors"]["code"]


@pytest.mark.parametrize(
    "data",
    [{"setup": 1}, {"setup": {"a": 1}}, {"setup": "sms", "phone": 5}, {"setup": "x" * 3000}],
    ids=["int", "object", "phone-int", "long"],
)
async def test_hostile_setup_input_is_a_clear_400(test_app: Any, data: dict[str, Any]) -> None:
    client = test_app.app.test_client()
    await json_login(client)
    response = await post(client, "/tf-setup", data)
    assert response.status_code == 400
    assert (await body(response))["response"]["errors"]
    assert (await enrolled_user(test_app)).tf_primary_method is None


async def test_tf_send_security_token_mails_the_current_code(
    test_app: Any, smtp_sink: SmtpSink
) -> None:
    app = await _enrol_without_requirement(test_app)
    user = await enrolled_user(test_app)
    with captured(signals.tf_security_token_sent) as sent:
        async with test_app.app.app_context():
            if isinstance(test_app.security, FlaskSecurity):  # a plain call, from sync code
                outcome = await asyncio.to_thread(user.tf_send_security_token, "email")
            else:
                outcome = await user.tf_send_security_token("email")
    assert outcome is None
    mails = await smtp_sink.wait_for(1)
    assert app.at(now(test_app)) in mails[0].text
    assert [s["method"] for s in sent] == ["email"]
