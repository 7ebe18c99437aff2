"""/tf-setup, /tf-setup/<token>, /tf-validate, /tf-rescue, /tf-select: Flask-Security's
two-factor endpoints (TWO_FACTOR), over flows/two_factor.py.

A sign-in waiting for its second factor is the session's pending step of the
``code`` plugin (web/login_session.py: ``fs_pending``), never a login: its
state is ``ready`` (enter the code of the stored method), ``setup_from_login``
(choose a method first) or ``validating_profile`` (enter the code of the
method just chosen). A signed-in user changing their method keeps the new
method in a signed state token (``tf_state_token``, Flask-Security 5.5+) and,
for the older session path, under ``fs_tf_change``. The new secret in either
is the Totp's stored form, encrypted with TOTP_SECRETS: no readable secret
ever sits in the cookie or the token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

from ... import signals
from ...clock import format_duration
from ...errors import SecurityError
from ...flows import two_factor as tf
from ...flows.authentication import may_authenticate
from ...state import request_state
from .. import authn, guards, routes
from ..envelope import error_payload, render_json, want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..forms import make_choices
from ..login_session import (
    Pending,
    complete_login,
    end_pending,
    logout_user,
    pending_step,
    set_validity_cookie,
    started_within,
    update_pending,
)
from ..responses import flash, form_failure, json_ok, render_page, wants_auth_token
from ..urls import get_url, redirect_after, url_for_security

if TYPE_CHECKING:
    from ...extension import Security
    from ..port import WebPort

SETUP_TEMPLATE = "TWO_FACTOR_SETUP_TEMPLATE"
VERIFY_TEMPLATE = "TWO_FACTOR_VERIFY_CODE_TEMPLATE"
SELECT_TEMPLATE = "TWO_FACTOR_SELECT_TEMPLATE"
CHANGE_KEY = "fs_tf_change"
PLUGIN = "code"
#: Where a code, a rescue or a recovery code may finish a sign-in.
READY_STATES = ("ready",)


# ---------------------------------------------------------------------- shared
async def illegal_state(security: Security, port: WebPort) -> Response:
    """Flask-Security's tf_illegal_state: 400 TWO_FACTOR_PERMISSION_DENIED, or a
    flash and a redirect to TWO_FACTOR_ERROR_VIEW."""
    if want_json(security, port):
        msg = security.message("TWO_FACTOR_PERMISSION_DENIED")
        return await render_json(security, port, error_payload(None, {"": [msg]}), 400)
    flash(security, port, "TWO_FACTOR_PERMISSION_DENIED")
    return port.redirect(get_url(security, port, str(security.cv("TWO_FACTOR_ERROR_VIEW"))))


async def pending_user(
    security: Security, port: WebPort, states: tuple[str, ...]
) -> tuple[Pending, Any] | None:
    """The pending sign-in of this session in one of ``states`` and its user,
    who must still pass the account rules under the same fs_uniquifier."""
    pending = pending_step(security, port, PLUGIN)
    if pending is None or pending.state.get("tf_state") not in states:
        end_pending(port)
        return None
    user = await security.store.find_user(fs_uniquifier=pending.uid)
    if user is None or may_authenticate(security.cv, user) is not None:
        end_pending(port)
        return None
    return pending, user


async def posted_form(security: Security, port: WebPort, name: str, **kwargs: Any) -> Any:
    """The ``name`` form, filled from the body on a POST (empty on a GET)."""
    return await build_form(
        security, port, name, from_request=port.request.method == "POST", **kwargs
    )


async def anonymous_pending(
    security: Security, port: WebPort, states: tuple[str, ...]
) -> tuple[Pending, Any] | Response:
    """For the endpoints of a pending sign-in only (rescue, recovery code): not
    signed in, CSRF, and a pending step in ``states``; else the refusal."""
    failure = await guards.require_anonymous(security, port)
    if failure is None:
        failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    found = await pending_user(security, port, states)
    if found is None:
        return await illegal_state(security, port)
    return found


def _setup_values(security: Security, secret: str, user: Any) -> dict[str, str]:
    assert security.totp_factory is not None
    return security.totp_factory.fetch_setup_values(secret, user)


async def too_many_attempts(security: Security, port: WebPort) -> Response:
    """The bound of code attempts is passed: the pending sign-in ends."""
    end_pending(port)
    request_state(port.g).commit_on_error = True  # the count must stay counted
    if want_json(security, port):
        msg = security.message("TWO_FACTOR_TOO_MANY_ATTEMPTS")
        return await render_json(security, port, error_payload(None, {"code": [msg]}), 400)
    flash(security, port, "TWO_FACTOR_TOO_MANY_ATTEMPTS")
    return port.redirect(get_url(security, port, str(security.cv("TWO_FACTOR_ERROR_VIEW"))))


async def finish_login(security: Security, port: WebPort, pending: Pending, user: Any) -> None:
    """The second factor is given: sign in, as the first factor asked (remember)."""
    end_pending(port)
    await complete_login(security, port, user, pending.proof)


def after_login(security: Security, port: WebPort, pending: Pending) -> Response:
    return redirect_after(
        security, port, "POST_LOGIN_VIEW", pending.state.get("next"), port.request.args.get("next")
    )


def rescue_options(security: Security, port: WebPort, has_codes: bool) -> dict[str, str]:
    """Flask-Security's ``recovery_options``: help always; email and recovery codes
    when enabled (codes only when the user has some)."""
    url = url_for_security(security, port, "two_factor_rescue")
    options = {"help": url}
    if security.cv("TWO_FACTOR_RESCUE_EMAIL"):
        options["email"] = url
    if has_codes:
        options["recovery_code"] = url_for_security(security, port, "mf_recovery")
    return options


RESCUE_LABELS = {
    "help": "Contact Administrator",
    "email": "Send code via email",
    "recovery_code": "Use previously downloaded recovery code",
}


async def _has_recovery_codes(security: Security, user: Any) -> bool:
    return bool(
        security.mf_recovery_codes_util is not None
        and await security.store.mf_get_recovery_codes(user)
    )


async def _rescue_form(security: Security, port: WebPort, user: Any, from_request: bool) -> Any:
    form = await build_form(
        security, port, "two_factor_rescue_form", from_request=from_request, user=user
    )
    options = rescue_options(security, port, await _has_recovery_codes(security, user))
    form.offer([(k, RESCUE_LABELS[k]) for k in options])
    return form, options


# ---------------------------------------------------------------------- /tf-setup
async def two_factor_setup(security: Security, port: WebPort) -> Response:
    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    signed_in = await authn.load_request_user(security, port)
    if signed_in is None:
        found = await pending_user(security, port, (tf.SETUP_FROM_LOGIN, tf.VALIDATING_PROFILE))
        if found is None:
            return await illegal_state(security, port)
        _, user = found
    else:
        within, grace = security.cv("FRESHNESS"), security.cv("FRESHNESS_GRACE_PERIOD")
        via = request_state(port.g).authn_via
        if not authn.check_and_update_authn_fresh(security, port, within, grace, via):
            return await guards.reauthentication_required(security, port, within, grace)
        user = signed_in
    changing = signed_in is not None
    ctx = flow_context(security, port)
    required = bool(user.check_tf_required_setup())
    choices = tf.setup_choices(ctx, user, required or not changing)
    form = await posted_form(security, port, "two_factor_setup_form", user=user)
    form.offer(choices)
    code_form = await build_form(
        security, port, "two_factor_verify_code_form", from_request=False, user=user
    )
    page = {
        "two_factor_setup_form": form,
        "two_factor_verify_code_form": code_form,
        "choices": choices,
        "changing": changing,
        "two_factor_required": required,
        "primary_method": tf.primary_method(user),
    }
    if port.request.method == "GET":
        if want_json(security, port):
            current = {
                "tf_required": required,
                "tf_primary_method": tf.primary_method(user),
                "tf_method": tf.primary_method(user),
                "tf_phone_number": getattr(user, "tf_phone_number", None),
                "tf_available_methods": choices,
            }
            return await json_ok(security, port, current)
        return await render_page(
            security, port, SETUP_TEMPLATE, form=form, chosen_method=None, state_token=None, **page
        )

    if not await form.validate_async():
        return await form_failure(security, port, form, SETUP_TEMPLATE, **page)
    try:
        method = tf.chosen_setup(ctx, form.setup.data, choices)
        if method == "disable":
            await tf.disable(ctx, user)
            if want_json(security, port):
                return await json_ok(security, port)
            flash(security, port, "TWO_FACTOR_DISABLED")
            return port.redirect(get_url(security, port, security.cv("TWO_FACTOR_POST_SETUP_VIEW")))
        phone = None
        if method == "sms":
            assert security.phone_util is not None
            phone = security.phone_util.get_canonical_form(form.phone.data or "")
            if phone is None:
                raise SecurityError("PHONE_INVALID", field="phone")
        assert security.totp_factory is not None
        secret = security.totp_factory.generate_totp_secret()
        if method in tf.SENT_METHODS:
            await tf.send_security_token(ctx, user, method, secret, phone)
    except SecurityError as exc:
        return await form_failure(security, port, form, SETUP_TEMPLATE, error=exc, **page)

    state_token = None
    if changing:
        state = {"totp_secret": secret, "method": method, "phone": phone, "uid": user.fs_uniquifier}
        state_token = security.tokens.dumps("tf_setup", state)
        port.session[CHANGE_KEY] = {**state, "at": security.clock.time()}
    else:
        update_pending(
            port, tf_state=tf.VALIDATING_PROFILE, method=method, secret=secret, phone=phone
        )
    payload: dict[str, Any] = {
        "tf_state": tf.VALIDATING_PROFILE,
        "tf_primary_method": method,
        "tf_method": method,
        "tf_state_token": state_token,
    }
    qr: dict[str, Any] = {}
    if method == "authenticator":
        values = _setup_values(security, secret, user)
        payload.update(
            tf_authr_key=values["key"],
            tf_authr_b32key=values["b32key"],
            tf_authr_username=values["username"],
            tf_authr_issuer=values["issuer"],
            tf_authr_uri=values["uri"],
        )
        qr = {
            "authr_qrcode": values["image"],
            "authr_key": values["key"],
            "authr_username": values["username"],
            "authr_issuer": values["issuer"],
        }
    if want_json(security, port):
        return await json_ok(security, port, payload)
    return await render_page(
        security,
        port,
        SETUP_TEMPLATE,
        form=form,
        chosen_method=method,
        state_token=state_token,
        **page,
        **qr,
    )


async def two_factor_setup_validate(security: Security, port: WebPort) -> Response:
    """/tf-setup/<token>: a signed-in user proves the new method with its code."""
    failure = await guards.require_auth(security, port, list(security.cv("API_ENABLED_METHODS")))
    if failure is not None:
        return failure
    user = await authn.load_request_user(security, port)
    form = await build_form(security, port, "two_factor_verify_code_form", user=user)
    within = security.cv("TWO_FACTOR_SETUP_WITHIN")
    try:
        status, state = security.tokens.loads(
            "tf_setup", str(routes.view_arg(port, "token") or ""), within.total_seconds()
        )
    except Exception:
        status, state = "invalid", None
    valid = (
        status == "ok"
        and isinstance(state, dict)
        and state.get("uid") == user.fs_uniquifier
        and tf.canonical_method(state.get("method")) is not None
        and isinstance(state.get("totp_secret"), str)
    )
    if not valid:
        key = "TWO_FACTOR_SETUP_EXPIRED" if status == "expired" else "API_ERROR"
        kwargs = {"within": format_duration(within)} if status == "expired" else {}
        port.session.pop(CHANGE_KEY, None)
        if want_json(security, port):
            msg = security.message(key, **kwargs)
            return await render_json(security, port, error_payload(None, {"": [msg]}), 400)
        flash(security, port, key, **kwargs)
        return port.redirect(url_for_security(security, port, "two_factor_setup"))
    assert isinstance(state, dict)
    method = str(tf.canonical_method(state["method"]))
    return await _validate_change(security, port, form, user, method, state)


async def _validate_change(
    security: Security, port: WebPort, form: Any, user: Any, method: str, state: dict[str, Any]
) -> Response:
    """The code of a signed-in user's new method: right, and it replaces the old one."""
    ctx = flow_context(security, port)
    secret = str(state["totp_secret"])
    check = tf.CodeCheck(False)
    if await form.validate_async():
        await ctx.attempts.before("code", user)
        check = await tf.check_code(ctx, user, form.code.data, method, secret, new_secret=True)
    if not check.accepted:
        if not form.has_errors():
            form.add_error("code", "TWO_FACTOR_INVALID_TOKEN")
        if want_json(security, port):
            return await form_failure(security, port, form, VERIFY_TEMPLATE)
        flash(security, port, "TWO_FACTOR_INVALID_TOKEN")
        return port.redirect(url_for_security(security, port, "two_factor_setup"))
    port.session.pop(CHANGE_KEY, None)
    phone = state.get("phone") if method == "sms" else None
    await tf.store_method(ctx, user, method, secret, phone, check.step)
    await ctx.signal(signals.tf_profile_changed, user=user, method=method)
    if want_json(security, port):
        payload = {
            "tf_method": method,
            "tf_primary_method": method,
            "tf_phone": getattr(user, "tf_phone_number", None),
        }
        return await json_ok(security, port, payload)
    flash(security, port, "TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL")
    return port.redirect(get_url(security, port, security.cv("TWO_FACTOR_POST_SETUP_VIEW")))


# ---------------------------------------------------------------------- /tf-validate
async def two_factor_token_validation(security: Security, port: WebPort) -> Response:
    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    signed_in = await authn.load_request_user(security, port)
    if signed_in is not None:
        return await _validate_signed_in(security, port, signed_in)
    found = await pending_user(security, port, (tf.READY, tf.VALIDATING_PROFILE))
    if found is None:
        return await illegal_state(security, port)
    pending, user = found
    setting_up = pending.state.get("tf_state") == tf.VALIDATING_PROFILE
    if setting_up:
        method = tf.canonical_method(pending.state.get("method"))
        secret = pending.state.get("secret")
    else:
        method, secret = tf.primary_method(user), user.tf_totp_secret
    if method is None or not isinstance(secret, str):
        end_pending(port)
        return await illegal_state(security, port)
    form = await posted_form(security, port, "two_factor_verify_code_form", user=user)
    rescue_form, options = await _rescue_form(security, port, user, from_request=False)
    page = {
        "two_factor_verify_code_form": form,
        "two_factor_rescue_form": rescue_form,
        "chosen_method": method,
        "problem": None,
        "rescue_mail": security.cv("TWO_FACTOR_RESCUE_MAIL"),
    }
    if port.request.method == "GET":
        if want_json(security, port):
            return await json_ok(security, port, {"recovery_options": options})
        return await render_page(security, port, VERIFY_TEMPLATE, form=form, **page)

    ctx = flow_context(security, port)
    if not await form.validate_async():
        return await form_failure(security, port, form, VERIFY_TEMPLATE, **page)
    await ctx.attempts.before("code", user)
    if not await tf.count_attempt(ctx, user):
        return await too_many_attempts(security, port)
    check = await tf.check_code(ctx, user, form.code.data, method, secret, new_secret=setting_up)
    if not check.accepted:
        request_state(port.g).commit_on_error = True  # the attempt stays counted
        form.add_error("code", "TWO_FACTOR_INVALID_TOKEN")
        return await form_failure(security, port, form, VERIFY_TEMPLATE, **page)
    if setting_up:
        phone = pending.state.get("phone") if method == "sms" else None
        await tf.store_method(ctx, user, method, secret, phone, check.step)
    await tf.reset_attempts(ctx, user)
    await ctx.signal(signals.tf_code_confirmed, user=user, method=method)
    await finish_login(security, port, pending, user)
    if pending.remember and not security.cv("TWO_FACTOR_ALWAYS_VALIDATE"):
        set_validity_cookie(security, port, user)
    if want_json(security, port):
        return await json_ok(security, port, user=user, with_token=wants_auth_token(port))
    flash(security, port, "TWO_FACTOR_LOGIN_SUCCESSFUL")
    return after_login(security, port, pending)


async def _validate_signed_in(security: Security, port: WebPort, user: Any) -> Response:
    """/tf-validate for a signed-in user: the session path of a method change."""
    state = port.session.get(CHANGE_KEY)
    usable = (
        isinstance(state, dict)
        and state.get("uid") == user.fs_uniquifier
        and started_within(security, state.get("at"), security.cv("TWO_FACTOR_SETUP_WITHIN"))
        and tf.canonical_method(state.get("method")) is not None
        and isinstance(state.get("totp_secret"), str)
    )
    if not usable:
        port.session.pop(CHANGE_KEY, None)
        await logout_user(security, port)  # as Flask-Security: this looks like an attack
        return await illegal_state(security, port)
    assert isinstance(state, dict)
    method = str(tf.canonical_method(state["method"]))
    form = await posted_form(security, port, "two_factor_verify_code_form", user=user)
    if port.request.method == "GET":
        if want_json(security, port):
            return await json_ok(security, port, user=user)
        return await render_page(
            security,
            port,
            VERIFY_TEMPLATE,
            form=form,
            two_factor_verify_code_form=form,
            two_factor_rescue_form=None,
            chosen_method=method,
            problem=None,
            rescue_mail=security.cv("TWO_FACTOR_RESCUE_MAIL"),
        )
    return await _validate_change(security, port, form, user, method, state)


# ---------------------------------------------------------------------- /tf-rescue
async def two_factor_rescue(security: Security, port: WebPort) -> Response:
    found = await anonymous_pending(security, port, READY_STATES)
    if isinstance(found, Response):
        return found
    _, user = found
    is_post = port.request.method == "POST"
    form, options = await _rescue_form(security, port, user, from_request=is_post)
    code_form = await build_form(
        security, port, "two_factor_verify_code_form", from_request=False, user=user
    )
    page: dict[str, Any] = {
        "two_factor_verify_code_form": code_form,
        "two_factor_rescue_form": form,
        "chosen_method": tf.primary_method(user),
        "rescue_mail": security.cv("TWO_FACTOR_RESCUE_MAIL"),
        "problem": "",
    }
    if is_post:
        if not await form.validate_async():
            return await form_failure(security, port, form, VERIFY_TEMPLATE, **page)
        action = form.help_setup.data
        ctx = flow_context(security, port)
        if action == "recovery_code":
            return port.redirect(url_for_security(security, port, "mf_recovery"))
        try:
            if action == "email":
                await tf.send_security_token(
                    ctx, user, "email", user.tf_totp_secret, getattr(user, "tf_phone_number", None)
                )
            else:  # "help": the app's administrator is told
                ctx.mail(
                    "TWO_FACTOR_RESCUE_EMAIL_TEMPLATE",
                    "EMAIL_SUBJECT_TWO_FACTOR_RESCUE",
                    str(security.cv("TWO_FACTOR_RESCUE_MAIL")),
                    user=user,
                    username=user.calc_username(),
                )
        except SecurityError as exc:
            return await form_failure(security, port, form, VERIFY_TEMPLATE, error=exc, **page)
        page["problem"] = action
    if want_json(security, port):
        return await json_ok(security, port, {"recovery_options": options})
    return await render_page(security, port, VERIFY_TEMPLATE, form=form, **page)


# ---------------------------------------------------------------------- /tf-select
async def tf_select(security: Security, port: WebPort) -> Response:
    """Choose among several set-up second factors (TWO_FACTOR_SELECT_URL).

    Only the code plugin exists yet, and it sets up one method per user, so
    no sign-in asks for a choice; the endpoint answers as Flask-Security's
    does without one in progress.
    """
    failure = await guards.require_unauth_csrf(security, port)
    if failure is not None:
        return failure
    found = await pending_user(security, port, ("select",))
    if found is None:
        return await illegal_state(security, port)
    _, user = found
    methods = [
        m for plugin in security.second_factor_plugins for m in _plugin_methods(plugin, user)
    ]
    form = await build_form(
        security, port, "two_factor_select_form", from_request=port.request.method == "POST"
    )
    form.which.choices = make_choices((m, m) for m in methods)
    if want_json(security, port):
        return await json_ok(security, port, {"tf_select": True, "tf_setup_methods": methods})
    return await render_page(
        security, port, SELECT_TEMPLATE, form=form, two_factor_select_form=form
    )


def _plugin_methods(plugin: Any, user: Any) -> list[str]:
    methods = getattr(plugin, "setup_methods", None)
    return list(methods(user)) if callable(methods) else []
