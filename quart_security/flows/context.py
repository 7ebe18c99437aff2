"""What a flow works with: a small context, never ``Security`` and never a request.

The web layer builds one per request (web/flow_context.py); a test builds one
from a real datastore and no app (tests/flows/). Everything a flow may touch
is here, so a flow's dependencies are its signature: the datastore, the
password service and policy, the app's password and username utils, the
signed tokens, the settings, the clock, the identity attributes, the outbox
for mail and the builder of links in mail.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from blinker import Signal

from .. import signals
from ..clock import Clock, utcnow_naive
from ..crypto.password_policy import password_provided
from ..errors import MessageText, Problem, SecurityError
from ..outbox import MailIntent, Outbox, template_name

if TYPE_CHECKING:
    from ..crypto.password_policy import PasswordPolicy
    from ..crypto.passwords import PasswordService
    from ..crypto.tokens import TokenKit
    from ..datastore.base import UserDatastore
    from ..identity import IdentityResolver
    from ..password_util import PasswordUtil
    from ..username_util import UsernameUtil

#: Reads SECURITY_<key> (``Security.cv``, or a dict's ``__getitem__`` in tests).
ConfigReader = Callable[[str], Any]


class LinkBuilder(Protocol):
    """Absolute URLs of the library's endpoints, for links in mail.

    The web layer's builds them from SECURITY_EXTERNAL_BASE_URL (or
    SERVER_NAME) and the route table, never from the request's Host header.
    """

    def external_url(self, endpoint: str, **values: Any) -> str: ...


class AttemptGuard(Protocol):
    """The account budgets and lockout (throttle.py) as a flow sees them.

    ``before`` runs before a secret of an account is checked and raises
    TooManyRequests when the account is over its budget or locked (for a
    right and a wrong secret alike); ``failed`` records a wrong one.
    ``user`` is the account when the identity names one, ``identity`` what
    was typed (an unknown identity is counted too).
    """

    async def before(
        self, budget: str, user: Any, identity: Any = None, *, count: bool = True
    ) -> None: ...

    async def failed(
        self, budget: str, user: Any, identity: Any = None, *, counted: bool = True
    ) -> None: ...


class NoAttemptGuard:
    """No budgets (a flow run outside a request: tests, the CLI)."""

    async def before(
        self, budget: str, user: Any, identity: Any = None, *, count: bool = True
    ) -> None:
        return None

    async def failed(
        self, budget: str, user: Any, identity: Any = None, *, counted: bool = True
    ) -> None:
        return None


@dataclass(frozen=True)
class FlowContext:
    store: UserDatastore[Any, Any]
    passwords: PasswordService
    policy: PasswordPolicy
    tokens: TokenKit
    config: ConfigReader
    clock: Clock
    identity: IdentityResolver
    outbox: Outbox
    links: LinkBuilder
    #: The app's PasswordUtil and UsernameUtil (``Security.password_util`` and
    #: ``username_util``): every password and username a flow takes goes
    #: through them. An app's override may be sync or async.
    password_util: PasswordUtil
    username_util: UsernameUtil
    #: The sender of signals (Flask-Security sends them from the app).
    sender: Any = None
    #: The app's Totp (``Security.totp_factory``) when a multi-factor feature is on.
    totp: Any = None
    #: SECURITY_MSG_<key> as text for this request (an SMS is text, not a template).
    messages: Callable[..., str] | None = None
    #: The account budgets and lockout of this request's client.
    attempts: AttemptGuard = field(default_factory=NoAttemptGuard)

    def message(self, key: str, **kwargs: Any) -> str:
        """The text of SECURITY_MSG_<key> (the key itself without a translator)."""
        if self.messages is None:
            return key
        return self.messages(key, **kwargs)

    def now(self) -> datetime:
        """Naive UTC now from the injectable clock, the form the models store."""
        return utcnow_naive(self.clock)

    async def signal(self, signal: Signal, **kwargs: Any) -> None:
        await signals.send(signal, self.sender, **kwargs)

    def mail(
        self,
        template_key: str,
        subject_key: str,
        recipient: str,
        *,
        deliver: bool = True,
        **context: Any,
    ) -> None:
        """Put a mail in the outbox: its template and subject named by their settings."""
        template = template_name(self.config(template_key))
        subject = str(self.config(subject_key))
        self.outbox.add(MailIntent(template, subject, recipient, context, deliver))

    async def check_new_password(self, password: Any, user: Any, field: str) -> str:
        """The normalised ``password``, or SecurityError on ``field`` unless it may
        replace ``user``'s.

        Given (not only whitespace), then the PasswordUtil's ``validate``
        (length, context words, breached, or the app's own rules), every error
        it returns on ``field``.
        """
        if not password_provided(password):
            raise SecurityError("PASSWORD_NOT_PROVIDED", field=field)
        errors, normalized = await self.validate_password(password, is_register=False, user=user)
        if errors:
            raise SecurityError.of([Problem.from_message(field, e) for e in errors])
        return normalized

    async def validate_password(
        self, password: str, *, is_register: bool, **fields: Any
    ) -> tuple[list[str], str]:
        """(errors, normalised password) from the PasswordUtil, awaited if it is async.

        A util that passes a password but normalises it to nothing (or to no
        string) is refused here: nothing could hash it or sign in with it.
        """
        result = await _call_util(self.password_util.validate, password, is_register, **fields)
        errors, normalized = result
        errors = list(errors or [])
        if not errors and not password_provided(normalized):
            errors = [MessageText("PASSWORD_NOT_PROVIDED", "PASSWORD_NOT_PROVIDED")]
        return errors, normalized

    async def normalize_password(self, password: str) -> str:
        """The PasswordUtil's form of ``password``, as every entry applies it.

        A value that can never verify (not a string, empty, over
        PASSWORD_MAX_LENGTH) is left as it is: normalising a huge input would
        cost what the length cap is there to avoid.
        """
        if not self.passwords.context.acceptable(password):
            return password
        return str(await _settle(self.password_util.normalize(password)))

    async def validate_username(self, username: str) -> tuple[str | None, str | None]:
        """(error, normalised username) from the UsernameUtil, awaited if it is async."""
        error, normalized = await _call_util(self.username_util.validate, username)
        return error, normalized

    async def verify_password(self, user: Any, password: str) -> bool:
        """One verification whatever happens, and a transparent rehash on success.

        The password is normalised by the PasswordUtil first, as at every
        entry. A missing user or a user without a password costs a dummy
        verification of the same price, so the time taken tells nothing. The
        pooled database connection is given back while the hash runs (it
        takes 0.2-3 s).
        """
        stored = getattr(user, "password", None) if user is not None else None
        password = await self.normalize_password(password)
        await self.store.release_connection()
        if not isinstance(stored, str) or not stored:
            await self.passwords.dummy_verify(password)
            return False
        ok, new_hash = await self.passwords.verify_and_update(password, stored)
        if ok and new_hash:
            user.password = new_hash
            await self.store.put(user)
        return ok


async def _call_util(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an app's util method: awaited if async, else on a worker thread.

    A plain ``def`` override (a Flask app's, or one doing blocking I/O) never
    holds up the event loop, and may itself run the async default with
    ``asyncio.run`` (flask_compat's PasswordUtil does). The request's context
    variables go with it.
    """
    if inspect.iscoroutinefunction(method):
        return await method(*args, **kwargs)
    if getattr(method, "runs_inline", False):  # the library's own quick, I/O-free ones
        return await _settle(method(*args, **kwargs))
    return await _settle(await asyncio.to_thread(method, *args, **kwargs))


async def _settle(value: Any) -> Any:
    """An app's util may answer sync (a Flask app's) or async: await only awaitables."""
    if inspect.isawaitable(value):
        return await value
    return value
