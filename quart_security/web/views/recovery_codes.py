"""/mf-recovery-codes and /mf-recovery: Flask-Security's multi-factor recovery codes.

Codes are made and stored by the app's MfRecoveryCodesUtil (encrypted with
MULTI_FACTOR_RECOVERY_CODES_KEYS, else hashed: then they can be shown only
once, right after they are generated). A code is used up atomically: the
sign-in completes only for the one request whose consume succeeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.sansio.response import Response

from ...flows import two_factor as tf
from ...flows.context import _call_util
from ...state import request_state
from .. import authn, guards
from ..envelope import want_json
from ..flow_context import flow_context
from ..form_info import build_form
from ..responses import form_failure, json_ok, render_page
from .two_factor import (
    READY_STATES,
    after_login,
    anonymous_pending,
    finish_login,
    too_many_attempts,
)

if TYPE_CHECKING:
    from ...extension import Security
    from ...recovery_codes import MfRecoveryCodesUtil
    from ..port import WebPort

CODES_TEMPLATE = "MULTI_FACTOR_RECOVERY_CODES_TEMPLATE"
RECOVERY_TEMPLATE = "MULTI_FACTOR_RECOVERY_TEMPLATE"


def _util(security: Security) -> MfRecoveryCodesUtil:
    util = security.mf_recovery_codes_util
    assert util is not None  # the routes exist only with the feature
    return util


async def mf_recovery_codes(security: Security, port: WebPort) -> Response:
    within, grace = security.cv("FRESHNESS"), security.cv("FRESHNESS_GRACE_PERIOD")
    methods = list(security.cv("API_ENABLED_METHODS"))
    failure = await guards.require_auth(security, port, methods, within=within, grace=grace)
    if failure is not None:
        return failure
    user = await authn.load_request_user(security, port)
    util = _util(security)
    form = await build_form(security, port, "mf_recovery_codes_form", from_request=False)
    hidden = util.cryptor is None  # hashed codes cannot be shown again
    if port.request.method == "POST":
        codes = shown = await _call_util(util.create_recovery_codes, user)
    else:
        codes = await _call_util(util.get_recovery_codes, user)
        show = bool(port.request.args.get("show_codes"))
        shown = codes if show else []
        if show and not codes:
            form.add_error("show_codes", "NO_RECOVERY_CODES_SETUP")
    if want_json(security, port):
        return await json_ok(security, port, {"recovery_codes": codes})
    return await render_page(
        security,
        port,
        CODES_TEMPLATE,
        form=form,
        mf_recovery_codes_form=form,
        recovery_codes=shown,
        codes_hidden=hidden,
    )


async def mf_recovery(security: Security, port: WebPort) -> Response:
    found = await anonymous_pending(security, port, READY_STATES)
    if isinstance(found, Response):
        return found
    pending, user = found
    is_post = port.request.method == "POST"
    form = await build_form(security, port, "mf_recovery_form", from_request=is_post, user=user)
    if not is_post:
        if want_json(security, port):
            return await json_ok(security, port)
        return await render_page(
            security, port, RECOVERY_TEMPLATE, form=form, mf_recovery_form=form
        )
    if not await form.validate_async():
        return await form_failure(security, port, form, RECOVERY_TEMPLATE, mf_recovery_form=form)
    ctx = flow_context(security, port)
    await ctx.attempts.before("code", user)
    if not await tf.count_attempt(ctx, user):
        return await too_many_attempts(security, port)
    used: Any = await _call_util(_util(security).delete_recovery_code, user, str(form.code.data))
    if not used:
        request_state(port.g).commit_on_error = True  # the attempt stays counted
        form.add_error("code", "INVALID_RECOVERY_CODE")
        return await form_failure(security, port, form, RECOVERY_TEMPLATE, mf_recovery_form=form)
    await tf.reset_attempts(ctx, user)
    # A recovery code never sets the validity cookie (Flask-Security's rule).
    await finish_login(security, port, pending, user)
    if want_json(security, port):
        return await json_ok(security, port, user=user)
    return after_login(security, port, pending)
