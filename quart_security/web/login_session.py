"""Signing in and out: where the authentication pipeline meets the session.

Every view that accepts a first factor hands the user and its proof to
``sign_in``. It asks the pipeline (flows/authentication.py: the account
rules, then the second-factor plugins) and acts on the answer:

- refused: nothing changes; the view answers with the refusal;
- a second step is pending: the session holds only that (``fs_pending``),
  never ``_user_id``, so no ``auth_required`` route accepts it;
- signed in: ``complete_login`` starts the session from a clean slate
  (nothing planted before survives), sets the primary-authentication time
  (freshness), rotates the CSRF token, sets the remember cookie, records the
  login (TRACKABLE) and sends ``user_authenticated``.

Login state lives under Flask-Login's and Flask-Security's session keys, so
rotating a user's fs_uniquifier ends every session at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import signals
from ..flows.authentication import Decision, Proof, decide, may_authenticate
from ..flows.login import record_login
from ..state import CookieAction, request_state
from .csrf import rotate_csrf
from .flow_context import flow_context

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

SESSION_AUTH_KEYS = ("_user_id", "_fresh", "_id", "_remember", "fs_paa", "fs_gexp")
#: Where a pending second step lives in the session (its plugin's state, no secret).
PENDING_KEY = "fs_pending"
#: Flask-Security's two-factor state keys: cleaned at login and logout, so none
#: an attacker planted survives (the two-factor issue will use them).
TWO_FACTOR_KEYS = (
    "tf_user_id",
    "tf_state",
    "tf_primary_method",
    "tf_totp_secret",
    "tf_remember_login",
    "tf_select",
)


@dataclass(frozen=True)
class SignIn:
    """What ``sign_in`` did, for the view to answer with."""

    decision: Decision

    @property
    def signed_in(self) -> bool:
        return self.decision.signs_in

    @property
    def refusal(self) -> str | None:
        return self.decision.refusal

    @property
    def user(self) -> Any:
        """The user to put in the answer: only once signed in (a pending login
        has no user payload and no auth token, as in Flask-Security)."""
        return self.decision.user if self.signed_in else None

    def payload(self) -> dict[str, Any]:
        """The JSON members the answer adds (Flask-Security's ``tf_required`` & co.)."""
        pending = self.decision.pending
        if pending is None:
            return {"tf_required": False}
        return {"tf_required": True, **pending.payload}


def clear_session_auth(port: WebPort) -> None:
    """Forget every login key of the session (and any pending second step)."""
    session = port.session
    for key in (*SESSION_AUTH_KEYS, *TWO_FACTOR_KEYS, PENDING_KEY):
        session.pop(key, None)


async def sign_in(security: Security, port: WebPort, user: Any, proof: Proof) -> SignIn:
    """The one call that ends every way in (see the module docstring)."""
    if user is not None and proof.trusted_device_of is None:
        proof = replace(proof, trusted_device_of=trusted_device_of(security, port))
    decision = await decide(
        flow_context(security, port), user, proof, security.second_factor_plugins
    )
    if decision.pending is not None:
        _start_pending(security, port, decision)
    elif decision.signs_in:
        await complete_login(security, port, user, proof)
    return SignIn(decision)


def _start_pending(security: Security, port: WebPort, decision: Decision) -> None:
    step = decision.pending
    assert step is not None
    clear_session_auth(port)
    port.session[PENDING_KEY] = {
        "plugin": step.plugin,
        "uid": str(decision.user.fs_uniquifier),
        "via": list(decision.proof.via),
        "remember": decision.proof.remember,
        "at": security.clock.time(),
        "state": dict(step.state),
    }
    rotate_csrf(security, port)


@dataclass(frozen=True)
class Pending:
    """The pending second step of this session, as ``_start_pending`` stored it."""

    plugin: str
    uid: str
    via: tuple[str, ...]
    remember: bool | None
    state: dict[str, Any]

    @property
    def proof(self) -> Proof:
        return Proof(self.via, self.remember)


def pending_step(security: Security, port: WebPort, plugin: str) -> Pending | None:
    """This session's pending step of ``plugin``, unless it is absent, malformed or
    older than TWO_FACTOR_PENDING_WITHIN (then it is forgotten)."""
    raw = port.session.get(PENDING_KEY)
    if not isinstance(raw, dict):
        return None
    fresh = started_within(security, raw.get("at"), security.cv("TWO_FACTOR_PENDING_WITHIN"))
    state = raw.get("state")
    uid = raw.get("uid")
    if not fresh or raw.get("plugin") != plugin or not isinstance(state, dict) or not uid:
        port.session.pop(PENDING_KEY, None)
        return None
    via = raw.get("via")
    return Pending(
        plugin,
        str(uid),
        tuple(str(v) for v in via) if isinstance(via, list) else (),
        raw.get("remember") if isinstance(raw.get("remember"), bool) else None,
        dict(state),
    )


def started_within(security: Security, started: Any, within: timedelta) -> bool:
    """Whether a state stamped ``started`` (the clock's seconds) is still within ``within``."""
    age = security.clock.time() - started if isinstance(started, int | float) else -1
    return 0 <= age <= within.total_seconds()


def update_pending(port: WebPort, **state: Any) -> None:
    """Change the state of this session's pending step (it must exist)."""
    raw = dict(port.session[PENDING_KEY])
    raw["state"] = {**raw.get("state", {}), **state}
    port.session[PENDING_KEY] = raw


def keep_next(security: Security, port: WebPort, *candidates: Any) -> None:
    """Remember where the sign-in was going (a safe ``next``) across its second step."""
    from .urls import safe_next_url

    target = safe_next_url(security, port, *candidates)
    if target is not None and isinstance(port.session.get(PENDING_KEY), dict):
        update_pending(port, next=target)


def end_pending(port: WebPort) -> None:
    """Forget this session's pending step (done, refused, or abandoned)."""
    port.session.pop(PENDING_KEY, None)


def trusted_device_of(security: Security, port: WebPort) -> str | None:
    """The fs_uniquifier a valid two-factor validity cookie of this client names."""
    if not security.cv("TWO_FACTOR"):
        return None
    value = port.request.cookies.get(security.cv("TWO_FACTOR_VALIDITY_COOKIE_NAME"))
    if not value:
        return None
    max_age = security.cv("TWO_FACTOR_LOGIN_VALIDITY").total_seconds()
    status, uniquifier = security.tokens.loads("tf_validity", value, max_age)
    return uniquifier if status == "ok" and isinstance(uniquifier, str) else None


def set_validity_cookie(security: Security, port: WebPort, user: Any) -> None:
    """Remember this device: the next sign-ins of ``user`` here skip the code
    (unless TWO_FACTOR_ALWAYS_VALIDATE) for TWO_FACTOR_LOGIN_VALIDITY."""
    kwargs = dict(security.cv("TWO_FACTOR_VALIDITY_COOKIE") or {})
    duration = security.cv("TWO_FACTOR_LOGIN_VALIDITY")
    request_state(port.g).queue_cookie(
        CookieAction(
            name=security.cv("TWO_FACTOR_VALIDITY_COOKIE_NAME"),
            value=security.tokens.dumps("tf_validity", str(user.fs_uniquifier)),
            max_age=int(duration.total_seconds()),
            path=kwargs.get("path", "/"),
            domain=kwargs.get("domain"),
            secure=bool(kwargs.get("secure", False)),
            httponly=bool(kwargs.get("httponly", True)),
            samesite=kwargs.get("samesite"),
        )
    )


async def complete_login(security: Security, port: WebPort, user: Any, proof: Proof) -> None:
    """Sign ``user`` in on this request's session; the pipeline has already decided."""
    remember = proof.remember
    if remember is None:
        remember = bool(security.cv("DEFAULT_REMEMBER_ME"))
    session = port.session
    clear_session_auth(port)  # a clean slate: nothing planted before login survives it
    session["_user_id"] = str(user.fs_uniquifier)
    session["_fresh"] = True
    session["fs_paa"] = security.clock.time()
    rotate_csrf(security, port)
    if security.cv("CSRF_COOKIE_NAME"):
        session["fs_cc"] = "set"
    state = request_state(port.g)
    if remember:
        cookie = security.tokens.remember_cookie_for(user.fs_uniquifier)
        state.queue_cookie(remember_cookie_action(security, cookie))
    if security.cv("TRACKABLE"):
        await record_login(flow_context(security, port), user, port.request.remote_addr)
    state.user, state.authn_via, state.loaded = user, "session", True
    state.by_session = user
    await signals.send(
        signals.user_authenticated, security.app, user=user, authn_via=list(proof.via)
    )


async def login_user(
    security: Security,
    port: WebPort,
    user: Any,
    *,
    remember: bool | None = None,
    authn_via: list[str] | None = None,
) -> bool:
    """Flask-Security's ``login_user``: the app checked the credentials itself.

    The account rules still apply (False, and nothing changed, for an account
    they refuse); no second factor is asked: the app decided.
    """
    if may_authenticate(security.cv, user) is not None:
        return False
    await complete_login(security, port, user, Proof(tuple(authn_via or ()), remember=remember))
    return True


async def logout_user(security: Security, port: WebPort) -> None:
    """End the login on this request: session keys, 2FA state, remember cookie."""
    clear_session_auth(port)
    port.session.pop("fs_oauth_next", None)
    rotate_csrf(security, port)
    if security.cv("CSRF_COOKIE_NAME"):
        port.session["fs_cc"] = "clear"
    state = request_state(port.g)
    if security.remember_cookie_name in port.request.cookies:
        state.queue_cookie(remember_cookie_action(security, None))
    state.user, state.authn_via, state.loaded = None, None, True
    state.by_session = state.by_token = state.by_basic = None


def mark_fresh(security: Security, port: WebPort) -> None:
    """Re-authentication succeeded (/verify): a new primary-authentication time."""
    port.session["fs_paa"] = security.clock.time()
    port.session["_fresh"] = True
    port.session.pop("fs_gexp", None)
    rotate_csrf(security, port)


def remember_cookie_action(security: Security, value: str | None) -> CookieAction:
    """The remember-me cookie with Flask-Login's REMEMBER_COOKIE_* settings (None deletes)."""
    cfg = security.app_config
    duration = security.remember_duration
    return CookieAction(
        name=security.remember_cookie_name,
        value=value,
        max_age=int(duration.total_seconds()) if value is not None else None,
        path=cfg.get("REMEMBER_COOKIE_PATH", "/"),
        domain=cfg.get("REMEMBER_COOKIE_DOMAIN"),
        secure=bool(cfg.get("REMEMBER_COOKIE_SECURE", False)),
        httponly=bool(cfg.get("REMEMBER_COOKIE_HTTPONLY", True)),
        samesite=cfg.get("REMEMBER_COOKIE_SAMESITE") or security.cv("DEFAULT_COOKIE_SAMESITE"),
    )
