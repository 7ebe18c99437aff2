"""Form classes as Flask-Security apps customise them: subclasses with their own
fields and validators, given to Security(...), SECURITY_<NAME>_FORM or
set_form_info, on the Quart and flask_compat apps and every datastore.

The extended registration form is Flask-Security's "customizing" example with
only its imports changed.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, ValidationError

import flask_compat
from quart_security import signals, unique_identity_attribute
from quart_security.errors import ConfigurationError
from quart_security.web.form_info import FORM_BASES, FormInfo
from quart_security.web.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    ChangeUsernameForm,
    ConfirmRegisterForm,
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    RegisterFormV2,
    ResetPasswordForm,
    SendConfirmationForm,
    UsernameRecoveryForm,
    VerifyForm,
)
from tests.support.app_factory import PASSWORD
from tests.support.http import JSON, body, get_csrf, json_login
from tests.support.signals import captured

NEW_PASSWORD = "correct horse battery"


class ExtendedRegisterForm(RegisterFormV2):
    first_name = StringField("First Name", [DataRequired()])
    last_name = StringField("Last Name", [DataRequired()])


class LegacyExtendedRegisterForm(RegisterForm):
    first_name = StringField("First Name", [DataRequired()])


class LpOnlyLoginForm(LoginForm):
    """An extra sync rule on a library field (an inline validator)."""

    def validate_email(self, field: Any) -> None:
        if field.data and not str(field.data).endswith("@lp.com"):
            raise ValidationError("Only lp.com accounts may sign in here")


BLOCKED: set[str] = set()


async def not_blocked(form: Any, field: Any) -> None:
    """An async validator doing (simulated) I/O: it must be awaited, never skipped."""
    await asyncio.sleep(0)
    if str(field.data or "").lower() in BLOCKED:
        raise ValidationError("This account is blocked")


class ClosedRegisterForm(RegisterFormV2):
    """Flask-Security's pattern: an overridden validate() that says no, silently."""

    def validate(self, **kwargs: Any) -> bool:
        if not super().validate(**kwargs):
            return False
        return not str(self.email.data or "").endswith("@closed.example")


class UniqueRegisterForm(RegisterFormV2):
    """An app that chooses to tell a taken address (Flask-Security's validator)."""

    email = EmailField("Email Address", [unique_identity_attribute])


class FlaskUniqueRegisterForm(RegisterFormV2):
    email = EmailField("Email Address", [flask_compat.unique_identity_attribute])


class BlockListLoginForm(LoginForm):
    email = StringField("Email Address", [not_blocked])


async def register_csrf(client: Any) -> str:
    response = await client.get("/register", headers=JSON)
    token: str = (await body(response))["response"]["csrf_token"]
    return token


async def json_register(client: Any, payload: dict[str, Any]) -> Any:
    csrf = await register_csrf(client)
    return await client.post("/register", json=payload, headers={"X-CSRF-Token": csrf})


async def stored_user(test_app: Any, email: str) -> Any:
    async with test_app.app.app_context():
        async with test_app.store.unit_of_work():
            return await test_app.store.find_user(case_insensitive=True, email=email)


# ---------------------------------------------------------------------- registration
@pytest.mark.settings(registerable=True)
@pytest.mark.security_kwargs(register_form=ExtendedRegisterForm)
async def test_extended_register_form_stores_its_fields_on_the_user(
    test_app: Any, client: Any
) -> None:
    with captured(signals.user_registered) as sent:
        response = await json_register(
            client,
            {
                "email": "ext@lp.com",
                "password": NEW_PASSWORD,
                "password_confirm": NEW_PASSWORD,
                "first_name": "Ada",
                "last_name": "Lovelace",
                "active": False,  # not a field of the form: never read
            },
        )
    assert response.status_code == 200, await response.get_data(as_text=True)
    user = await stored_user(test_app, "ext@lp.com")
    assert (user.first_name, user.last_name, user.active) == ("Ada", "Lovelace", True)
    assert sent[0]["form_data"]["first_name"] == "Ada"
    assert "password" not in sent[0]["form_data"]


@pytest.mark.settings(registerable=True)
@pytest.mark.security_kwargs(register_form=ExtendedRegisterForm)
async def test_extended_register_form_refuses_a_missing_field_and_writes_nothing(
    test_app: Any, client: Any
) -> None:
    response = await json_register(
        client,
        {"email": "ext@lp.com", "password": "short", "password_confirm": "short", "last_name": "L"},
    )
    assert response.status_code == 400
    errors = (await body(response))["response"]["field_errors"]
    assert errors["first_name"] == ["This field is required."]
    # The library's own verdict comes in the same answer, as Flask-Security's.
    assert "password" in errors
    assert "last_name" not in errors
    assert await stored_user(test_app, "ext@lp.com") is None


@pytest.mark.settings(registerable=True)
@pytest.mark.security_kwargs(register_form=ExtendedRegisterForm)
async def test_extended_register_page_shows_the_fields_and_their_errors(client: Any) -> None:
    page = await (await client.get("/register")).get_data(as_text=True)
    assert 'name="first_name"' in page and 'name="last_name"' in page
    csrf = await register_csrf(client)
    response = await client.post(
        "/register",
        form={
            "email": "ext@lp.com",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "last_name": "L",
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 400
    text = await response.get_data(as_text=True)
    assert "This field is required." in text
    assert 'value="L"' in text  # what the user typed is kept


@pytest.mark.settings(registerable=True)
@pytest.mark.app_settings(security_register_form=LegacyExtendedRegisterForm)
async def test_a_legacy_register_form_from_config_asks_for_the_retyped_password(
    test_app: Any, client: Any
) -> None:
    payload = {"email": "old@lp.com", "password": NEW_PASSWORD, "first_name": "Grace"}
    response = await json_register(client, payload)
    assert response.status_code == 400
    assert "password_confirm" in (await body(response))["response"]["field_errors"]
    response = await json_register(client, {**payload, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert (await stored_user(test_app, "old@lp.com")).first_name == "Grace"


@pytest.mark.settings(registerable=True, confirmable=True)
@pytest.mark.security_kwargs(confirm_register_form=ConfirmRegisterForm)
async def test_confirm_register_form_has_no_retyped_password(test_app: Any, client: Any) -> None:
    page = await (await client.get("/register")).get_data(as_text=True)
    assert 'name="password_confirm"' not in page
    response = await json_register(client, {"email": "c@lp.com", "password": NEW_PASSWORD})
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert await stored_user(test_app, "c@lp.com") is not None


@pytest.mark.settings(registerable=True)
@pytest.mark.security_kwargs(register_form=ClosedRegisterForm)
async def test_a_validate_that_returns_false_refuses_even_without_a_message(
    test_app: Any, client: Any
) -> None:
    payload = {
        "email": "a@closed.example",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    response = await json_register(client, payload)
    assert response.status_code == 400
    assert (await body(response))["response"]["errors"]
    assert await stored_user(test_app, "a@closed.example") is None
    response = await json_register(client, {**payload, "email": "a@open.example"})
    assert response.status_code == 200


@pytest.mark.settings(registerable=True)
@pytest.mark.security_kwargs(register_form=UniqueRegisterForm)
async def test_unique_identity_attribute_refuses_a_taken_address(
    test_app: Any, client: Any
) -> None:
    payload = {"email": "Matt@LP.com", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    response = await json_register(client, payload)
    assert response.status_code == 400
    (message,) = (await body(response))["response"]["field_errors"]["email"]
    assert "matt@lp.com" in message.lower() and "already" in message
    assert (await json_register(client, {**payload, "email": "free@lp.com"})).status_code == 200


def test_flask_compats_unique_identity_attribute_is_plain(tmp_path: Any) -> None:
    """Flask-Security's sync validator on a Flask app, with its import changed only."""
    from tests.support.flask_app_factory import build_flask_app, dispose

    assert not inspect.iscoroutinefunction(flask_compat.unique_identity_attribute)
    built = build_flask_app(
        "sqlite",
        tmp_path,
        {"registerable": True},
        security_kwargs={"register_form": FlaskUniqueRegisterForm},
    )
    try:
        client = built.app.flask_app.test_client()
        csrf = client.get("/register", headers=JSON).get_json()["response"]["csrf_token"]
        payload = {
            "email": "joe@lp.com",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        }
        taken = client.post("/register", json=payload, headers={"X-CSRF-Token": csrf})
        assert taken.status_code == 400
        assert "email" in taken.get_json()["response"]["field_errors"]
        free = client.post(
            "/register", json={**payload, "email": "x@lp.com"}, headers={"X-CSRF-Token": csrf}
        )
        assert free.status_code == 200, free.get_data(as_text=True)
    finally:
        dispose(built)


# ---------------------------------------------------------------------- login
@pytest.mark.security_kwargs(login_form=LpOnlyLoginForm)
async def test_a_custom_login_form_validator_refuses_before_any_lookup(client: Any) -> None:
    response = await json_login(client, "someone@elsewhere.com")
    assert response.status_code == 400
    data = (await body(response))["response"]
    assert data["field_errors"]["email"] == ["Only lp.com accounts may sign in here"]
    assert "Only lp.com accounts may sign in here" in data["errors"]
    assert (await json_login(client)).status_code == 200


@pytest.mark.security_kwargs(login_form=BlockListLoginForm)
async def test_an_async_validator_is_awaited(client: Any) -> None:
    BLOCKED.add("joe@lp.com")
    try:
        response = await json_login(client, "joe@lp.com")
        assert response.status_code == 400
        errors = (await body(response))["response"]["field_errors"]
        assert errors["email"] == ["This account is blocked"]
        assert (await json_login(client, "matt@lp.com")).status_code == 200
    finally:
        BLOCKED.clear()


@pytest.mark.security_kwargs(login_form=LpOnlyLoginForm)
async def test_a_custom_login_form_error_is_on_the_page(client: Any) -> None:
    csrf = await get_csrf(client)
    response = await client.post(
        "/login", form={"email": "x@elsewhere.com", "password": PASSWORD, "csrf_token": csrf}
    )
    assert response.status_code == 400
    assert "Only lp.com accounts may sign in here" in await response.get_data(as_text=True)


async def test_set_form_info_with_an_instantiator(test_app: Any, client: Any) -> None:
    built: list[str] = []

    def instantiator(name: str, cls: Any, **kwargs: Any) -> Any:
        built.append(name)
        form = cls(**kwargs)
        form.remember.data = False  # e.g. a kiosk: never remembered
        return form

    test_app.security.set_form_info("login_form", FormInfo(instantiator, LoginForm))
    response = await json_login(client, remember=True)
    assert response.status_code == 200
    assert built == ["login_form"]
    assert not any("remember_token" in c for c in response.headers.getlist("Set-Cookie"))


# ---------------------------------------------------------------------- every form, wired
def recording(base: type[Any], name: str, seen: list[str]) -> type[Any]:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        seen.append(name)
        base.__init__(self, *args, **kwargs)

    return type(f"Recording{base.__name__}", (base,), {"__init__": init})


SEEN: list[str] = []
RECORDING = {name: recording(base, name, SEEN) for name, base in FORM_BASES.items()}


@pytest.mark.settings(
    registerable=True,
    confirmable=True,
    recoverable=True,
    changeable=True,
    change_email=True,
    username_enable=True,
    change_username=True,
    username_recovery=True,
    login_without_confirmation=True,
    send_mail_inline=True,
    two_factor=True,
    totp_secrets={"1": "a-test-totp-secret-of-enough-length"},
    totp_issuer="Test",
    multi_factor_recovery_codes=True,
)
@pytest.mark.security_kwargs(**RECORDING)
async def test_every_form_argument_is_the_class_its_view_builds(test_app: Any, client: Any) -> None:
    SEEN.clear()
    assert {n: i.cls for n, i in test_app.security.forms.items()} == RECORDING
    pages = ["/register", "/confirm", "/reset", "/recover-username"]
    with captured(signals.reset_password_instructions_sent) as sent:
        csrf = await get_csrf(client)
        await client.post("/reset", json={"email": "matt@lp.com"}, headers={"X-CSRF-Token": csrf})
    expected = {
        "confirm_register_form",  # CONFIRMABLE: Flask-Security's choice when one is given
        "send_confirmation_form",
        "forgot_password_form",
        "username_recovery_form",
        "reset_password_form",
    }
    for path in pages:
        assert (await client.get(path)).status_code == 200, path
    assert (await client.get(f"/reset/{sent[0]['token']}")).status_code == 200
    assert (await json_login(client)).status_code == 200
    expected |= {"login_form", "verify_form", "change_password_form", "change_email_form"}
    expected |= {"change_username_form"}
    for path in ["/verify", "/change", "/change-email", "/change-username"]:
        assert (await client.get(path)).status_code == 200, path
    # Two-factor: the setup page, the recovery codes page (signed in) ...
    for path in ["/tf-setup", "/mf-recovery-codes"]:
        assert (await client.get(path)).status_code == 200, path
    expected |= {"two_factor_setup_form", "two_factor_verify_code_form", "mf_recovery_codes_form"}
    # ... and, for a user with a method set up, the pages of a pending sign-in.
    async with test_app.app.app_context(), test_app.store.unit_of_work():
        user = await test_app.store.find_user(email="joe@lp.com")
        secret = test_app.security.totp_factory.generate_totp_secret()
        await test_app.store.tf_set(user, "authenticator", totp_secret=secret)
    pending = test_app.app.test_client()
    assert (await json_login(pending, "joe@lp.com")).status_code == 200
    for path in ["/tf-validate", "/tf-rescue", "/mf-recovery"]:
        assert (await pending.get(path)).status_code == 200, path
    expected |= {"two_factor_rescue_form", "mf_recovery_form"}
    assert set(SEEN) == expected | {"forgot_password_form"}
    # register_form: not used while confirmable; two_factor_select_form: built only
    # when a sign-in offers several second factors (none can yet: WebAuthn, #16).
    assert set(FORM_BASES) - set(SEEN) == {"register_form", "two_factor_select_form"}


# ---------------------------------------------------------------------- refusals at start-up
class NotAForm:
    pass


class RolesRegisterForm(RegisterFormV2):
    roles = StringField("Roles")


class ActiveRegisterForm(RegisterFormV2):
    active = BooleanField("Active")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"login_form": NotAForm}, "login_form must be a subclass of"),
        ({"change_password_form": LoginForm}, "change_password_form must be a subclass of"),
        ({"register_form": RolesRegisterForm}, "declares roles"),
        ({"confirm_register_form": ActiveRegisterForm}, "declares active"),
    ],
)
async def test_a_form_the_views_cannot_use_is_refused(
    tmp_path: Any, kwargs: dict[str, Any], message: str
) -> None:
    from quart import Quart

    from quart_security import Security
    from tests.support.app_factory import sql_store

    store, close = await sql_store("sqlite", tmp_path)
    app = Quart(__name__)
    app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="salt")
    try:
        with pytest.raises(ConfigurationError, match=message):
            Security(app, store, **kwargs)
    finally:
        await close()


async def test_set_form_info_refuses_what_it_cannot_use(test_app: Any) -> None:
    security = test_app.security
    with pytest.raises(ConfigurationError, match="not a form of a built feature"):
        security.set_form_info("us_signin_form", FormInfo(cls=LoginForm))
    with pytest.raises(ConfigurationError, match="must be a subclass"):
        security.set_form_info("verify_form", FormInfo(cls=LoginForm))
    with pytest.raises(ConfigurationError, match="takes a FormInfo"):
        security.set_form_info("verify_form", VerifyForm)  # type: ignore[arg-type]


async def test_an_instantiator_returning_another_form_is_an_error(
    test_app: Any, client: Any
) -> None:
    test_app.security.set_form_info(
        "login_form", FormInfo(lambda name, cls, **kw: ForgotPasswordForm(**kw), LoginForm)
    )
    # A programming error of the app: a server error, never a page from the wrong form.
    try:
        response = await client.get("/login")
    except ConfigurationError as exc:  # Flask's test client re-raises under TESTING
        assert "returned ForgotPasswordForm" in str(exc)
        return
    assert response.status_code == 500


def test_the_exported_forms_have_flask_securitys_fields() -> None:
    fields = {
        LoginForm: {"email", "username", "password", "remember", "next", "submit"},
        VerifyForm: {"password", "next", "submit"},
        RegisterFormV2: {"email", "username", "password", "password_confirm", "next", "submit"},
        ForgotPasswordForm: {"email", "submit"},
        ResetPasswordForm: {"password", "password_confirm", "submit"},
        ChangePasswordForm: {"password", "new_password", "new_password_confirm", "submit"},
        ChangeEmailForm: {"email", "submit"},
        ChangeUsernameForm: {"username", "submit"},
        SendConfirmationForm: {"email", "submit"},
        UsernameRecoveryForm: {"email", "submit"},
    }
    for cls, names in fields.items():
        assert {f.name for f in cls()} == names, cls.__name__
