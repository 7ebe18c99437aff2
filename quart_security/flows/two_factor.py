"""Two-factor sign-in with one-time codes: email, authenticator app, SMS.

``CodeTfPlugin`` is the pipeline's second-factor plugin (flows/authentication.py)
for Flask-Security's ``code`` implementation: after a first factor, a user
who has a method set up (or must, TWO_FACTOR_REQUIRED) is sent to enter a
code, or to set a method up. The rest are the steps the two-factor views
take, free of HTTP: sending a code, checking one, storing a method, turning
two-factor off.

Beyond Flask-Security (docs/flows/two-factor.md), each a setting:

- a code is accepted once (TWO_FACTOR_REPLAY_PROTECTION): its time step must
  move the user's ``tf_totp_last_counter`` forward, atomically in the
  datastore, so parallel submissions of one code give one success;
- a pending sign-in allows TWO_FACTOR_MAX_ATTEMPTS code attempts, counted in
  the datastore (``tf_code_attempts``) before the code is looked at, so the
  bound holds however many guesses arrive at once or whichever old session
  cookie they carry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import signals
from ..clock import format_duration
from ..errors import SecurityError
from ..mixins import UserMixin, default_tf_required
from ..sms import SmsSenderFactory, send_sms
from .authentication import PendingStep, Proof

if TYPE_CHECKING:
    from .context import FlowContext

log = logging.getLogger("quart_security")

#: Flask-Security's legacy method names, still accepted and stored as they were.
METHOD_ALIASES = {"mail": "email", "google_authenticator": "authenticator"}
#: Methods whose code the library sends (an authenticator app makes its own).
SENT_METHODS = frozenset({"email", "sms"})
VALIDITY_KEYS = {
    "email": "TWO_FACTOR_MAIL_VALIDITY",
    "authenticator": "TWO_FACTOR_AUTHENTICATOR_VALIDITY",
    "sms": "TWO_FACTOR_SMS_VALIDITY",
}

#: The pending states of Flask-Security's session-held state machine.
SETUP_FROM_LOGIN = "setup_from_login"
VALIDATING_PROFILE = "validating_profile"
READY = "ready"


def canonical_method(method: Any) -> str | None:
    """``mail`` -> ``email``, ``google_authenticator`` -> ``authenticator``; None if unknown."""
    if not isinstance(method, str):
        return None
    method = METHOD_ALIASES.get(method, method)
    return method if method in VALIDITY_KEYS else None


def enabled_methods(ctx: FlowContext) -> list[str]:
    """TWO_FACTOR_ENABLED_METHODS in canonical names, in order, once each."""
    methods: list[str] = []
    for name in ctx.config("TWO_FACTOR_ENABLED_METHODS"):
        method = canonical_method(name)
        if method is not None and method not in methods:
            methods.append(method)
    return methods


def is_tf_setup(user: Any) -> bool:
    """Flask-Security's test: a method and a secret are both stored."""
    return bool(getattr(user, "tf_totp_secret", None) and getattr(user, "tf_primary_method", None))


def primary_method(user: Any) -> str | None:
    """The user's method in its canonical name (None when not set up)."""
    return canonical_method(getattr(user, "tf_primary_method", None)) if is_tf_setup(user) else None


def window_seconds(ctx: FlowContext, method: str) -> int:
    """How far either side of now a code of ``method`` is accepted."""
    return int(ctx.config(VALIDITY_KEYS[method]))


def _guards_on(ctx: FlowContext) -> tuple[bool, int]:
    return bool(ctx.config("TWO_FACTOR_REPLAY_PROTECTION")), int(
        ctx.config("TWO_FACTOR_MAX_ATTEMPTS") or 0
    )


# ---------------------------------------------------------------------- the plugin
class CodeTfPlugin:
    """Flask-Security's ``CodeTfPlugin`` as a pipeline plugin."""

    name = "code"

    def setup_methods(self, user: Any) -> list[str]:
        """The methods of this plugin ``user`` has set up (at most one)."""
        method = primary_method(user)
        return [method] if method else []

    async def second_step(self, ctx: FlowContext, user: Any, proof: Proof) -> PendingStep | None:
        methods = self.setup_methods(user)
        trusted = proof.trusted_device_of is not None and proof.trusted_device_of == str(
            user.fs_uniquifier
        )
        pairs = [(m, m) for m in methods]
        if type(user).check_tf_required is UserMixin.check_tf_required:
            required, _ = default_tf_required(ctx.config, pairs, trusted)
        else:  # the app's rule (Flask-Security 5.8's hook)
            required, _ = user.check_tf_required(pairs, trusted)
        if not required:
            return None
        await reset_attempts(ctx, user)
        if not methods:
            return PendingStep(
                self.name,
                "two_factor_setup",
                payload={"tf_state": SETUP_FROM_LOGIN},
                state={"tf_state": SETUP_FROM_LOGIN},
            )
        method = methods[0]
        if method in SENT_METHODS:
            await send_security_token(
                ctx, user, method, user.tf_totp_secret, getattr(user, "tf_phone_number", None)
            )
        return PendingStep(
            self.name,
            "two_factor_token_validation",
            payload={"tf_state": READY, "tf_primary_method": method, "tf_method": method},
            state={"tf_state": READY},
        )


# ---------------------------------------------------------------------- sending a code
async def send_security_token(
    ctx: FlowContext, user: Any, method: str, totp_secret: str, phone_number: str | None
) -> None:
    """Send the current code of ``totp_secret`` by ``method`` (Flask-Security's
    ``tf_send_security_token``), then ``tf_security_token_sent``.

    Mail goes through the outbox (delivered after the request commits); an SMS
    is sent now and a gateway failure is FAILED_TO_SEND_CODE (500), as in
    Flask-Security. Nothing is sent for an authenticator app.
    """
    totp = _totp(ctx)
    canonical = canonical_method(method)
    token: str | None = None
    if canonical in SENT_METHODS:
        token = await asyncio.to_thread(totp.generate_totp_password, totp_secret)
    if canonical == "email":
        within = format_duration(timedelta(seconds=window_seconds(ctx, "email")))
        ctx.mail(
            "TWO_FACTOR_EMAIL_TEMPLATE",
            "EMAIL_SUBJECT_TWO_FACTOR",
            user.email,
            user=user,
            token=token,
            username=user.calc_username(),
            within=within,
        )
    elif canonical == "sms":
        if not phone_number:
            raise SecurityError("PHONE_INVALID", field="phone")
        sender = SmsSenderFactory.createSender(ctx.config("SMS_SERVICE"))
        from_number = (ctx.config("SMS_SERVICE_CONFIG") or {}).get("PHONE_NUMBER") or ""
        text = ctx.message("USE_CODE", code=token)
        try:
            await send_sms(sender, str(from_number), phone_number, text)
        except Exception:
            log.exception("the SMS gateway %r failed to send a code", ctx.config("SMS_SERVICE"))
            raise SecurityError("FAILED_TO_SEND_CODE", status=500) from None
    await ctx.signal(
        signals.tf_security_token_sent,
        user=user,
        method=method,
        token=token,
        login_token=token,
        phone_number=phone_number,
    )


def _totp(ctx: FlowContext) -> Any:
    if ctx.totp is None:
        raise RuntimeError("two-factor needs the app's Totp (TOTP_SECRETS, TOTP_ISSUER)")
    return ctx.totp


# ---------------------------------------------------------------------- checking a code
@dataclass(frozen=True)
class CodeCheck:
    """What checking a submitted code found: ``step`` is the accepted time step."""

    accepted: bool
    step: int | None = None
    exhausted: bool = False


async def reset_attempts(ctx: FlowContext, user: Any) -> None:
    """A clean attempt count: when a pending sign-in starts, and after an accepted code."""
    if _guards_on(ctx)[1] and getattr(user, "tf_code_attempts", None):
        await ctx.store.tf_reset_attempts(user)


async def count_attempt(ctx: FlowContext, user: Any) -> bool:
    """Count one code attempt of a pending sign-in; False once the bound is passed."""
    limit = _guards_on(ctx)[1]
    if not limit:
        return True
    return await ctx.store.tf_count_attempt(user) <= limit


async def check_code(
    ctx: FlowContext,
    user: Any,
    code: Any,
    method: str,
    totp_secret: str,
    *,
    new_secret: bool = False,
) -> CodeCheck:
    """Whether ``code`` is ``totp_secret``'s code now, within ``method``'s window.

    With replay protection an accepted step must move the user's last accepted
    step forward (one success per code); for a ``new_secret`` (a method being
    set up) the history starts with it, recorded by ``store_method``. A stored
    secret that cannot be read (a TOTP_SECRETS tag removed) is logged and
    refused: it cannot decide, so it denies.
    """
    replay, _ = _guards_on(ctx)
    last = None if new_secret or not replay else getattr(user, "tf_totp_last_counter", None)
    totp = _totp(ctx)
    try:
        if replay:
            match = await asyncio.to_thread(
                totp.find_match, code, totp_secret, window_seconds(ctx, method), last
            )
        else:  # Flask-Security's check, with its get/set_last_counter hooks
            ok = await asyncio.to_thread(
                totp.verify_totp, code, totp_secret, user, window_seconds(ctx, method)
            )
            return CodeCheck(ok)
    except ValueError:
        log.exception("the two-factor secret of a user cannot be read")
        return CodeCheck(False)
    if match is None:
        return CodeCheck(False)
    if replay and not new_secret and not await ctx.store.tf_advance_counter(user, match.counter):
        return CodeCheck(False)
    return CodeCheck(True, match.counter)


# ---------------------------------------------------------------------- the profile
async def store_method(
    ctx: FlowContext,
    user: Any,
    method: str,
    totp_secret: str,
    phone: str | None,
    step: int | None,
) -> None:
    """Make ``method`` (validated with a code at ``step``) the user's method."""
    await ctx.store.tf_set(user, method, totp_secret=totp_secret, phone=phone)
    if step is not None and ctx.config("TWO_FACTOR_REPLAY_PROTECTION"):
        await ctx.store.tf_advance_counter(user, step)


async def disable(ctx: FlowContext, user: Any) -> None:
    """Turn two-factor off for ``user`` (Flask-Security's ``tf_disable``)."""
    await ctx.store.tf_reset(user)
    await ctx.signal(signals.tf_disabled, user=user)


def setup_choices(ctx: FlowContext, user: Any, required: bool) -> list[str]:
    """What /tf-setup offers: the enabled methods, and "disable" first when the
    user has a method and two-factor is not required of them."""
    choices = enabled_methods(ctx)
    if not required and is_tf_setup(user):
        choices.insert(0, "disable")
    return choices


def chosen_setup(ctx: FlowContext, value: Any, allowed: Sequence[str]) -> str:
    """The canonical method of a /tf-setup choice, or TWO_FACTOR_METHOD_NOT_AVAILABLE."""
    if value == "disable" and "disable" in allowed:
        return "disable"
    method = canonical_method(value)
    if method is None or method not in allowed:
        raise SecurityError("TWO_FACTOR_METHOD_NOT_AVAILABLE", field="setup")
    return method
