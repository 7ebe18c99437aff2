"""Tiny stdlib HTTP client for what happens before a load: CSRF, logins, sanity checks.

Speaks the Flask-Security JSON contract every benchmark app implements: GET /login
(JSON) gives ``response.csrf_token`` plus a pre-login session cookie; POST /login with
``{"email", "password", "csrf_token"}`` sets the authenticated cookie and, with
``?include_auth_token``, returns ``response.user.authentication_token``.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

USER_AGENT = "qs-bench/1"  # must match the Lua scripts (Flask-Login session protection)


@dataclass
class Reply:
    status: int
    body: Any
    cookies: dict[str, str] = field(default_factory=dict)


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: Any = None,
    cookies: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if cookies:
            hdrs["Cookie"] = cookie_header(cookies)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        jar: dict[str, str] = {}
        for value in resp.headers.get_all("Set-Cookie") or []:
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(value)
            for name, morsel in parsed.items():
                jar[name] = morsel.value
        try:
            payload: Any = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return Reply(resp.status, payload, jar)
    finally:
        conn.close()


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/api/public", timeout=2.0).status == 200:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"server on 127.0.0.1:{port} not ready after {timeout}s ({last})")


@dataclass(frozen=True)
class PreLogin:
    cookies: dict[str, str]
    csrf_token: str


def pre_login(port: int) -> PreLogin:
    reply = request(port, "GET", "/login")
    if reply.status != 200:
        raise RuntimeError(f"GET /login -> {reply.status}: {reply.body!r}")
    return PreLogin(reply.cookies, reply.body["response"]["csrf_token"])


@dataclass(frozen=True)
class Session:
    cookie: str  # full Cookie header value of the authenticated session
    token: str  # Authentication-Token header value


def login(port: int, email: str, password: str) -> Session:
    pre = pre_login(port)
    reply = request(
        port,
        "POST",
        "/login?include_auth_token",
        body={"email": email, "password": password, "csrf_token": pre.csrf_token},
        cookies=pre.cookies,
    )
    if reply.status != 200:
        raise RuntimeError(f"POST /login for {email} -> {reply.status}: {reply.body!r}")
    token = reply.body["response"]["user"].get("authentication_token")
    if not token:
        raise RuntimeError(f"POST /login?include_auth_token gave no token: {reply.body!r}")
    jar = dict(pre.cookies)
    jar.update(reply.cookies)
    return Session(cookie_header(jar), token)


def preflight(port: int, users: list[tuple[str, str]], session: Session) -> dict[str, Any]:
    """Check every scenario answers what it should before load is put on it.

    A wrong-password login must fail on the password, not on CSRF (both are 400).
    """
    checks: dict[str, Any] = {}
    checks["public"] = request(port, "GET", "/api/public").status
    checks["me_anonymous"] = request(port, "GET", "/api/me").status
    checks["me_cookie"] = request(port, "GET", "/api/me", headers={"Cookie": session.cookie}).status
    checks["me_token"] = request(
        port, "GET", "/api/me", headers={"Authentication-Token": session.token}
    ).status
    email, password = users[1]
    pre = pre_login(port)
    bad = request(
        port,
        "POST",
        "/login",
        body={"email": email, "password": password + "-wrong", "csrf_token": pre.csrf_token},
        cookies=pre.cookies,
    )
    checks["login_bad"] = bad.status
    errors = json.dumps(bad.body).lower()
    checks["login_bad_is_password_error"] = "password" in errors and "csrf" not in errors
    no_csrf = request(
        port, "POST", "/login", body={"email": email, "password": password}, cookies=pre.cookies
    )
    checks["login_without_csrf"] = no_csrf.status
    expected = {
        "public": 200,
        "me_anonymous": 401,
        "me_cookie": 200,
        "me_token": 200,
        "login_bad": 400,
        "login_bad_is_password_error": True,
        "login_without_csrf": 400,
    }
    wrong = {k: (checks[k], v) for k, v in expected.items() if checks[k] != v}
    checks["ok"] = not wrong
    if wrong:
        checks["mismatch"] = {k: {"got": g, "want": w} for k, (g, w) in wrong.items()}
    return checks
