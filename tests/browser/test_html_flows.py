"""The account pages end to end in headless Chromium, as a person uses them (issue #19).

A real hypercorn server (subprocess, SQLite) mails a real SMTP sink; Chromium,
driven by Playwright, fills the forms, presses the buttons and opens the links
that arrive by mail: register (one mismatched retype first), confirm, sign in,
a protected page, change password, sign out, forgotten password, reset, and
sign in with the new password (the old one now refused). Each page is kept as
a full-page screenshot in build/screenshots/<step>.png, for CI to keep.

Chromium is Debian's /usr/bin/chromium (QS_TEST_CHROMIUM moves it), installed
by ``scripts/services.sh install-system``. Without it these tests fail, never
skip: CI must not pass without them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.mail import ReceivedMail, SmtpSink, free_port

pytestmark = [pytest.mark.browser, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("QS_TEST_CHROMIUM", "/usr/bin/chromium")
#: --no-sandbox: as root (CI) Chromium refuses to start with its sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
#: Bound on every browser wait (a page load, an element appearing): a liveness bound.
WAIT_MS = 5000
EMAIL = "ada@example.com"
SIGN_IN_FAILED = "Sign-in failed: the identity or the password/code is not valid."
FIRST, SECOND, THIRD = "first pass phrase 1", "second pass phrase 2", "third pass phrase 3"


@pytest.fixture
def server(smtp_sink: SmtpSink, tmp_path: Path) -> Iterator[str]:
    """tests/support/browser_app.py under hypercorn on a free port; its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "QS_BROWSER_DB": str(tmp_path / "browser.db"),
        "QS_BROWSER_SMTP_PORT": str(smtp_sink.port),
        "QS_BROWSER_BASE_URL": url,
    }
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}",
               "tests.support.browser_app:app"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "server exited:\n" + log.read_text()
            assert time.monotonic() < deadline, "server did not start:\n" + log.read_text()
            time.sleep(0.05)
        yield url
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium (no Playwright browser download: Debian's binary)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need it. Install it with"
            " `bash scripts/services.sh install-system` (Debian's chromium package), or set"
            " QS_TEST_CHROMIUM to a Chromium binary.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=20000,
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        yield tab
    finally:
        context.close()


def shot(page: Page, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{step}.png"), full_page=True)


def mail_link(sink: SmtpSink, base_url: str, path: str) -> str:
    """The one ``base_url + path...`` link in the newest mail that has one (bounded wait)."""
    pattern = re.compile(re.escape(base_url + path) + r"[^\s<>\"']+")
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        mails: list[ReceivedMail] = list(sink.messages)
        for mail in reversed(mails):
            links: set[str] = set(pattern.findall(mail.text))
            if links:
                assert mail.envelope_to == [EMAIL]
                assert len(links) == 1, links
                return links.pop()
        assert time.monotonic() < deadline, f"no mail with a {path} link: {mails}"
        time.sleep(0.02)


def sign_in(page: Page, password: str) -> None:
    page.get_by_label("Email Address").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_register_confirm_sign_in_change_and_reset(
    server: str, smtp_sink: SmtpSink, page: Page
) -> None:
    expect.set_options(timeout=WAIT_MS)
    page.goto(server + "/")
    expect(page.locator("#who")).to_have_text("Not signed in")
    shot(page, "01-home")

    # Register: a mismatched retype is refused on the field, nothing is mailed.
    page.get_by_role("link", name="Register").click()
    expect(page.get_by_role("heading")).to_have_text("Create an account")
    page.get_by_label("Email Address").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(FIRST)
    page.get_by_label("Retype Password").fill(FIRST + "x")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#password_confirm + .fs-error")).to_have_text(
        "The two passwords are not the same."
    )
    shot(page, "02-register-mismatch")
    assert smtp_sink.messages == []

    page.get_by_label("Password", exact=True).fill(FIRST)
    page.get_by_label("Retype Password").fill(FIRST)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status")).to_contain_text(f"A confirmation link was sent to {EMAIL}")
    shot(page, "03-registered")

    # Not confirmed yet: signing in is refused (with the generic failure, which
    # tells nobody whether the address has an account).
    page.goto(server + "/login")
    sign_in(page, FIRST)
    expect(page.get_by_role("alert")).to_contain_text(SIGN_IN_FAILED)
    shot(page, "04-login-unconfirmed")

    # The mailed link, opened in the browser, confirms the address.
    page.goto(mail_link(smtp_sink, server, "/confirm/"))
    expect(page.get_by_role("status")).to_contain_text("Your email address is now confirmed.")
    shot(page, "05-confirmed")

    page.goto(server + "/login")
    sign_in(page, FIRST)
    expect(page.locator("#who")).to_have_text(f"Signed in as {EMAIL}")
    shot(page, "06-signed-in")
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_role("heading")).to_have_text("Profile")
    expect(page.locator("#who")).to_have_text(f"Signed in as {EMAIL}")
    shot(page, "07-profile")

    # Change password: a wrong current password first, then the right one.
    page.get_by_role("link", name="Change password").click()
    expect(page.get_by_role("heading")).to_have_text("Change your password")
    page.get_by_label("Password", exact=True).fill("not my password")
    page.get_by_label("New Password", exact=True).fill(SECOND)
    page.get_by_label("Retype Password").fill(SECOND)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("The password is not correct.")
    shot(page, "08-change-password-wrong")
    page.get_by_label("Password", exact=True).fill(FIRST)
    page.get_by_label("New Password", exact=True).fill(SECOND)
    page.get_by_label("Retype Password").fill(SECOND)
    page.get_by_role("button", name="Change password").click()
    # Still signed in (under a new session), told so as Flask-Security does.
    expect(page.get_by_role("heading")).to_have_text("Home")
    expect(page.get_by_role("status")).to_contain_text("Your password was changed.")
    expect(page.locator("#who")).to_have_text(f"Signed in as {EMAIL}")
    shot(page, "09-password-changed")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#who")).to_have_text("Not signed in")
    shot(page, "10-signed-out")

    # Forgotten password: the mailed link leads to the reset form.
    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("link", name="Forgotten your password?").click()
    page.get_by_label("Email Address").fill(EMAIL)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text(
        "password reset instructions are on their way"
    )
    shot(page, "11-reset-requested")

    page.goto(mail_link(smtp_sink, server, "/reset/"))
    expect(page.get_by_role("heading")).to_have_text("Choose a new password")
    shot(page, "12-reset-form")
    page.get_by_label("Password", exact=True).fill(THIRD)
    page.get_by_label("Retype Password").fill(THIRD)
    page.get_by_role("button", name="Save the new password").click()
    # On to the sign-in page (AUTO_LOGIN_AFTER_RESET is off), with
    # Flask-Security's PASSWORD_RESET_NO_LOGIN.
    expect(page).to_have_url(server + "/login")
    expect(page.get_by_role("heading")).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_contain_text("Your password was reset")
    shot(page, "13-password-reset")

    # The old password no longer works; the new one does.
    page.goto(server + "/login")
    sign_in(page, SECOND)
    expect(page.get_by_role("alert")).to_contain_text(SIGN_IN_FAILED)
    shot(page, "14-login-old-password")
    sign_in(page, THIRD)
    expect(page.locator("#who")).to_have_text(f"Signed in as {EMAIL}")
    shot(page, "15-signed-in-new-password")


def test_two_factor_setup_recovery_codes_and_sign_in_with_a_code(
    server: str, smtp_sink: SmtpSink, page: Page
) -> None:
    """Set up an authenticator from its page (the key read off it, a code from pyotp),
    keep the recovery codes, then sign in: a wrong code, then a recovery code."""
    import pyotp

    expect.set_options(timeout=WAIT_MS)
    page.goto(server + "/register")
    page.get_by_label("Email Address").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(FIRST)
    page.get_by_label("Retype Password").fill(FIRST)
    page.get_by_role("button", name="Register").click()
    page.goto(mail_link(smtp_sink, server, "/confirm/"))
    page.goto(server + "/login")
    sign_in(page, FIRST)
    expect(page.locator("#who")).to_have_text(f"Signed in as {EMAIL}")

    page.goto(server + "/tf-setup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor authentication")
    page.get_by_label("Set up using an authenticator app", exact=False).check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("img.fs-qrcode")).to_be_visible()
    shot(page, "21-tf-setup-authenticator")
    key = page.locator("code.fs-codes").inner_text().replace("-", "").strip()
    app = pyotp.TOTP(key)
    page.get_by_label("Authentication Code").fill(app.now())
    page.get_by_role("button", name="Verify the code").click()
    expect(page.get_by_role("status")).to_contain_text("two-factor", ignore_case=True)
    shot(page, "22-tf-setup-done")

    page.goto(server + "/mf-recovery-codes")
    page.get_by_role("button", name="Generate new codes").click()
    codes = [c.strip() for c in page.locator("ul.fs-codes li").all_inner_texts()]
    assert len(codes) == 5
    shot(page, "23-recovery-codes")

    page.goto(server + "/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#who")).to_have_text("Not signed in")
    page.goto(server + "/login")
    sign_in(page, FIRST)
    expect(page).to_have_url(re.compile(r"/tf-validate"))
    expect(page.locator("#who")).to_have_count(0)
    page.get_by_label("Authentication Code").fill("000000")
    page.get_by_role("button", name="Verify the code").click()
    expect(page.locator("#code + .fs-error")).to_have_text("The code is not valid.")
    shot(page, "24-tf-wrong-code")

    page.get_by_label("Use previously downloaded recovery code").check()
    page.get_by_role("button", name="Get help").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Use a recovery code")
    page.get_by_label("Recovery Code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text(f"Signed in as {EMAIL}")
    shot(page, "25-tf-recovered")
