"""What every datastore must do, written once against the datastore API.

Runs unchanged on each backend in backends.BACKENDS. No SQL, no MongoDB
query here: only Flask-Security's datastore methods and model attributes.
A "fresh" unit of work runs in a new task context, as a second request would,
so it cannot see the first one's session.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest

from quart_security.errors import DatastoreError

T = TypeVar("T")
Store = Any  # the abstract API plus Flask-Security's feature methods

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
MIB = "a" * (1 << 20)


async def fresh(ds: Store, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` as another request would: own context, own unit of work."""

    async def run() -> T:
        async with ds.unit_of_work():
            return await work()

    return await asyncio.create_task(run(), context=contextvars.Context())


async def lookup(ds: Store, **kwargs: Any) -> Any:
    """find_user in a fresh unit of work."""
    return await fresh(ds, lambda: ds.find_user(**kwargs))


async def committed_user(ds: Store, email: str = "alice@example.com", **kwargs: Any) -> Any:
    kwargs.setdefault("password", HASH)
    user = await ds.create_user(email=email, **kwargs)
    await ds.commit()
    return user


def require_transactions(ds: Store) -> None:
    if not getattr(ds, "transactional", True):
        pytest.skip("this backend writes at once: nothing to roll back")


async def credential(ds: Store, user: Any, credential_id: bytes, name: str) -> Any:
    return await ds.create_webauthn(
        user,
        credential_id=credential_id,
        public_key=b"\xa5\x01\x02\x03&" + credential_id,
        name=name,
        sign_count=3,
        usage="first",
        device_type="multi_device",
        backup_state=True,
        transports=["usb", "internal"],
        extensions='{"credProps": {"rk": true}}',
    )


# ---------------------------------------------------------------------- users
async def test_create_user_sets_flask_security_defaults(datastore: Store) -> None:
    user = await committed_user(datastore, username="alice")
    assert user.active is True
    for attr in ("fs_uniquifier", "fs_token_uniquifier", "fs_webauthn_user_handle"):
        value = getattr(user, attr)
        assert isinstance(value, str) and 0 < len(value) <= 64, attr
    assert user.fs_uniquifier != user.fs_token_uniquifier
    assert user.password == HASH
    assert list(user.roles) == []


async def test_find_user_by_each_identity(datastore: Store) -> None:
    user = await committed_user(datastore, email="Alice@Example.com", username="alice")
    found = [
        await lookup(datastore, email="Alice@Example.com"),
        await lookup(datastore, email="alice@EXAMPLE.com", case_insensitive=True),
        await lookup(datastore, fs_uniquifier=user.fs_uniquifier),
        await lookup(datastore, id=user.id),
        await lookup(datastore, username="alice"),
    ]
    assert all(u is not None for u in found)
    assert {u.fs_uniquifier for u in found} == {user.fs_uniquifier}
    assert found[0].email == "Alice@Example.com"
    # Case matters unless asked otherwise.
    assert await lookup(datastore, email="alice@example.com") is None
    assert await lookup(datastore, username="ALICE") is None
    assert await lookup(datastore, username="ALICE", case_insensitive=True) is not None


async def test_find_user_reads_its_own_staged_writes(datastore: Store) -> None:
    await datastore.create_user(email="staged@example.com", password=HASH)
    found = await datastore.find_user(email="staged@example.com")
    assert found is not None and found.email == "staged@example.com"


async def test_find_user_attribute_errors(datastore: Store) -> None:
    await committed_user(datastore)
    with pytest.raises(ValueError, match="no_such_column"):
        await datastore.find_user(no_such_column="x")
    with pytest.raises(ValueError):
        await datastore.find_user()
    with pytest.raises(ValueError):
        await datastore.find_user(email="alice@example.com", username="alice")
    # Still usable.
    assert await datastore.find_user(email="alice@example.com") is not None


@pytest.mark.parametrize(
    "value", [{"$ne": None}, {"$gt": ""}, ["alice@example.com"], b"alice@example.com"]
)
@pytest.mark.parametrize("case_insensitive", [False, True])
async def test_find_user_rejects_non_string_for_string_field(
    datastore: Store, value: Any, case_insensitive: bool
) -> None:
    await committed_user(datastore)
    with pytest.raises(ValueError, match="email"):
        await datastore.find_user(case_insensitive=case_insensitive, email=value)
    assert await datastore.find_user(email="alice@example.com") is not None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("alice@example.com\x00", id="nul-suffix"),
        pytest.param("\x00", id="nul"),
        pytest.param("alice\ud800@example.com", id="lone-surrogate"),
        pytest.param(MIB, id="1MiB"),
        pytest.param("", id="empty"),
    ],
)
@pytest.mark.parametrize("case_insensitive", [False, True])
async def test_find_user_impossible_values_find_nothing(
    datastore: Store, value: str, case_insensitive: bool
) -> None:
    await committed_user(datastore)
    assert await datastore.find_user(case_insensitive=case_insensitive, email=value) is None
    assert await datastore.find_user(case_insensitive=case_insensitive, username=value) is None
    assert await datastore.find_user(fs_uniquifier=value) is None
    # The unit of work survived the bad lookup.
    assert await datastore.find_user(email="alice@example.com") is not None
    await datastore.commit()


async def test_find_user_none_finds_nothing_not_a_null_row(datastore: Store) -> None:
    # The user has no username: a None lookup must not match that missing value.
    await committed_user(datastore)
    assert await datastore.find_user(username=None) is None
    assert await datastore.find_user(username=None, case_insensitive=True) is None
    assert await datastore.find_user(us_phone_number=None) is None


async def test_unicode_identity_differing_only_in_case_is_one_identity(datastore: Store) -> None:
    user = await committed_user(datastore, email="Zoë.Ünal@Exämple.com", username="Ærøskøbing")
    for email in ("zoë.ünal@exämple.com", "ZOË.ÜNAL@EXÄMPLE.COM"):
        found = await lookup(datastore, email=email, case_insensitive=True)
        assert found is not None and found.fs_uniquifier == user.fs_uniquifier
        assert await lookup(datastore, email=email) is None
    found = await lookup(datastore, username="ærøskøbing", case_insensitive=True)
    assert found is not None and found.fs_uniquifier == user.fs_uniquifier


async def test_case_insensitive_lookup_never_guesses_between_accounts(datastore: Store) -> None:
    first = (await committed_user(datastore, email="Bob@example.com")).fs_uniquifier
    try:
        second = (await committed_user(datastore, email="bob@example.com")).fs_uniquifier
    except DatastoreError:
        # This backend refuses case variants outright: the lookup is unambiguous.
        found = await lookup(datastore, email="BOB@EXAMPLE.COM", case_insensitive=True)
        assert found is not None and found.fs_uniquifier == first
        return
    # Both exist: an exact spelling picks its own account, anything else neither.
    exact = await lookup(datastore, email="bob@example.com", case_insensitive=True)
    assert exact is not None and exact.fs_uniquifier == second
    exact = await lookup(datastore, email="Bob@example.com", case_insensitive=True)
    assert exact is not None and exact.fs_uniquifier == first
    assert await lookup(datastore, email="BOB@EXAMPLE.COM", case_insensitive=True) is None


async def test_delete_user(datastore: Store) -> None:
    await datastore.create_role(name="admin")
    user = await committed_user(datastore, roles=["admin"])
    await credential(datastore, user, b"delete-me-cred", "key")
    await datastore.commit()

    async def delete() -> None:
        found = await datastore.find_user(email="alice@example.com")
        await datastore.delete_user(found)

    await fresh(datastore, delete)
    assert await lookup(datastore, email="alice@example.com") is None
    assert await fresh(datastore, lambda: datastore.find_webauthn(b"delete-me-cred")) is None
    assert await fresh(datastore, lambda: datastore.find_role("admin")) is not None
    # The identity is free again (for a new request: this one still holds the old user).
    await datastore.end_unit_of_work()
    again = await fresh(datastore, lambda: committed_user(datastore, roles=["admin"]))
    assert [r.name for r in again.roles] == ["admin"]


# ---------------------------------------------------------------------- roles
async def test_roles_create_find_and_find_or_create(datastore: Store) -> None:
    admin = await datastore.create_role(name="admin", description="Administrators")
    assert admin.name == "admin"
    same = await datastore.find_or_create_role("admin", description="ignored")
    assert same.name == "admin" and same.description == "Administrators"
    editor = await datastore.find_or_create_role("editor")
    await datastore.commit()
    assert editor.name == "editor"
    found = await fresh(datastore, lambda: datastore.find_role("admin"))
    assert found is not None and found.description == "Administrators"
    assert await datastore.find_role("nobody") is None
    assert await datastore.find_role("ADMIN") is None


async def test_role_membership_add_remove_and_idempotence(datastore: Store) -> None:
    await datastore.create_role(name="admin")
    await datastore.create_role(name="editor")
    user = await committed_user(datastore, roles=["admin"])
    assert user.has_role("admin") and not user.has_role("editor")

    assert await datastore.add_role_to_user(user, "editor") is True
    assert await datastore.add_role_to_user(user, "editor") is False
    editor = await datastore.find_role("editor")
    assert await datastore.add_role_to_user(user, editor) is False
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert sorted(r.name for r in found.roles) == ["admin", "editor"]
    assert found.has_role("editor") and found.has_role(editor)

    assert await datastore.remove_role_from_user(user, "admin") is True
    assert await datastore.remove_role_from_user(user, "admin") is False
    assert await datastore.remove_role_from_user(user, "no-such-role") is False
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert [r.name for r in found.roles] == ["editor"]
    assert not found.has_role("admin")


async def test_add_unknown_role_name_raises_and_changes_nothing(datastore: Store) -> None:
    user = await committed_user(datastore)
    with pytest.raises(ValueError, match="ghost"):
        await datastore.add_role_to_user(user, "ghost")
    with pytest.raises(ValueError, match="ghost"):
        await datastore.create_user(email="b@example.com", password=HASH, roles=["ghost"])
    await datastore.commit()
    assert list((await lookup(datastore, email="alice@example.com")).roles) == []
    assert await lookup(datastore, email="b@example.com") is None


async def test_find_role_bad_input(datastore: Store) -> None:
    await datastore.create_role(name="admin")
    await datastore.commit()
    for bad in ({"$ne": None}, ["admin"], b"admin"):
        with pytest.raises(ValueError):
            await datastore.find_role(bad)
    assert await datastore.find_role("admin\x00") is None
    assert await datastore.find_role(MIB) is None
    assert await datastore.find_role("admin") is not None


# ---------------------------------------------------------------------- permissions
@pytest.mark.parametrize(
    "given",
    [
        pytest.param("read, write,read", id="comma-string"),
        pytest.param(["read", "write"], id="list"),
        pytest.param({"read", "write"}, id="set"),
        pytest.param(("write", "read"), id="tuple"),
    ],
)
async def test_permissions_in_any_form_come_out_as_a_set(datastore: Store, given: Any) -> None:
    role = await datastore.create_role(name="staff", permissions=given)
    assert role.get_permissions() == {"read", "write"}
    await datastore.commit()
    found = await fresh(datastore, lambda: datastore.find_role("staff"))
    assert found.get_permissions() == {"read", "write"}


async def test_add_and_remove_permissions(datastore: Store) -> None:
    await datastore.create_role(name="staff", permissions="read")
    await datastore.create_role(name="bare")
    user = await committed_user(datastore, roles=["staff", "bare"])
    assert await datastore.add_permissions_to_role("staff", "write, delete") is True
    assert await datastore.remove_permissions_from_role("staff", ["read"]) is True
    assert await datastore.add_permissions_to_role("nobody", "x") is False
    assert await datastore.remove_permissions_from_role("nobody", "x") is False
    await datastore.commit()

    found = await fresh(datastore, lambda: datastore.find_role("staff"))
    assert found.get_permissions() == {"write", "delete"}
    bare = await fresh(datastore, lambda: datastore.find_role("bare"))
    assert bare.get_permissions() == set()
    loaded = await lookup(datastore, fs_uniquifier=user.fs_uniquifier)
    assert loaded.get_permissions() == {"write", "delete"}
    assert loaded.has_permission("write") and not loaded.has_permission("read")


# ---------------------------------------------------------------------- activation
async def test_activate_deactivate_toggle(datastore: Store) -> None:
    user = await committed_user(datastore)
    assert await datastore.deactivate_user(user) is True
    assert await datastore.deactivate_user(user) is False
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).active is False

    assert await datastore.activate_user(user) is True
    assert await datastore.activate_user(user) is False
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).is_active is True

    assert await datastore.toggle_active(user) is True
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).active is False
    assert await datastore.toggle_active(user) is True
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).active is True


# ---------------------------------------------------------------------- uniquifiers
async def test_set_uniquifier_rotates_and_old_value_finds_nothing(datastore: Store) -> None:
    user = await committed_user(datastore)
    old = user.fs_uniquifier
    await datastore.set_uniquifier(user)
    await datastore.commit()
    assert user.fs_uniquifier != old
    assert await lookup(datastore, fs_uniquifier=old) is None
    assert (await lookup(datastore, fs_uniquifier=user.fs_uniquifier)) is not None

    await datastore.set_uniquifier(user, "chosen-uniquifier")
    await datastore.commit()
    assert (await lookup(datastore, fs_uniquifier="chosen-uniquifier")) is not None


async def test_set_token_uniquifier_leaves_session_uniquifier(datastore: Store) -> None:
    user = await committed_user(datastore)
    session_id, token_id = user.fs_uniquifier, user.fs_token_uniquifier
    await datastore.set_token_uniquifier(user)
    await datastore.commit()
    found = await lookup(datastore, fs_uniquifier=session_id)
    assert found is not None and found.fs_token_uniquifier not in (token_id, None)
    assert await lookup(datastore, fs_token_uniquifier=token_id) is None


async def test_reset_user_access_revokes_everything_but_the_password(datastore: Store) -> None:
    user = await committed_user(datastore)
    await datastore.tf_set(user, "authenticator", totp_secret="tf-secret", phone="+15550001")
    await datastore.us_set(user, "sms", totp_secret="us-secret", phone="+15550002")
    await datastore.mf_set_recovery_codes(user, ["one", "two"])
    await credential(datastore, user, b"reset-cred-1", "one")
    await credential(datastore, user, b"reset-cred-2", "two")
    await datastore.commit()
    before = (user.fs_uniquifier, user.fs_token_uniquifier)

    async def reset() -> None:
        found = await datastore.find_user(email="alice@example.com")
        await datastore.reset_user_access(found)

    await fresh(datastore, reset)
    assert await lookup(datastore, fs_uniquifier=before[0]) is None
    found = await lookup(datastore, email="alice@example.com")
    assert found.fs_uniquifier != before[0]
    assert found.fs_token_uniquifier not in (before[1], None)
    assert found.password == HASH
    assert (found.tf_primary_method, found.tf_totp_secret, found.tf_phone_number) == (
        None,
        None,
        None,
    )
    assert not found.us_totp_secrets and found.us_phone_number is None
    assert await datastore.mf_get_recovery_codes(found) == []
    for cid in (b"reset-cred-1", b"reset-cred-2"):
        assert await fresh(datastore, functools.partial(datastore.find_webauthn, cid)) is None


# ---------------------------------------------------------------------- two-factor
async def test_tf_set_and_reset(datastore: Store) -> None:
    user = await committed_user(datastore)
    await datastore.tf_set(user, "authenticator", totp_secret="secret-1", phone="+15550003")
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert (found.tf_primary_method, found.tf_totp_secret, found.tf_phone_number) == (
        "authenticator",
        "secret-1",
        "+15550003",
    )
    # No secret or phone given: the stored ones stay.
    await datastore.tf_set(user, "sms")
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert (found.tf_primary_method, found.tf_totp_secret, found.tf_phone_number) == (
        "sms",
        "secret-1",
        "+15550003",
    )
    await datastore.tf_reset(user)
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert (found.tf_primary_method, found.tf_totp_secret, found.tf_phone_number) == (
        None,
        None,
        None,
    )


# ---------------------------------------------------------------------- two-factor counters
async def test_tf_counters_are_supported(datastore: Store) -> None:
    assert datastore.supports_tf_counters() is True
    user = await committed_user(datastore)
    assert (user.tf_totp_last_counter, user.tf_code_attempts) == (None, None)


async def test_tf_advance_counter_only_moves_forward(datastore: Store) -> None:
    user = await committed_user(datastore)
    assert await datastore.tf_advance_counter(user, 5) is True
    assert user.tf_totp_last_counter == 5
    assert await datastore.tf_advance_counter(user, 5) is False
    assert await datastore.tf_advance_counter(user, 4) is False
    assert user.tf_totp_last_counter == 5
    # A later save of the same object must not write an older value back.
    await datastore.put(user)
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).tf_totp_last_counter == 5
    assert await datastore.tf_advance_counter(user, 6) is True
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert found.tf_totp_last_counter == 6

    # A copy read before the advance cannot replay the step either.
    async def replay(step: int) -> bool:
        other = await datastore.find_user(email="alice@example.com")
        ok: bool = await datastore.tf_advance_counter(other, step)
        return ok

    assert await fresh(datastore, functools.partial(replay, 6)) is False
    assert await fresh(datastore, functools.partial(replay, 7)) is True
    assert await datastore.tf_advance_counter(user, 7) is False


async def test_tf_advance_counter_refuses_what_is_not_a_time_step(datastore: Store) -> None:
    user = await committed_user(datastore)
    for bad in ("5", 5.0, True, None, -1, 2**31):
        with pytest.raises(ValueError, match="counter"):
            await datastore.tf_advance_counter(user, bad)
    assert await datastore.tf_advance_counter(user, 0) is True


async def test_tf_advance_counter_in_parallel_wins_once(datastore: Store) -> None:
    await committed_user(datastore)

    async def advance() -> bool:
        found = await datastore.find_user(email="alice@example.com")
        ok: bool = await datastore.tf_advance_counter(found, 59_000_000)
        return ok

    results = await asyncio.gather(*(fresh(datastore, advance) for _ in range(10)))
    assert results.count(True) == 1
    found = await lookup(datastore, email="alice@example.com")
    assert found.tf_totp_last_counter == 59_000_000


async def test_tf_count_attempt_counts_and_resets(datastore: Store) -> None:
    user = await committed_user(datastore)
    assert [await datastore.tf_count_attempt(user) for _ in range(3)] == [1, 2, 3]
    assert user.tf_code_attempts == 3
    await datastore.put(user)
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert found.tf_code_attempts == 3
    await datastore.tf_reset_attempts(user)
    assert user.tf_code_attempts is None
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert found.tf_code_attempts is None
    assert await datastore.tf_count_attempt(user) == 1
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).tf_code_attempts == 1


async def test_tf_counters_see_changes_not_yet_committed(datastore: Store) -> None:
    user = await committed_user(datastore)
    await datastore.tf_set(user, "authenticator", totp_secret="secret-1")
    assert await datastore.tf_advance_counter(user, 100) is True
    assert await datastore.tf_count_attempt(user) == 1
    # Reset and new secret staged in the same unit of work, then counted again.
    await datastore.tf_reset_attempts(user)
    await datastore.tf_set(user, "authenticator", totp_secret="secret-2")
    assert await datastore.tf_count_attempt(user) == 1
    assert await datastore.tf_advance_counter(user, 50) is True
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert (found.tf_totp_last_counter, found.tf_code_attempts) == (50, 1)


async def test_tf_count_attempt_in_parallel_gives_distinct_counts(datastore: Store) -> None:
    user = await committed_user(datastore)
    assert await datastore.tf_count_attempt(user) == 1
    await datastore.commit()

    async def attempt() -> int:
        found = await datastore.find_user(email="alice@example.com")
        count: int = await datastore.tf_count_attempt(found)
        return count

    results = await asyncio.gather(*(fresh(datastore, attempt) for _ in range(10)))
    assert sorted(results) == list(range(2, 12))
    found = await lookup(datastore, email="alice@example.com")
    assert found.tf_code_attempts == 11


async def test_tf_set_with_a_new_secret_starts_a_new_counter(datastore: Store) -> None:
    user = await committed_user(datastore)
    await datastore.tf_set(user, "authenticator", totp_secret="secret-1")
    assert await datastore.tf_advance_counter(user, 100) is True
    await datastore.commit()
    # The same secret again (a method change): the history stays.
    await datastore.tf_set(user, "authenticator", totp_secret="secret-1")
    await datastore.tf_set(user, "email")
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).tf_totp_last_counter == 100
    await datastore.tf_set(user, "authenticator", totp_secret="secret-2")
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert (found.tf_totp_secret, found.tf_totp_last_counter) == ("secret-2", None)
    assert await datastore.tf_advance_counter(user, 100) is True


async def test_tf_reset_clears_both_counters(datastore: Store) -> None:
    user = await committed_user(datastore)
    await datastore.tf_set(user, "authenticator", totp_secret="secret-1")
    assert await datastore.tf_advance_counter(user, 100) is True
    assert await datastore.tf_count_attempt(user) == 1
    await datastore.commit()
    await datastore.tf_reset(user)
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert (found.tf_primary_method, found.tf_totp_last_counter, found.tf_code_attempts) == (
        None,
        None,
        None,
    )


# ---------------------------------------------------------------------- recovery codes
async def test_recovery_codes(datastore: Store) -> None:
    user = await committed_user(datastore)
    assert await datastore.mf_get_recovery_codes(user) == []
    await datastore.mf_set_recovery_codes(user, ["aaaa-1111", "bbbb-2222", "cccc-3333"])
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.mf_get_recovery_codes(found) == ["aaaa-1111", "bbbb-2222", "cccc-3333"]

    assert await datastore.mf_delete_recovery_code(user, 1) is True
    assert await datastore.mf_get_recovery_codes(user) == ["aaaa-1111", "cccc-3333"]
    assert await datastore.mf_delete_recovery_code(user, 2) is False
    assert await datastore.mf_delete_recovery_code(user, -1) is False
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.mf_get_recovery_codes(found) == ["aaaa-1111", "cccc-3333"]

    await datastore.mf_set_recovery_codes(user, None)
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.mf_get_recovery_codes(found) == []


async def test_recovery_code_replayed_in_parallel_is_consumed_once(datastore: Store) -> None:
    user = await committed_user(datastore)
    await datastore.mf_set_recovery_codes(user, ["aaaa", "bbbb", "cccc"])
    await datastore.commit()

    async def consume() -> bool:
        found = await datastore.find_user(email="alice@example.com")
        codes = await datastore.mf_get_recovery_codes(found)
        if "bbbb" not in codes:
            return False
        ok: bool = await datastore.mf_delete_recovery_code(found, codes.index("bbbb"))
        return ok

    results = await asyncio.gather(*(fresh(datastore, consume) for _ in range(10)))
    assert results.count(True) == 1
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.mf_get_recovery_codes(found) == ["aaaa", "cccc"]


async def test_recovery_code_consumed_by_value(datastore: Store) -> None:
    user = await committed_user(datastore)
    await datastore.mf_set_recovery_codes(user, ["aaaa", "bbbb", "cccc"])
    await datastore.commit()
    assert await datastore.mf_consume_recovery_code(user, "bbbb") is True
    assert await datastore.mf_get_recovery_codes(user) == ["aaaa", "cccc"]
    assert await datastore.mf_consume_recovery_code(user, "bbbb") is False
    assert await datastore.mf_consume_recovery_code(user, "zzzz") is False
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.mf_get_recovery_codes(found) == ["aaaa", "cccc"]

    # A copy read before another request used a different code still uses its
    # own code: the value is looked for in the stored list, not the stale copy.
    async def use_aaaa() -> bool:
        other = await datastore.find_user(email="alice@example.com")
        ok: bool = await datastore.mf_consume_recovery_code(other, "aaaa")
        return ok

    assert await fresh(datastore, use_aaaa) is True
    assert await datastore.mf_consume_recovery_code(found, "aaaa") is False
    assert await datastore.mf_get_recovery_codes(found) == ["cccc"]
    assert await datastore.mf_consume_recovery_code(found, "cccc") is True
    assert await datastore.mf_get_recovery_codes(found) == []
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.mf_get_recovery_codes(found) == []
    assert await datastore.mf_consume_recovery_code(found, "cccc") is False


async def test_recovery_code_consumed_by_value_in_parallel_once(datastore: Store) -> None:
    user = await committed_user(datastore)
    await datastore.mf_set_recovery_codes(user, ["aaaa", "bbbb", "cccc"])
    await datastore.commit()

    async def consume(code: str) -> bool:
        found = await datastore.find_user(email="alice@example.com")
        ok: bool = await datastore.mf_consume_recovery_code(found, code)
        return ok

    # Ten uses of "bbbb" race with one use each of the other two codes: those
    # change the list under the "bbbb" consumers, who must still win once.
    codes = ["bbbb"] * 3 + ["aaaa"] + ["bbbb"] * 4 + ["cccc"] + ["bbbb"] * 3
    results = await asyncio.gather(
        *(fresh(datastore, functools.partial(consume, code)) for code in codes)
    )
    by_code = {
        code: [r for c, r in zip(codes, results, strict=True) if c == code] for code in codes
    }
    assert by_code == {"aaaa": [True], "cccc": [True], "bbbb": by_code["bbbb"]}
    assert len(by_code["bbbb"]) == 10 and by_code["bbbb"].count(True) == 1
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.mf_get_recovery_codes(found) == []


# ---------------------------------------------------------------------- unified sign in
async def test_unified_signin_secrets(datastore: Store) -> None:
    user = await committed_user(datastore)
    assert await datastore.us_get_totp_secrets(user) == {}
    await datastore.us_put_totp_secrets(user, {"authenticator": "sec-a"})
    await datastore.us_set(user, "email", totp_secret="sec-e")
    await datastore.us_set(user, "sms", totp_secret="sec-s", phone="+15550004")
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.us_get_totp_secrets(found) == {
        "authenticator": "sec-a",
        "email": "sec-e",
        "sms": "sec-s",
    }
    assert found.us_phone_number == "+15550004"
    assert (await lookup(datastore, us_phone_number="+15550004")) is not None

    await datastore.us_reset(user, "sms")
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.us_get_totp_secrets(found) == {
        "authenticator": "sec-a",
        "email": "sec-e",
    }
    assert found.us_phone_number is None

    await datastore.us_reset(user)
    await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert await datastore.us_get_totp_secrets(found) == {}
    assert found.us_phone_number is None


# ---------------------------------------------------------------------- webauthn
async def test_webauthn_create_find_delete_reset(datastore: Store) -> None:
    user = await committed_user(datastore)
    old_handle = user.fs_webauthn_user_handle
    await datastore.set_webauthn_user_handle(user)
    assert user.fs_webauthn_user_handle not in (old_handle, None)
    await datastore.set_webauthn_user_handle(user, "handle-123")
    await credential(datastore, user, b"\x00cred-one\xff", "laptop")
    await credential(datastore, user, b"cred-two", "phone")
    await datastore.commit()

    found = await fresh(datastore, lambda: datastore.find_webauthn(b"\x00cred-one\xff"))
    assert found is not None
    assert (found.name, found.sign_count, found.usage, found.device_type) == (
        "laptop",
        3,
        "first",
        "multi_device",
    )
    assert found.backup_state is True
    assert bytes(found.credential_id) == b"\x00cred-one\xff"
    assert bytes(found.public_key) == b"\xa5\x01\x02\x03&\x00cred-one\xff"
    assert list(found.transports) == ["usb", "internal"]
    assert found.extensions == '{"credProps": {"rk": true}}'
    assert isinstance(found.lastuse_datetime, datetime)
    assert found.lastuse_datetime.tzinfo is None

    owner = await fresh(datastore, lambda: datastore.find_user_from_webauthn(found))
    assert owner is not None and owner.fs_uniquifier == user.fs_uniquifier
    assert owner.fs_webauthn_user_handle == "handle-123"
    assert await datastore.find_webauthn(b"no-such-credential") is None

    async def delete_one() -> None:
        await datastore.delete_webauthn(await datastore.find_webauthn(b"\x00cred-one\xff"))

    await fresh(datastore, delete_one)
    assert await fresh(datastore, lambda: datastore.find_webauthn(b"\x00cred-one\xff")) is None
    assert await fresh(datastore, lambda: datastore.find_webauthn(b"cred-two")) is not None

    async def reset() -> None:
        await datastore.webauthn_reset(await datastore.find_user(email="alice@example.com"))

    await fresh(datastore, reset)
    assert await fresh(datastore, lambda: datastore.find_webauthn(b"cred-two")) is None
    # The user handle survives a passkey reset, as in Flask-Security.
    assert (await lookup(datastore, email="alice@example.com")).fs_webauthn_user_handle == (
        "handle-123"
    )


async def test_webauthn_duplicate_credential_and_bad_ids(datastore: Store) -> None:
    user = await committed_user(datastore)
    await credential(datastore, user, b"same-id", "one")
    await datastore.commit()
    with pytest.raises(DatastoreError):
        await credential(datastore, user, b"same-id", "two")
        await datastore.commit()
    with pytest.raises(ValueError):
        await datastore.find_webauthn("same-id")
    assert await datastore.find_webauthn(b"x" * 5000) is None
    found = await datastore.find_webauthn(b"same-id")
    assert found is not None and found.name == "one"


# ---------------------------------------------------------------------- unit of work
async def test_committed_data_is_durable_and_visible_elsewhere(datastore: Store) -> None:
    await committed_user(datastore, email="first@example.com")
    assert (await lookup(datastore, email="first@example.com")) is not None
    await datastore.end_unit_of_work(commit=True)
    assert (await lookup(datastore, email="first@example.com")) is not None


async def test_uncommitted_data_is_invisible_to_another_unit_of_work(datastore: Store) -> None:
    require_transactions(datastore)
    await committed_user(datastore, email="first@example.com")
    await datastore.create_user(email="second@example.com", password=HASH)
    # Read-your-writes inside the unit of work ...
    assert await datastore.find_user(email="second@example.com") is not None
    # ... but nobody else sees it before commit.
    assert await lookup(datastore, email="second@example.com") is None
    await datastore.commit()
    assert await lookup(datastore, email="second@example.com") is not None


async def test_commit_keeps_the_unit_of_work_open(datastore: Store) -> None:
    user = await committed_user(datastore)
    # After a commit the same objects are still usable and later writes land.
    await datastore.deactivate_user(user)
    await datastore.commit()
    await datastore.create_user(email="later@example.com", password=HASH)
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).active is False
    assert await lookup(datastore, email="later@example.com") is not None


async def test_rollback_discards_staged_changes(datastore: Store) -> None:
    require_transactions(datastore)
    await committed_user(datastore)
    await datastore.create_user(email="ghost@example.com", password=HASH)
    found = await datastore.find_user(email="alice@example.com")
    await datastore.deactivate_user(found)
    await datastore.rollback()
    assert await datastore.find_user(email="ghost@example.com") is None
    assert await lookup(datastore, email="ghost@example.com") is None
    assert (await lookup(datastore, email="alice@example.com")).active is True
    # Usable after the rollback.
    await committed_user(datastore, email="after@example.com")
    assert await lookup(datastore, email="after@example.com") is not None


async def test_unit_of_work_rolls_back_on_error(datastore: Store) -> None:
    require_transactions(datastore)

    async def failing() -> None:
        async with datastore.unit_of_work():
            await datastore.create_user(email="ghost@example.com", password=HASH)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await asyncio.create_task(failing(), context=contextvars.Context())
    assert await lookup(datastore, email="ghost@example.com") is None


async def test_end_unit_of_work_without_commit_discards(datastore: Store) -> None:
    require_transactions(datastore)
    await datastore.create_user(email="ghost@example.com", password=HASH)
    await datastore.end_unit_of_work(commit=False)
    assert await lookup(datastore, email="ghost@example.com") is None
    assert await datastore.find_user(email="ghost@example.com") is None


@pytest.mark.parametrize("field", ["email", "username", "fs_uniquifier", "us_phone_number"])
async def test_duplicate_identity_raises_typed_error_and_store_stays_usable(
    datastore: Store, field: str
) -> None:
    taken = {
        "email": "alice@example.com",
        "username": "alice",
        "fs_uniquifier": "taken-uniquifier",
        "us_phone_number": "+15550009",
    }
    await committed_user(datastore, **taken)
    clash = {
        "email": "bob@example.com",
        "username": "bob",
        "fs_uniquifier": "bob-uniquifier",
        "us_phone_number": "+15550010",
        field: taken[field],
    }
    with pytest.raises(DatastoreError) as info:
        await datastore.create_user(password=HASH, **clash)
        await datastore.commit()
    assert type(info.value).__name__ == "DuplicateIdentityError"
    assert getattr(info.value, "field", None) == field
    assert taken[field] not in str(info.value)  # no identity echoed into logs

    # Usable: reads work, a good write commits, the clash left nothing behind.
    assert await datastore.find_user(email="alice@example.com") is not None
    await committed_user(datastore, email="carol@example.com")
    assert await lookup(datastore, email="carol@example.com") is not None
    assert await lookup(datastore, fs_uniquifier="bob-uniquifier") is None


def _with_identity(field: str, value: str, n: int) -> dict[str, Any]:
    """A user's identities with ``field`` set to ``value`` (every user needs an email)."""
    if field == "email":
        return {"email": value}
    return {"email": f"user{n}@example.com", field: value}


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        pytest.param("email", "Bob@example.com", "bOB@example.com", id="email-ascii"),
        pytest.param("email", "Zoë.Ünal@exämple.com", "ZOË.ÜNAL@exämple.com", id="email-unicode"),
        pytest.param("username", "Bob", "bOB", id="username-ascii"),
        pytest.param("username", "Ærøskøbing", "ÆRØSKØBING", id="username-unicode"),
    ],
)
async def test_identities_differing_only_in_case_cannot_both_be_stored(
    datastore: Store, field: str, first: str, second: str
) -> None:
    """Issue #11: an identity is unique in the datastore itself, whatever its case.

    Whichever way the second spelling arrives: a new account (registration),
    an account renamed with put and commit (change-username), or a
    compare-and-set (change-email).
    """
    owner = await committed_user(datastore, **_with_identity(field, first, 1))
    bystander = await committed_user(datastore, **_with_identity(field, f"free{first}", 2))

    async def register() -> None:
        await datastore.create_user(password=HASH, **_with_identity(field, second, 3))
        await datastore.commit()

    async def rename() -> None:
        user = await datastore.find_user(fs_uniquifier=bystander.fs_uniquifier)
        setattr(user, field, second)
        await datastore.put(user)
        await datastore.commit()

    async def swap() -> None:
        user = await datastore.find_user(fs_uniquifier=bystander.fs_uniquifier)
        await datastore.compare_and_set(user, field, getattr(user, field), second)
        await datastore.commit()

    for attempt in (register, rename, swap):
        with pytest.raises(DatastoreError) as info:
            await fresh(datastore, attempt)
        assert type(info.value).__name__ == "DuplicateIdentityError", attempt.__name__
        assert getattr(info.value, "field", None) == field, attempt.__name__
        assert first not in str(info.value) and second not in str(info.value)

    found = await lookup(datastore, case_insensitive=True, **{field: second})
    assert found is not None and found.fs_uniquifier == owner.fs_uniquifier
    assert getattr(found, field) == first
    unchanged = await lookup(datastore, fs_uniquifier=bystander.fs_uniquifier)
    assert getattr(unchanged, field) == f"free{first}"
    assert await lookup(datastore, email="user3@example.com") is None


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"email": None}, id="email-None"),
        pytest.param({"email": {"$gt": ""}}, id="email-dict"),
        pytest.param({"email": ["a@example.com"]}, id="email-list"),
        pytest.param({"email": MIB}, id="email-1MiB"),
        pytest.param({"username": MIB}, id="username-1MiB"),
        pytest.param({"username": {"$ne": None}}, id="username-dict"),
        pytest.param({"active": "yes"}, id="active-str"),
    ],
)
async def test_bad_create_input_raises_and_writes_nothing(
    datastore: Store, changes: dict[str, Any]
) -> None:
    await committed_user(datastore)
    kwargs: dict[str, Any] = {
        "email": "bad@example.com",
        "password": HASH,
        "fs_uniquifier": "bad-input-uniquifier",
        **changes,
    }
    with pytest.raises((ValueError, DatastoreError)):
        await datastore.create_user(**kwargs)
        await datastore.commit()
    await committed_user(datastore, email="good@example.com")
    assert await lookup(datastore, fs_uniquifier="bad-input-uniquifier") is None
    assert await lookup(datastore, email="good@example.com") is not None


async def test_bad_update_is_refused_and_stored_value_kept(datastore: Store) -> None:
    user = await committed_user(datastore)
    with pytest.raises((ValueError, DatastoreError)):
        await datastore.set_uniquifier(user, "u" * 65)
        await datastore.commit()
    found = await lookup(datastore, email="alice@example.com")
    assert found is not None and len(found.fs_uniquifier) <= 64


async def test_compare_and_set_in_parallel_has_exactly_one_winner(datastore: Store) -> None:
    """The primitive behind single-use tokens: ten racing confirmations, one success."""
    user = await committed_user(datastore)
    when = datetime(2026, 1, 2, 3, 4, 5)

    async def confirm() -> bool:
        copy = await datastore.find_user(email="alice@example.com")
        won: bool = await datastore.compare_and_set(copy, "confirmed_at", None, when)
        return won

    results = await asyncio.gather(*(fresh(datastore, confirm) for _ in range(10)))
    assert results.count(True) == 1
    stored = await lookup(datastore, email="alice@example.com")
    assert stored.confirmed_at == when
    # The loser's view was stale: a second attempt against the old value fails.
    assert not await fresh(
        datastore, lambda: datastore.compare_and_set(user, "confirmed_at", None, when)
    )


async def test_compare_and_set_updates_the_winner_in_memory(datastore: Store) -> None:
    user = await committed_user(datastore)
    old = user.password
    assert await datastore.compare_and_set(user, "password", old, HASH + "x")
    assert user.password == HASH + "x"
    await datastore.commit()
    assert (await lookup(datastore, email="alice@example.com")).password == HASH + "x"
    assert not await datastore.compare_and_set(user, "password", old, HASH + "y")


async def test_release_connection_keeps_objects_and_commits_nothing_staged(
    datastore: Store,
) -> None:
    """Called while a login waits for its hash: objects stay usable, staged writes stay staged."""
    await committed_user(datastore)
    user = await datastore.find_user(email="alice@example.com")
    await datastore.release_connection()
    assert user.email == "alice@example.com"
    assert [r.name for r in user.roles] == []
    # A staged, uncommitted change is not committed by a release.
    require_transactions(datastore)
    await datastore.create_user(email="bob@example.com", password=HASH)
    await datastore.release_connection()
    assert await lookup(datastore, email="bob@example.com") is None
    await datastore.commit()
    assert await lookup(datastore, email="bob@example.com") is not None
