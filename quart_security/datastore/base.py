"""The async datastore contract and the logic every backend shares.

Method names and meanings are Flask-Security's ``UserDatastore``; in
quart_security every method is a coroutine, because every backend may do I/O.
A backend implements the small set of abstract primitives at the bottom of the
class; everything above them is written once here.

Unit of work: a backend keeps one session (or none, for MongoDB) per task
context. ``commit`` makes changes durable and keeps the session open;
``end_unit_of_work`` closes it (rolling back anything uncommitted). The
extension ends the unit of work at the end of every request; code outside a
request uses ``async with datastore.unit_of_work(): ...``.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Generic, TypeVar

from ..errors import DatastoreError
from ..mixins import RoleMixin, UserMixin, WebAuthnMixin, permissions_as_set

UserT = TypeVar("UserT", bound=UserMixin)
RoleT = TypeVar("RoleT", bound=RoleMixin)


#: The per-user fields behind two-factor replay protection and bounded guessing.
TF_COUNTER_FIELDS = ("tf_totp_last_counter", "tf_code_attempts")
#: The largest TOTP time step a counter column holds (a 32-bit SQL INTEGER).
MAX_TF_COUNTER = 2**31 - 1


def new_uniquifier() -> str:
    """A fresh random identifier (fs_uniquifier, token uniquifier, user handle)."""
    return uuid.uuid4().hex


class UserDatastore(abc.ABC, Generic[UserT, RoleT]):
    """Abstract async user datastore with Flask-Security's method names."""

    #: False when writes are immediate (MongoDB): ``rollback`` cannot undo them.
    transactional: ClassVar[bool] = True

    def __init__(
        self,
        user_model: type[UserT],
        role_model: type[RoleT],
        webauthn_model: type[WebAuthnMixin] | None = None,
    ) -> None:
        self.user_model = user_model
        self.role_model = role_model
        self.webauthn_model = webauthn_model

    # ------------------------------------------------------------------ unit of work
    @abc.abstractmethod
    async def put(self, model: Any) -> Any:
        """Stage ``model`` for saving (SQL) or save it (document stores)."""

    @abc.abstractmethod
    async def delete(self, model: Any) -> None:
        """Delete ``model``."""

    @abc.abstractmethod
    async def commit(self) -> None:
        """Make staged changes durable; the unit of work stays open."""

    @abc.abstractmethod
    async def rollback(self) -> None:
        """Discard staged changes."""

    @abc.abstractmethod
    async def end_unit_of_work(self, *, commit: bool = False) -> None:
        """Close this context's session, committing first if asked."""

    async def flush(self) -> None:
        """Send the staged changes to the database now, without committing.

        The database's constraints then judge them (a unique index refusing a
        racing identity raises DuplicateIdentityError here, not at the commit
        at the end of the request). A no-op where writes are immediate.
        """

    async def release_connection(self) -> None:
        """Give the connection back while the request waits on something slow.

        Called before awaiting a password hash: a login waits ~0.2-3 s for the
        hashing pool, and holding a pooled connection that long lets a login
        storm drain the pool and stall every other request. No-op by default.
        """

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[None]:
        """Scope for code outside a request: commit on success, roll back on error."""
        try:
            yield
        except BaseException:
            await self.end_unit_of_work(commit=False)
            raise
        await self.end_unit_of_work(commit=True)

    @abc.abstractmethod
    async def compare_and_set(self, model: Any, field: str, expected: Any, new_value: Any) -> bool:
        """Set ``field`` to ``new_value`` only if it still holds ``expected``; atomic.

        The primitive behind everything single use (confirm, reset and
        change-email tokens, codes): of many parallel callers that read the same
        ``expected``, exactly one gets True. ``model`` is updated in memory
        when it wins. ``expected=None`` matches a missing or NULL field.
        """

    # ------------------------------------------------------------------ backend primitives
    @abc.abstractmethod
    async def find_user(self, case_insensitive: bool = False, **kwargs: Any) -> UserT | None:
        """One user by a single attribute, roles loaded in the same round trip."""

    @abc.abstractmethod
    async def find_role(self, role: str) -> RoleT | None:
        """One role by name."""

    @abc.abstractmethod
    async def _add_role(self, user: UserT, role: RoleT) -> bool:
        """Attach ``role`` to ``user``; False if it was already there."""

    @abc.abstractmethod
    async def _remove_role(self, user: UserT, role: RoleT) -> bool:
        """Detach ``role`` from ``user``; False if it was not there."""

    # ------------------------------------------------------------------ users
    def _prepare_user_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Defaults Flask-Security applies on create_user."""
        kwargs.setdefault("active", True)
        kwargs.setdefault("fs_uniquifier", new_uniquifier())
        for optional in ("fs_token_uniquifier", "fs_webauthn_user_handle"):
            if hasattr(self.user_model, optional):
                kwargs.setdefault(optional, new_uniquifier())
        return kwargs

    async def _resolve_roles(self, roles: Iterable[str | RoleT]) -> list[RoleT]:
        resolved: list[RoleT] = []
        for role in roles:
            if isinstance(role, str):
                found = await self.find_role(role)
                if found is None:
                    raise ValueError(f"role {role!r} does not exist")
                resolved.append(found)
            else:
                resolved.append(role)
        return resolved

    async def create_user(self, **kwargs: Any) -> UserT:
        """Create a user; ``password`` must already be hashed (or None)."""
        roles = await self._resolve_roles(kwargs.pop("roles", None) or ())
        kwargs = self._prepare_user_kwargs(kwargs)
        user = self.user_model(**kwargs)
        user = await self._init_roles(user, roles)
        return await self.put(user)  # type: ignore[no-any-return]

    async def _init_roles(self, user: UserT, roles: list[RoleT]) -> UserT:
        """Give a brand-new user its roles (backends override for their storage)."""
        user.roles = list(roles)
        return user

    async def delete_user(self, user: UserT) -> None:
        await self.delete(user)

    async def add_role_to_user(self, user: UserT, role: str | RoleT) -> bool:
        (resolved,) = await self._resolve_roles([role])
        added = await self._add_role(user, resolved)
        if added:
            await self.put(user)
        return added

    async def remove_role_from_user(self, user: UserT, role: str | RoleT) -> bool:
        found = await self.find_role(role) if isinstance(role, str) else role
        if found is None:
            return False
        removed = await self._remove_role(user, found)
        if removed:
            await self.put(user)
        return removed

    async def toggle_active(self, user: UserT) -> bool:
        user.active = not user.active
        await self.put(user)
        return True

    async def deactivate_user(self, user: UserT) -> bool:
        if not user.active:
            return False
        user.active = False
        await self.put(user)
        return True

    async def activate_user(self, user: UserT) -> bool:
        if user.active:
            return False
        user.active = True
        await self.put(user)
        return True

    async def set_uniquifier(self, user: UserT, uniquifier: str | None = None) -> None:
        """Rotate fs_uniquifier: every session and auth token of the user ends."""
        user.fs_uniquifier = uniquifier or new_uniquifier()
        await self.put(user)

    async def set_token_uniquifier(self, user: UserT, uniquifier: str | None = None) -> None:
        """Rotate fs_token_uniquifier (auth tokens only), when the model has it."""
        if not hasattr(user, "fs_token_uniquifier"):
            raise ValueError("the user model has no fs_token_uniquifier column")
        user.fs_token_uniquifier = uniquifier or new_uniquifier()
        await self.put(user)

    async def reset_user_access(self, user: UserT) -> None:
        """Revoke everything: sessions, tokens, second factors, passkeys, codes.

        The password stays, as in Flask-Security.
        """
        await self.set_uniquifier(user)
        if hasattr(user, "fs_token_uniquifier"):
            await self.set_token_uniquifier(user)
        for attr in ("us_totp_secrets", "us_phone_number"):
            if hasattr(user, attr):
                setattr(user, attr, None)
        await self.tf_reset(user)
        if hasattr(user, "mf_recovery_codes"):
            user.mf_recovery_codes = None
        if self.webauthn_model is not None:
            await self.webauthn_reset(user)
        await self.put(user)

    # ------------------------------------------------------------------ roles
    async def create_role(self, **kwargs: Any) -> RoleT:
        if "permissions" in kwargs:
            kwargs["permissions"] = sorted(permissions_as_set(kwargs["permissions"]))
        role = self.role_model(**kwargs)
        return await self.put(role)  # type: ignore[no-any-return]

    async def find_or_create_role(self, name: str, **kwargs: Any) -> RoleT:
        role = await self.find_role(name)
        if role is not None:
            return role
        return await self.create_role(name=name, **kwargs)

    async def add_permissions_to_role(self, role: str | RoleT, permissions: Any) -> bool:
        found = await self.find_role(role) if isinstance(role, str) else role
        if found is None:
            return False
        found.add_permissions(permissions)
        await self.put(found)
        return True

    async def remove_permissions_from_role(self, role: str | RoleT, permissions: Any) -> bool:
        found = await self.find_role(role) if isinstance(role, str) else role
        if found is None:
            return False
        found.remove_permissions(permissions)
        await self.put(found)
        return True

    # ------------------------------------------------------------------ two-factor
    async def tf_set(
        self,
        user: UserT,
        primary_method: str,
        totp_secret: str | None = None,
        phone: str | None = None,
    ) -> None:
        """Enable two-factor ``primary_method``; a missing secret or phone stays as stored.

        A new TOTP secret clears ``tf_totp_last_counter``: the time steps
        accepted under the old secret say nothing about the new one.
        """
        user.tf_primary_method = primary_method  # type: ignore[attr-defined]
        if totp_secret is not None:
            if totp_secret != getattr(user, "tf_totp_secret", None) and self._user_has_field(
                "tf_totp_last_counter"
            ):
                user.tf_totp_last_counter = None  # type: ignore[attr-defined]
            user.tf_totp_secret = totp_secret  # type: ignore[attr-defined]
        if phone is not None:
            user.tf_phone_number = phone  # type: ignore[attr-defined]
        await self.put(user)

    async def tf_reset(self, user: UserT) -> None:
        """Disable two-factor: method, secret, phone and both counters."""
        for attr in ("tf_primary_method", "tf_totp_secret", "tf_phone_number"):
            if hasattr(user, attr):
                setattr(user, attr, None)
        for attr in TF_COUNTER_FIELDS:
            if self._user_has_field(attr):
                setattr(user, attr, None)
        await self.put(user)

    # ------------------------------------------------------------------ two-factor counters
    def _user_has_field(self, attr: str) -> bool:
        """Does the user model store ``attr``? Backends that know their mapping say better."""
        return hasattr(self.user_model, attr)

    def _require_user_field(self, attr: str, caller: str) -> None:
        if not self._user_has_field(attr):
            raise ValueError(f"{caller}: {self.user_model.__name__} has no column {attr!r}")

    def supports_tf_counters(self) -> bool:
        """True when the user model stores both two-factor counters.

        The extension refuses the two-factor guard settings at start-up for a
        model without them, rather than failing at the first code submitted.
        """
        return all(self._user_has_field(attr) for attr in TF_COUNTER_FIELDS)

    @staticmethod
    def _check_counter(counter: int) -> None:
        """A caller bug, said clearly before the database refuses it less clearly."""
        if not isinstance(counter, int) or isinstance(counter, bool):
            raise ValueError(f"counter must be an int, not {type(counter).__name__}")
        if not 0 <= counter <= MAX_TF_COUNTER:
            raise ValueError(f"counter must be between 0 and {MAX_TF_COUNTER}, not {counter}")

    @abc.abstractmethod
    async def tf_advance_counter(self, user: UserT, counter: int) -> bool:
        """Move ``tf_totp_last_counter`` forward to ``counter`` if it is NULL or lower; atomic.

        The replay guard of a code: of many parallel callers with the same
        time step, exactly one gets True; a step at or below the stored one
        gets False. ``user`` holds the new value when it wins.
        """

    @abc.abstractmethod
    async def tf_count_attempt(self, user: UserT) -> int:
        """Add one to ``tf_code_attempts`` (NULL counts as 0) atomically; the new count.

        Parallel callers each get a distinct count, so a guessing limit holds
        however many requests race. ``user`` holds the new value.
        """

    async def tf_reset_attempts(self, user: UserT) -> None:
        """Forget the code attempts: a code was accepted, or a new pending login starts."""
        self._require_user_field("tf_code_attempts", "tf_reset_attempts")
        user.tf_code_attempts = None  # type: ignore[attr-defined]
        await self.put(user)

    # ------------------------------------------------------------------ recovery codes
    async def mf_set_recovery_codes(self, user: UserT, codes: Sequence[str] | None) -> None:
        """Replace every recovery code of ``user``."""
        if isinstance(codes, str):  # a str is a Sequence[str]: one char per "code"
            raise ValueError("mf_set_recovery_codes takes a list of codes, not a string")
        user.mf_recovery_codes = list(codes) if codes else None  # type: ignore[attr-defined]
        await self.put(user)

    async def mf_get_recovery_codes(self, user: UserT) -> list[str]:
        return list(getattr(user, "mf_recovery_codes", None) or [])

    @abc.abstractmethod
    async def mf_delete_recovery_code(self, user: UserT, index: int) -> bool:
        """Consume one code atomically: parallel uses of one code succeed once."""

    @abc.abstractmethod
    async def mf_consume_recovery_code(self, user: UserT, stored_value: str) -> bool:
        """Remove the stored entry ``stored_value`` if it is still there; atomic.

        Addressed by value, not by index, so a list changed meanwhile (another
        code used, new codes made) cannot make it remove the wrong entry. Of
        many parallel callers with the same value, exactly one gets True; the
        others, and a caller whose value is not stored, get False. ``user`` is
        brought up to date with the stored list either way.
        """

    # ------------------------------------------------------------------ unified sign in
    async def us_get_totp_secrets(self, user: UserT) -> dict[str, str]:
        """Method -> (encrypted) secret, stored as a JSON object as in Flask-Security."""
        raw = getattr(user, "us_totp_secrets", None)
        if not raw:
            return {}
        try:
            secrets = json.loads(raw)
        except ValueError as exc:
            raise DatastoreError("us_totp_secrets is not valid JSON") from exc
        if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
        ):
            raise DatastoreError("us_totp_secrets is not a JSON object of strings")
        return secrets

    async def us_put_totp_secrets(self, user: UserT, secrets: Mapping[str, str] | None) -> None:
        user.us_totp_secrets = json.dumps(dict(secrets)) if secrets else None  # type: ignore[attr-defined]
        await self.put(user)

    async def us_set(
        self,
        user: UserT,
        method: str,
        totp_secret: str | None = None,
        phone: str | None = None,
    ) -> None:
        """Enable ``method``; a missing secret or phone leaves the stored one alone."""
        if totp_secret:
            secrets = await self.us_get_totp_secrets(user)
            secrets[method] = totp_secret
            user.us_totp_secrets = json.dumps(secrets)  # type: ignore[attr-defined]
        if phone:
            user.us_phone_number = phone  # type: ignore[attr-defined]
        await self.put(user)

    async def us_reset(self, user: UserT, method: str | None = None) -> None:
        """Disable one unified sign in method, or all of them (and the phone)."""
        if method is None:
            user.us_totp_secrets = None  # type: ignore[attr-defined]
            user.us_phone_number = None  # type: ignore[attr-defined]
        else:
            secrets = await self.us_get_totp_secrets(user)
            secrets.pop(method, None)
            user.us_totp_secrets = json.dumps(secrets) if secrets else None  # type: ignore[attr-defined]
            if method == "sms":
                user.us_phone_number = None  # type: ignore[attr-defined]
        await self.put(user)

    # ------------------------------------------------------------------ webauthn
    async def set_webauthn_user_handle(self, user: UserT, user_handle: str | None = None) -> None:
        user.fs_webauthn_user_handle = user_handle or new_uniquifier()  # type: ignore[attr-defined]
        await self.put(user)

    async def create_webauthn(
        self,
        user: UserT,
        credential_id: bytes,
        public_key: bytes,
        name: str,
        sign_count: int,
        usage: str,
        device_type: str,
        backup_state: bool,
        transports: list[str] | None = None,
        extensions: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Store a new passkey for ``user`` (backends with passkeys override)."""
        raise NotImplementedError("this datastore has no WebAuthn support")

    async def find_webauthn(self, credential_id: bytes) -> Any:
        raise NotImplementedError("this datastore has no WebAuthn support")

    async def find_user_webauthns(self, user: UserT) -> list[Any]:
        """Every passkey of ``user`` (relationships never lazy-load under asyncio)."""
        raise NotImplementedError("this datastore has no WebAuthn support")

    async def find_user_from_webauthn(self, credential: WebAuthnMixin) -> UserT | None:
        return await self.find_user(**credential.get_user_mapping())

    async def delete_webauthn(self, credential: WebAuthnMixin) -> None:
        await self.delete(credential)

    async def webauthn_reset(self, user: UserT) -> None:
        """Delete every passkey of ``user`` (backends with passkeys override)."""
        raise NotImplementedError("this datastore has no WebAuthn support")

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _single_criterion(kwargs: Mapping[str, Any]) -> tuple[str, Any]:
        """find_user takes exactly one attribute, as Flask-Security's SQL stores do."""
        if len(kwargs) != 1:
            raise ValueError("find_user takes exactly one attribute=value pair")
        ((attr, value),) = kwargs.items()
        return attr, value
