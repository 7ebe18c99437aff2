"""SQLAlchemy 2 async datastore.

Set-up::

    engine = create_async_engine("postgresql+asyncpg://...")   # or sqlite+aiosqlite
    sessions = async_sessionmaker(engine)
    datastore = SQLAlchemyUserDatastore(sessions, User, Role, WebAuthn)

Tables are created the usual SQLAlchemy way (use Alembic in production)::

    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)

A database created without the case-insensitive unique indexes on email and
username (by Flask-Security, say) gets them from ``await
datastore.create_indexes()``; see docs/datastores.md.

Unit of work: one ``AsyncSession`` per task context, kept in a ContextVar owned
by this datastore, opened at first use with ``expire_on_commit=False`` (a
committed object must stay readable: a lazy reload raises MissingGreenlet).
``commit()`` commits and keeps the session; ``end_unit_of_work()`` (called by
the extension when a request ends) is the only place that closes it. Any
database error rolls the whole unit of work back before it propagates, so the
datastore stays usable; objects loaded before a rollback are expired and must
be found again.

A child task (``asyncio.create_task``, ``gather``) inherits the session only if
it already existed when the task was created; one the child opens is invisible
to its parent. Do datastore work in the request's own task, or give the child
its own ``async with datastore.unit_of_work()``. One session must never be
used by two tasks at the same time.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    bindparam,
    case,
    event,
    func,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, UOWTransaction, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.schema import CreateIndex
from sqlalchemy.sql.elements import ColumnElement

from ..clock import Clock, SystemClock, utcnow_naive
from ..errors import DatastoreError, DuplicateIdentityError, InvalidFieldValueError
from ..mixins import WebAuthnMixin
from ..models.sqla import (
    FOLD_INDEX_DIALECTS,
    AsaList,
    ensure_sqlite_fold,
    fold_case,
    identity_indexes,
    identity_of_index,
)
from .base import RoleT, UserDatastore, UserT

__all__ = [
    "DuplicateIdentityError",
    "InvalidFieldValueError",
    "SQLAlchemyUserDatastore",
]

# Longest attribute name echoed back in an error message.
_MAX_NAME_IN_ERROR = 64


# ---------------------------------------------------------------------- values
class _Problem(NamedTuple):
    message: str
    wrong_type: bool  # False: right type but it can never be stored or matched


_INT_BITS: tuple[tuple[type[Integer], int], ...] = (
    (SmallInteger, 15),
    (BigInteger, 63),
    (Integer, 31),
)


def _text_problem(value: str) -> _Problem | None:
    if "\x00" in value:
        return _Problem("must not contain NUL characters", wrong_type=False)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _Problem("is not valid Unicode text", wrong_type=False)
    return None


def _value_problem(column: Column[Any], value: Any) -> _Problem | None:
    """Why ``value`` (not None) cannot go into ``column``, or None if it can.

    Checked here, not left to the driver, so every database gives the same
    answer: SQLite would store an over-long or NUL-bearing string that
    PostgreSQL rejects with a driver error.
    """
    ctype = column.type
    if isinstance(ctype, AsaList):
        if isinstance(value, str) or not isinstance(value, Iterable):
            return _Problem("must be a list of strings", wrong_type=True)
        for item in value:
            if not isinstance(item, str):
                return _Problem("must be a list of strings", wrong_type=True)
            if "," in item:
                return _Problem("items must not contain a comma", wrong_type=False)
            problem = _text_problem(item)
            if problem:
                return problem
        return None
    if isinstance(ctype, Enum):
        return None
    if isinstance(ctype, String):
        if not isinstance(value, str):
            return _Problem("must be a string", wrong_type=True)
        if ctype.length is not None and len(value) > ctype.length:
            return _Problem(f"is longer than {ctype.length} characters", wrong_type=False)
        return _text_problem(value)
    if isinstance(ctype, LargeBinary):
        if not isinstance(value, bytes | bytearray | memoryview):
            return _Problem("must be bytes", wrong_type=True)
        if ctype.length is not None and len(value) > ctype.length:
            return _Problem(f"is longer than {ctype.length} bytes", wrong_type=False)
        return None
    if isinstance(ctype, Boolean):
        if not isinstance(value, bool):
            return _Problem("must be a boolean", wrong_type=True)
        return None
    if isinstance(ctype, Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            return _Problem("must be an integer", wrong_type=True)
        bits = next(b for kind, b in _INT_BITS if isinstance(ctype, kind))
        if not -(2**bits) <= value < 2**bits:
            return _Problem("is out of range", wrong_type=False)
        return None
    if isinstance(ctype, DateTime):
        if not isinstance(value, datetime):
            return _Problem("must be a datetime", wrong_type=True)
        if not ctype.timezone and value.tzinfo is not None:
            return _Problem("must be a naive UTC datetime", wrong_type=True)
        return None
    return None


def _columns(mapper: Mapper[Any]) -> Iterable[tuple[str, Column[Any]]]:
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if isinstance(column, Column):
            yield prop.key, column


def _validate_object(obj: Any) -> None:
    """Reject a row the database would refuse or silently corrupt."""
    state = inspect(obj)
    is_new = state.key is None
    for key, column in _columns(state.mapper):
        if is_new:
            value = state.dict.get(key)
        else:
            added = state.attrs[key].history.added
            if not added:
                continue
            value = added[0]
        if value is None:
            # A foreign key is filled from its relationship during the flush.
            optional = column.nullable or (
                is_new
                and (
                    column.default is not None
                    or column.server_default is not None
                    or column.primary_key
                    or bool(column.foreign_keys)
                )
            )
            if not optional:
                raise InvalidFieldValueError(key, "is required")
            continue
        problem = _value_problem(column, value)
        if problem is not None:
            raise InvalidFieldValueError(key, problem.message)


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_SQLITE_UNIQUE_INDEX = re.compile(r"UNIQUE constraint failed: index '([^']+)'")
_PG_UNIQUE_KEY = re.compile(r"Key \(([^)]*)\)=")


def _translate_integrity_error(
    exc: IntegrityError, field_of_index: Callable[[str], str | None] = lambda name: None
) -> DatastoreError:
    """A typed error naming the column, without echoing the offending value.

    A unique index on an expression (the folded email) names no column:
    ``field_of_index`` says which field a violated index guards.
    """
    orig = exc.orig
    text = str(orig)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    sqlite_match = _SQLITE_UNIQUE.search(text)
    if sqlstate != "23505" and sqlite_match is None:
        return DatastoreError("the database refused the change (integrity constraint)")
    # asyncpg keeps the details on the wrapped exception; psycopg (flask_compat) on .diag.
    cause = getattr(orig, "__cause__", None)
    diag = getattr(orig, "diag", None)
    index_match = _SQLITE_UNIQUE_INDEX.search(text)
    index = getattr(cause, "constraint_name", None) or getattr(diag, "constraint_name", None)
    if index_match is not None:
        index = index_match.group(1)
    field = field_of_index(index) if isinstance(index, str) else None
    if field is not None:
        return DuplicateIdentityError(field)
    columns: list[str] = []
    detail = getattr(cause, "detail", None) or getattr(diag, "message_detail", None)
    pg_match = _PG_UNIQUE_KEY.match(detail) if isinstance(detail, str) else None
    if pg_match is not None:
        columns = [c.strip() for c in pg_match.group(1).split(",")]
    elif sqlite_match is not None and index_match is None:
        columns = [c.strip().rsplit(".", 1)[-1] for c in sqlite_match.group(1).split(",")]
    field = columns[0] if len(columns) == 1 and columns[0].isidentifier() else None
    return DuplicateIdentityError(field)


def _fold_on_begin(session: Session, transaction: Any, connection: Connection) -> None:
    # The fallback for a SQLite connection the process-wide connect listener
    # did not see (another driver, or opened before quart_security was
    # imported): without qs_lower, writes to the user table fail.
    ensure_sqlite_fold(connection)


def _create_index(connection: Connection, index: Index) -> None:
    connection.execute(CreateIndex(index, if_not_exists=True))


def _clashing_identities(connection: Connection, table: Table, indexes: list[Index]) -> list[str]:
    """The identities (email, username) that existing rows share case-insensitively."""
    clashing: list[str] = []
    for index in indexes:
        attr = identity_of_index(table, str(index.name))
        if attr is None:
            continue
        folded = fold_case(table.c[attr])
        stmt = (
            select(literal(1))
            .select_from(table)
            .where(table.c[attr].is_not(None))
            .group_by(folded)
            .having(func.count() > 1)
            .limit(1)
        )
        if connection.execute(stmt).first() is not None:
            clashing.append(attr)
    return clashing


def _clash_error(table: Table, attrs: list[str]) -> DatastoreError:
    names = " and ".join(attrs)
    return DatastoreError(
        f"cannot create the case-insensitive unique index on {table.name!r} ({names}): "
        f"existing rows hold {names} values that differ only in case; resolve them "
        "first (docs/datastores.md shows a query that lists them)"
    )


# ---------------------------------------------------------------------- writes
# A unit of work that only read ends without a COMMIT (closing it rolls the
# read transaction back): most authenticated requests write nothing, and a
# commit is a round trip. Writes are noticed by flushes and by ORM-level DML
# (``session.execute(update(...))``, text statements); a statement run on the
# session's raw Connection is not seen, so code doing that calls commit().
_WROTE = "quart_security_wrote"


def _note_write(session: Session, context: UOWTransaction) -> None:
    session.info[_WROTE] = True


def _note_statement(state: ORMExecuteState) -> None:
    if not state.is_select:
        state.session.info[_WROTE] = True


def _forget_writes(session: Session) -> None:
    session.info.pop(_WROTE, None)


def _forget_writes_on_rollback(session: Session, previous_transaction: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_WROTE, None)


_STORE_ATTR = "_quart_security_store"


def _validate_before_flush(session: Session, context: UOWTransaction, instances: object) -> None:
    ref = getattr(type(session), _STORE_ATTR, None)
    store = ref() if ref is not None else None
    if store is not None:
        store._before_flush(session, context, instances)


def _has_writes(session: Session) -> bool:
    return bool(session.info.get(_WROTE) or session.new or session.dirty or session.deleted)


# Row validation before a flush; noting anything that wrote; qs_lower on SQLite.
_SESSION_LISTENERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("after_begin", _fold_on_begin),
    ("before_flush", _validate_before_flush),
    ("after_flush", _note_write),
    ("do_orm_execute", _note_statement),
    ("after_commit", _forget_writes),
    ("after_soft_rollback", _forget_writes_on_rollback),
)


# ---------------------------------------------------------------------- portable
# ---------------------------------------------------------------------- datastore
class SQLAlchemyUserDatastore(UserDatastore[UserT, RoleT]):
    """Async datastore over any SQLAlchemy 2 async engine (asyncpg, aiosqlite, ...)."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        user_model: type[UserT],
        role_model: type[RoleT],
        webauthn_model: type[WebAuthnMixin] | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(user_model, role_model, webauthn_model)
        self.session_factory = session_factory
        self.clock: Clock = clock or SystemClock()
        self._session_var: ContextVar[AsyncSession | None] = ContextVar(
            f"quart_security_sqla_session_{id(self):x}", default=None
        )
        # Sessions opened and not yet ended, so aclose() can release them all.
        self._open_sessions: set[AsyncSession] = set()
        self._session_class: type[Session] | None = None
        self._find_user_statements: dict[tuple[str, bool], Any] = {}
        self._validated = tuple(
            m for m in (user_model, role_model, webauthn_model) if m is not None
        )
        user_table = inspect(user_model).local_table
        self._user_table = user_table if isinstance(user_table, Table) else None

    # -------------------------------------------------------------- unit of work
    @property
    def session(self) -> AsyncSession:
        """This task context's session, opened on first use."""
        session = self._session_var.get()
        if session is None:
            session = self._open_session()
            self._session_var.set(session)
            self._open_sessions.add(session)
        return session

    def _open_session(self) -> AsyncSession:
        """A new session whose class already carries this datastore's listeners.

        Listeners are registered once, on a Session subclass of our own, not on
        each session: ``event.listen`` costs more than a whole user lookup. The
        class refers to the datastore weakly, so a dropped app frees both.
        """
        if self._session_class is None:
            configured = self.session_factory.kw.get("sync_session_class", Session)
            cls: type[Session] = type(
                f"{configured.__name__}ForQuartSecurity",
                (configured,),
                {_STORE_ATTR: weakref.ref(self)},
            )
            for name, listener in _SESSION_LISTENERS:
                event.listen(cls, name, listener)
            self._session_class = cls
        return self.session_factory(expire_on_commit=False, sync_session_class=self._session_class)

    def _before_flush(self, session: Session, context: UOWTransaction, instances: object) -> None:
        for obj in (*session.new, *session.dirty):
            if isinstance(obj, self._validated):
                _validate_object(obj)

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[AsyncSession]:
        """Run database work; on failure roll the unit of work back, then raise."""
        session = self.session
        try:
            yield session
        except IntegrityError as exc:
            await self._quiet_rollback(session)
            raise _translate_integrity_error(exc, self._field_of_index) from exc
        except Exception:
            await self._quiet_rollback(session)
            raise

    def _field_of_index(self, name: str) -> str | None:
        table = self._user_table
        return identity_of_index(table, name) if table is not None else None

    @staticmethod
    async def _quiet_rollback(session: AsyncSession) -> None:
        # The original error is the one worth reporting.
        with suppress(Exception):
            await session.rollback()

    async def put(self, model: Any) -> Any:
        """Stage ``model``; a value its column cannot hold is refused here.

        A refused new object is never added. A refused change to an object
        already in the session would fail every later flush, so the unit of
        work is rolled back, as for any other database error.
        """
        if isinstance(model, self._validated):
            try:
                _validate_object(model)
            except InvalidFieldValueError:
                current = self._session_var.get()
                if current is not None and inspect(model).session is current.sync_session:
                    await self._quiet_rollback(current)
                raise
        self._adopt(model)
        self.session.add(model)
        return model

    async def delete(self, model: Any) -> None:
        state = inspect(model)
        if state.key is None:  # never flushed: nothing to delete in the database
            if state.session is not None:
                state.session.expunge(model)
            return
        self._adopt(model)
        if isinstance(model, self.user_model) and self.webauthn_model is not None:
            await self.webauthn_reset(model)
        async with self._guard() as session:
            session.add(model)
            await session.delete(model)

    async def commit(self) -> None:
        if self._session_var.get() is None:
            return
        async with self._guard() as session:
            await session.commit()

    async def rollback(self) -> None:
        session = self._session_var.get()
        if session is not None:
            await session.rollback()

    async def end_unit_of_work(self, *, commit: bool = False) -> None:
        session = self._session_var.get()
        if session is None:
            return
        try:
            if commit and self._needs_commit(session):
                await self.commit()
        finally:
            self._session_var.set(None)
            self._open_sessions.discard(session)
            await session.close()

    def _needs_commit(self, session: AsyncSession) -> bool:
        return _has_writes(session.sync_session)

    async def aclose(self) -> None:
        """Close every session still open, in any context (shutdown, tests)."""
        sessions, self._open_sessions = self._open_sessions, set()
        for session in sessions:
            await session.close()
        self._session_var.set(None)

    async def flush(self) -> None:
        async with self._guard() as session:
            await session.flush()

    def _adopt(self, obj: Any) -> None:
        """Attach an object left over from an earlier unit of work to this one.

        Done before anything else is loaded, so related objects it carries
        (a user's roles) become the ones this session hands out, instead of
        clashing with fresh copies.
        """
        if not inspect(obj).detached:
            return
        try:
            self.session.add(obj)
        except InvalidRequestError as exc:
            raise DatastoreError(
                f"this {type(obj).__name__} comes from an earlier unit of work and this "
                "one already holds a copy of it (or of a related row): find it again here"
            ) from exc

    async def _ensure_loaded(self, obj: Any, *keys: str) -> None:
        """Load relationships of a persistent object explicitly (never lazily)."""
        self._adopt(obj)
        state = inspect(obj)
        missing = [k for k in keys if k in state.unloaded]
        if missing and state.key is not None:
            async with self._guard() as session:
                await session.refresh(obj, missing)

    async def _identity(self, obj: Any) -> Any:
        """The primary key of ``obj``, flushing it first if it is new."""
        if inspect(obj).key is None:
            self.session.add(obj)
            await self.flush()
        return inspect(obj).identity[0]

    # -------------------------------------------------------------- lookups
    def _lookup_column(self, model: type[Any], attr: str, caller: str) -> Column[Any]:
        mapper: Mapper[Any] = inspect(model)
        prop = mapper.column_attrs.get(attr) if isinstance(attr, str) else None
        column = prop.columns[0] if prop is not None else None
        if not isinstance(column, Column):
            shown = str(attr)[:_MAX_NAME_IN_ERROR]
            raise ValueError(f"{caller}: {model.__name__} has no column {shown!r}")
        return column

    @staticmethod
    def _match_value(column: Column[Any], attr: str, value: Any, caller: str) -> tuple[bool, Any]:
        """(can match, value). Wrong types are caller bugs; impossible values match nothing.

        None matches nothing (not the rows where the column is NULL: a missing
        form field must never find the first user without a username).
        """
        if value is None:
            return False, None
        problem = _value_problem(column, value)
        if problem is None:
            if isinstance(value, bytearray | memoryview):
                value = bytes(value)
            return True, value
        if problem.wrong_type:
            raise ValueError(f"{caller}: {attr} {problem.message}")
        return False, None

    def _find_user_statement(self, attr: str, column: Column[Any], folded: bool) -> Any:
        """The lookup statement for one column, built once and reused with a bound value.

        Building ``select(...).options(joinedload(...))`` costs about as much
        as SQLAlchemy's compiled-statement cache saves; keep the built one.
        An exact match on a unique column needs no ORDER BY/LIMIT (which would
        also make the roles join a subquery). A case-insensitive match folds
        with ``fold_case``, the expression the unique indexes are built on, so
        it folds as they do (and PostgreSQL can answer it from the index).
        """
        key = (attr, folded)
        stmt = self._find_user_statements.get(key)
        if stmt is not None:
            return stmt
        model = self.user_model
        target: Any = getattr(model, attr)
        value = bindparam("value", type_=column.type)
        stmt = select(model)
        if "roles" in inspect(model).relationships:
            stmt = stmt.options(joinedload(model.roles))
        exact: ColumnElement[bool] = target == value
        if folded:
            stmt = stmt.where(fold_case(target) == fold_case(value))
            stmt = stmt.order_by(case((exact, 0), else_=1))
            stmt = stmt.order_by(*inspect(model).primary_key).limit(2)
        elif column.unique or column.primary_key:
            stmt = stmt.where(exact)
        else:
            stmt = stmt.where(exact).order_by(*inspect(model).primary_key).limit(2)
        self._find_user_statements[key] = stmt
        return stmt

    async def find_user(self, case_insensitive: bool = False, **kwargs: Any) -> UserT | None:
        """One user by one column, with its roles, in a single statement.

        A case-insensitive match that is ambiguous (``Bob@x`` and ``bob@x`` both
        exist and neither is the exact value) finds nobody rather than a guess.
        The unique indexes make that impossible; a database still without them
        (see ``create_indexes``) may hold such rows.
        """
        attr, value = self._single_criterion(kwargs)
        model = self.user_model
        column = self._lookup_column(model, attr, "find_user")
        can_match, value = self._match_value(column, attr, value, "find_user")
        if not can_match:
            return None
        async with self._guard() as session:
            folded = case_insensitive and isinstance(column.type, String)
            stmt = self._find_user_statement(attr, column, folded)
            result = await session.execute(stmt, {"value": value})
            users = list(result.unique().scalars())
        if len(users) > 1 and case_insensitive and getattr(users[0], attr) != value:
            return None
        return users[0] if users else None

    async def find_role(self, role: str) -> RoleT | None:
        column = self._lookup_column(self.role_model, "name", "find_role")
        can_match, role = self._match_value(column, "name", role, "find_role")
        if not can_match:
            return None
        stmt = select(self.role_model).where(self.role_model.name == role)
        async with self._guard() as session:
            return (await session.execute(stmt)).scalars().first()

    # -------------------------------------------------------------- indexes
    async def create_indexes(self) -> None:
        """Create the case-insensitive unique indexes on email and username (idempotent).

        ``metadata.create_all`` makes them on a new database; this is the
        migration for one created without them (by Flask-Security, or before
        they existed here). It commits the current unit of work: call it at
        deployment or start-up, not inside a request. If existing rows already
        share an identity case-insensitively it raises DatastoreError naming
        the field before creating any index (docs/datastores.md shows how to
        find the rows). Only PostgreSQL and SQLite get the indexes
        (``create_all`` makes them nowhere else either).
        """
        table = self._user_table
        if table is None:
            raise DatastoreError("the user model is not mapped to a table")
        indexes = identity_indexes(table)
        opened = self._session_var.get() is None
        session = self.session
        try:
            connection = await session.connection(
                bind_arguments={"mapper": inspect(self.user_model)}
            )
            if connection.dialect.name in FOLD_INDEX_DIALECTS:
                await connection.run_sync(ensure_sqlite_fold)
                clashing = await connection.run_sync(_clashing_identities, table, indexes)
                if clashing:
                    raise _clash_error(table, clashing)
                for index in indexes:
                    try:
                        await connection.run_sync(_create_index, index)
                    except IntegrityError:
                        # A clashing row written since the check. The driver's
                        # message would carry the value (an email address).
                        attr = identity_of_index(table, str(index.name)) or str(index.name)
                        raise _clash_error(table, [attr]) from None
            await session.commit()
        except BaseException:
            await self._quiet_rollback(session)
            raise
        finally:
            if opened:
                await self.end_unit_of_work()

    # -------------------------------------------------------------- roles
    async def add_role_to_user(self, user: UserT, role: str | RoleT) -> bool:
        self._adopt(user)
        return await super().add_role_to_user(user, role)

    async def remove_role_from_user(self, user: UserT, role: str | RoleT) -> bool:
        self._adopt(user)
        return await super().remove_role_from_user(user, role)

    async def _add_role(self, user: UserT, role: RoleT) -> bool:
        await self._ensure_loaded(user, "roles")
        if role in user.roles:
            return False
        user.roles.append(role)
        return True

    async def _remove_role(self, user: UserT, role: RoleT) -> bool:
        await self._ensure_loaded(user, "roles")
        if role not in user.roles:
            return False
        user.roles.remove(role)
        return True

    # -------------------------------------------------------------- recovery codes
    async def release_connection(self) -> None:
        """End a read-only transaction so its connection returns to the pool.

        Only when the unit has written nothing, staged or flushed: objects
        stay loaded (expire_on_commit is off) and the next statement opens a
        new transaction. Otherwise the connection is kept, so nothing is
        committed early.
        """
        session = self._session_var.get()
        if session is None or not session.in_transaction():
            return
        if _has_writes(session.sync_session):
            return
        async with self._guard():
            await session.commit()

    async def compare_and_set(self, model: Any, field: str, expected: Any, new_value: Any) -> bool:
        """One ``UPDATE ... WHERE pk = :id AND field = :expected``; True if it matched.

        Under PostgreSQL's READ COMMITTED a racing UPDATE waits for the row
        lock, re-reads the row and no longer matches; SQLite serialises writers.
        """
        cls: Any = type(model)
        column = self._lookup_column(cls, field, "compare_and_set")
        pk = inspect(cls).primary_key[0]
        model_id = await self._identity(model)
        condition = column.is_(None) if expected is None else column == expected
        stmt = (
            update(cls)
            .where(pk == model_id, condition)
            .values({column.key: new_value})
            .execution_options(synchronize_session=False)
        )
        async with self._guard() as session:
            result = await session.execute(stmt)
            won = bool(getattr(result, "rowcount", 0) == 1)
            if won:
                set_committed_value(model, field, new_value)
        return won

    async def mf_delete_recovery_code(self, user: UserT, index: int) -> bool:
        """Consume one code atomically: compare-and-set on the stored list.

        Two requests racing for the same code both see it, but only the first
        UPDATE still matches the old list; the other gets False.
        """
        codes = await self.mf_get_recovery_codes(user)
        if not 0 <= index < len(codes):
            return False
        remaining = list(codes)
        del remaining[index]
        model: Any = self.user_model
        user_id = await self._identity(user)
        pk = inspect(model).primary_key[0]
        stmt = (
            update(model)
            .where(pk == user_id, model.mf_recovery_codes == codes)
            .values(mf_recovery_codes=remaining)
            .execution_options(synchronize_session=False)
        )
        async with self._guard() as session:
            result = await session.execute(stmt)
            await session.refresh(user, ["mf_recovery_codes"])
        return bool(getattr(result, "rowcount", 0) == 1)

    #: Compare-and-set attempts before a consumer gives up: each lost round
    #: means the list changed under it (another code used, or new codes).
    _CONSUME_ATTEMPTS = 8

    async def mf_consume_recovery_code(self, user: UserT, stored_value: str) -> bool:
        """Read the stored list, then ``UPDATE ... WHERE id AND list = <the list read>``.

        A lost race re-reads: if another request used this very value, it is
        gone and the answer is False; if it used another code, this one is
        still there and the next round can win. Under PostgreSQL's READ
        COMMITTED the racing UPDATE waits for the winner's commit and then no
        longer matches; SQLite serialises writers.
        """
        if not isinstance(stored_value, str):
            raise ValueError(f"stored_value must be a string, not {type(stored_value).__name__}")
        model: Any = self.user_model
        column = self._lookup_column(model, "mf_recovery_codes", "mf_consume_recovery_code")
        pk = inspect(model).primary_key[0]
        user_id = await self._identity(user)
        for _ in range(self._CONSUME_ATTEMPTS):
            async with self._guard() as session:
                read = select(column).where(pk == user_id)
                codes = list((await session.execute(read)).scalar_one_or_none() or [])
                if stored_value not in codes:
                    set_committed_value(user, "mf_recovery_codes", codes or None)
                    return False
                remaining = [code for code in codes if code != stored_value]
                stmt = (
                    update(model)
                    .where(pk == user_id, column == codes)
                    .values({column.key: remaining or None})
                    .execution_options(synchronize_session=False)
                )
                result = await session.execute(stmt)
                if getattr(result, "rowcount", 0) == 1:
                    set_committed_value(user, "mf_recovery_codes", remaining or None)
                    return True
        return False

    # -------------------------------------------------------------- two-factor counters
    def _user_has_field(self, attr: str) -> bool:
        return attr in inspect(self.user_model).column_attrs

    async def tf_advance_counter(self, user: UserT, counter: int) -> bool:
        """``UPDATE ... SET c = :counter WHERE id AND (c IS NULL OR c < :counter)``.

        Under PostgreSQL's READ COMMITTED a racing UPDATE waits for the
        winner's commit, re-reads the row and no longer matches; SQLite
        serialises writers. Runs in the unit of work, so it commits with it.
        """
        self._check_counter(counter)
        model: Any = self.user_model
        column = self._lookup_column(model, "tf_totp_last_counter", "tf_advance_counter")
        pk = inspect(model).primary_key[0]
        user_id = await self._identity(user)
        stmt = (
            update(model)
            .where(pk == user_id, or_(column.is_(None), column < counter))
            .values({column.key: counter})
            .execution_options(synchronize_session=False)
        )
        async with self._guard() as session:
            # Staged changes first (whatever the app's autoflush setting): the
            # committed value set below would otherwise drop them.
            await session.flush()
            result = await session.execute(stmt)
            won = bool(getattr(result, "rowcount", 0) == 1)
            if won:
                # Committed state, so a later flush of ``user`` does not write
                # back the value it held before.
                set_committed_value(user, "tf_totp_last_counter", counter)
        return won

    async def tf_count_attempt(self, user: UserT) -> int:
        """``UPDATE ... SET c = coalesce(c, 0) + 1 WHERE id RETURNING c``: one statement.

        RETURNING on UPDATE: PostgreSQL, and SQLite from 3.35.
        """
        model: Any = self.user_model
        column = self._lookup_column(model, "tf_code_attempts", "tf_count_attempt")
        pk = inspect(model).primary_key[0]
        user_id = await self._identity(user)
        stmt = (
            update(model)
            .where(pk == user_id)
            .values({column.key: func.coalesce(column, 0) + 1})
            .returning(column)
            .execution_options(synchronize_session=False)
        )
        async with self._guard() as session:
            await session.flush()  # staged changes first, as in tf_advance_counter
            count = (await session.execute(stmt)).scalar_one_or_none()
            if count is None:
                raise DatastoreError("tf_count_attempt: the user's row no longer exists")
            set_committed_value(user, "tf_code_attempts", count)
        return int(count)

    # -------------------------------------------------------------- webauthn
    def _webauthn(self) -> Any:
        if self.webauthn_model is None:
            raise NotImplementedError("this datastore was created without a WebAuthn model")
        return self.webauthn_model

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
    ) -> WebAuthnMixin:
        """Store a new credential for ``user`` (staged; commit to keep it)."""
        model = self._webauthn()
        self._adopt(user)
        kwargs.setdefault("lastuse_datetime", utcnow_naive(self.clock))
        credential = model(
            credential_id=credential_id,
            public_key=public_key,
            name=name,
            sign_count=sign_count,
            usage=usage,
            device_type=device_type,
            backup_state=backup_state,
            transports=transports,
            extensions=extensions,
            **kwargs,
        )
        if "user" in inspect(model).relationships:
            credential.user = user  # also appends to a loaded ``user.webauthn``
        else:
            credential.user_id = await self._identity(user)
        await self.put(credential)
        return credential  # type: ignore[no-any-return]

    async def find_webauthn(self, credential_id: bytes) -> WebAuthnMixin | None:
        model = self._webauthn()
        column = self._lookup_column(model, "credential_id", "find_webauthn")
        can_match, value = self._match_value(
            column, "credential_id", credential_id, "find_webauthn"
        )
        if not can_match:
            return None
        async with self._guard() as session:
            stmt = select(model).where(model.credential_id == value)
            return (await session.execute(stmt)).scalars().first()

    async def find_user_webauthns(self, user: UserT) -> list[WebAuthnMixin]:
        """Every credential of ``user``, oldest first (``user.webauthn`` never lazy-loads)."""
        model = self._webauthn()
        user_id = await self._identity(user)
        async with self._guard() as session:
            stmt = select(model).where(model.user_id == user_id).order_by(model.id)
            return list((await session.execute(stmt)).scalars())

    async def webauthn_reset(self, user: UserT) -> None:
        """Delete every credential of ``user``."""
        credentials = await self.find_user_webauthns(user)
        async with self._guard() as session:
            for credential in credentials:
                await session.delete(credential)
            await session.flush()
        state = inspect(user)
        if "webauthn" in state.mapper.relationships and "webauthn" not in state.unloaded:
            set_committed_value(user, "webauthn", [])
