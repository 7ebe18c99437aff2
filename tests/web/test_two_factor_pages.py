"""Two-factor with HTML forms only (no JavaScript): the pages a browser user walks through.

Required two-factor, set up from login with an authenticator (the key read
off the page, the QR image present), then a sign-in with the code page, a
wrong code shown on the page, and the rescue choices rendered.
"""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from tests.support.app_factory import PASSWORD

pytestmark = pytest.mark.settings(
    two_factor=True,
    two_factor_required=True,
    totp_secrets={"1": "a-test-totp-secret-of-enough-length"},
    totp_issuer="Test App",
    multi_factor_recovery_codes=True,
)
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
KEY = re.compile(r'<code class="fs-codes">([A-Z2-7-]+)</code>')


async def page(client: Any, url: str) -> str:
    response = await client.get(url)
    assert response.status_code == 200, url
    return str(await response.get_data(as_text=True))


def csrf_of(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match is not None
    return match.group(1)


async def submit(client: Any, url: str, html: str, **fields: str) -> Any:
    return await client.post(url, form={"csrf_token": csrf_of(html), **fields})


async def test_setup_from_login_and_sign_in_with_the_pages(test_app: Any) -> None:
    client = test_app.app.test_client()
    login = await page(client, "/login")
    answer = await submit(client, "/login", login, email="matt@lp.com", password=PASSWORD)
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/tf-setup")

    setup_page = await page(client, "/tf-setup")
    assert 'value="authenticator"' in setup_page and 'value="disable"' not in setup_page
    chosen = await submit(client, "/tf-setup", setup_page, setup="authenticator")
    assert chosen.status_code == 200
    html = str(await chosen.get_data(as_text=True))
    assert 'src="data:image/svg+xml;base64,' in html  # the QR code, drawn server-side
    key = KEY.search(html)
    assert key is not None
    app = pyotp.TOTP(key.group(1).replace("-", ""))
    assert 'action="/tf-validate' in html
    done = await submit(client, "/tf-validate", html, code=app.at(test_app.clock.time()))
    assert done.status_code == 302
    assert (await client.get("/api/me")).status_code == 200

    test_app.clock.advance(30)
    other = test_app.app.test_client()
    login = await page(other, "/login")
    answer = await submit(other, "/login", login, email="matt@lp.com", password=PASSWORD)
    assert answer.headers["Location"].endswith("/tf-validate")
    code_page = await page(other, "/tf-validate")
    assert 'name="code"' in code_page and 'value="help"' in code_page
    wrong = await submit(other, "/tf-validate", code_page, code="000000")
    assert wrong.status_code == 400
    assert "The code is not valid." in str(await wrong.get_data(as_text=True))
    right = await submit(other, "/tf-validate", code_page, code=app.at(test_app.clock.time()))
    assert right.status_code == 302
    assert (await other.get("/api/me")).status_code == 200


async def test_the_code_page_without_a_sign_in_in_progress_sends_back_to_login(
    test_app: Any,
) -> None:
    response = await test_app.app.test_client().get("/tf-validate")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
