"""Rate limits, lockout and mail caps: the budgets, and how they are counted.

Three kinds of budget, all in one store (rate_limit.py: memory, or Redis for
several workers and instances), all checked before any password is hashed:

- **per client address**, per endpoint (RATE_LIMITS[endpoint]), counted on
  every POST of that endpoint, and on every HTTP Basic check ("basic");
- **per account**, across every way in: "password" counts each password
  check of one account (login, /verify, /change: every attempt; HTTP Basic:
  its failures, since a Basic client sends its password on every request),
  "code" each one-time or recovery code tried. The account is its user id
  when the identity names one (so its email and its username share one
  budget), else the identity in canonical form (an unknown identity is
  counted the same way, so the limiter tells nothing about who exists);
- **lockout**: LOCKOUT_FAILURES wrong passwords for one account within
  LOCKOUT_WITHIN pause its sign-in until the window frees, for right and
  wrong passwords alike; the owner is mailed once per lockout.

And mail caps: at most MAIL_LIMIT mails of one kind to one address; past it
the request answers as before and nothing is sent.

RATE_LIMIT_ENABLED=False turns all of it off. When the store cannot answer,
RATE_LIMIT_FAIL_OPEN decides: refuse (503, the default) or let through, with
a log line either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, TooManyRequests
from .rate_limit import Limit, RateLimitStore, RateLimitUnavailable, Verdict, open_store

if TYPE_CHECKING:
    from .identity import IdentityResolver

log = logging.getLogger("quart_security")

#: The account budgets, as opposed to the endpoints' per-client ones.
ACCOUNT_BUDGETS = ("password", "code")
LOCKOUT = "lockout"
NOTIFIED = "lockout-notified"


def parse_budgets(default: Mapping[str, Any], given: Any) -> dict[str, Limit | None]:
    """RATE_LIMITS merged over its default; each value a Limit, or None (off)."""
    if not isinstance(given, Mapping):
        raise ConfigurationError("SECURITY_RATE_LIMITS must be a dict of name -> '<n>/<period>'")
    unknown = sorted(set(given) - set(default))
    if unknown:
        raise ConfigurationError(
            f"SECURITY_RATE_LIMITS has unknown names {unknown}; known: {sorted(default)}"
        )
    budgets: dict[str, Limit | None] = {}
    for name in default:
        value = given.get(name, default[name])
        try:
            budgets[name] = None if value is None else Limit.parse(value)
        except ValueError as exc:
            raise ConfigurationError(f"SECURITY_RATE_LIMITS[{name!r}]: {exc}") from exc
    return budgets


def optional_limit(key: str, value: Any) -> Limit | None:
    if value is None:
        return None
    try:
        return Limit.parse(value)
    except ValueError as exc:
        raise ConfigurationError(f"SECURITY_{key}: {exc}") from exc


def account_key(identity: IdentityResolver, user: Any, typed: Any) -> str:
    """One budget per account: its id when known, else the canonical identity typed
    (case-folded even where the attribute is case-sensitive: variants of one
    unknown identity must not each get a budget)."""
    if user is not None:
        return "user:" + str(getattr(user, "id", None) or user.fs_uniquifier)
    text = typed if isinstance(typed, str) else ""
    found = identity.canonical(text)
    if found is not None:
        attr, value, _ = found
        return f"{attr}:{value.casefold()}"
    return "raw:" + text.strip().casefold()[:320]


@dataclass(frozen=True)
class Refusal:
    """Who was refused and why, for the signal."""

    action: str
    scope: str
    retry_after: int


class Throttle:
    """The app's budgets (built at init_app) over one store."""

    def __init__(self, cv: Callable[[str], Any], default_budgets: Mapping[str, Any]) -> None:
        self.enabled = bool(cv("RATE_LIMIT_ENABLED"))
        self.fail_open = bool(cv("RATE_LIMIT_FAIL_OPEN"))
        self.budgets = parse_budgets(default_budgets, cv("RATE_LIMITS") or {})
        failures = cv("LOCKOUT_FAILURES")
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
            raise ConfigurationError("SECURITY_LOCKOUT_FAILURES must be an integer of at least 0")
        within = int(cv("LOCKOUT_WITHIN").total_seconds())
        self.lockout = Limit(failures, max(within, 1)) if failures else None
        self.notify = bool(cv("LOCKOUT_NOTIFY"))
        self.mail_limit = optional_limit("MAIL_LIMIT", cv("MAIL_LIMIT"))
        uri = cv("RATE_LIMIT_STORAGE_URI")
        #: Whether the counters are shared with other processes (not memory://).
        self.shared = not str(uri).startswith("memory://")
        try:
            self.store: RateLimitStore | None = open_store(str(uri)) if self.enabled else None
        except ValueError as exc:
            raise ConfigurationError(f"SECURITY_RATE_LIMIT_STORAGE_URI: {exc}") from exc

    # ------------------------------------------------------------------ the store
    async def _ask(self, how: str, limit: Limit, *key: str) -> Verdict:
        assert self.store is not None
        try:
            if how == "hit":
                return await self.store.hit(limit, *key)
            return await self.store.test(limit, *key)
        except RateLimitUnavailable:
            if self.fail_open:
                log.error("rate-limit store unavailable: letting %s through unlimited", key[0])
                return Verdict(True, 0, 0)
            log.error("rate-limit store unavailable: refusing %s (RATE_LIMIT_FAIL_OPEN)", key[0])
            raise TooManyRequests(5, status=503, message_key="RATE_LIMIT_UNAVAILABLE") from None

    def _budget(self, name: str) -> Limit | None:
        return self.budgets.get(name) if self.enabled else None

    # ------------------------------------------------------------------ checks
    async def client_attempt(self, action: str, client: str) -> Refusal | None:
        """Count one request of ``client`` at ``action``; a Refusal when over budget."""
        limit = self._budget(action)
        if limit is None:
            return None
        verdict = await self._ask("hit", limit, "client", action, client)
        return None if verdict.allowed else Refusal(action, "client", verdict.retry_after)

    async def account_attempt(self, budget: str, account: str, *, count: bool) -> Refusal | None:
        """Before a secret of ``account`` is checked: its budget (counted now when
        ``count``, else only read), then its lockout."""
        if not self.enabled:
            return None
        limit = self._budget(budget)
        if limit is not None:
            verdict = await self._ask("hit" if count else "test", limit, budget, account)
            if not verdict.allowed:
                return Refusal(budget, "identity", verdict.retry_after)
        if budget == "password" and self.lockout is not None:
            verdict = await self._ask("test", self.lockout, LOCKOUT, account)
            if not verdict.allowed:
                return Refusal(budget, "lockout", verdict.retry_after)
        return None

    async def account_failure(self, budget: str, account: str, *, counted: bool) -> bool:
        """A wrong secret for ``account``. True when this failure starts a lockout
        whose owner has not been told yet."""
        if not self.enabled:
            return False
        limit = self._budget(budget)
        if limit is not None and not counted:
            await self._ask("hit", limit, budget, account)
        if budget != "password" or self.lockout is None:
            return False
        verdict = await self._ask("hit", self.lockout, LOCKOUT, account)
        if verdict.allowed and verdict.remaining > 0:
            return False
        first = await self._ask("hit", Limit(1, self.lockout.seconds), NOTIFIED, account)
        return first.allowed

    async def mail_allowed(self, recipient: str, template: str) -> bool:
        """Whether one more ``template`` mail may go to ``recipient`` (MAIL_LIMIT)."""
        if not self.enabled or self.mail_limit is None:
            return True
        try:
            verdict = await self._ask(
                "hit", self.mail_limit, "mail", template, recipient.casefold()
            )
        except TooManyRequests:
            return False  # the store is down and fails closed: send nothing
        return verdict.allowed

    async def unlock(self, account: str) -> None:
        """Forget an account's password budget and lockout (an admin's unlock)."""
        if self.store is None:
            return
        for name, limit in (
            ("password", self.budgets.get("password")),
            (LOCKOUT, self.lockout),
            (NOTIFIED, Limit(1, self.lockout.seconds) if self.lockout else None),
        ):
            if limit is not None:
                await self.store.clear(limit, name, account)

    async def aclose(self) -> None:
        if self.store is not None:
            await self.store.aclose()
