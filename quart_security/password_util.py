"""``PasswordUtil``: Flask-Security's hook for normalising and validating passwords.

Apps pass ``password_util_cls=`` to ``Security`` as with Flask-Security; the
class is built once, with the app (``PasswordUtil(app)``). Every place the
library takes a password asks it: ``normalize`` at sign-in, /verify, Basic
auth and the current password of /change; ``validate`` (which normalises
too) for the new password at /register, /reset and /change. The password
that is hashed and stored is the normalised one ``validate`` returns.

Differences from Flask-Security, each because of I/O or async:

- ``validate`` is a coroutine here (the breached-password check is a network
  round trip). An override may be ``async def`` (awaited) or a plain ``def``
  (run on a worker thread, so it may block). A plain override that builds on
  the default checks subclasses flask_compat's PasswordUtil, whose
  ``validate`` is plain too (Flask-Security's pattern, unchanged); on Quart,
  write the override ``async def`` and await ``super().validate``.
- Errors are strings, as in Flask-Security. The library's own are
  ``MessageText`` strings that keep their SECURITY_MSG_* key, so the answer
  translates them for the request; any other string is the app's own text
  and is shown as it is.
- The hashing context still applies PASSWORD_NORMALIZE_FORM to what it is
  given (so ``hash_password`` and ``verify_password`` agree with the stored
  hashes): a no-op after the default ``normalize``, which uses the same form.

The module-level validators keep Flask-Security's names and signatures
(``password_breached_validator`` and ``pwned`` are coroutines here) and read
the current ``Security``'s settings.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from .app_util import AppUtil, ConfigReader, current_security_or_none, message_text
from .config import DEFAULT_CONFIG
from .crypto.password_policy import (
    PasswordPolicy,
    parse_range,
    policy_from_config,
    range_fetcher,
)

if TYPE_CHECKING:
    from .extension import Security

__all__ = [
    "PasswordUtil",
    "password_breached_validator",
    "password_complexity_validator",
    "password_length_validator",
    "pwned",
]

class PasswordUtil(AppUtil):
    """Normalise and validate passwords (subclass to customise; Flask-Security's API).

    The default applies the built-in rules (``crypto/password_policy``): length
    in code points after normalisation (PASSWORD_LENGTH_MIN ..
    PASSWORD_MAX_LENGTH), not the email, its local part or the username, and
    with PASSWORD_CHECK_BREACHED the breached-password check. The first rule a
    password fails is its one error, as in Flask-Security.
    """

    _policy: PasswordPolicy | None = None

    def bind(  # type: ignore[override]
        self,
        config: ConfigReader,
        policy: PasswordPolicy | None = None,
        security: Security | None = None,
    ) -> None:
        """Give the util its settings and rules (done by ``Security`` at init_app)."""
        super().bind(config, security)
        self._policy = policy

    @property
    def policy(self) -> PasswordPolicy:
        """The built-in rules this util applies."""
        if self._policy is None:
            if self._config is None:
                security = current_security_or_none()
                if security is None:
                    raise RuntimeError("PasswordUtil used outside an app with Security")
                return security.password_policy
            self._policy = policy_from_config(self._config)
        return self._policy

    def normalize(self, password: str) -> str:
        """PASSWORD_NORMALIZE_FORM applied (unicodedata.normalize), or the password as is."""
        return self.policy.normalize(password)

    async def validate(
        self, password: str, is_register: bool, **kwargs: Any
    ) -> tuple[list[str] | None, str]:
        """(errors or None, the normalised password).

        ``kwargs`` are the registration form's user fields (``email``,
        ``username``) when ``is_register``, else ``user=`` (reset and change).
        A password longer than PASSWORD_MAX_LENGTH is refused before it is
        normalised, so a huge one costs nothing.
        """
        policy = self.policy
        if not isinstance(password, str) or len(password) > policy.max_length:
            return [self._text("PASSWORD_INVALID_LENGTH", **_length(policy))], password
        normalized = self.normalize(password)
        violations = await policy.validate(normalized, is_register=is_register, context=kwargs)
        if not violations:
            return None, normalized
        return [self._text(v.message_key, **v.kwargs) for v in violations], normalized


def _length(policy: PasswordPolicy) -> dict[str, Any]:
    return {"length": policy.min_length}


def _security_for(name: str) -> Security:
    security = current_security_or_none()
    if security is None:
        raise RuntimeError(f"{name} reads the settings of the current app: call it inside one")
    return security


def password_length_validator(password: str) -> list[str] | None:
    """None when ``password`` is PASSWORD_LENGTH_MIN..PASSWORD_MAX_LENGTH code points
    long, else its error (Flask-Security's cap is a fixed 128; ours is that setting)."""
    security = _security_for("password_length_validator")
    policy = security.password_policy
    if isinstance(password, str) and policy.min_length <= len(password) <= policy.max_length:
        return None
    return [message_text(security, "PASSWORD_INVALID_LENGTH", _length(policy))]


def password_complexity_validator(
    password: str, is_register: bool, **kwargs: Any
) -> list[str] | None:
    """None when no PASSWORD_COMPLEXITY_CHECKER is set (as in Flask-Security).

    Flask-Security's only checker is zxcvbn, which is not a dependency of
    quart-flask-security: setting PASSWORD_COMPLEXITY_CHECKER is refused at
    start-up, and if a checker is asked for anyway this raises
    NotImplementedError rather than pretend to score the password.
    """
    checker = _security_for("password_complexity_validator").cv("PASSWORD_COMPLEXITY_CHECKER")
    if checker:
        raise NotImplementedError(
            f"password complexity checker {checker!r} is not available in"
            " quart-flask-security (zxcvbn is not a dependency); check complexity"
            " in a PasswordUtil subclass of your own"
        )
    return None


async def password_breached_validator(password: str) -> list[str] | None:
    """None unless PASSWORD_CHECK_BREACHED refuses ``password`` (a coroutine here).

    Refused when the range API counts it at least PASSWORD_BREACHED_COUNT
    times; when the API cannot answer (down, malformed, past
    PASSWORD_BREACHED_TIMEOUT) ``True`` lets it through and ``"strict"``
    answers PASSWORD_BREACHED_SITE_ERROR.
    """
    security = _security_for("password_breached_validator")
    check = security.cv("PASSWORD_CHECK_BREACHED")
    if not check:
        return None
    try:
        count = await pwned(password)
    except Exception:
        if check == "strict":
            return [message_text(security, "PASSWORD_BREACHED_SITE_ERROR", {})]
        return None
    if count >= security.cv("PASSWORD_BREACHED_COUNT"):
        return [message_text(security, "PASSWORD_BREACHED", {})]
    return None


async def pwned(password: str) -> int:
    """How many times the range API has seen ``password`` (0: never); a coroutine here.

    k-anonymity: only the first 5 hex digits of its SHA-1 leave the process.
    Asks SECURITY_PASSWORD_BREACHED_RANGE_URL within
    SECURITY_PASSWORD_BREACHED_TIMEOUT seconds (outside an app: the HIBP API,
    5 s). Raises (BreachCheckError, OSError, TimeoutError) when it cannot
    answer, as Flask-Security's raises HTTPError.
    """
    security = current_security_or_none()
    config: ConfigReader = security.cv if security is not None else DEFAULT_CONFIG.__getitem__
    digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
    body = await range_fetcher(config)(digest[:5])
    return parse_range(body, digest[5:])
