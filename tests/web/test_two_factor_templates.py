"""The two-factor and recovery-code pages and mails, rendered by the Security
app's Jinja environment without their views (the views are being written;
their end-to-end tests come with them).

The forms here have the fields Flask-Security's forms have; the endpoints
are registered under the security blueprint's names with Flask-Security's
default URLs only when the app does not have them, so ``url_for_security``
in the templates is the real one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import pytest
import quart
from wtforms import RadioField, SelectChoice, StringField, SubmitField, TelField

from quart_security import send_mail
from quart_security.outbox import MailIntent
from quart_security.web.forms import Form
from quart_security.web.quart_adapter import QuartPort
from tests.support.app_factory import BuiltApp, create_test_app
from tests.support.mail import SmtpSink

ROUTES = {
    "two_factor_setup": "/tf-setup",
    "two_factor_setup_validate": "/tf-setup/<token>",
    "two_factor_token_validation": "/tf-validate",
    "two_factor_rescue": "/tf-rescue",
    "tf_select": "/tf-select",
    "mf_recovery_codes": "/mf-recovery-codes",
    "mf_recovery": "/mf-recovery",
}
QR = (
    "data:image/svg+xml;base64,"
    + base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode()
)
HOSTILE = "<script>alert(1)</script>"


class SetupForm(Form):
    setup = RadioField(
        "Two-factor method",
        choices=[
            SelectChoice("disable", "Disable"),
            SelectChoice("email", "Email"),
            SelectChoice("authenticator", "Authenticator app"),
            SelectChoice("sms", "SMS"),
        ],
    )
    phone = TelField("Phone Number")
    submit = SubmitField("Submit")


class CodeForm(Form):
    code = StringField("Authentication Code")
    submit = SubmitField("Submit Code")


class RescueForm(Form):
    help_setup = RadioField(
        "Trouble accessing your account?",
        choices=[
            SelectChoice("help", "Contact the administrator"),
            SelectChoice("email", "Send the code by email"),
            SelectChoice("recovery_code", "Use a recovery code"),
        ],
    )
    submit = SubmitField("Submit")


class SelectForm(Form):
    which = RadioField(
        "Method", choices=[SelectChoice("webauthn", "Passkey"), SelectChoice("code", "Code")]
    )
    submit = SubmitField("Select")


class RecoveryCodesForm(Form):
    show_codes = SubmitField("Show Recovery Codes")
    generate_new_codes = SubmitField("Generate New Recovery Codes")


class RecoveryForm(Form):
    code = StringField("Recovery Code")
    submit = SubmitField("Submit")


class Page(HTMLParser):
    """The forms of a page (name -> action, method, input names and radio
    values) and the text and image sources it shows."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, Any]] = {}
        self.images: list[dict[str, str | None]] = []
        self._form: dict[str, Any] | None = None
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action"), "method": a.get("method"), "inputs": {}}
            self.forms[str(a.get("name"))] = self._form
        elif tag in ("input", "button") and self._form is not None and a.get("name"):
            self._form["inputs"].setdefault(a["name"], []).append(a)
        elif tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(" ".join(data.split()))

    def values(self, form: str, name: str) -> list[str | None]:
        return [i.get("value") for i in self.forms[form]["inputs"].get(name, [])]

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


@pytest.fixture
async def built(tmp_path: Any) -> AsyncIterator[BuiltApp]:
    app = await create_test_app("sqlite", tmp_path)

    async def not_built_yet() -> str:  # pragma: no cover - never requested
        return ""

    for endpoint, rule in ROUTES.items():
        name = f"{app.security.cv('BLUEPRINT_NAME')}.{endpoint}"
        if name not in app.app.view_functions:
            app.app.add_url_rule(rule, name, not_built_yet, methods=["GET", "POST"])
    try:
        yield app
    finally:
        app.security.hashing_pool.shutdown()
        await app.close()


async def render(built: BuiltApp, template: str, path: str = "/", **context: Any) -> str:
    """The page as the views render it: the names render_page adds, then ``context``."""
    async with built.app.test_request_context(path):
        names = {"csrf_token": "the-csrf-token", "field_errors": {}, "form_errors": [], **context}
        html = await quart.render_template(f"security/{template}", **names)
    assert "None" not in html
    assert "the-csrf-token" in html
    return html


def setup_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "two_factor_setup_form": SetupForm(),
        "two_factor_verify_code_form": CodeForm(),
        "choices": ["email", "authenticator", "sms"],
        "chosen_method": None,
        "primary_method": None,  # guarded: the view passes a translated "None" text
        "changing": False,
        "state_token": None,
        "two_factor_required": False,
    }
    context.update(overrides)
    return context


# ---------------------------------------------------------------------- tf-setup


async def test_setup_offers_the_choices_in_their_order_and_no_code_form_yet(
    built: BuiltApp,
) -> None:
    html = await render(
        built, "two_factor_setup.html", **setup_context(choices=["disable", "sms", "email"])
    )
    page = Page(html)
    setup = page.forms["two_factor_setup_form"]
    assert (setup["action"], setup["method"]) == ("/tf-setup", "post")
    # Only the offered methods, in the order of ``choices`` (not the form's).
    assert page.values("two_factor_setup_form", "setup") == ["disable", "sms", "email"]
    assert setup["inputs"]["phone"][0]["type"] == "tel"
    assert "Phone number (for SMS)" in page.all_text
    assert page.values("two_factor_setup_form", "csrf_token") == ["the-csrf-token"]
    assert "two_factor_verify_code_form" not in page.forms
    assert page.images == []
    assert "none" in page.all_text  # the current method when there is none


async def test_setup_without_sms_has_no_phone_field(built: BuiltApp) -> None:
    page = Page(await render(built, "two_factor_setup.html", **setup_context(choices=["email"])))
    assert "phone" not in page.forms["two_factor_setup_form"]["inputs"]
    assert page.values("two_factor_setup_form", "setup") == ["email"]


async def test_setup_authenticator_shows_the_qr_code_key_and_account(built: BuiltApp) -> None:
    context = setup_context(
        chosen_method="authenticator",
        primary_method="Email",
        authr_qrcode=QR,
        authr_key="ABCD EFGH IJKL MNOP",
        authr_username="joe@lp.com",
        authr_issuer="Example & Co",
    )
    html = await render(built, "two_factor_setup.html", **context)
    page = Page(html)
    (image,) = page.images
    assert image["src"] == QR
    assert image["alt"]
    assert "ABCD EFGH IJKL MNOP" in page.all_text
    assert "joe@lp.com" in page.all_text
    assert "Example &amp; Co" in html
    assert "Email" in page.all_text  # the current method
    code = page.forms["two_factor_verify_code_form"]
    assert (code["action"], code["method"]) == ("/tf-validate", "post")
    (field,) = code["inputs"]["code"]
    assert field["autocomplete"] == "one-time-code"
    assert page.values("two_factor_verify_code_form", "csrf_token") == ["the-csrf-token"]


async def test_setup_email_shows_the_code_form_without_a_qr_code(built: BuiltApp) -> None:
    context = setup_context(chosen_method="email", authr_qrcode=QR, authr_key="SECRETKEY")
    page = Page(await render(built, "two_factor_setup.html", **context))
    assert page.images == []
    assert "SECRETKEY" not in page.all_text
    assert page.forms["two_factor_verify_code_form"]["action"] == "/tf-validate"


async def test_setup_with_a_state_token_validates_on_its_own_url(built: BuiltApp) -> None:
    context = setup_context(chosen_method="sms", changing=True, state_token="st.ate/to+ken")
    page = Page(await render(built, "two_factor_setup.html", **context))
    assert page.forms["two_factor_verify_code_form"]["action"] == "/tf-setup/st.ate/to+ken"


async def test_setup_disable_needs_no_code(built: BuiltApp) -> None:
    context = setup_context(choices=["disable", "email"], chosen_method="disable")
    page = Page(await render(built, "two_factor_setup.html", **context))
    assert "two_factor_verify_code_form" not in page.forms


async def test_setup_says_when_two_factor_is_required(built: BuiltApp) -> None:
    required = Page(
        await render(built, "two_factor_setup.html", **setup_context(two_factor_required=True))
    )
    optional = Page(await render(built, "two_factor_setup.html", **setup_context()))
    assert "requires a second factor" in required.all_text
    assert "requires a second factor" not in optional.all_text


async def test_setup_shows_field_errors_and_escapes_values(built: BuiltApp) -> None:
    context = setup_context(
        chosen_method="authenticator",
        authr_qrcode=QR,
        authr_key=HOSTILE,
        authr_username=HOSTILE,
        authr_issuer="x",
        primary_method=HOSTILE,
        field_errors={"phone": ["Bad phone"], "code": ["Bad code"], "setup": ["Pick one"]},
        form_errors=["Whole form"],
    )
    html = await render(built, "two_factor_setup.html", **context)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for message in ("Bad phone", "Bad code", "Pick one", "Whole form"):
        assert html.count(message) == 1, message


# ---------------------------------------------------------------------- tf-validate / tf-rescue


def verify_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "two_factor_verify_code_form": CodeForm(),
        "two_factor_rescue_form": RescueForm(),
        "chosen_method": "Email",
        "problem": "",
        "rescue_mail": "admin@app.example",
    }
    context.update(overrides)
    return context


async def test_verify_code_posts_the_code_and_offers_rescue(built: BuiltApp) -> None:
    page = Page(await render(built, "two_factor_verify_code.html", **verify_context()))
    code = page.forms["two_factor_verify_code_form"]
    assert (code["action"], code["method"]) == ("/tf-validate", "post")
    assert "code" in code["inputs"]
    rescue = page.forms["two_factor_rescue_form"]
    assert (rescue["action"], rescue["method"]) == ("/tf-rescue", "post")
    assert page.values("two_factor_rescue_form", "help_setup") == [
        "help",
        "email",
        "recovery_code",
    ]
    assert page.values("two_factor_rescue_form", "csrf_token") == ["the-csrf-token"]
    assert "Email" in page.all_text
    assert "mailed" not in page.all_text and "administrator (" not in page.all_text


async def test_verify_code_without_a_rescue_form(built: BuiltApp) -> None:
    context = verify_context(two_factor_rescue_form=None, chosen_method=None)
    page = Page(await render(built, "two_factor_verify_code.html", **context))
    assert set(page.forms) == {"two_factor_verify_code_form"}


@pytest.mark.parametrize(
    ("problem", "says"),
    [
        ("email", "We have mailed a code to your email address."),
        ("help", "We have asked the administrator (admin@app.example) to help you."),
    ],
)
async def test_verify_code_says_what_the_rescue_did(
    built: BuiltApp, problem: str, says: str
) -> None:
    page = Page(
        await render(built, "two_factor_verify_code.html", **verify_context(problem=problem))
    )
    assert says in page.all_text


async def test_verify_code_keeps_next_and_escapes(built: BuiltApp) -> None:
    html = await render(
        built,
        "two_factor_verify_code.html",
        path="/tf-validate?next=/inbox%3Fa%3D1%26b%3D%22x%22",
        **verify_context(chosen_method=HOSTILE),
    )
    page = Page(html)
    assert page.forms["two_factor_verify_code_form"]["action"] == (
        "/tf-validate?next=/inbox%3Fa%3D1%26b%3D%22x%22"
    )
    assert page.forms["two_factor_rescue_form"]["action"].startswith("/tf-rescue?next=")
    assert "<script>" not in html


# ---------------------------------------------------------------------- tf-select


async def test_select_posts_the_chosen_method(built: BuiltApp) -> None:
    page = Page(await render(built, "two_factor_select.html", two_factor_select_form=SelectForm()))
    select = page.forms["two_factor_select_form"]
    assert (select["action"], select["method"]) == ("/tf-select", "post")
    assert page.values("two_factor_select_form", "which") == ["webauthn", "code"]
    assert page.values("two_factor_select_form", "csrf_token") == ["the-csrf-token"]


# ---------------------------------------------------------------------- recovery codes


async def test_recovery_codes_listed_with_the_warning(built: BuiltApp) -> None:
    codes = ["1111-aaaa-2222", "3333-bbbb-4444", HOSTILE]
    html = await render(
        built,
        "mf_recovery_codes.html",
        mf_recovery_codes_form=RecoveryCodesForm(),
        recovery_codes=codes,
        codes_hidden=True,
    )
    page = Page(html)
    for code in codes[:2]:
        assert code in page.all_text
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "Store these codes now" in page.all_text
    assert "will not be shown again" in page.all_text
    generate = page.forms["mf_recovery_codes_form"]
    assert (generate["action"], generate["method"]) == ("/mf-recovery-codes", "post")
    assert page.values("mf_recovery_codes_form", "generate_new_codes") == ["1"]
    assert page.values("mf_recovery_codes_form", "csrf_token") == ["the-csrf-token"]
    assert "mf_recovery_codes_show_form" not in page.forms


async def test_recovery_codes_can_be_asked_for_when_stored_in_clear(built: BuiltApp) -> None:
    page = Page(
        await render(
            built,
            "mf_recovery_codes.html",
            mf_recovery_codes_form=RecoveryCodesForm(),
            recovery_codes=[],
            codes_hidden=False,
        )
    )
    show = page.forms["mf_recovery_codes_show_form"]
    assert (show["action"], show["method"]) == ("/mf-recovery-codes", "get")
    assert page.values("mf_recovery_codes_show_form", "show_codes") == ["1"]
    assert "csrf_token" not in show["inputs"]  # a GET never carries the token in its URL
    assert "cannot be shown again" not in page.all_text
    assert "Store these codes now" not in page.all_text


async def test_hashed_recovery_codes_cannot_be_shown_again(built: BuiltApp) -> None:
    page = Page(
        await render(
            built,
            "mf_recovery_codes.html",
            mf_recovery_codes_form=RecoveryCodesForm(),
            recovery_codes=[],
            codes_hidden=True,
        )
    )
    assert "cannot be shown again" in page.all_text
    assert "mf_recovery_codes_show_form" not in page.forms
    assert page.forms["mf_recovery_codes_form"]["method"] == "post"


async def test_recovery_code_sign_in(built: BuiltApp) -> None:
    page = Page(
        await render(
            built,
            "mf_recovery.html",
            mf_recovery_form=RecoveryForm(),
            field_errors={"code": ["Invalid recovery code"]},
        )
    )
    form = page.forms["mf_recovery_form"]
    assert (form["action"], form["method"]) == ("/mf-recovery", "post")
    assert form["inputs"]["code"][0]["autocomplete"] == "off"
    assert "Invalid recovery code" in page.all_text


# ---------------------------------------------------------------------- translations


async def test_pages_follow_the_locale(built: BuiltApp) -> None:
    built.security.locale_selector(lambda: "fr")
    html = await render(built, "two_factor_setup.html", **setup_context(chosen_method="sms"))
    assert "Authentification à deux facteurs" in html
    assert "Two-factor authentication" not in html
    assert re.search(r"Numéro de téléphone \(pour les SMS\)", html)


# ---------------------------------------------------------------------- mails


async def _mail(built: BuiltApp, template: str, **context: Any) -> tuple[str, str]:
    async with built.app.test_request_context("/"):
        message = await built.security.mailer.render(
            MailIntent(template, "Two-Factor Login", "joe@lp.com", context),
            QuartPort().render_template,
        )
    assert message.text is not None and message.html is not None
    return message.text, message.html


async def test_two_factor_code_mail(built: BuiltApp) -> None:
    async with built.app.app_context():
        user = await built.store.find_user(email="joe@lp.com")
    text, html = await _mail(
        built,
        "two_factor_instructions",
        user=user,
        token="123456",
        username=HOSTILE,
        within="5 minutes",
    )
    for part in (text, html):
        assert "123456" in part
        assert "valid for 5 minutes" in part
        assert "did not try to sign in" in part
    assert HOSTILE in text  # the plain part is plain
    assert "&lt;script&gt;" in html and "<script>" not in html


async def test_two_factor_code_mail_without_username(built: BuiltApp) -> None:
    text, html = await _mail(built, "two_factor_instructions", token="654321", within="2 minutes")
    assert text.startswith("Hello,")
    assert "654321" in html and "None" not in text + html


async def test_rescue_mail_names_the_user(built: BuiltApp) -> None:
    async with built.app.app_context():
        user = await built.store.find_user(email="joe@lp.com")
    text, html = await _mail(built, "two_factor_rescue", user=user, username="joe")
    for part in (text, html):
        assert "joe@lp.com" in part and "(username joe)" in part
        assert "cannot use their second factor" in part


async def test_rescue_mail_without_a_username(built: BuiltApp) -> None:
    class NoUsername:
        email = "x<y>@lp.com"

    text, html = await _mail(built, "two_factor_rescue", user=NoUsername())
    assert "username" not in text and "None" not in text + html
    assert "x&lt;y&gt;@lp.com" in html


async def test_code_mail_is_delivered_in_both_parts(tmp_path: Any, smtp_sink: SmtpSink) -> None:
    """Through the real mailer and SMTP: the two parts arrive with the code."""
    built = await create_test_app("sqlite", tmp_path, app_settings=smtp_sink.app_settings())
    try:

        @built.app.route("/send-code", methods=["POST"])
        async def send_code() -> Any:
            await send_mail(
                "Two-Factor Login",
                "joe@lp.com",
                "two_factor_instructions",
                token="908172",
                username="joe",
                within="5 minutes",
            )
            return quart.jsonify(ok=True)

        response = await built.app.test_client().post("/send-code")
        assert response.status_code == 200
        (mail,) = await smtp_sink.wait_for(1)
        assert "908172" in mail.text and "908172" in mail.html
        assert "5 minutes" in mail.text and "5 minutes" in mail.html
    finally:
        await built.security.mailer.drain()
        built.security.hashing_pool.shutdown()
        await built.close()
