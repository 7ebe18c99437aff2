"""Context processors and the render_template hook, as Flask-Security apps use them.

The hook receives exactly the context a template would, so recording it shows
what each page and mail gets, on Quart and on the flask_compat app.
"""

from __future__ import annotations

from typing import Any

import pytest

from quart_security.extension import CONTEXT_PROCESSOR_GROUPS, Security
from quart_security.web.templates import PAGE_GROUPS
from tests.support.http import JSON, get_csrf, json_login
from tests.support.mail import SmtpSink

RENDERED: list[tuple[str, dict[str, Any]]] = []


def recording_render(template: str, **context: Any) -> str:
    RENDERED.append((template, context))
    return f"<p>rendered {template}</p>"


def contexts(template_suffix: str) -> list[dict[str, Any]]:
    return [c for t, c in RENDERED if t.endswith(template_suffix)]


pytestmark = [
    pytest.mark.settings(registerable=True, recoverable=True, send_mail_inline=True),
    pytest.mark.security_kwargs(render_template=recording_render),
]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    RENDERED.clear()


async def test_global_and_page_processors_reach_their_page_only(test_app: Any, client: Any) -> None:
    security = test_app.security
    security.context_processor(lambda: {"site_name": "Example"})
    security.login_context_processor(lambda: {"page": "login"})

    async def register_names() -> dict[str, Any]:  # async processors are awaited
        return {"page": "register"}

    security.register_context_processor(register_names)
    login = await client.get("/login")
    assert login.status_code == 200
    assert await login.get_data(as_text=True) == "<p>rendered security/login_user.html</p>"
    await client.get("/register")
    (login_ctx,) = contexts("login_user.html")
    (register_ctx,) = contexts("register_user.html")
    assert (login_ctx["site_name"], login_ctx["page"]) == ("Example", "login")
    assert (register_ctx["site_name"], register_ctx["page"]) == ("Example", "register")
    # The library's own names are there too, and a processor cannot replace them.
    assert register_ctx["register_user_form"] is register_ctx["form"]
    assert register_ctx["csrf_token"]


async def test_a_processor_cannot_override_the_librarys_names(test_app: Any, client: Any) -> None:
    test_app.security.context_processor(lambda: {"csrf_token": "forged", "form": None})
    await client.get("/login")
    (ctx,) = contexts("login_user.html")
    assert ctx["csrf_token"] != "forged"
    assert ctx["form"] is not None


async def test_mail_processors_reach_the_mails(
    test_app: Any, client: Any, smtp_sink: SmtpSink
) -> None:
    test_app.security.mail_context_processor(lambda: {"brand": "Acme"})
    test_app.security.login_context_processor(lambda: {"page": "login"})
    csrf = await get_csrf(client)
    response = await client.post(
        "/reset", json={"email": "matt@lp.com"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    mails = contexts("reset_instructions.txt")
    assert mails and mails[0]["brand"] == "Acme"
    assert "page" not in mails[0]  # a page's processors are not the mail's
    assert mails[0]["reset_link"].startswith("https://app.example/reset/")
    (mail,) = await smtp_sink.wait_for(1)
    assert "rendered security/email/reset_instructions.txt" in mail.text


async def test_every_page_of_the_library_runs_its_processors(test_app: Any, client: Any) -> None:
    for group in PAGE_GROUPS.values():
        registrar = getattr(test_app.security, f"{group}_context_processor")
        registrar(lambda group=group: {"group": group})
    for path, template in (("/login", "login_user.html"), ("/register", "register_user.html")):
        await client.get(path)
        assert contexts(template)[0]["group"] == PAGE_GROUPS[_key(template)]
    assert (await json_login(client)).status_code == 200
    await client.get("/verify")
    assert contexts("verify.html")[0]["group"] == "verify"


def _key(template: str) -> str:
    return {
        "login_user.html": "LOGIN_USER_TEMPLATE",
        "register_user.html": "REGISTER_USER_TEMPLATE",
    }[template]


def test_every_registrar_exists_and_no_other() -> None:
    registrars = {
        name.removesuffix("_context_processor")
        for name in dir(Security)
        if name.endswith("_context_processor") and not name.startswith("_")
    }
    assert registrars == set(CONTEXT_PROCESSOR_GROUPS)
    assert set(PAGE_GROUPS.values()) <= registrars
    # Flask-Security's names for the two-factor and recovery-code pages (#14).
    two_factor = {
        "tf_setup",
        "tf_token_validation",
        "tf_select",
        "mf_recovery_codes",
        "mf_recovery",
    }
    assert two_factor <= registrars


async def test_a_processor_that_returns_no_mapping_is_an_error(test_app: Any, client: Any) -> None:
    test_app.security.login_context_processor(lambda: ["not", "a", "dict"])
    try:
        response = await client.get("/login", headers={"Accept": "text/html"})
    except TypeError as exc:  # Flask's test client re-raises under TESTING
        assert "returned list" in str(exc)
        return
    assert response.status_code == 500


async def test_json_answers_do_not_render(test_app: Any, client: Any) -> None:
    test_app.security.login_context_processor(lambda: {"page": "login"})
    assert (await client.get("/login", headers=JSON)).status_code == 200
    assert RENDERED == []
