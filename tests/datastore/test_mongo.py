"""MongoDB datastore against the real MongoDB-wire server (SecantusDB in CI).

Every test gets a fresh database, dropped afterwards. A command listener on
the client counts what reaches the server, so "one round trip" and "rejected
before any query" are asserted on the wire, not assumed.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from bson import ObjectId, Regex
from bson.son import SON
from pymongo import AsyncMongoClient, monitoring

from quart_security.clock import FrozenClock
from quart_security.datastore.mongo import (
    DuplicateIdentityError,
    MongoUserDatastore,
)
from quart_security.errors import DatastoreError
from quart_security.models.mongo import (
    InvalidDocumentError,
    InvalidFieldValueError,
    MongoRole,
    MongoTokenUniquifierUser,
    MongoUser,
    MongoWebAuthn,
    doc_field,
)

MONGO_URL = os.environ.get("QS_TEST_MONGO_URL")
if not MONGO_URL:
    pytest.skip("QS_TEST_MONGO_URL is not set", allow_module_level=True)

DATA_COMMANDS = {"aggregate", "find", "insert", "update", "delete", "findAndModify"}

Store = MongoUserDatastore[MongoUser, MongoRole]


class CommandLog(monitoring.CommandListener):
    """Names of the data commands the client sent."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in DATA_COMMANDS:
            self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def log() -> CommandLog:
    return CommandLog()


@pytest.fixture
async def client(log: CommandLog) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        MONGO_URL, serverSelectionTimeoutMS=5000, event_listeners=[log]
    )
    yield client
    await client.close()


@pytest.fixture
async def db(client: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[Any]:
    name = f"qs_test_{uuid.uuid4().hex[:16]}"
    yield client[name]
    await client.drop_database(name)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp())


@pytest.fixture
async def store(db: Any, clock: FrozenClock) -> Store:
    datastore = MongoUserDatastore(
        db, MongoTokenUniquifierUser, MongoRole, MongoWebAuthn, clock=clock
    )
    await datastore.create_indexes()
    return datastore


async def make_user(store: Store, email: str = "matt@lp.com", **kwargs: Any) -> MongoUser:
    return await store.create_user(email=email, password="hash", **kwargs)


# ---------------------------------------------------------------------- indexes
async def test_create_indexes_is_idempotent_and_case_insensitive(store: Store, db: Any) -> None:
    await store.create_indexes()  # a second run changes nothing and does not fail
    info = await db["user"].index_information()
    email = info["qs_email_ci"]
    assert email["unique"] is True
    assert dict(email["collation"])["strength"] == 2
    assert dict(email["collation"])["locale"] == "en"
    assert info["qs_fs_uniquifier"]["unique"] is True
    assert "partialFilterExpression" not in info["qs_fs_uniquifier"]
    for name in ("qs_username_ci", "qs_fs_webauthn_user_handle", "qs_us_phone_number"):
        assert info[name]["unique"] is True
        assert "partialFilterExpression" in info[name]
    assert (await db["role"].index_information())["qs_name"]["unique"] is True
    assert (await db["webauthn"].index_information())["qs_credential_id"]["unique"] is True


async def test_create_indexes_keeps_equivalent_mongoengine_indexes(db: Any) -> None:
    """MongoEngine already made ``fs_uniquifier_1`` and a sparse ``username_1``."""
    await db["user"].create_index("fs_uniquifier", unique=True)
    await db["user"].create_index("email", unique=True)  # case-sensitive: ours is added
    await db["role"].create_index("name", unique=True)
    store = MongoUserDatastore(db, MongoUser, MongoRole)
    await store.create_indexes()
    info = await db["user"].index_information()
    assert "qs_fs_uniquifier" not in info and "fs_uniquifier_1" in info
    assert "qs_email_ci" in info and "email_1" in info
    assert "qs_name" not in await db["role"].index_information()
    user = await store.create_user(email="a@lp.com", password="h")
    with pytest.raises(DuplicateIdentityError) as error:
        await store.create_user(email="b@lp.com", password="h", fs_uniquifier=user.fs_uniquifier)
    assert error.value.field == "fs_uniquifier"
    with pytest.raises(DuplicateIdentityError):
        await store.create_user(email="A@LP.com", password="h")


async def test_create_indexes_refuses_existing_duplicates_without_leaking(db: Any) -> None:
    await db["user"].insert_many(
        [
            {"email": "Dup@lp.com", "fs_uniquifier": "1"},
            {"email": "dup@LP.com", "fs_uniquifier": "2"},
        ]
    )
    store = MongoUserDatastore(db, MongoUser, MongoRole)
    with pytest.raises(DatastoreError) as info:
        await store.create_indexes()
    assert "qs_email_ci" in str(info.value) and "dup" not in str(info.value).lower()


async def test_case_insensitive_duplicate_email_rejected(store: Store, db: Any) -> None:
    await make_user(store, "Matt@Example.com")
    with pytest.raises(DuplicateIdentityError) as info:
        await make_user(store, "mATT@example.COM")
    assert info.value.field == "email"
    assert isinstance(info.value, DatastoreError)
    assert "example" not in str(info.value)  # the address stays out of logs
    assert await db["user"].count_documents({}) == 1


async def test_username_unique_case_insensitive_but_optional(store: Store) -> None:
    await make_user(store, "a@lp.com")  # no username
    await make_user(store, "b@lp.com")  # no username either: allowed
    await make_user(store, "c@lp.com", username="Joe")
    with pytest.raises(DuplicateIdentityError) as info:
        await make_user(store, "d@lp.com", username="JOE")
    assert info.value.field == "username"


async def test_duplicate_on_update_names_the_field(store: Store) -> None:
    await make_user(store, "a@lp.com")
    other = await make_user(store, "b@lp.com")
    other.email = "A@LP.COM"
    with pytest.raises(DuplicateIdentityError) as info:
        await store.put(other)
    assert info.value.field == "email"
    fresh = await store.find_user(email="b@lp.com")
    assert fresh is not None and fresh.email == "b@lp.com"


async def test_duplicate_uniquifier_rejected(store: Store) -> None:
    user = await make_user(store, "a@lp.com")
    with pytest.raises(DuplicateIdentityError) as info:
        await make_user(store, "b@lp.com", fs_uniquifier=user.fs_uniquifier)
    assert info.value.field == "fs_uniquifier"


# ---------------------------------------------------------------------- find_user
async def test_find_user_loads_roles_in_one_round_trip(store: Store, log: CommandLog) -> None:
    await store.create_role(name="admin", permissions="full-read, full-write")
    await store.create_role(name="editor", description="edits", permissions=["write"])
    created = await make_user(store, "Matt@LP.com", username="matt", roles=["editor", "admin"])

    log.commands.clear()
    user = await store.find_user(case_insensitive=True, email="matt@lp.COM")
    assert log.commands == ["aggregate"]

    assert user is not None
    assert user.id == created.id
    assert user.email == "Matt@LP.com"
    assert [r.name for r in user.roles] == ["editor", "admin"]
    assert user.has_role("admin") and user.has_role("editor")
    assert user.has_permission("full-write")
    assert user.get_permissions() == {"full-read", "full-write", "write"}
    assert user.roles[0].description == "edits"
    assert user.active is True
    assert user.fs_uniquifier == created.fs_uniquifier
    assert user.fs_token_uniquifier == created.fs_token_uniquifier
    assert user.fs_webauthn_user_handle == created.fs_webauthn_user_handle
    assert user.password == "hash"


async def test_find_user_exact_and_case_insensitive(store: Store) -> None:
    created = await make_user(store, "Matt@LP.com", username="MattU")
    assert await store.find_user(email="matt@lp.com") is None  # exact: case matters
    exact = await store.find_user(email="Matt@LP.com")
    assert exact is not None and exact.id == created.id
    by_name = await store.find_user(case_insensitive=True, username="mattu")
    assert by_name is not None and by_name.id == created.id
    assert await store.find_user(username="mattu") is None
    by_uniquifier = await store.find_user(fs_uniquifier=created.fs_uniquifier)
    assert by_uniquifier is not None and by_uniquifier.id == created.id
    assert await store.find_user(fs_uniquifier=created.fs_uniquifier.upper()) is None
    by_id = await store.find_user(id=created.id)
    by_id_str = await store.find_user(id=str(created.id))
    assert by_id is not None and by_id_str is not None and by_id.id == by_id_str.id == created.id
    assert await store.find_user(email="nobody@lp.com") is None


async def test_find_user_with_none_finds_nothing(store: Store, log: CommandLog) -> None:
    """Never "the first user without a phone number", and no query at all."""
    await make_user(store, "a@lp.com")  # has no username and no phone
    log.commands.clear()
    assert await store.find_user(username=None) is None
    assert await store.find_user(us_phone_number=None) is None
    assert await store.find_role(None) is None  # type: ignore[arg-type]
    assert log.commands == []


async def test_find_user_value_rules(store: Store, log: CommandLog) -> None:
    await make_user(store, "a@lp.com")
    log.commands.clear()
    with pytest.raises(ValueError):
        await store.find_user(email=42)  # wrong type: a caller bug
    with pytest.raises(ValueError):
        await store.find_user(active="yes")
    assert await store.find_user(email="a" * 300 + "@lp.com") is None  # cannot exist
    assert await store.find_user(email="a@lp.com\x00") is None
    assert log.commands == []


async def test_ambiguous_case_insensitive_match_finds_nobody(db: Any) -> None:
    """Without the unique index (not yet created), Bob@x and bob@x can coexist."""
    store = MongoUserDatastore(db, MongoUser, MongoRole)
    await store.create_user(email="Bob@x.com", password="h")
    await store.create_user(email="bOB@x.com", password="h")
    assert await store.find_user(case_insensitive=True, email="BOB@X.COM") is None
    exact = await store.find_user(case_insensitive=True, email="bOB@x.com")
    assert exact is not None and exact.email == "bOB@x.com"
    assert await store.find_user(email="Bob@x.com") is not None


async def test_invalid_values_are_refused_on_write(store: Store, db: Any) -> None:
    for bad, field in (
        ({"email": "a" * 256}, "email"),
        ({"email": "a\x00@lp.com"}, "email"),
        ({"email": None}, "email"),
        ({"login_count": "3"}, "login_count"),
        ({"active": 1}, "active"),
        ({"mf_recovery_codes": "a,b"}, "mf_recovery_codes"),
    ):
        kwargs: dict[str, Any] = {"email": "ok@lp.com", "password": "h", **bad}
        with pytest.raises(InvalidFieldValueError) as info:
            await store.create_user(**kwargs)
        assert info.value.field == field
        assert isinstance(info.value, DatastoreError) and isinstance(info.value, ValueError)
    user = await make_user(store, "ok@lp.com")
    user.fs_uniquifier = None
    with pytest.raises(InvalidFieldValueError):
        await store.put(user)
    assert await db["user"].count_documents({}) == 1


async def test_find_user_takes_one_attribute(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.find_user(email="a@lp.com", username="a")
    with pytest.raises(ValueError):
        await store.find_user(not_a_field="x")
    with pytest.raises(ValueError):
        await store.find_user(roles="admin")  # list fields are not lookups


async def test_stored_document_has_mongoengine_shape(store: Store, db: Any) -> None:
    admin = await store.create_role(name="admin", permissions=["a", "b"])
    user = await make_user(store, "a@lp.com", roles=[admin])
    await store.mf_set_recovery_codes(user, ["c1", "c2"])
    doc = await db["user"].find_one({"_id": user.id})
    assert isinstance(doc["_id"], ObjectId)
    assert doc["roles"] == [admin.id]  # ListField(ReferenceField(Role)): ObjectId list
    assert isinstance(doc["roles"][0], ObjectId)
    assert doc["mf_recovery_codes"] == ["c1", "c2"]
    assert doc["active"] is True
    assert "username" not in doc  # None is not stored, as MongoEngine does
    assert "tf_primary_method" not in doc
    role_doc = await db["role"].find_one({"_id": admin.id})
    assert role_doc["permissions"] == ["a", "b"]


async def test_reads_a_document_another_program_wrote(store: Store, db: Any) -> None:
    """A MongoEngine-era user (extra keys, no uniquifier twins) loads and saves cleanly."""
    role_id = (await db["role"].insert_one({"name": "admin", "permissions": "x,y"})).inserted_id
    user_id = (
        await db["user"].insert_one(
            {
                "email": "old@lp.com",
                "password": "h",
                "active": True,
                "fs_uniquifier": "u-old",
                "roles": [role_id],
                "webauthn": [],
                "legacy_flag": "keep me",
            }
        )
    ).inserted_id
    user = await store.find_user(case_insensitive=True, email="OLD@lp.com")
    assert user is not None and user.id == user_id
    assert user.has_permission("y")  # a comma string is read as a permission list
    user.login_count = 3
    await store.put(user)
    doc = await db["user"].find_one({"_id": user_id})
    assert doc["login_count"] == 3
    assert doc["legacy_flag"] == "keep me"  # unmanaged keys are never touched
    assert doc["roles"] == [role_id]


# ---------------------------------------------------------------------- injection
@pytest.mark.parametrize(
    "payload",
    [
        {"$ne": None},
        {"$gt": ""},
        {"$regex": ".*"},
        SON([("$exists", True)]),
        ["a@lp.com"],
        re.compile(".*"),
        Regex(".*"),
    ],
    ids=["ne", "gt", "regex-op", "son", "list", "re", "bson-regex"],
)
async def test_operator_injection_never_reaches_the_query(
    store: Store, log: CommandLog, payload: Any
) -> None:
    await make_user(store, "a@lp.com")
    log.commands.clear()
    with pytest.raises(ValueError):
        await store.find_user(email=payload)
    with pytest.raises(ValueError):
        await store.find_user(case_insensitive=True, email=payload)
    with pytest.raises(ValueError):
        await store.find_role(payload)
    with pytest.raises(ValueError):
        await store.find_webauthn(payload)
    assert log.commands == []


async def test_attribute_name_injection_rejected(store: Store, log: CommandLog) -> None:
    log.commands.clear()
    for name in ("$where", "email.$", "$or", "password.0"):
        criterion: dict[str, Any] = {name: "x"}
        with pytest.raises(ValueError):
            await store.find_user(**criterion)
    assert log.commands == []


async def test_consume_rejects_operator_values(store: Store, log: CommandLog) -> None:
    user = await make_user(store, "a@lp.com")
    log.commands.clear()
    with pytest.raises(ValueError):
        await store.consume_field(user, "tf_totp_secret", {"$ne": None}, "x")
    with pytest.raises(ValueError):
        await store.consume_field(user, "tf_totp_secret", "x", {"$set": 1})
    with pytest.raises(ValueError):
        await store.consume_field(user, "$where", "x", "y")
    assert log.commands == []


# ---------------------------------------------------------------------- bad documents
GOOD_USER = {
    "email": "bad@lp.com",
    "password": "h",
    "active": True,
    "fs_uniquifier": "u-bad",
    "roles": [],
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fs_uniquifier": None}, "fs_uniquifier"),
        ({"active": None}, "active"),
        ({"active": "yes"}, "active"),
        ({"email": 42}, "email"),
        ({"confirmed_at": "2020-01-01"}, "confirmed_at"),
        ({"login_count": "3"}, "login_count"),
        ({"login_count": True}, "login_count"),
        ({"mf_recovery_codes": "a,b"}, "mf_recovery_codes"),
        ({"mf_recovery_codes": ["a", 1]}, "mf_recovery_codes"),
        ({"roles": "admin"}, "roles"),
        # An embedded document, not an id. (A DBRef here crashes SecantusDB
        # 0.7.0b3's $lookup with an internal error; MongoDB just finds nothing.)
        ({"roles": [{"role_id": 1}]}, "roles"),
    ],
)
async def test_bad_user_document_names_the_field(
    store: Store, db: Any, change: dict[str, Any], field: str
) -> None:
    doc = {**GOOD_USER, **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    user_id = (await db["user"].insert_one(doc)).inserted_id
    with pytest.raises(DatastoreError) as info:
        await store.find_user(id=user_id)
    error = info.value
    assert isinstance(error, InvalidDocumentError)
    assert (error.collection, error.document_id, error.field) == ("user", user_id, field)
    message = str(error)
    assert "'user'" in message and repr(user_id) in message and repr(field) in message


async def test_bad_role_document_names_role_collection(store: Store, db: Any) -> None:
    role_id = (await db["role"].insert_one({"permissions": ["x"]})).inserted_id  # no name
    await db["user"].insert_one({**GOOD_USER, "roles": [role_id]})
    with pytest.raises(InvalidDocumentError) as info:
        await store.find_user(fs_uniquifier="u-bad")
    assert (info.value.collection, info.value.document_id, info.value.field) == (
        "role",
        role_id,
        "name",
    )
    await db["role"].update_one({"_id": role_id}, {"$set": {"name": "r", "permissions": 5}})
    with pytest.raises(InvalidDocumentError) as info:
        await store.find_role("r")
    assert info.value.field == "permissions"


async def test_bad_webauthn_document_names_the_field(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com")
    cred = await store.create_webauthn(
        user, b"cred-1", b"pk", "key", 0, "first", "single_device", False
    )
    await db["webauthn"].update_one({"_id": cred.id}, {"$set": {"public_key": "not bytes"}})
    with pytest.raises(InvalidDocumentError) as info:
        await store.find_webauthn(b"cred-1")
    assert (info.value.collection, info.value.field) == ("webauthn", "public_key")
    with pytest.raises(InvalidDocumentError):
        await store.find_user(email="a@lp.com")  # the passkey loads with its user


# ---------------------------------------------------------------------- single use
async def test_consume_field_ten_parallel_consumers_one_wins(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com", tf_totp_secret="nonce-1")
    copies = [await store.find_user(id=user.id) for _ in range(10)]

    async def consume(copy: MongoUser | None, n: int) -> bool:
        assert copy is not None
        return await store.consume_field(copy, "tf_totp_secret", "nonce-1", f"next-{n}")

    results = await asyncio.gather(*(consume(c, n) for n, c in enumerate(copies)))
    assert results.count(True) == 1
    winner = results.index(True)
    doc = await db["user"].find_one({"_id": user.id})
    assert doc["tf_totp_secret"] == f"next-{winner}"
    loser = copies[(winner + 1) % 10]
    assert loser is not None and loser.tf_totp_secret == "nonce-1"  # untouched on failure
    won = copies[winner]
    assert won is not None and won.tf_totp_secret == f"next-{winner}"


async def test_consume_field_to_none_and_from_none(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com")
    assert await store.consume_field(user, "tf_totp_secret", None, "s") is True
    assert await store.consume_field(user, "tf_totp_secret", None, "t") is False
    assert await store.consume_field(user, "tf_totp_secret", "s", None) is True
    doc = await db["user"].find_one({"_id": user.id})
    assert "tf_totp_secret" not in doc
    assert user.tf_totp_secret is None


async def test_recovery_code_used_once_under_parallel_replay(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com")
    await store.mf_set_recovery_codes(user, ["c0", "c1", "c2"])
    copies = [await store.find_user(id=user.id) for _ in range(10)]

    async def use(copy: MongoUser | None) -> bool:
        assert copy is not None
        return await store.mf_delete_recovery_code(copy, 1)

    results = await asyncio.gather(*(use(c) for c in copies))
    assert results.count(True) == 1
    doc = await db["user"].find_one({"_id": user.id})
    assert doc["mf_recovery_codes"] == ["c0", "c2"]
    assert await store.mf_delete_recovery_code(user, 7) is False
    assert await store.mf_delete_recovery_code(user, -1) is False
    assert await store.mf_get_recovery_codes(user) == ["c0", "c1", "c2"]  # stale copy


# ---------------------------------------------------------------------- writes
async def test_put_writes_only_changes(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com")
    first = await store.find_user(id=user.id)
    second = await store.find_user(id=user.id)
    assert first is not None and second is not None
    first.login_count = 1
    second.last_login_ip = "10.0.0.1"
    await store.put(first)
    await store.put(second)  # does not overwrite login_count with its stale None
    doc = await db["user"].find_one({"_id": user.id})
    assert doc["login_count"] == 1 and doc["last_login_ip"] == "10.0.0.1"
    second.last_login_ip = None
    await store.put(second)
    doc = await db["user"].find_one({"_id": user.id})
    assert "last_login_ip" not in doc and doc["login_count"] == 1


async def test_unchanged_put_sends_nothing(store: Store, log: CommandLog) -> None:
    user = await make_user(store, "a@lp.com")
    log.commands.clear()
    await store.put(user)
    assert log.commands == []


async def test_datetimes_round_trip_naive_utc_milliseconds(store: Store, clock: Any) -> None:
    user = await make_user(store, "a@lp.com")
    user.confirmed_at = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    await store.put(user)
    assert user.confirmed_at == datetime(2026, 1, 2, 1, 4, 5, 123000)
    fresh = await store.find_user(id=user.id)
    assert fresh is not None and fresh.confirmed_at == user.confirmed_at
    assert fresh.create_datetime == datetime(2026, 3, 4, 5, 6, 7)
    clock.advance(60)
    fresh.login_count = 1
    await store.put(fresh)
    assert fresh.update_datetime == datetime(2026, 3, 4, 5, 7, 7)


async def test_put_after_delete_does_not_resurrect(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com")
    copy = await store.find_user(id=user.id)
    await store.delete_user(user)
    assert copy is not None
    copy.login_count = 5
    with pytest.raises(DatastoreError):
        await store.put(copy)
    assert await db["user"].count_documents({}) == 0


async def test_unit_of_work_commit_and_rollback_are_noops(store: Store) -> None:
    async with store.unit_of_work():
        await make_user(store, "a@lp.com")
    await store.rollback()  # writes are immediate: nothing is undone
    assert await store.find_user(email="a@lp.com") is not None


async def test_unknown_constructor_field_rejected(store: Store) -> None:
    with pytest.raises(TypeError):
        await store.create_user(email="a@lp.com", not_a_field=1)


# ---------------------------------------------------------------------- roles
async def test_add_and_remove_role(store: Store, db: Any) -> None:
    await store.create_role(name="admin")
    user = await make_user(store, "a@lp.com")
    assert await store.add_role_to_user(user, "admin") is True
    assert await store.add_role_to_user(user, "admin") is False
    fresh = await store.find_user(id=user.id)
    assert fresh is not None and [r.name for r in fresh.roles] == ["admin"]
    assert await store.remove_role_from_user(fresh, "admin") is True
    assert await store.remove_role_from_user(fresh, "admin") is False
    assert await store.remove_role_from_user(fresh, "no-such-role") is False
    doc = await db["user"].find_one({"_id": user.id})
    assert doc["roles"] == []


async def test_parallel_role_grants_are_not_lost(store: Store) -> None:
    names = [f"r{i}" for i in range(5)]
    for name in names:
        await store.create_role(name=name)
    user = await make_user(store, "a@lp.com")
    copies = [await store.find_user(id=user.id) for _ in names]

    async def grant(copy: MongoUser | None, name: str) -> bool:
        assert copy is not None
        return await store.add_role_to_user(copy, name)

    assert all(await asyncio.gather(*(grant(c, n) for c, n in zip(copies, names, strict=True))))
    fresh = await store.find_user(id=user.id)
    assert fresh is not None and {r.name for r in fresh.roles} == set(names)


async def test_permissions_and_deleting_a_role(store: Store, db: Any) -> None:
    role = await store.create_role(name="admin", permissions={"b", "a"})
    assert role.permissions == ["a", "b"]
    assert await store.add_permissions_to_role(role, "c") is True
    assert await store.remove_permissions_from_role(role, ["a"]) is True
    assert await store.add_permissions_to_role("no-such-role", "c") is False
    stored = await store.find_role("admin")
    assert stored is not None and stored.get_permissions() == {"b", "c"}
    user = await make_user(store, "a@lp.com", roles=["admin"])
    await store.delete(stored)
    assert await store.find_role("admin") is None
    doc = await db["user"].find_one({"_id": user.id})
    assert doc["roles"] == []
    assert await store.find_or_create_role("admin") is not None


# ---------------------------------------------------------------------- webauthn
async def test_webauthn_crud(store: Store, db: Any, clock: Any) -> None:
    user = await make_user(store, "a@lp.com")
    cred = await store.create_webauthn(
        user,
        credential_id=b"\x00cred",
        public_key=b"pk",
        name="laptop",
        sign_count=1,
        usage="first",
        device_type="multi_device",
        backup_state=True,
        transports=["usb", "nfc"],
    )
    assert cred.lastuse_datetime == datetime(2026, 3, 4, 5, 6, 7)
    with pytest.raises(DuplicateIdentityError) as info:
        await store.create_webauthn(user, b"\x00cred", b"pk", "dup", 0, "first", "x", False)
    assert info.value.field == "credential_id"

    found = await store.find_webauthn(b"\x00cred")
    assert found is not None and found.transports == ["usb", "nfc"] and found.user_id == user.id
    owner = await store.find_user_from_webauthn(found)
    assert owner is not None and owner.id == user.id
    assert [c.name for c in owner.webauthn] == ["laptop"]  # loaded with the user
    assert [c.credential_id for c in await store.find_user_webauthns(owner)] == [b"\x00cred"]
    doc = await db["user"].find_one({"_id": user.id})
    assert doc["webauthn"] == [cred.id]  # MongoEngine's back-reference list

    assert await store.consume_field(found, "sign_count", 1, 2) is True
    assert await store.consume_field(found, "sign_count", 1, 3) is False

    await store.delete_webauthn(found)
    assert await store.find_webauthn(b"\x00cred") is None
    doc = await db["user"].find_one({"_id": user.id})
    assert doc["webauthn"] == []


async def test_webauthn_reset_and_user_delete_remove_passkeys(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com")
    for n in range(2):
        await store.create_webauthn(user, f"c{n}".encode(), b"pk", f"k{n}", 0, "first", "x", False)
    await store.webauthn_reset(user)
    assert await db["webauthn"].count_documents({}) == 0 and user.webauthn == []
    await store.create_webauthn(user, b"c9", b"pk", "k9", 0, "first", "x", False)
    await store.delete_user(user)
    assert await db["webauthn"].count_documents({}) == 0


async def test_reset_user_access(store: Store) -> None:
    user = await make_user(store, "a@lp.com", tf_primary_method="authenticator")
    await store.create_webauthn(user, b"c1", b"pk", "k", 0, "first", "x", False)
    await store.mf_set_recovery_codes(user, ["r"])
    old = (user.fs_uniquifier, user.fs_token_uniquifier)
    await store.reset_user_access(user)
    fresh = await store.find_user(id=user.id)
    assert fresh is not None
    assert (fresh.fs_uniquifier, fresh.fs_token_uniquifier) != old
    assert fresh.fs_uniquifier != old[0] and fresh.fs_token_uniquifier != old[1]
    assert fresh.tf_primary_method is None and fresh.mf_recovery_codes is None
    assert fresh.webauthn == []


async def test_set_webauthn_user_handle(store: Store) -> None:
    user = await make_user(store, "a@lp.com")
    await store.set_webauthn_user_handle(user, "handle-1")
    other = await make_user(store, "b@lp.com")
    with pytest.raises(DuplicateIdentityError) as info:
        await store.set_webauthn_user_handle(other, "handle-1")
    assert info.value.field == "fs_webauthn_user_handle"
    found = await store.find_user(fs_webauthn_user_handle="handle-1")
    assert found is not None and found.id == user.id


# ---------------------------------------------------------------------- unified sign in
async def test_us_secrets(store: Store) -> None:
    user = await make_user(store, "a@lp.com")
    assert await store.us_get_totp_secrets(user) == {}
    await store.us_set(user, "authenticator", totp_secret="s1")
    await store.us_set(user, "sms", totp_secret="s2", phone="+15555550100")
    fresh = await store.find_user(us_phone_number="+15555550100")
    assert fresh is not None
    assert await store.us_get_totp_secrets(fresh) == {"authenticator": "s1", "sms": "s2"}
    await store.us_reset(fresh, "sms")
    assert fresh.us_phone_number is None
    assert await store.us_get_totp_secrets(fresh) == {"authenticator": "s1"}
    await store.us_reset(fresh)
    assert fresh.us_totp_secrets is None


async def test_us_secrets_not_json_is_a_datastore_error(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com")
    await db["user"].update_one({"_id": user.id}, {"$set": {"us_totp_secrets": "[1]"}})
    fresh = await store.find_user(id=user.id)
    assert fresh is not None
    with pytest.raises(DatastoreError, match="us_totp_secrets"):
        await store.us_get_totp_secrets(fresh)


# ---------------------------------------------------------------------- models
async def test_subclassed_model_and_collection_names(db: Any) -> None:
    class Account(MongoUser):
        collection = "accounts"
        security_number: int | None = doc_field("int")
        tf_phone_number = None  # rebinding a name drops the inherited field

    assert "security_number" in Account.fields and "tf_phone_number" not in Account.fields

    store: MongoUserDatastore[Account, MongoRole] = MongoUserDatastore(
        db, Account, MongoRole, role_collection="groups"
    )
    await store.create_indexes()
    await store.create_role(name="g")
    await store.create_user(email="a@lp.com", security_number=7, roles=["g"])
    user = await store.find_user(security_number=7)
    assert isinstance(user, Account) and user.security_number == 7
    assert [r.name for r in user.roles] == ["g"]
    assert await db["accounts"].count_documents({}) == 1
    assert await db["groups"].count_documents({}) == 1
    with pytest.raises(NotImplementedError):
        await store.find_webauthn(b"x")


async def test_a_model_without_the_counters_says_so_clearly(db: Any) -> None:
    class Counterless(MongoUser):
        tf_totp_last_counter = None
        tf_code_attempts = None

    store: MongoUserDatastore[Counterless, MongoRole] = MongoUserDatastore(
        db, Counterless, MongoRole
    )
    assert store.supports_tf_counters() is False
    user = await store.create_user(email="a@lp.com")
    calls = {
        "tf_advance_counter": lambda: store.tf_advance_counter(user, 5),
        "tf_count_attempt": lambda: store.tf_count_attempt(user),
        "tf_reset_attempts": lambda: store.tf_reset_attempts(user),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=f"{name}: Counterless has no column"):
            await call()
    await store.tf_set(user, "authenticator", totp_secret="s-1")
    await store.tf_reset(user)
    doc = await db["user"].find_one({"_id": user.id})
    assert "tf_totp_last_counter" not in doc and "tf_code_attempts" not in doc


async def test_counters_on_documents_another_program_wrote(store: Store, db: Any) -> None:
    user = await make_user(store, "a@lp.com")
    # MongoEngine may store an explicit null: $inc refuses it, the store does not.
    await db["user"].update_one({"_id": user.id}, {"$set": {"tf_code_attempts": None}})
    assert await store.tf_count_attempt(user) == 1
    assert (await db["user"].find_one({"_id": user.id}))["tf_code_attempts"] == 1
    await db["user"].update_one({"_id": user.id}, {"$set": {"tf_totp_last_counter": None}})
    assert await store.tf_advance_counter(user, 3) is True
    # A damaged value fails closed: no step is ever "later", no count is made up.
    await db["user"].update_one(
        {"_id": user.id}, {"$set": {"tf_totp_last_counter": "9", "tf_code_attempts": "x"}}
    )
    assert await store.tf_advance_counter(user, 10) is False
    with pytest.raises(DatastoreError, match="tf_code_attempts"):
        await store.tf_count_attempt(user)


async def test_counters_need_a_stored_user(store: Store) -> None:
    user = MongoUser(email="new@lp.com", fs_uniquifier="u")
    with pytest.raises(ValueError, match="stored user"):
        await store.tf_count_attempt(user)


async def test_wrong_handles_rejected(client: AsyncMongoClient[dict[str, Any]]) -> None:
    with pytest.raises(TypeError):
        MongoUserDatastore(client, MongoUser, MongoRole)


# ---------------------------------------------------------------------- motor
async def test_basic_flow_through_motor(clock: FrozenClock) -> None:
    motor_asyncio = pytest.importorskip("motor.motor_asyncio")
    motor = motor_asyncio.AsyncIOMotorClient(MONGO_URL, serverSelectionTimeoutMS=5000)
    name = f"qs_test_motor_{uuid.uuid4().hex[:12]}"
    try:
        store = MongoUserDatastore(motor[name], MongoUser, MongoRole, MongoWebAuthn, clock=clock)
        await store.create_indexes()
        await store.create_role(name="admin", permissions=["p"])
        created = await store.create_user(email="Matt@LP.com", password="h", roles=["admin"])
        with pytest.raises(DuplicateIdentityError):
            await store.create_user(email="matt@lp.com", password="h")
        user = await store.find_user(case_insensitive=True, email="MATT@lp.com")
        assert user is not None and user.id == created.id and user.has_permission("p")
        with pytest.raises(ValueError):
            await store.find_user(email={"$ne": None})
        await store.create_webauthn(user, b"c", b"pk", "k", 0, "first", "x", False)
        again = await store.find_user(id=user.id)
        assert again is not None and [c.name for c in again.webauthn] == ["k"]
        copies = [await store.find_user(id=user.id) for _ in range(10)]
        results = await asyncio.gather(
            *(store.consume_field(c, "tf_totp_secret", None, "s") for c in copies if c)
        )
        assert results.count(True) == 1
        with pytest.raises(TypeError):
            MongoUserDatastore(motor, MongoUser, MongoRole)
    finally:
        await motor.drop_database(name)
        motor.close()
