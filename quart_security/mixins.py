"""Model mixins: the behaviour Flask-Security puts on users, roles and passkeys.

No I/O here. Anything that needs the extension (auth tokens) reaches it through
``quart_security.state.current_security()`` so the mixins stay importable by
model modules before any app exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


def permissions_as_set(value: Any) -> set[str]:
    """Role permissions as a set, whatever form the datastore keeps them in.

    Flask-Security stores them as a comma-joined string (AsaList) or a list.
    """
    if value is None:
        return set()
    if isinstance(value, str):
        return {p.strip() for p in value.split(",") if p.strip()}
    if isinstance(value, Iterable):
        return {str(p).strip() for p in value if str(p).strip()}
    raise TypeError(f"permissions must be a string or a list, not {type(value).__name__}")


class RoleMixin:
    """Roles compare and hash by name, as in Flask-Security."""

    name: Any
    permissions: Any

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return bool(self.name == other)
        if isinstance(other, RoleMixin):
            return bool(self.name == other.name)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash(self.name)

    def get_permissions(self) -> set[str]:
        return permissions_as_set(getattr(self, "permissions", None))

    def add_permissions(self, permissions: Any) -> None:
        self.permissions = sorted(self.get_permissions() | permissions_as_set(permissions))

    def remove_permissions(self, permissions: Any) -> None:
        self.permissions = sorted(self.get_permissions() - permissions_as_set(permissions))


class UserMixin:
    """Behaviour shared by every user model, whatever the datastore."""

    fs_uniquifier: Any
    active: Any
    roles: Any

    # Flask-Login's protocol, kept for templates and apps written against it.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    def get_id(self) -> str:
        return str(self.fs_uniquifier)

    def has_role(self, role: str | RoleMixin) -> bool:
        name = role if isinstance(role, str) else role.name
        return any(r.name == name for r in self.roles or ())

    def has_permission(self, permission: str) -> bool:
        return any(permission in r.get_permissions() for r in self.roles or ())

    def get_permissions(self) -> set[str]:
        perms: set[str] = set()
        for role in self.roles or ():
            perms |= role.get_permissions()
        return perms

    def get_security_payload(self) -> dict[str, Any]:
        """What JSON responses include as ``user``; override to add fields."""
        return {}

    def get_redirect_qparams(self, existing: Mapping[str, str] | None = None) -> dict[str, str]:
        """Query parameters added to SPA redirects (email/identity)."""
        params = dict(existing or {})
        email = getattr(self, "email", None)
        if email:
            params["email"] = str(email)
        identity = self.calc_username()
        if identity:
            params["identity"] = identity
        return params

    def calc_username(self) -> str:
        """The first non-empty identity attribute, for display and mails."""
        for attr in ("username", "email", "us_phone_number"):
            value = getattr(self, attr, None)
            if value:
                return str(value)
        return ""

    def check_tf_required(
        self, tf_setup_methods: list[tuple[str, str]], tf_fresh: bool
    ) -> tuple[bool, list[tuple[str, str]]]:
        """Whether this user must give a second factor now (Flask-Security 5.8's hook).

        ``tf_setup_methods`` are (method, label) pairs the user has set up;
        ``tf_fresh`` is True when this device completed two-factor recently
        (the validity cookie). Override to require it by role, say; it is
        called after the first factor, on every way in.
        """
        from .state import current_security

        return default_tf_required(current_security().cv, tf_setup_methods, tf_fresh)

    def check_tf_required_setup(self) -> bool:
        """Whether /tf-setup must not offer "disable" (Flask-Security 5.8's hook)."""
        from .state import current_security

        return bool(current_security().cv("TWO_FACTOR_REQUIRED"))

    def tf_send_security_token(self, method: str, **kwargs: Any) -> Any:
        """Send this user a two-factor code by ``method``: None, or the error text.

        Flask-Security's wrapper (``totp_secret`` and ``phone_number``
        keywords). A coroutine in quart_security, a plain call in flask_compat.
        In a request, mail goes out after the request's commit.
        """
        from .state import current_security

        return current_security().send_tf_token(self, method, **kwargs)

    def get_auth_token(self) -> str:
        """A signed, Flask-Security compatible auth token for this user."""
        from .state import current_security

        return current_security().tokens.auth_token_for(self)

    def augment_auth_token(self, tdata: dict[str, Any]) -> None:
        """Hook: add claims to a new auth token."""

    def verify_auth_token(self, data: Mapping[str, Any]) -> bool:
        """Hook: extra checks on a presented auth token (default: accept)."""
        return True


class WebAuthnMixin:
    """Behaviour of a stored passkey credential."""

    user_id: Any

    def get_user_mapping(self) -> dict[str, Any]:
        """How to find the owner of this credential with ``find_user``."""
        return {"id": self.user_id}


class AnonymousUser:
    """The user of a request that carries no valid credentials."""

    id = None
    fs_uniquifier = None
    email = None
    active = False
    roles: tuple[RoleMixin, ...] = ()
    is_authenticated = False
    is_anonymous = True
    is_active = False

    def get_id(self) -> None:
        return None

    def has_role(self, role: str | RoleMixin) -> bool:
        return False

    def has_permission(self, permission: str) -> bool:
        return False

    def get_permissions(self) -> set[str]:
        return set()

    def __bool__(self) -> bool:
        # Flask-Login's AnonymousUserMixin is truthy; keep that for templates
        # that write ``{% if current_user %}``.
        return True


def default_tf_required(
    cv: Any, tf_setup_methods: list[tuple[str, str]], tf_fresh: bool
) -> tuple[bool, list[tuple[str, str]]]:
    """Flask-Security's rule: required (or set up), unless this device is trusted
    and TWO_FACTOR_ALWAYS_VALIDATE is off."""
    if (cv("TWO_FACTOR_REQUIRED") or tf_setup_methods) and (
        cv("TWO_FACTOR_ALWAYS_VALIDATE") or not tf_fresh
    ):
        return True, tf_setup_methods
    return False, tf_setup_methods
