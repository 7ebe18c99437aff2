"""Document classes for the MongoDB datastore: plain Python objects, no ODM.

Field names are those of the SQL models (and of Flask-Security's MongoEngine
examples), so an existing Flask-Security MongoDB database reads unchanged:

- ``id`` is the document's ``_id``;
- ``roles`` is stored in the user document as a list of role ``_id`` values,
  which is what MongoEngine's ``ListField(ReferenceField(Role))`` writes;
- a passkey stores its owner's ``_id`` under ``user`` (MongoEngine's
  ``ReferenceField("User")``) and exposes it as ``user_id``, like the SQL model.

Every field is declared once with ``doc_field``. ``from_document`` checks the
type of every value another program may have written and raises
``InvalidDocumentError`` naming the collection, the ``_id`` and the field, so
a bad document fails at load time and not as an AttributeError deep inside a
flow. Subclass a model to add fields::

    class User(MongoUser):
        security_number: int | None = doc_field("int")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from bson import ObjectId

from ..errors import DatastoreError, InvalidFieldValueError
from ..mixins import RoleMixin, UserMixin, WebAuthnMixin, permissions_as_set

FieldKind = Literal["str", "bool", "int", "datetime", "bytes", "id", "str_list", "permissions"]

_KIND_NAMES: dict[FieldKind, str] = {
    "str": "a string",
    "bool": "a boolean",
    "int": "an integer",
    "datetime": "a date",
    "bytes": "binary data",
    "id": "an id (ObjectId, string or integer)",
    "str_list": "a list of strings",
    "permissions": "a list of strings or a comma-separated string",
}


class InvalidDocumentError(DatastoreError):
    """A stored document has a missing or mistyped field."""

    def __init__(self, collection: str, document_id: Any, field: str, problem: str) -> None:
        super().__init__(
            f"MongoDB document in collection {collection!r} with _id {document_id!r}: "
            f"field {field!r} {problem}"
        )
        self.collection = collection
        self.document_id = document_id
        self.field = field


class _BadValueError(Exception):
    """Raised by a decoder; turned into InvalidDocumentError with context."""


@dataclass(frozen=True)
class DocField:
    """How one attribute is stored: kind, document key, requiredness, length.

    ``required`` applies to stored documents (a missing or null value is an
    error on load) and to writes; ``default`` is used by the constructor only;
    ``max_length`` (characters, or bytes for binary) is checked on writes.
    """

    kind: FieldKind
    required: bool = False
    key: str | None = None
    default: Any = None
    max_length: int | None = None
    name: str = ""

    @property
    def document_key(self) -> str:
        return self.key or self.name


def doc_field(
    kind: FieldKind,
    *,
    required: bool = False,
    key: str | None = None,
    default: Any = None,
    max_length: int | None = None,
) -> Any:
    """Declare a stored attribute (typed ``Any`` so it can sit under any annotation)."""
    return DocField(kind=kind, required=required, key=key, default=default, max_length=max_length)


def normalize_datetime(value: datetime) -> datetime:
    """Naive UTC with millisecond precision: exactly what BSON stores.

    Writing the normalized value back on the object keeps what a caller holds
    equal to what a later read returns.
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def is_id_value(value: Any) -> bool:
    return isinstance(value, ObjectId | str | bytes) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _decode(kind: FieldKind, value: Any) -> Any:
    """Stored value -> Python value; raises _BadValueError on a wrong type.

    Lenient on what is not a type error (lengths), strict on types: a flow
    must never see a string where it tests a boolean.
    """
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if kind == "datetime" and isinstance(value, datetime):
        return normalize_datetime(value)
    if kind == "bytes" and isinstance(value, bytes):
        return bytes(value)  # bson.Binary -> plain bytes
    if kind == "id" and is_id_value(value):
        return value
    if kind == "str_list" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if kind == "permissions":
        # Our writes and MongoEngine's ListField store a list; a comma string
        # is what a SQL-style AsaList column would hold.
        if isinstance(value, str):
            return sorted(permissions_as_set(value))
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    raise _BadValueError(f"has type {type(value).__name__}, expected {_KIND_NAMES[kind]}")


_INT64 = 2**63


def _text_problem(value: str, max_length: int | None) -> str | None:
    if max_length is not None and len(value) > max_length:
        return f"is longer than {max_length} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def value_problem(field: DocField, value: Any) -> tuple[str, bool] | None:
    """Why ``value`` (not None) cannot be stored in ``field``: (message, wrong_type).

    ``wrong_type`` False means the value has the right type but could never
    be stored (too long, NUL...), so a lookup with it simply matches nothing.
    """
    kind = field.kind
    if kind == "str":
        if not isinstance(value, str):
            return "must be a string", True
        text = _text_problem(value, field.max_length)
        return (text, False) if text else None
    if kind == "bool":
        return None if isinstance(value, bool) else ("must be a boolean", True)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer", True
        return None if -_INT64 <= value < _INT64 else ("is out of range", False)
    if kind == "datetime":
        return None if isinstance(value, datetime) else ("must be a datetime", True)
    if kind == "bytes":
        if not isinstance(value, bytes | bytearray | memoryview):
            return "must be bytes", True
        if field.max_length is not None and len(value) > field.max_length:
            return f"is longer than {field.max_length} bytes", False
        return None
    if kind == "id":
        return None if is_id_value(value) else ("must be an ObjectId, string or integer", True)
    # str_list / permissions
    if kind == "permissions" and isinstance(value, str):
        items: Any = [value]
    elif isinstance(value, list | tuple) or (
        kind == "permissions" and isinstance(value, set | frozenset)
    ):
        items = value
    else:
        return "must be a list of strings", True
    for item in items:
        if not isinstance(item, str):
            return "must be a list of strings", True
        text = _text_problem(item, None)
        if text:
            return f"has an item that {text}", False
    return None


def encode_value(field: DocField, value: Any) -> Any:
    """Python value -> stored value; InvalidFieldValueError if it cannot be stored."""
    problem = value_problem(field, value)
    if problem is not None:
        raise InvalidFieldValueError(field.name, problem[0])
    if field.kind == "datetime":
        return normalize_datetime(value)
    if field.kind == "bytes":
        return bytes(value)
    if field.kind == "str_list":
        return list(value)
    if field.kind == "permissions":
        return list(value) if isinstance(value, list) else sorted(permissions_as_set(value))
    return value


class MongoDocument:
    """Base of the document classes: field table, mapping, change tracking."""

    collection: ClassVar[str] = ""
    fields: ClassVar[dict[str, DocField]] = {}

    id: Any = doc_field("id", key="_id")

    # The stored form as last read or written; None until persisted. The
    # datastore diffs against it so a save writes only what changed and
    # leaves keys it does not manage (written by other programs) untouched.
    _stored: dict[str, Any] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[str, DocField] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, DocField):
                    table[attr] = replace(value, name=attr)
                elif attr in table:
                    # A subclass drops an inherited field by rebinding its name.
                    del table[attr]
        cls.fields = table

    def __init__(self, **kwargs: Any) -> None:
        for attr, field in self.fields.items():
            default = field.default
            setattr(self, attr, list(default) if isinstance(default, list) else default)
        self._init_relations()
        allowed = set(self.fields) | set(self.relation_names())
        for attr, value in kwargs.items():
            if attr not in allowed:
                raise TypeError(f"{type(self).__name__} has no field {attr!r}")
            setattr(self, attr, value)
        self._stored = None

    # ------------------------------------------------------------------ relations
    @classmethod
    def relation_names(cls) -> tuple[str, ...]:
        """Attributes filled by the datastore from other collections."""
        return ()

    def _init_relations(self) -> None:
        """Give relation attributes their empty value."""

    # ------------------------------------------------------------------ mapping
    @classmethod
    def attribute_for_key(cls, key: str) -> str | None:
        """The attribute stored under document ``key`` (None if unmanaged)."""
        for attr, field in cls.fields.items():
            if field.document_key == key:
                return attr
        return None

    @classmethod
    def from_document(cls, document: Mapping[str, Any], *, collection: str | None = None) -> Self:
        """Build an object from a stored document, checking every field.

        ``__init__`` is not called (as with SQLAlchemy's loading), so a
        subclass constructor with required arguments still loads.
        """
        where = collection or cls.collection
        if not isinstance(document, Mapping):
            raise DatastoreError(f"MongoDB collection {where!r} returned a non-document")
        doc_id = document.get("_id")
        obj = cls.__new__(cls)
        for attr, field in cls.fields.items():
            raw = document.get(field.document_key)
            if raw is None:
                if field.required:
                    raise InvalidDocumentError(
                        where, doc_id, field.document_key, "is missing (required)"
                    )
                setattr(obj, attr, None)
                continue
            try:
                setattr(obj, attr, _decode(field.kind, raw))
            except _BadValueError as exc:
                raise InvalidDocumentError(where, doc_id, field.document_key, str(exc)) from None
        obj._init_relations()
        return obj

    def normalize(self) -> None:
        """Rewrite attributes into the form BSON stores (dates, permission lists)."""
        for attr, field in self.fields.items():
            value = getattr(self, attr, None)
            if value is None:
                continue
            if field.kind == "datetime" and isinstance(value, datetime):
                setattr(self, attr, normalize_datetime(value))
            elif field.kind == "permissions" and not isinstance(value, list):
                if value_problem(field, value) is None:
                    setattr(self, attr, encode_value(field, value))

    def to_document(self) -> dict[str, Any]:
        """The stored form; None values are left out, as MongoEngine does."""
        doc: dict[str, Any] = {}
        for attr, field in self.fields.items():
            value = getattr(self, attr, None)
            if value is None:
                if field.required:
                    raise InvalidFieldValueError(attr, "is required")
                continue
            doc[field.document_key] = encode_value(field, value)
        return doc

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={getattr(self, 'id', None)!r}>"


class MongoRole(MongoDocument, RoleMixin):
    """A role document in the ``role`` collection."""

    collection: ClassVar[str] = "role"

    name: Any = doc_field("str", required=True, max_length=80)
    description: str | None = doc_field("str", max_length=255)
    permissions: Any = doc_field("permissions")
    update_datetime: datetime | None = doc_field("datetime")


class MongoWebAuthn(MongoDocument, WebAuthnMixin):
    """A registered passkey in the ``webauthn`` collection."""

    collection: ClassVar[str] = "webauthn"

    credential_id: bytes = doc_field("bytes", required=True, max_length=1024)
    public_key: bytes = doc_field("bytes", required=True)
    sign_count: int | None = doc_field("int", default=0)
    transports: list[str] | None = doc_field("str_list")
    extensions: str | None = doc_field("str", max_length=255)
    create_datetime: datetime | None = doc_field("datetime")
    lastuse_datetime: datetime = doc_field("datetime", required=True)
    name: str = doc_field("str", required=True, max_length=64)
    usage: str = doc_field("str", required=True, max_length=64)
    backup_state: bool = doc_field("bool", required=True)
    device_type: str = doc_field("str", required=True, max_length=64)
    user_id: Any = doc_field("id", required=True, key="user")


class MongoUser(MongoDocument, UserMixin):
    """A user document in the ``user`` collection.

    ``roles`` holds role objects in memory and role ``_id`` values in the
    document. ``webauthn`` holds the user's passkeys, loaded with the user;
    the datastore keeps the document's ``webauthn`` id list (MongoEngine's
    shape) in step when passkeys are added or deleted.
    """

    collection: ClassVar[str] = "user"
    roles_key: ClassVar[str] = "roles"
    webauthn_key: ClassVar[str] = "webauthn"

    email: Any = doc_field("str", required=True, max_length=255)
    username: str | None = doc_field("str", max_length=255)
    password: str | None = doc_field("str", max_length=255)
    active: Any = doc_field("bool", required=True, default=True)
    fs_uniquifier: Any = doc_field("str", required=True, max_length=64)
    fs_webauthn_user_handle: str | None = doc_field("str", max_length=64)
    confirmed_at: datetime | None = doc_field("datetime")
    last_login_at: datetime | None = doc_field("datetime")
    current_login_at: datetime | None = doc_field("datetime")
    last_login_ip: str | None = doc_field("str", max_length=64)
    current_login_ip: str | None = doc_field("str", max_length=64)
    login_count: int | None = doc_field("int")
    tf_primary_method: str | None = doc_field("str", max_length=64)
    tf_totp_secret: str | None = doc_field("str", max_length=255)
    tf_phone_number: str | None = doc_field("str", max_length=128)
    # Not in Flask-Security: replay protection and bounded code guessing.
    tf_totp_last_counter: int | None = doc_field("int")
    tf_code_attempts: int | None = doc_field("int")
    us_totp_secrets: str | None = doc_field("str")
    us_phone_number: str | None = doc_field("str", max_length=128)
    mf_recovery_codes: list[str] | None = doc_field("str_list")
    create_datetime: datetime | None = doc_field("datetime")
    update_datetime: datetime | None = doc_field("datetime")

    roles: Any
    webauthn: list[MongoWebAuthn]

    @classmethod
    def relation_names(cls) -> tuple[str, ...]:
        return ("roles", "webauthn")

    def _init_relations(self) -> None:
        self.roles = []
        self.webauthn = []

    @classmethod
    def role_ids_in(
        cls, document: Mapping[str, Any], *, collection: str | None = None
    ) -> list[Any]:
        """The role references of a stored user document, checked."""
        raw = document.get(cls.roles_key)
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(is_id_value(v) for v in raw):
            raise InvalidDocumentError(
                collection or cls.collection,
                document.get("_id"),
                cls.roles_key,
                "must be a list of role ids (ObjectId), as MongoEngine's "
                "ListField(ReferenceField(Role)) stores them",
            )
        return list(raw)

    def role_ids(self) -> list[Any]:
        ids: list[Any] = []
        for role in self.roles or ():
            role_id = getattr(role, "id", None)
            if role_id is None:
                raise ValueError(f"role {getattr(role, 'name', role)!r} must be saved first")
            if role_id not in ids:
                ids.append(role_id)
        return ids

    def to_document(self) -> dict[str, Any]:
        doc = super().to_document()
        doc[self.roles_key] = self.role_ids()
        return doc


class MongoTokenUniquifierUser(MongoUser):
    """A user with ``fs_token_uniquifier``: auth tokens then survive ``set_uniquifier``.

    Opt-in, as in the SQL models (``FsTokenUniquifierMixin``): with it, a
    password change ends sessions but not auth tokens (Flask-Security's
    design for long-lived API clients); without it, both end together.
    """

    fs_token_uniquifier: str | None = doc_field("str", max_length=64)
