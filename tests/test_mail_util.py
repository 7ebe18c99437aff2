"""MailUtil: Flask-Security's hook for sending and validating mail, over a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import dns.resolver
import pytest
from jinja2 import ChoiceLoader, DictLoader
from quart import Quart, jsonify

from quart_security import Security, send_mail, signals
from quart_security.errors import ConfigurationError
from quart_security.mail_util import EmailValidateException, MailUtil
from tests.support.app_factory import FAST_ARGON2, sql_store
from tests.support.mail import SmtpSink

TEMPLATES = {
    "security/email/note.txt": "Hello {{ name }}.",
    "security/email/note.html": "<p>Hello {{ name }}.</p>",
}

Build = Callable[..., Awaitable[tuple[Quart, Security]]]


@pytest.fixture
async def build(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Build]:
    """``await build(mail_util_cls=..., **config)``: a Quart app mailing the SMTP sink."""
    made: list[tuple[Security, Callable[[], Awaitable[None]]]] = []

    async def factory(**options: Any) -> tuple[Quart, Security]:
        directory = tmp_path / f"db{len(made)}"
        directory.mkdir()
        store, close = await sql_store("sqlite", directory)
        app = Quart(__name__)
        app.config.update(
            SECRET_KEY="test-secret-key-0123456789abcdef",
            SECURITY_PASSWORD_SALT="test-salt",
            SECURITY_PASSWORD_HASH_OPTIONS=FAST_ARGON2,
            SECURITY_PASSWORD_HASH_POOL_SIZE=1,
            SECURITY_SEND_MAIL_INLINE=True,
            MAIL_DEFAULT_SENDER=("Accounts", "accounts@app.example"),
            **smtp_sink.app_settings(),
        )
        kwargs = {k: v for k, v in options.items() if k == "mail_util_cls"}
        app.config.update({k: v for k, v in options.items() if k != "mail_util_cls"})
        security = Security(app, store, **kwargs)
        made.append((security, close))
        app.jinja_env.loader = ChoiceLoader([DictLoader(TEMPLATES), app.jinja_env.loader])  # type: ignore[list-item]

        @app.route("/notify", methods=["POST"])
        async def notify() -> Any:
            await send_mail("A note", "joe@lp.com", "note", name="<Joe>", user="the-user")
            return jsonify(ok=True)

        return app, security

    yield factory
    for security, close in made:
        await security.mailer.drain()
        security.hashing_pool.shutdown()
        await close()


# ---------------------------------------------------------------------- sending


async def test_default_mail_util_sends_over_smtp(build: Build, smtp_sink: SmtpSink) -> None:
    app, security = await build()
    assert type(security.mail_util) is MailUtil
    assert security.mail_util_cls is MailUtil
    async with app.app_context():
        await security.mail_util.send_mail(
            "note",
            "Hi there",
            "Joe <joe@lp.com>",
            ("Accounts", "accounts@app.example"),
            "plain body",
            "<p>html body</p>",
            name="x",
        )
    (mail,) = await smtp_sink.wait_for(1)
    assert mail.envelope_to == ["joe@lp.com"]
    assert mail.message["Subject"] == "Hi there"
    assert mail.message["From"] == "Accounts <accounts@app.example>"
    assert mail.text.strip() == "plain body"
    assert mail.html.strip() == "<p>html body</p>"


async def test_library_mail_without_an_override_goes_straight_to_smtp(
    build: Build, smtp_sink: SmtpSink
) -> None:
    app, _ = await build()
    response = await app.test_client().post("/notify")
    assert response.status_code == 200
    (mail,) = await smtp_sink.wait_for(1)
    assert mail.message["Subject"] == "A note"
    assert mail.message["Message-ID"]
    assert "Hello &lt;Joe&gt;." in mail.html


@pytest.mark.parametrize(
    ("subject", "recipient", "sender"),
    [
        ("Hi\r\nBcc: victim@evil.example", "joe@lp.com", "a@app.example"),
        ("Hi", "joe@lp.com\nBcc: victim@evil.example", "a@app.example"),
        ("Hi", "joe@lp.com", ("Name\r\nBcc: victim@evil.example", "a@app.example")),
    ],
)
async def test_send_mail_refuses_header_injection(
    build: Build, smtp_sink: SmtpSink, subject: str, recipient: str, sender: Any
) -> None:
    _, security = await build()
    with pytest.raises(ValueError, match="line breaks"):
        await security.mail_util.send_mail("note", subject, recipient, sender, "body", None)
    await asyncio.sleep(0.05)
    assert smtp_sink.messages == []


class RecordingMailUtil(MailUtil):
    """An app's override: sees every library mail, then delivers it its own way."""

    calls: list[dict[str, Any]] = []

    async def send_mail(
        self,
        template: str,
        subject: str,
        recipient: str | tuple[str, str],
        sender: str | tuple[str, str],
        body: str | None,
        html: str | None,
        **kwargs: Any,
    ) -> None:
        self.calls.append(
            {
                "template": template,
                "subject": subject,
                "recipient": recipient,
                "sender": sender,
                "body": body,
                "html": html,
                **kwargs,
            }
        )
        await super().send_mail(template, f"[app] {subject}", recipient, sender, body, html)


async def test_override_receives_every_library_mail_after_the_commit(
    build: Build, smtp_sink: SmtpSink
) -> None:
    RecordingMailUtil.calls = []
    app, security = await build(mail_util_cls=RecordingMailUtil)
    assert isinstance(security.mail_util, RecordingMailUtil)
    response = await app.test_client().post("/notify")
    assert response.status_code == 200
    (mail,) = await smtp_sink.wait_for(1)
    assert mail.message["Subject"] == "[app] A note"
    (call,) = RecordingMailUtil.calls
    assert call["template"] == "note"
    assert call["subject"] == "A note"
    assert call["recipient"] == "joe@lp.com"
    assert call["sender"] == ("Accounts", "accounts@app.example")
    assert call["body"] == "Hello <Joe>."
    assert call["html"] == "<p>Hello &lt;Joe&gt;.</p>"
    # The context it was rendered with, as in Flask-Security.
    assert call["name"] == "<Joe>" and call["user"] == "the-user"
    assert call["security"] is security


async def test_a_sync_override_in_flask_security_style_works(
    build: Build, smtp_sink: SmtpSink
) -> None:
    sent: list[tuple[str, str]] = []

    class SyncMailUtil(MailUtil):
        def __init__(self, app: Any) -> None:  # no super().__init__(), as many apps do
            self.app_name = app.name

        def send_mail(  # type: ignore[override]
            self,
            template: str,
            subject: str,
            recipient: str,
            sender: Any,
            body: str | None,
            html: str | None,
            **kwargs: Any,
        ) -> None:
            sent.append((template, recipient))

    app, security = await build(mail_util_cls=SyncMailUtil)
    assert security.mail_util.app_name == app.name  # type: ignore[attr-defined]
    assert security.mail_util.security is security  # set by Security, without super()
    response = await app.test_client().post("/notify")
    assert response.status_code == 200
    assert sent == [("note", "joe@lp.com")]
    await asyncio.sleep(0.05)
    assert smtp_sink.messages == []  # the app took over delivery


async def test_a_failing_override_is_signalled_not_raised(build: Build) -> None:
    class BrokenMailUtil(MailUtil):
        async def send_mail(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("provider down")

    app, _ = await build(mail_util_cls=BrokenMailUtil)
    failures: list[BaseException] = []

    async def on_failure(sender: Any, message: Any, error: BaseException, **_: Any) -> None:
        failures.append(error)

    signals.mail_send_failed.connect(on_failure)
    try:
        response = await app.test_client().post("/notify")
    finally:
        signals.mail_send_failed.disconnect(on_failure)
    assert response.status_code == 200
    assert [str(e) for e in failures] == ["provider down"]


async def test_mail_util_can_be_built_with_the_security_object(build: Build) -> None:
    _, security = await build()
    util = MailUtil(security)
    assert util.security is security and util.app is security.app


@pytest.mark.parametrize("bad", [object(), "myapp.MailUtil", type("NoSend", (), {})])
async def test_bad_mail_util_cls_fails_at_init(tmp_path: Path, bad: Any) -> None:
    store, close = await sql_store("sqlite", tmp_path)
    app = Quart(__name__)
    app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="s")
    try:
        with pytest.raises(ConfigurationError, match="mail_util_cls"):
            Security(app, store, mail_util_cls=bad)
    finally:
        await close()


# ---------------------------------------------------------------------- addresses


async def test_normalize_and_validate_give_the_canonical_address(build: Build) -> None:
    app, security = await build()
    util = security.mail_util
    async with app.app_context():
        assert util.normalize("Joe@LP.COM") == "Joe@lp.com"
        assert util.validate("joe@LP.com") == "joe@lp.com"
        assert util.normalize("joe@bücher.example") == "joe@bücher.example"
        for bad in ("", "joe", "joe@", "@lp.com", "joe@lp..com", "a" * 400 + "@lp.com", None, 3):
            with pytest.raises(EmailValidateException) as caught:
                util.validate(bad)  # type: ignore[arg-type]
            assert caught.value.msg == "This email address is not valid."
            with pytest.raises(EmailValidateException):
                util.normalize(bad)  # type: ignore[arg-type]


async def test_the_exception_message_is_translated(build: Build) -> None:
    _, security = await build()
    security.locale_selector(lambda: "fr")
    with pytest.raises(EmailValidateException, match="Cette adresse e-mail n'est pas valide"):
        security.mail_util.validate("nope")


class RecordingResolver:
    """A DNS resolver that answers NXDOMAIN and records that it was asked."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, str]] = []

    def resolve(self, qname: str, rdtype: str, *args: Any, **kwargs: Any) -> Any:
        self.queries.append((str(qname), rdtype))
        raise dns.resolver.NXDOMAIN()  # type: ignore[no-untyped-call]


async def test_validator_args_apply_and_normalize_never_queries_dns(build: Build) -> None:
    resolver = RecordingResolver()
    app, security = await build(
        SECURITY_EMAIL_VALIDATOR_ARGS={
            "check_deliverability": True,
            "dns_resolver": resolver,
            "allow_smtputf8": False,
        }
    )
    util = security.mail_util
    async with app.app_context():
        assert util.normalize("joe@lp.com") == "joe@lp.com"
        assert resolver.queries == []  # identities are never checked for deliverability
        with pytest.raises(EmailValidateException):
            util.validate("joe@lp.com")  # the app asked for deliverability: NXDOMAIN
        assert resolver.queries and resolver.queries[0][0].rstrip(".") == "lp.com"
        with pytest.raises(EmailValidateException):
            util.normalize("jöe@lp.com")  # allow_smtputf8=False applies to both


async def test_validate_without_args_does_not_query_dns(build: Build) -> None:
    """Unlike Flask-Security's default, no blocking DNS on the event loop unless asked."""
    app, security = await build()
    async with app.app_context():
        assert security.mail_util.validate("joe@surely-not-a-real-domain-4f8c1.com") == (
            "joe@surely-not-a-real-domain-4f8c1.com"
        )


# ---------------------------------------------------------------------- flask_compat


def test_flask_app_with_a_flask_security_style_override(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """A sync Flask app: the override is called in Flask's thread, the default sends SMTP."""
    from flask import Flask

    import flask_compat
    from tests.support.flask_app_factory import Role, User, WebAuthn, db

    sent: list[tuple[str, str, str | None]] = []

    class SyncMailUtil(MailUtil):
        def send_mail(  # type: ignore[override]
            self,
            template: str,
            subject: str,
            recipient: str,
            sender: Any,
            body: str | None,
            html: str | None,
            **kwargs: Any,
        ) -> None:
            sent.append((template, subject, body))

    def flask_app(name: str, **kwargs: Any) -> tuple[Flask, flask_compat.Security]:
        app = Flask(__name__)
        app.config.update(
            SECRET_KEY="test-secret-key-0123456789abcdef",
            SECURITY_PASSWORD_SALT="test-salt",
            SECURITY_PASSWORD_HASH_POOL_SIZE=1,
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/{name}.db",
            **smtp_sink.app_settings(),
        )
        db.init_app(app)
        datastore: Any = flask_compat.SQLAlchemyUserDatastore(db, User, Role, WebAuthn)
        security = flask_compat.Security(app, datastore, **kwargs)
        app.jinja_env.loader = ChoiceLoader([DictLoader(TEMPLATES), app.jinja_env.loader])  # type: ignore[list-item]
        return app, security

    app, security = flask_app("override", mail_util_cls=SyncMailUtil)
    try:
        with app.app_context():
            flask_compat.send_mail("A note", "joe@lp.com", "note", name="Joe")
        assert sent == [("note", "A note", "Hello Joe.")]
        assert smtp_sink.messages == []
    finally:
        security.hashing_pool.shutdown()
        with app.app_context():
            db.engine.dispose()

    app, security = flask_app("default")
    try:
        with app.app_context():
            flask_compat.send_mail("A note", "joe@lp.com", "note", name="Joe")
        (mail,) = smtp_sink.messages
        assert mail.message["Subject"] == "A note" and mail.text.strip() == "Hello Joe."
    finally:
        security.hashing_pool.shutdown()
        with app.app_context():
            db.engine.dispose()
