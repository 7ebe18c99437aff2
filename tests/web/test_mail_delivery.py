"""Mail is delivered off the request path, on both frameworks (issue #11, item 8).

When only real accounts get mail, an answer that waits for SMTP tells anyone
with a stopwatch which addresses have accounts. The SMTP sink here holds every
delivery until the test releases it, so "the answer did not wait for SMTP" is
shown without timing anything: the answers for a real and for an unknown
account both come while the server still holds the real account's mail.
Also: a full queue drops (log line, ``mail_send_failed``) and the request
still succeeds; shutdown delivers what was queued, in order, within its bound;
a refused delivery is logged without the address and signalled, and never
reaches the answer; SEND_MAIL_INLINE still delivers before the answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from quart_security import signals
from tests.support.http import JSON, get_csrf
from tests.support.mail import ReceivedMail, SmtpSink, until
from tests.support.signals import captured

REAL, UNKNOWN = "matt@lp.com", "nobody@lp.com"
ROOT = Path(__file__).resolve().parents[2]

#: The endpoints that mail an address only when it has an account, with the
#: settings that turn each on.
MAILING_ENDPOINTS = [
    pytest.param("/reset", marks=pytest.mark.settings(recoverable=True), id="reset"),
    pytest.param("/confirm", marks=pytest.mark.settings(confirmable=True), id="confirm"),
    pytest.param(
        "/recover-username",
        marks=pytest.mark.settings(username_recovery=True),
        id="recover-username",
    ),
]


# ---------------------------------------------------------------------- helpers
@pytest.fixture
async def sink(test_app: Any, smtp_sink: SmtpSink) -> AsyncIterator[SmtpSink]:
    """The app's SMTP sink; released and drained before it stops, whatever the test did."""
    yield smtp_sink
    smtp_sink.release()
    await test_app.security.mailer.drain()


def is_flask(test_app: Any) -> bool:
    return hasattr(test_app.app, "flask_app")


async def ask(client: Any, endpoint: str, email: str) -> Any:
    csrf = await get_csrf(client)
    return await client.post(
        endpoint, json={"email": email}, headers={**JSON, "X-CSRF-Token": csrf}
    )


def ours(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    """The library's log records at ``level`` or above."""
    return [r for r in caplog.records if r.name.startswith("quart_security") and r.levelno >= level]


def recipients(mails: list[ReceivedMail]) -> list[str]:
    return [address for mail in mails for address in mail.envelope_to]


@asynccontextmanager
async def serving(test_app: Any) -> AsyncIterator[Any]:
    """A client of the app while it serves; leaving it shuts the app down as a server does.

    Quart: the app's lifespan (after_serving drains the queue). flask_compat has
    no shutdown hook; its queue drains at interpreter exit, through the same
    ``drain_mail`` a Flask app (or gunicorn's worker_exit hook) may call.
    """
    if is_flask(test_app):
        yield test_app.app.test_client()
        await asyncio.to_thread(test_app.security.drain_mail)
    else:
        async with test_app.app.test_app() as served:
            yield served.test_client()


# ---------------------------------------------------------------------- answers never wait
@pytest.mark.parametrize("endpoint", MAILING_ENDPOINTS)
async def test_answers_do_not_wait_for_smtp(test_app: Any, sink: SmtpSink, endpoint: str) -> None:
    sink.hold()
    client = test_app.app.test_client()
    real = await ask(client, endpoint, REAL)
    unknown = await ask(client, endpoint, UNKNOWN)
    assert real.status_code == unknown.status_code == 200
    # Both answers came while the SMTP server still held the real account's mail.
    assert sink.holding
    await sink.wait_held(1)
    assert sink.messages == []
    sink.release()
    await sink.wait_for(1)
    await test_app.security.mailer.drain()
    assert recipients(sink.messages) == [REAL]


@pytest.mark.settings(recoverable=True, send_mail_inline=True)
async def test_send_mail_inline_delivers_before_the_answer(test_app: Any, sink: SmtpSink) -> None:
    # The opt-in: delivery inside the request, after the commit (and the timing
    # difference with it, as documented).
    response = await ask(test_app.app.test_client(), "/reset", REAL)
    assert response.status_code == 200
    assert recipients(sink.messages) == [REAL]


# ---------------------------------------------------------------------- a bounded queue
@pytest.mark.settings(recoverable=True, mail_queue_size=1)
async def test_a_full_queue_drops_the_mail_and_the_request_succeeds(
    test_app: Any, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.hold()
    client = test_app.app.test_client()
    assert (await ask(client, "/reset", "matt@lp.com")).status_code == 200
    await sink.wait_held(1)  # matt's mail is out of the queue, held by the server
    assert (await ask(client, "/reset", "joe@lp.com")).status_code == 200  # waits: 1 of 1
    with caplog.at_level(logging.INFO), captured(signals.mail_send_failed) as failures:
        dropped = await ask(client, "/reset", "dave@lp.com")
    assert dropped.status_code == 200
    assert sink.holding  # the full queue neither blocked the request nor delivered inline
    assert len(failures) == 1
    assert failures[0]["message"]["To"] == "dave@lp.com"
    from quart_security.mail_queue import MailQueueFull

    assert isinstance(failures[0]["error"], MailQueueFull)
    errors = ours(caplog, logging.ERROR)
    assert len(errors) == 1 and "dropped" in errors[0].getMessage()
    assert "dave@lp.com" not in errors[0].getMessage()
    sink.release()
    await sink.wait_for(2)
    await test_app.security.mailer.drain()
    assert recipients(sink.messages) == ["matt@lp.com", "joe@lp.com"]


# ---------------------------------------------------------------------- shutdown
@pytest.mark.settings(recoverable=True)
async def test_shutdown_delivers_what_was_queued_in_order(test_app: Any, sink: SmtpSink) -> None:
    sink.hold()
    async with serving(test_app) as client:
        for email in ("matt@lp.com", "joe@lp.com", "dave@lp.com"):
            assert (await ask(client, "/reset", email)).status_code == 200
        await sink.wait_held(1)
        sink.release()
    # Shutdown returned: everything queued is delivered, one at a time, in order.
    assert recipients(sink.messages) == ["matt@lp.com", "joe@lp.com", "dave@lp.com"]


@pytest.mark.settings(recoverable=True)
async def test_shutdown_gives_up_on_a_stuck_server_within_its_bound(
    test_app: Any, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    queue = test_app.security.mailer.queue
    queue.shutdown_timeout = 0.2
    sink.hold()
    with caplog.at_level(logging.ERROR):
        if is_flask(test_app):
            assert (await ask(test_app.app.test_client(), "/reset", REAL)).status_code == 200
            await sink.wait_held(1)
            assert not await asyncio.to_thread(test_app.security.drain_mail, 0.2)
            await asyncio.to_thread(queue.shutdown_at_exit)
        else:
            async with serving(test_app) as client:  # leaving it runs after_serving
                assert (await ask(client, "/reset", REAL)).status_code == 200
                await sink.wait_held(1)
    assert sink.holding  # shutdown ended while the server still held the mail
    errors = ours(caplog, logging.ERROR)
    assert any("not delivered" in r.getMessage() for r in errors)
    assert all(REAL not in r.getMessage() for r in errors)


# ---------------------------------------------------------------------- failures
@pytest.mark.settings(recoverable=True)
async def test_a_refused_delivery_is_logged_and_signalled_never_answered(
    test_app: Any, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.refuse(REAL)
    client = test_app.app.test_client()
    with caplog.at_level(logging.DEBUG), captured(signals.mail_send_failed) as failures:
        real = await ask(client, "/reset", REAL)
        unknown = await ask(client, "/reset", UNKNOWN)
        await until(lambda: len(failures) == 1, 5.0, "one failed delivery")
        await test_app.security.mailer.drain()
    assert real.status_code == unknown.status_code == 200
    assert (await real.get_json())["response"].keys() == (await unknown.get_json())[
        "response"
    ].keys()
    assert failures[0]["message"]["To"] == REAL
    assert "550" in str(failures[0]["error"])
    warnings = ours(caplog, logging.WARNING)
    # The address is personal data, and a list of failed deliveries is a list
    # of accounts: it is logged at DEBUG only, never above (SMTP errors echo it).
    assert all(REAL not in r.getMessage() for r in warnings)
    assert any("reset_instructions" in r.getMessage() for r in warnings)
    debug = [r for r in ours(caplog, logging.DEBUG) if r.levelno == logging.DEBUG]
    assert any(REAL in r.getMessage() for r in debug)
    assert sink.messages == []


# ---------------------------------------------------------------------- flask_compat's exit
EXIT_SCRIPT = """
import sys
from tests.support.flask_app_factory import build_flask_app
from tests.support.http import JSON

built = build_flask_app(
    "sqlite",
    sys.argv[1],
    {"recoverable": True},
    # "localhost" needs a DNS lookup, which must still work at interpreter exit.
    {"MAIL_SERVER": "localhost", "MAIL_PORT": int(sys.argv[2]),
     "SECURITY_EXTERNAL_BASE_URL": "https://app.example"},
)
client = built.app.flask_app.test_client()
csrf = client.get("/login", headers=JSON).get_json()["response"]["csrf_token"]
answer = client.post("/reset", json={"email": "matt@lp.com"}, headers={"X-CSRF-Token": csrf})
print(answer.status_code, flush=True)
"""


async def test_flask_compat_delivers_queued_mail_at_interpreter_exit(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    smtp_sink.hold()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(EXIT_SCRIPT),
        str(tmp_path),
        str(smtp_sink.port),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.strip() == b"200"
    # The script is done and the interpreter exiting, the mail still held.
    await smtp_sink.wait_held(1)
    assert smtp_sink.holding
    smtp_sink.release()
    assert await asyncio.wait_for(process.wait(), 60) == 0
    assert recipients(smtp_sink.messages) == ["matt@lp.com"]
