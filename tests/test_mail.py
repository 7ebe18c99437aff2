"""The mailer: an intent rendered when the request succeeded, delivered after the commit,
to a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from jinja2 import ChoiceLoader, DictLoader
from quart import jsonify

from quart_security import send_mail, signals, url_for_security
from quart_security.errors import ConfigurationError
from quart_security.outbox import MailIntent
from quart_security.web.flow_context import PortLinks
from quart_security.web.quart_adapter import QuartPort
from tests.support.app_factory import BuiltApp, create_test_app
from tests.support.mail import SmtpSink, free_port

TEMPLATES = {
    "security/email/note.txt": "Hello {{ name }}. Go to {{ link }}",
    "security/email/note.html": "<p>Hello {{ name }}. <a href='{{ link }}'>go</a></p>",
}


@pytest.fixture
async def mail_app(tmp_path: Any, smtp_sink: SmtpSink) -> AsyncIterator[BuiltApp]:
    built = await create_test_app("sqlite", tmp_path, app_settings=smtp_sink.app_settings())
    app = built.app
    app.jinja_env.loader = ChoiceLoader([DictLoader(TEMPLATES), app.jinja_env.loader])  # type: ignore[list-item]

    @app.route("/notify", methods=["POST"])
    async def notify() -> Any:
        link = PortLinks(built.security, QuartPort()).external_url("login")
        await send_mail("A note", "joe@lp.com", "note", name="<Joe>", link=link)
        return jsonify(ok=True)

    @app.route("/notify-then-fail", methods=["POST"])
    async def notify_then_fail() -> Any:
        await send_mail("Never sent", "joe@lp.com", "note", name="x", link="y")
        return jsonify(ok=False), 400

    try:
        yield built
    finally:
        await built.security.mailer.drain()
        built.security.hashing_pool.shutdown()
        await built.close()


async def test_mail_is_sent_after_a_successful_response(
    mail_app: BuiltApp, smtp_sink: SmtpSink
) -> None:
    response = await mail_app.app.test_client().post(
        "/notify", headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    )
    assert response.status_code == 200
    (mail,) = await smtp_sink.wait_for(1)
    assert mail.envelope_to == ["joe@lp.com"]
    assert mail.message["Subject"] == "A note"
    assert mail.message["From"] == "no-reply@localhost"
    # Links come from configuration, never from the request's Host header.
    assert "https://app.example/login" in mail.text
    assert "evil.example" not in mail.text + mail.html
    # HTML is autoescaped; the text part is plain.
    assert "&lt;Joe&gt;" in mail.html
    assert "<Joe>" in mail.text


async def test_no_mail_when_the_request_fails(mail_app: BuiltApp, smtp_sink: SmtpSink) -> None:
    response = await mail_app.app.test_client().post("/notify-then-fail")
    assert response.status_code == 400
    await mail_app.security.mailer.drain()
    assert smtp_sink.messages == []


async def test_smtp_failure_is_signalled_not_raised(
    mail_app: BuiltApp, smtp_sink: SmtpSink
) -> None:
    mail_app.app.config["MAIL_PORT"] = free_port()  # nothing listens there
    failures: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        failures.append(kwargs)

    signals.mail_send_failed.connect(receiver)
    try:
        response = await mail_app.app.test_client().post("/notify")
        assert response.status_code == 200
        await mail_app.security.mailer.drain()
    finally:
        signals.mail_send_failed.disconnect(receiver)
    assert len(failures) == 1
    assert failures[0]["message"]["Subject"] == "A note"


async def test_send_inline_setting(mail_app: BuiltApp, smtp_sink: SmtpSink) -> None:
    mail_app.app.config["SECURITY_SEND_MAIL_INLINE"] = True
    await mail_app.app.test_client().post("/notify")
    assert len(smtp_sink.messages) == 1  # delivered before the response returned


async def test_header_injection_in_subject_is_refused(mail_app: BuiltApp) -> None:
    async with mail_app.app.test_request_context("/"):
        with pytest.raises(ValueError, match="line breaks"):
            intent = MailIntent("note", "hi\r\nBcc: x@evil.example", "joe@lp.com")
            await mail_app.security.mailer.render(intent, QuartPort().render_template)


async def test_links_need_a_configured_base(mail_app: BuiltApp) -> None:
    mail_app.app.config["SECURITY_EXTERNAL_BASE_URL"] = None
    async with mail_app.app.test_request_context("/", headers={"Host": "evil.example"}):
        links = PortLinks(mail_app.security, QuartPort())
        with pytest.raises(ConfigurationError, match="Host header"):
            links.external_url("login")
        mail_app.app.config["SERVER_NAME"] = "good.example"
        assert links.external_url("login").startswith("http://good.example/")
        assert url_for_security("login") == "/login"
