"""One unit of work per request, ended in one place: mail is rendered when the view
succeeded, the commit follows, and only then is mail delivered; a commit that fails
is an error answer and sends nothing."""

from __future__ import annotations

from typing import Any

import pytest

from quart_security import signals
from tests.support.http import JSON, body, json_login
from tests.support.mail import SmtpSink


def _stage_a_clashing_role(test_app: Any) -> Any:
    """A receiver that stages a row the database refuses at the commit (a duplicate role)."""

    def receiver(sender: Any, **kwargs: Any) -> None:
        store = test_app.store
        store.session.add(store.role_model(name="admin"))  # unique: refused at the flush

    return receiver


async def test_a_commit_that_fails_is_an_error_answer(test_app: Any) -> None:
    if not test_app.store.transactional:
        pytest.skip("MongoDB writes at once: there is no commit to fail")
    receiver = _stage_a_clashing_role(test_app)
    signals.user_authenticated.connect(receiver)
    try:
        response = await json_login(test_app.app.test_client())
    finally:
        signals.user_authenticated.disconnect(receiver)
    assert response.status_code == 500
    data = await body(response)
    assert data["meta"]["code"] == 500
    assert data["response"]["errors"] == [test_app.app.config["SECURITY_MSG_SERVER_ERROR"][0]]


@pytest.mark.settings(recoverable=True)
async def test_no_mail_when_the_commit_fails(test_app: Any, smtp_sink: SmtpSink) -> None:
    if not test_app.store.transactional:
        pytest.skip("MongoDB writes at once: there is no commit to fail")
    receiver = _stage_a_clashing_role(test_app)
    signals.reset_password_instructions_sent.connect(receiver)
    try:
        client = test_app.app.test_client()
        page = await client.get("/reset", headers=JSON)
        csrf = (await body(page))["response"]["csrf_token"]
        response = await client.post(
            "/reset", json={"email": "matt@lp.com"}, headers={"X-CSRF-Token": csrf}
        )
    finally:
        signals.reset_password_instructions_sent.disconnect(receiver)
    assert response.status_code == 500
    await test_app.security.mailer.drain()
    assert smtp_sink.messages == []
    # The next request works: the failed unit of work was rolled back.
    assert (await json_login(test_app.app.test_client())).status_code == 200
