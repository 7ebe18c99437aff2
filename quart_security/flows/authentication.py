"""The authentication pipeline: the one seam every way in goes through.

    first factor accepted (password, register, confirm, reset, a password
    change, and as they are built: a one-time code, a magic link, a passkey,
    an OAuth callback)
        -> may_authenticate(user)          the account rules
        -> second-factor plugins           none needed | a pending second step
        -> the login is completed          (web/login_session.py: session,
                                            freshness, remember, tracking, signals)

``decide`` is the core of it: the account rules, then each registered
second-factor plugin is asked whether this user, having proved themselves
this way, must take a second step. A view never signs a user in itself: it
hands the user and the proof to ``web.login_session.sign_in``, which asks
``decide`` and acts on the answer. A pending second step is not a session.

``may_authenticate`` is also asked on its own by every mechanism that
restores a login (session, remember cookie, auth token, HTTP Basic), so no
mechanism can skip a rule another one enforces. Its answer is a
SECURITY_MSG_* key, so the caller can say why, or say nothing specific
(RETURN_GENERIC_RESPONSES).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .context import FlowContext

#: Reads SECURITY_<key>: ``Security.cv`` or a flow context's config.
ConfigReader = Callable[[str], Any]


def requires_confirmation(cv: ConfigReader, user: Any) -> bool:
    """The account must confirm its email before it may sign in."""
    return bool(
        cv("CONFIRMABLE")
        and not cv("LOGIN_WITHOUT_CONFIRMATION")
        and getattr(user, "confirmed_at", None) is None
    )


def may_authenticate(cv: ConfigReader, user: Any) -> str | None:
    """None when ``user`` may be signed in now, else the message key of the refusal.

    Confirmation is checked before the active flag, in Flask-Security's order.
    """
    if user is None:
        return "USER_DOES_NOT_EXIST"
    if requires_confirmation(cv, user):
        return "CONFIRMATION_REQUIRED"
    if not user.is_active:
        return "DISABLED_ACCOUNT"
    return None


# ---------------------------------------------------------------------- the pipeline
@dataclass(frozen=True)
class Proof:
    """How a user proved who they are, as the pipeline and its plugins see it.

    ``via`` is Flask-Security's ``authn_via`` list ("password", "register",
    "confirm", "reset", "change", ...), as ``user_authenticated`` sends it.
    ``renews`` marks a proof given by a session that is already fully signed
    in (a password change signs the session in again under the new
    uniquifier): no second step is asked again.
    """

    via: tuple[str, ...]
    remember: bool | None = None
    renews: bool = False
    #: The fs_uniquifier that a valid two-factor validity cookie of this client
    #: names ("remember this device"), set by the web layer.
    trusted_device_of: str | None = None

    @classmethod
    def by(cls, *via: str, remember: bool | None = None, renews: bool = False) -> Proof:
        """``Proof.by("password", remember=True)``."""
        return cls(via, remember, renews)


@dataclass(frozen=True)
class PendingStep:
    """A second step a plugin started: the user is not signed in until it is done.

    ``state`` is the plugin's, kept by the web layer in the session (it must
    hold no secret: the session cookie is signed, not encrypted). ``payload``
    is what the JSON answer adds (Flask-Security's ``tf_required``,
    ``tf_state``, ...); ``endpoint`` is the security endpoint an HTML answer
    goes to.
    """

    plugin: str
    endpoint: str
    payload: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    state: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class SecondFactorPlugin(Protocol):
    """A way to ask for a second factor (email/authenticator/SMS codes, passkeys).

    The counterpart of Flask-Security's ``tf_plugin`` implementations. The
    pipeline asks every registered plugin, in order, after the account rules
    passed; the first that answers with a step wins. A plugin that cannot
    decide (its backing service is down) must raise, never answer None: the
    pipeline fails closed.
    """

    name: str

    async def second_step(self, ctx: FlowContext, user: Any, proof: Proof) -> PendingStep | None:
        """The step ``user`` must take after ``proof`` before being signed in, or None."""
        ...


class NoSecondFactor:
    """The plugin of an app without two-factor: never a second step."""

    name = "none"

    async def second_step(self, ctx: FlowContext, user: Any, proof: Proof) -> PendingStep | None:
        return None


@dataclass(frozen=True)
class Decision:
    """What the pipeline decided for one accepted first factor.

    Exactly one of: ``refusal`` (a message key: the account may not sign in),
    ``pending`` (a second step to take first), or neither (sign the user in).
    """

    user: Any
    proof: Proof
    refusal: str | None = None
    pending: PendingStep | None = None

    @property
    def signs_in(self) -> bool:
        return self.refusal is None and self.pending is None


async def decide(
    ctx: FlowContext, user: Any, proof: Proof, plugins: Sequence[SecondFactorPlugin]
) -> Decision:
    """The account rules, then the second-factor plugins, for one accepted first factor."""
    refusal = may_authenticate(ctx.config, user)
    if refusal is not None:
        return Decision(user, proof, refusal=refusal)
    if not proof.renews:
        for plugin in plugins:
            step = await plugin.second_step(ctx, user, proof)
            if step is not None:
                return Decision(user, proof, pending=step)
    return Decision(user, proof)
