"""Who is making this request: session, remember cookie, auth token, Basic; and
whether their authentication is fresh enough.

Login state lives in the framework session under Flask-Login's and
Flask-Security's keys (``_user_id`` = fs_uniquifier, ``_fresh``, ``fs_paa``,
``fs_gexp``), so rotating a user's fs_uniquifier ends every session, remember
cookie and auth token at once. Each mechanism is resolved at most once per
request, costs one datastore round trip (user and roles together), and
passes the same account rules (``may_authenticate``). Signing in and out is
web/login_session.py's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..flows.authentication import may_authenticate
from ..state import STATE_ATTR, UNSET, request_state
from .attempts import RequestAttempts, client_attempt
from .basic_auth import parse_basic_authorization
from .flow_context import flow_context
from .form_input import is_json_mimetype
from .login_session import clear_session_auth, remember_cookie_action
from .websocket_origin import handshake_origin_allowed

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

MECHANISM_ORDER = ("token", "session", "basic")


def _usable(security: Security, user: Any) -> Any:
    """``user`` if the account rules let it be signed in now, else None."""
    return user if may_authenticate(security.cv, user) is None else None


# ---------------------------------------------------------------------- session
async def user_by_session(security: Security, port: WebPort) -> Any:
    state = request_state(port.g)
    if state.by_session is not UNSET:
        return state.by_session
    user = None
    uid = port.session.get("_user_id")
    if port.is_websocket and not handshake_origin_allowed(security, port):
        pass  # another site's page: the browser's cookie proves nothing here
    elif isinstance(uid, str) and uid:
        user = _usable(security, await security.store.find_user(fs_uniquifier=uid))
        if user is None:
            clear_session_auth(port)
    elif not port.is_websocket:
        user = await _user_by_remember_cookie(security, port)
    state.by_session = user
    return user


async def _user_by_remember_cookie(security: Security, port: WebPort) -> Any:
    name = security.remember_cookie_name
    value = port.request.cookies.get(name)
    if not value:
        return None
    duration = security.remember_duration.total_seconds()
    uid = security.tokens.read_remember_cookie(value, duration)
    user = None
    if uid is not None:
        user = _usable(security, await security.store.find_user(fs_uniquifier=uid))
    if user is None:
        request_state(port.g).queue_cookie(remember_cookie_action(security, None))
        return None
    # A remember cookie restores the login but never freshness (NIST 800-63B §5.1).
    port.session["_user_id"] = str(user.fs_uniquifier)
    port.session["_fresh"] = False
    port.session.pop("fs_paa", None)
    if security.cv("CSRF_COOKIE_NAME"):
        # As after a login, the SPA gets its CSRF cookie with this first answer.
        port.session["fs_cc"] = "set"
    return user


# ---------------------------------------------------------------------- token
async def presented_auth_token(security: Security, port: WebPort) -> str | None:
    """The auth token from the first of TOKEN_AUTHENTICATION_SOURCES that has one.

    "json" looks at the JSON body's TOKEN_AUTHENTICATION_KEY member through
    the framework's cache, so the view still reads the whole body.
    """
    sources = security.cv("TOKEN_AUTHENTICATION_SOURCES")
    if "header" in sources:
        value = port.request.headers.get(security.cv("TOKEN_AUTHENTICATION_HEADER"))
        if value:
            return str(value)
    if "query" in sources:
        value = port.request.args.get(security.cv("TOKEN_AUTHENTICATION_KEY"))
        if value:
            return str(value)
    if "json" in sources and not port.is_websocket and is_json_mimetype(port.request.mimetype):
        value = await port.body_field(security.cv("TOKEN_AUTHENTICATION_KEY"))
        if isinstance(value, str) and value:
            return value
    return None


async def user_by_token(security: Security, port: WebPort) -> Any:
    state = request_state(port.g)
    if state.by_token is not UNSET:
        return state.by_token
    user = None
    token = await presented_auth_token(security, port)
    data = security.tokens.read_auth_token(token) if token else None
    if data is not None:
        field = "fs_token_uniquifier" if security.has_token_uniquifier else "fs_uniquifier"
        found = await security.store.find_user(**{field: data["uid"]})
        found = _usable(security, found)
        if found is not None and found.verify_auth_token(data):
            user = found
            state.token_data = data
    state.by_token = user
    return user


# ---------------------------------------------------------------------- basic
async def user_by_basic(security: Security, port: WebPort) -> Any:
    state = request_state(port.g)
    if state.by_basic is not UNSET:
        return state.by_basic
    user = None
    creds = parse_basic_authorization(port.request.headers.get("Authorization"))
    if port.is_websocket and not handshake_origin_allowed(security, port):
        creds = None  # cached Basic credentials are as ambient as a cookie
    if creds is not None:
        # Every Basic check costs a hash: the client's "basic" budget, then the
        # account's password budget and lockout (its failures: a Basic client
        # sends its password with every request), before the hash.
        await client_attempt(security, port, "basic")
        identity, password = creds
        found = await security.identity.lookup(security.store, identity)
        attempts = RequestAttempts(security, port)
        await attempts.before("password", found, identity, count=False)
        # One verification whatever the identity; a rehash is committed with
        # the request's unit of work.
        if await flow_context(security, port).verify_password(found, password):
            user = _usable(security, found)
        else:
            await attempts.failed("password", found, identity, counted=False)
    state.by_basic = user
    return user


# ---------------------------------------------------------------------- request user
async def load_request_user(security: Security, port: WebPort) -> Any:
    """The current user as Flask-Login defines it: session first, then token.

    Runs once per request and only touches the datastore when the request
    carries a session login, a remember cookie or an auth token.
    """
    state = request_state(port.g)
    if state.loaded:
        return state.user
    user = await user_by_session(security, port)
    via = "session" if user is not None else None
    if user is None:
        user = await user_by_token(security, port)
        via = "token" if user is not None else None
    state.user, state.authn_via, state.loaded = user, via, True
    return user


async def authenticate(security: Security, port: WebPort, methods: list[str]) -> tuple[Any, str]:
    """(user, mechanism) for the first of ``methods`` that succeeds, in FS order."""
    lookups = {"token": user_by_token, "session": user_by_session, "basic": user_by_basic}
    for method in MECHANISM_ORDER:
        if method in methods:
            user = await lookups[method](security, port)
            if user is not None:
                state = request_state(port.g)
                state.user, state.authn_via, state.loaded = user, method, True
                return user, method
    return None, ""


# ---------------------------------------------------------------------- freshness
def authn_time(security: Security, port: WebPort) -> float | None:
    state = request_state(port.g)
    if state.authn_via == "token" and state.token_data is not None:
        if security.cv("FRESHNESS_ALLOW_AUTH_TOKEN"):
            paa = state.token_data.get("fs_paa")
            return float(paa) if isinstance(paa, int | float) else None
        return None
    paa = port.session.get("fs_paa")
    return float(paa) if isinstance(paa, int | float) else None


def check_and_update_authn_fresh(
    security: Security,
    port: WebPort,
    within: timedelta,
    grace: timedelta,
    method: str | None = None,
) -> bool:
    """Flask-Security's freshness rule, against our injectable clock."""
    if method == "basic":
        return True
    if within.total_seconds() < 0:
        return True
    now = security.clock.time()
    grace_until = int(now + grace.total_seconds())
    session = port.session
    gexp = session.get("fs_gexp")
    if isinstance(gexp, int | float) and now < gexp:
        session["fs_gexp"] = grace_until
        return True
    if within.total_seconds() == 0:
        session["fs_gexp"] = grace_until
        return False
    paa = authn_time(security, port)
    if paa is None:
        return False
    delta = now - paa
    window = within.total_seconds()
    # A little clock skew is fine; an authentication time far in the future is not.
    if -window < delta < window:
        session["fs_gexp"] = grace_until
        return True
    return False


# ---------------------------------------------------------------------- request attributes
def request_attr(security: Security, port: WebPort, name: str) -> Any:
    """Flask-Security's get_request_attr: what it keeps on ``g``, from our request state.

    ``fs_authn_via``: "session", "token" or "basic", the mechanism that
    authenticated this request (None if none did). ``fs_paa``: the time of the
    primary authentication, as Flask-Security sets it: the session's (0 when
    unknown, e.g. restored by a remember cookie), a token's only under
    FRESHNESS_ALLOW_AUTH_TOKEN, never for Basic. ``csrf_valid``: True once this
    request passed (or needed no) CSRF. Any other name is read from ``g``.
    """
    state = getattr(port.g, STATE_ATTR, None)
    if name == "fs_authn_via":
        return None if state is None else state.authn_via
    if name == "fs_paa":
        if state is None or state.authn_via is None:
            return None
        if state.authn_via == "session":
            return port.session.get("fs_paa", 0)
        if state.authn_via == "token" and security.cv("FRESHNESS_ALLOW_AUTH_TOKEN"):
            return (state.token_data or {}).get("fs_paa", 0)
        return None
    if name == "csrf_valid":
        return True if state is not None and state.csrf_checked else None
    return getattr(port.g, name, None)
