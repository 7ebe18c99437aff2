"""MongoDB datastore over PyMongo's async API (Motor databases work too).

Pass an async database handle: ``AsyncMongoClient(url)["app"]`` or a Motor
``AsyncIOMotorDatabase``. Both share the method names used here; the handle
is used duck-typed, so the package never imports Motor (deprecated upstream).

Unit of work: MongoDB has no session to flush. ``put`` writes at once (only
the fields that changed, with ``$set``/``$unset``), ``delete`` deletes at once,
and ``commit``/``rollback``/``end_unit_of_work`` do nothing: a failed request
cannot roll back a write already made. Code that must not leave half a change
behind uses the atomic primitives below instead of a read-check-write.

Anything single use goes through ``consume_field`` or ``consume_list_item``:
one conditional update whose filter holds the expected current value, so of
N parallel consumers exactly one matches.

Case-insensitive lookups run with the collation of the unique email/username
indexes (locale "en", strength 2), never a regex built from user input.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from bson import ObjectId, Regex
from pymongo import AsyncMongoClient, MongoClient, ReturnDocument
from pymongo.collation import Collation
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from ..clock import Clock, SystemClock, utcnow_naive
from ..errors import DatastoreError, DuplicateIdentityError, InvalidFieldValueError
from ..models.mongo import (
    DocField,
    InvalidDocumentError,
    MongoDocument,
    MongoRole,
    MongoUser,
    MongoWebAuthn,
    encode_value,
    normalize_datetime,
    value_problem,
)
from .base import UserDatastore

MUserT = TypeVar("MUserT", bound=MongoUser)
MRoleT = TypeVar("MRoleT", bound=MongoRole)

#: Collation of the case-insensitive unique indexes and of the lookups using them.
CASE_INSENSITIVE = Collation(locale="en", strength=2)

_ROLES_AS = "_qs_roles"
_WEBAUTHN_AS = "_qs_webauthn"
_INDEX_IN_MESSAGE = re.compile(r"index: (\S+)")


class MongoCollectionLike(Protocol):
    """The collection methods used here (PyMongo async and Motor both have them)."""

    def find_one(self, *args: Any, **kwargs: Any) -> Any: ...
    def insert_one(self, *args: Any, **kwargs: Any) -> Any: ...
    def update_one(self, *args: Any, **kwargs: Any) -> Any: ...
    def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any: ...
    def update_many(self, *args: Any, **kwargs: Any) -> Any: ...
    def delete_one(self, *args: Any, **kwargs: Any) -> Any: ...
    def delete_many(self, *args: Any, **kwargs: Any) -> Any: ...
    def aggregate(self, *args: Any, **kwargs: Any) -> Any: ...
    def create_index(self, *args: Any, **kwargs: Any) -> Any: ...
    def index_information(self, *args: Any, **kwargs: Any) -> Any: ...


class MongoDatabaseLike(Protocol):
    """An async database handle: ``AsyncMongoClient()[name]`` or a Motor database."""

    def __getitem__(self, name: str) -> MongoCollectionLike: ...


_NO_MATCH: Any = object()

#: Values a MongoDB filter would read as something other than a literal.
_NOT_LITERAL = (Mapping, list, tuple, set, frozenset, re.Pattern, Regex)


def _check_scalar(name: str, value: Any) -> None:
    """Refuse operator documents, arrays and patterns (NoSQL operator injection)."""
    if isinstance(value, _NOT_LITERAL):
        raise ValueError(f"{name} takes a plain value, not {type(value).__name__}")


def _lookup_value(field: DocField, value: Any, where: str) -> Any:
    """``value`` made safe for a filter on ``field``, or _NO_MATCH.

    A wrong type raises ValueError before any query is sent; a value of the
    right type that could never be stored (None, too long, NUL...) matches
    nothing, so no query is sent either, as in the SQL datastore.
    """
    if value is None:
        return _NO_MATCH
    _check_scalar(f"{where}: {field.name}", value)
    problem = value_problem(field, value)
    if problem is not None:
        message, wrong_type = problem
        if wrong_type:
            raise ValueError(f"{where}: {field.name} {message}")
        return _NO_MATCH
    if field.kind == "id" and isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    if field.kind == "datetime" and isinstance(value, datetime):
        return normalize_datetime(value)
    if field.kind == "bytes":
        return bytes(value)
    return value


class MongoUserDatastore(UserDatastore[MUserT, MRoleT]):
    """Flask-Security's ``UserDatastore`` API on MongoDB, async.

    Flask-Security's ``MongoEngineUserDatastore`` is bound to MongoEngine's
    document classes, so no alias of that name is provided: the models here
    are ``quart_security.models.mongo.MongoUser``/``MongoRole``/``MongoWebAuthn``
    (or subclasses), which read documents MongoEngine wrote.

    No ``MotorUserDatastore`` alias either: this class already takes a Motor
    database, Flask-Security never had that name, and a second name would
    suggest a second implementation built on a deprecated driver.
    """

    #: Writes are immediate; there is nothing for ``rollback`` to undo.
    transactional: ClassVar[bool] = False

    def __init__(
        self,
        db: MongoDatabaseLike,
        user_model: type[MUserT],
        role_model: type[MRoleT],
        webauthn_model: type[MongoWebAuthn] | None = None,
        *,
        user_collection: str | None = None,
        role_collection: str | None = None,
        webauthn_collection: str | None = None,
        clock: Clock | None = None,
        create_indexes_on_start: bool = False,
    ) -> None:
        _reject_wrong_handle(db)
        super().__init__(user_model, role_model, webauthn_model)
        self.mongo_webauthn_model = webauthn_model
        self.db = db
        self.user_collection = user_collection or user_model.collection
        self.role_collection = role_collection or role_model.collection
        self.webauthn_collection = webauthn_collection or (
            webauthn_model.collection if webauthn_model is not None else "webauthn"
        )
        self.clock: Clock = clock or SystemClock()
        #: Read by the extension: run ``create_indexes`` once at start-up.
        self.create_indexes_on_start = create_indexes_on_start
        #: Stored keys with a case-insensitive unique index: every lookup on
        #: them runs with that collation, so it can use the index.
        self.case_insensitive_keys: set[str] = {
            k for k in (self._user_key("email"), self._user_key("username")) if k
        }
        #: Stored keys whose unique index is partial (``$type: "string"``):
        #: lookups repeat the condition so the planner can use the index.
        self.partial_keys: set[str] = {
            k
            for k in (
                self._user_key("email"),
                self._user_key("username"),
                self._user_key("fs_token_uniquifier"),
                self._user_key("fs_webauthn_user_handle"),
                self._user_key("us_phone_number"),
            )
            if k
        }

    # ------------------------------------------------------------------ plumbing
    def _user_key(self, attr: str) -> str | None:
        field = self.user_model.fields.get(attr)
        return field.document_key if field else None

    def _coll(self, name: str) -> MongoCollectionLike:
        return self.db[name]

    def _collection_of(self, model: MongoDocument) -> str:
        if isinstance(model, self.user_model):
            return self.user_collection
        if isinstance(model, self.role_model):
            return self.role_collection
        if self.webauthn_model is not None and isinstance(model, self.webauthn_model):
            return self.webauthn_collection
        raise TypeError(f"{type(model).__name__} is not a model of this datastore")

    async def _aggregate(
        self, collection: str, pipeline: list[dict[str, Any]], collation: Collation | None
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"collation": collation} if collation is not None else {}
        cursor = self._coll(collection).aggregate(pipeline, **kwargs)
        if inspect.isawaitable(cursor):  # PyMongo async; Motor returns the cursor
            cursor = await cursor
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    def _duplicate(
        self, exc: DuplicateKeyError, model_cls: type[MongoDocument], collection: str
    ) -> DuplicateIdentityError:
        details = exc.details or {}
        key_pattern = details.get("keyPattern") or {}
        key = next(iter(key_pattern), None)
        if key is None:
            found = _INDEX_IN_MESSAGE.search(str(details.get("errmsg") or exc))
            key = self._index_keys.get(found.group(1)) if found else None
        attr = model_cls.attribute_for_key(key) if key else None
        return DuplicateIdentityError(attr or key, collection=collection)

    # ------------------------------------------------------------------ unit of work
    async def put(self, model: Any) -> Any:
        """Write ``model`` now: insert if new, else ``$set``/``$unset`` what changed."""
        if not isinstance(model, MongoDocument):
            raise TypeError(f"cannot store {type(model).__name__}")
        collection = self._collection_of(model)
        now = utcnow_naive(self.clock)
        model.normalize()
        if model._stored is None:
            if (
                "create_datetime" in model.fields
                and getattr(model, "create_datetime", None) is None
            ):
                model.create_datetime = now  # type: ignore[attr-defined]
            if "update_datetime" in model.fields:
                model.update_datetime = now  # type: ignore[attr-defined]
            model.normalize()
            doc = model.to_document()
            try:
                result = await self._coll(collection).insert_one(doc)
            except DuplicateKeyError as exc:
                raise self._duplicate(exc, type(model), collection) from None
            model.id = result.inserted_id
            doc["_id"] = result.inserted_id
            model._stored = doc
            return model

        doc = model.to_document()
        changes, removed = _diff(model._stored, doc)
        if not changes and not removed:
            return model
        if "update_datetime" in model.fields:
            model.update_datetime = now  # type: ignore[attr-defined]
            model.normalize()
            doc = model.to_document()
            changes, removed = _diff(model._stored, doc)
        update: dict[str, Any] = {}
        if changes:
            update["$set"] = changes
        if removed:
            update["$unset"] = dict.fromkeys(removed, "")
        try:
            result = await self._coll(collection).update_one({"_id": model.id}, update)
        except DuplicateKeyError as exc:
            raise self._duplicate(exc, type(model), collection) from None
        if result.matched_count != 1:
            # Never upsert: re-creating a user deleted meanwhile would undo an
            # administrator's delete with a half-empty document.
            raise DatastoreError(
                f"{collection!r} document {model.id!r} no longer exists; it was not re-created"
            )
        model._stored = doc
        return model

    async def delete(self, model: Any) -> None:
        """Delete now; a user takes its passkeys along, a role leaves every user."""
        if not isinstance(model, MongoDocument):
            raise TypeError(f"cannot delete {type(model).__name__}")
        collection = self._collection_of(model)
        if model.id is None:
            return
        if isinstance(model, MongoUser) and self.mongo_webauthn_model is not None:
            await self._coll(self.webauthn_collection).delete_many(
                {self._webauthn_user_key: model.id}
            )
        elif isinstance(model, MongoRole):
            key = self.user_model.roles_key
            await self._coll(self.user_collection).update_many(
                {key: model.id}, {"$pull": {key: model.id}}
            )
        elif isinstance(model, MongoWebAuthn):
            await self._coll(self.user_collection).update_one(
                {"_id": model.user_id}, {"$pull": {self.user_model.webauthn_key: model.id}}
            )
        await self._coll(collection).delete_one({"_id": model.id})
        model._stored = None

    async def commit(self) -> None:
        """Nothing to do: every ``put``/``delete`` has already been written."""

    async def rollback(self) -> None:
        """Nothing to undo: MongoDB writes here are immediate (see module docstring)."""

    async def end_unit_of_work(self, *, commit: bool = False) -> None:
        """No per-request session to close."""

    # ------------------------------------------------------------------ indexes
    def index_specs(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(collection, index name, key, options) for every index we rely on."""
        specs: list[tuple[str, str, str, dict[str, Any]]] = []

        def user_index(attr: str, *, ci: bool = False, partial: bool = True) -> None:
            key = self._user_key(attr)
            if key is None:
                return
            options: dict[str, Any] = {"unique": True}
            if ci:
                options["collation"] = CASE_INSENSITIVE
            if partial:
                options["partialFilterExpression"] = {key: {"$type": "string"}}
            specs.append((self.user_collection, f"qs_{key}{'_ci' if ci else ''}", key, options))

        user_index("email", ci=True)
        user_index("username", ci=True)
        user_index("fs_uniquifier", partial=False)
        user_index("fs_token_uniquifier")
        user_index("fs_webauthn_user_handle")
        user_index("us_phone_number")
        specs.append((self.role_collection, "qs_name", "name", {"unique": True}))
        if self.mongo_webauthn_model is not None:
            cred_key = self.mongo_webauthn_model.fields["credential_id"].document_key
            specs.append((self.webauthn_collection, f"qs_{cred_key}", cred_key, {"unique": True}))
            specs.append((self.webauthn_collection, "qs_user", self._webauthn_user_key, {}))
        return specs

    @property
    def _index_keys(self) -> dict[str, str]:
        return {name: key for _, name, key, _ in self.index_specs()}

    @property
    def _webauthn_user_key(self) -> str:
        model = self.mongo_webauthn_model or MongoWebAuthn
        return model.fields["user_id"].document_key

    async def create_indexes(self) -> None:
        """Create the indexes (idempotent); call once at deployment or start-up.

        An equivalent index that already exists under another name (say
        MongoEngine's ``fs_uniquifier_1``) is kept rather than duplicated.
        """
        for collection, name, key, options in self.index_specs():
            coll = self._coll(collection)
            existing: Mapping[str, Any] = await coll.index_information()
            if any(
                _covers(spec, key, options) for other, spec in existing.items() if other != name
            ):
                continue
            try:
                await coll.create_index(key, name=name, **options)
            except DuplicateKeyError:
                # The message would carry the duplicated value (an email address).
                raise DatastoreError(
                    f"cannot create unique index {name!r} on {collection!r}: existing "
                    f"documents share a value of {key!r}; resolve them first"
                ) from None
            except OperationFailure as exc:
                raise DatastoreError(
                    f"cannot create index {name!r} on {collection!r}: {exc} "
                    "(an index with this name or key but other options exists; drop it first)"
                ) from None

    # ------------------------------------------------------------------ loading
    def _user_pipeline_tail(self) -> list[dict[str, Any]]:
        stages: list[dict[str, Any]] = [
            {
                "$lookup": {
                    "from": self.role_collection,
                    "localField": self.user_model.roles_key,
                    "foreignField": "_id",
                    "as": _ROLES_AS,
                }
            }
        ]
        if self.webauthn_model is not None:
            stages.append(
                {
                    "$lookup": {
                        "from": self.webauthn_collection,
                        "localField": "_id",
                        "foreignField": self._webauthn_user_key,
                        "as": _WEBAUTHN_AS,
                    }
                }
            )
        return stages

    def _user_from_aggregate(self, doc: dict[str, Any]) -> MUserT:
        role_docs = doc.pop(_ROLES_AS, None) or []
        cred_docs = doc.pop(_WEBAUTHN_AS, None) or []
        user = self.user_model.from_document(doc, collection=self.user_collection)
        by_id: dict[Any, MRoleT] = {}
        for role_doc in role_docs:
            role = self._loaded(self.role_model, role_doc, self.role_collection)
            by_id[role.id] = role
        # Keep the user's order; ids of deleted roles are skipped (a role
        # that no longer exists grants nothing).
        ids = self.user_model.role_ids_in(doc, collection=self.user_collection)
        user.roles = [by_id.pop(i) for i in ids if i in by_id]
        if self.mongo_webauthn_model is not None:
            user.webauthn = [
                self._loaded(self.mongo_webauthn_model, d, self.webauthn_collection)
                for d in cred_docs
            ]
        user._stored = user.to_document()
        return user

    @staticmethod
    def _loaded(model: type[Any], doc: Mapping[str, Any], collection: str) -> Any:
        obj = model.from_document(doc, collection=collection)
        obj._stored = obj.to_document()
        return obj

    def _query_field(self, model: type[MongoDocument], attr: str) -> DocField:
        """Only a declared single-valued field: never ``$where``, ``a.b`` or a list."""
        field = model.fields.get(attr) if isinstance(attr, str) else None
        if field is None or field.kind in ("str_list", "permissions"):
            shown = str(attr)[:64]  # the name may come from a request: keep logs short
            raise ValueError(f"{model.__name__} has no single-valued field {shown!r}")
        return field

    # ------------------------------------------------------------------ primitives
    async def find_user(self, case_insensitive: bool = False, **kwargs: Any) -> MUserT | None:
        """One user, its roles and passkeys, in a single aggregation.

        A case-insensitive match prefers the exact value; one that is
        ambiguous (``Bob@x`` and ``bob@x`` both stored, neither exact, which
        the unique index prevents) finds nobody rather than a guess.
        """
        attr, value = self._single_criterion(kwargs)
        field = self._query_field(self.user_model, attr)
        value = _lookup_value(field, value, "find_user")
        if value is _NO_MATCH:
            return None
        key = field.document_key
        is_str = isinstance(value, str)
        ci_indexed = key in self.case_insensitive_keys
        # On a case-insensitive key every string lookup runs with the index's
        # collation, so it can use the index; an exact lookup then keeps the
        # exact match in Python (what the collation matches is a superset).
        collation = CASE_INSENSITIVE if is_str and (case_insensitive or ci_indexed) else None
        condition: Any = value
        if is_str and key in self.partial_keys:
            condition = {"$eq": value, "$type": "string"}
        pipeline: list[dict[str, Any]] = [{"$match": {key: condition}}]
        if collation is None:
            pipeline.append({"$limit": 1})
        pipeline += self._user_pipeline_tail()
        docs = await self._aggregate(self.user_collection, pipeline, collation)
        if collation is not None:
            exact = [d for d in docs if d.get(key) == value]
            if exact:
                docs = exact[:1]
            elif not case_insensitive or len(docs) > 1:
                return None
        return self._user_from_aggregate(docs[0]) if docs else None

    async def find_role(self, role: str) -> MRoleT | None:
        field = self._query_field(self.role_model, "name")
        value = _lookup_value(field, role, "find_role")
        if value is _NO_MATCH:
            return None
        doc = await self._coll(self.role_collection).find_one({field.document_key: value})
        if doc is None:
            return None
        loaded: MRoleT = self._loaded(self.role_model, doc, self.role_collection)
        return loaded

    async def _add_role(self, user: MUserT, role: MRoleT) -> bool:
        """``$push`` guarded by ``$ne``: parallel grants never overwrite each other."""
        if role.id is None:
            raise ValueError(f"role {role.name!r} must be saved first")
        held = any(getattr(r, "id", None) == role.id for r in user.roles)
        if user._stored is None:  # a new user: put() writes its roles
            if not held:
                user.roles.append(role)
            return not held
        key = user.roles_key
        result = await self._coll(self.user_collection).update_one(
            {"_id": user.id, key: {"$ne": role.id}}, {"$push": {key: role.id}}
        )
        if not held:
            user.roles.append(role)
        user._stored[key] = user.role_ids()
        return bool(result.modified_count == 1)

    async def _remove_role(self, user: MUserT, role: MRoleT) -> bool:
        held = any(r == role for r in user.roles)
        user.roles = [r for r in user.roles if r != role]
        if user._stored is None or role.id is None:
            return held
        key = user.roles_key
        result = await self._coll(self.user_collection).update_one(
            {"_id": user.id, key: role.id}, {"$pull": {key: role.id}}
        )
        user._stored[key] = user.role_ids()
        return bool(result.modified_count == 1)

    # ------------------------------------------------------------------ single use
    async def compare_and_set(
        self, model: MongoDocument, field: str, expected: Any, new_value: Any
    ) -> bool:
        """The base contract's name for :meth:`consume_field`."""
        return await self.consume_field(model, field, expected, new_value)

    async def consume_field(
        self, model: MongoDocument, field: str, expected: Any, new_value: Any
    ) -> bool:
        """Atomically set ``field`` to ``new_value`` only if it still holds ``expected``.

        The primitive for anything single use (a code, a nonce, a counter):
        of many parallel callers with the same ``expected``, one gets True.
        ``expected=None`` matches a missing or null field.
        """
        if model.id is None or model._stored is None:
            raise ValueError("consume_field needs a stored document")
        spec = model.fields.get(field)
        if spec is None or field == "id":
            raise ValueError(f"{type(model).__name__} has no field {field!r}")
        expected_stored = self._stored_value(spec, expected)
        new_stored = self._stored_value(spec, new_value)
        key = spec.document_key
        update = {"$unset": {key: ""}} if new_stored is None else {"$set": {key: new_stored}}
        match: Any = (
            {"$eq": expected_stored} if isinstance(expected_stored, list) else expected_stored
        )
        collection = self._collection_of(model)
        try:
            result = await self._coll(collection).update_one({"_id": model.id, key: match}, update)
        except DuplicateKeyError as exc:
            raise self._duplicate(exc, type(model), collection) from None
        if result.matched_count != 1:
            return False
        setattr(model, field, new_stored)
        if new_stored is None:
            model._stored.pop(key, None)
        else:
            model._stored[key] = new_stored
        return True

    async def consume_list_item(self, model: MongoDocument, field: str, item: str) -> bool:
        """Atomically remove ``item`` from a list field; True only for the remover."""
        if model.id is None or model._stored is None:
            raise ValueError("consume_list_item needs a stored document")
        spec = model.fields.get(field)
        if spec is None or spec.kind != "str_list":
            raise ValueError(f"{type(model).__name__}.{field} is not a list of strings")
        if not isinstance(item, str):
            raise ValueError(f"item must be a string, not {type(item).__name__}")
        key = spec.document_key
        result = await self._coll(self._collection_of(model)).update_one(
            {"_id": model.id, key: item}, {"$pull": {key: item}}
        )
        current = getattr(model, field, None) or []
        setattr(model, field, [v for v in current if v != item])
        model._stored[key] = [v for v in model._stored.get(key, []) if v != item]
        return bool(result.modified_count == 1)

    @staticmethod
    def _stored_value(spec: DocField, value: Any) -> Any:
        """``value`` as stored, refusing anything a filter would read as operators."""
        if value is None:
            return None
        if spec.kind in ("str_list", "permissions"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{spec.name} takes a list of strings")
        else:
            _check_scalar(spec.name, value)
        return encode_value(spec, value)

    # ------------------------------------------------------------------ recovery codes
    async def mf_delete_recovery_code(self, user: MUserT, index: int) -> bool:
        """Use up one code atomically: a code replayed in parallel succeeds once."""
        codes = user.mf_recovery_codes or []
        if not 0 <= index < len(codes):  # a negative index is a caller bug, not "the last"
            return False
        return await self.consume_list_item(user, "mf_recovery_codes", codes[index])

    async def mf_consume_recovery_code(self, user: MUserT, stored_value: str) -> bool:
        """One ``$pull`` whose filter holds the value: only one consumer matches."""
        return await self.consume_list_item(user, "mf_recovery_codes", stored_value)

    # ------------------------------------------------------------------ two-factor counters
    def _user_has_field(self, attr: str) -> bool:
        return attr in self.user_model.fields

    def _counter_key(self, user: MUserT, attr: str, caller: str) -> str:
        self._require_user_field(attr, caller)
        if user.id is None or user._stored is None:
            raise ValueError(f"{caller} needs a stored user")
        return user.fields[attr].document_key

    async def tf_advance_counter(self, user: MUserT, counter: int) -> bool:
        """One ``update_one`` whose filter holds "missing, null or lower": one caller matches."""
        self._check_counter(counter)
        key = self._counter_key(user, "tf_totp_last_counter", "tf_advance_counter")
        # A stored non-number is never "lower" (MongoDB compares within a
        # type), so a damaged document refuses every code: it fails closed.
        result = await self._coll(self.user_collection).update_one(
            {"_id": user.id, "$or": [{key: None}, {key: {"$lt": counter}}]},
            {"$set": {key: counter}},
        )
        if result.matched_count != 1:
            return False
        user.tf_totp_last_counter = counter
        if user._stored is not None:  # it is: _counter_key checked
            user._stored[key] = counter
        return True

    async def tf_count_attempt(self, user: MUserT) -> int:
        """``$inc`` by ``find_one_and_update``, returning the document after it."""
        key = self._counter_key(user, "tf_code_attempts", "tf_count_attempt")
        collection = self._coll(self.user_collection)
        increment = {
            "filter": {"_id": user.id},
            "update": {"$inc": {key: 1}},
            "projection": {key: 1},
            "return_document": ReturnDocument.AFTER,
        }
        try:
            doc = await collection.find_one_and_update(**increment)
        except OperationFailure:
            # $inc refuses an explicit null (another program's writes); a
            # missing field counts from 0, so drop the null and try once more.
            await collection.update_one(
                {"_id": user.id, key: {"$type": "null"}}, {"$unset": {key: ""}}
            )
            try:
                doc = await collection.find_one_and_update(**increment)
            except OperationFailure:
                raise InvalidDocumentError(
                    self.user_collection, user.id, key, "is not an integer"
                ) from None
        if doc is None:
            raise DatastoreError(f"{self.user_collection!r} document {user.id!r} no longer exists")
        count = doc.get(key)
        if not isinstance(count, int) or isinstance(count, bool):
            raise InvalidDocumentError(self.user_collection, user.id, key, "is not an integer")
        user.tf_code_attempts = count
        if user._stored is not None:  # it is: _counter_key checked
            user._stored[key] = count
        return count

    # ------------------------------------------------------------------ unified sign in
    async def us_get_totp_secrets(self, user: MUserT) -> dict[str, str]:
        if not user.us_totp_secrets:
            return {}
        try:
            secrets = json.loads(user.us_totp_secrets)
        except ValueError:
            secrets = None
        if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
        ):
            raise InvalidDocumentError(
                self.user_collection,
                user.id,
                user.fields["us_totp_secrets"].document_key,
                "is not a JSON object of strings",
            )
        return secrets

    # ------------------------------------------------------------------ webauthn
    def _require_webauthn(self) -> type[MongoWebAuthn]:
        if self.mongo_webauthn_model is None:
            raise NotImplementedError("this datastore was created without a webauthn_model")
        return self.mongo_webauthn_model

    async def create_webauthn(
        self,
        user: MUserT,
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
    ) -> MongoWebAuthn:
        model = self._require_webauthn()
        if user._stored is None:
            await self.put(user)
        kwargs.setdefault("lastuse_datetime", utcnow_naive(self.clock))
        cred = model(
            user_id=user.id,
            credential_id=credential_id,
            public_key=public_key,
            name=name,
            sign_count=sign_count,
            usage=usage,
            device_type=device_type,
            backup_state=backup_state,
            transports=list(transports) if transports is not None else None,
            extensions=extensions,
            **kwargs,
        )
        await self.put(cred)
        # MongoEngine's shape: the user document also lists its passkeys.
        await self._coll(self.user_collection).update_one(
            {"_id": user.id}, {"$addToSet": {user.webauthn_key: cred.id}}
        )
        user.webauthn.append(cred)
        return cred

    async def find_webauthn(self, credential_id: bytes) -> MongoWebAuthn | None:
        model = self._require_webauthn()
        field = model.fields["credential_id"]
        value = _lookup_value(field, credential_id, "find_webauthn")
        if value is _NO_MATCH:
            return None
        doc = await self._coll(self.webauthn_collection).find_one({field.document_key: value})
        if doc is None:
            return None
        found: MongoWebAuthn = self._loaded(model, doc, self.webauthn_collection)
        return found

    async def find_user_webauthns(self, user: MUserT) -> list[MongoWebAuthn]:
        """Every passkey of ``user``, oldest first, read fresh from the database."""
        model = self._require_webauthn()
        if user.id is None:
            return []
        pipeline = [{"$match": {self._webauthn_user_key: user.id}}, {"$sort": {"_id": 1}}]
        docs = await self._aggregate(self.webauthn_collection, pipeline, None)
        return [self._loaded(model, d, self.webauthn_collection) for d in docs]

    async def webauthn_reset(self, user: MUserT) -> None:
        """Delete every passkey of ``user``; the user handle is kept (as Flask-Security)."""
        self._require_webauthn()
        if user.id is not None:
            await self._coll(self.webauthn_collection).delete_many(
                {self._webauthn_user_key: user.id}
            )
            await self._coll(self.user_collection).update_one(
                {"_id": user.id}, {"$set": {user.webauthn_key: []}}
            )
        user.webauthn = []


def _covers(spec: Mapping[str, Any], key: str, options: Mapping[str, Any]) -> bool:
    """Does an existing index (``index_information`` entry) do the job of ours?

    Same single key, same uniqueness and same collation (locale, strength).
    A sparse or non-partial unique index enforces at least what our partial
    one does for string values, so it counts.
    """
    if list(spec.get("key") or []) != [(key, 1)]:
        return False
    if bool(spec.get("unique")) != bool(options.get("unique")):
        return False
    wanted = options.get("collation")
    have = spec.get("collation")
    if wanted is None:
        return have is None or dict(have).get("locale") == "simple"
    if have is None:
        return False
    have = dict(have)
    return bool(
        have.get("locale") == wanted.document["locale"]
        and have.get("strength") == wanted.document["strength"]
    )


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    changes = {k: v for k, v in new.items() if k != "_id" and (k not in old or old[k] != v)}
    removed = [k for k in old if k not in new and k != "_id"]
    return changes, removed


def _reject_wrong_handle(db: Any) -> None:
    """Fail at construction on the usual mistakes, not on the first request."""
    if isinstance(db, MongoClient | Database):
        raise TypeError("MongoUserDatastore needs an async database: AsyncMongoClient(...)[name]")
    if isinstance(db, AsyncMongoClient) or "MotorClient" in type(db).__name__:
        raise TypeError("pass a database, not a client: client[database_name]")


__all__ = [
    "CASE_INSENSITIVE",
    "DuplicateIdentityError",
    "InvalidDocumentError",
    "InvalidFieldValueError",
    "MongoDatabaseLike",
    "MongoUserDatastore",
]
