"""The database: table metadata, one connection pool per process, and the executor.

Statements are SQLAlchemy Core built from the tables, compiled once per dialect and run on the
driver itself (sqlite3 on the event loop, asyncpg); driver errors become one of three types.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    MetaData,
    Uuid,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.asyncpg import dialect as postgres_dialect
from sqlalchemy.dialects.sqlite.pysqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

from movie_collections.core.metrics import DATABASE_CONNECTIONS_IN_USE
from movie_collections.core.private_paths import open_private_file
from movie_collections.core.settings import Settings
from movie_collections.core.sqlite_write_lock import SqliteWriteLock

logger = logging.getLogger(__name__)

Row = Sequence[Any]
Parameters = Mapping[str, Any]

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# Writes a SQLite transaction takes at most before it commits (group commit).
_MOST_WRITES_PER_COMMIT = 64
# Compiled statements kept per process: far more than the repositories' module constants.
_MOST_COMPILED = 1024
# SQLite checkpoints the WAL in the commit that takes it past this many pages (SQLite: 1,000).
WAL_AUTOCHECKPOINT_PAGES = 4000


def create_private_file(path: Path) -> None:
    """Create a SQLite file (and its folder) readable by its owner only, if it is missing:
    SQLite gives its -wal and -shm files the same mode."""
    os.close(open_private_file(path, os.O_WRONLY))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OneOf(ColumnElement[bool]):
    """`column` is one of the list bound as `name`: one statement for any length of list.
    Left untyped: typed Boolean, it would be compared to 1 on SQLite, which then scans."""

    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 (as SQLAlchemy declares it)
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.values = bindparam(name, type_=ARRAY(column.type))


@compiles(OneOf, "postgresql")
def _one_of_on_postgres(element: OneOf, compiler: SQLCompiler, **options: Any) -> str:
    return compiler.process(element.column == any_(element.values), **options)


@compiles(OneOf, "sqlite")
def _one_of_on_sqlite(element: OneOf, compiler: SQLCompiler, **options: Any) -> str:
    # SQLite has no arrays: the list is bound as JSON text (see _sqlite_writer).
    values = func.json_each(element.values).table_valued("value")
    return compiler.process(element.column.in_(select(values.c.value)), **options)


class DatabaseUnavailable(Exception):
    """The database cannot be reached, is shutting down, or is locked or full: answer 503."""


class DatabaseBusy(DatabaseUnavailable):
    """A statement gave way (statement timeout, deadlock, serialization failure) on a sound
    connection: answer 503, and keep the connection."""


class UniqueViolation(Exception):
    """A row with this key exists already."""


class ForeignKeyViolation(Exception):
    """A referenced row does not exist (a deleted user's token still verifies)."""


# SQLSTATEs that mean "the server is not there right now": class 08 (connection), 53 (out of
# resources: disk full, too many connections), 57P (shutting down, starting up).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "28", "3D", "53", "57P")
# And "not now, try again" on a sound connection: 57014 (statement timeout, e.g. waiting on a
# row lock), class 40 (deadlock, serialization failure).
_BUSY_SQLSTATE_PREFIXES = ("57014", "40")
_SQLITE_UNIQUE_CODES = (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
_SQLITE_DAMAGED_CODES = (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)
# Driver errors that mean the same, by type: a connection the server closed or cut mid-operation
# (InterfaceError, InternalClientError "cannot switch to state ..."), one that cannot be made.
_UNAVAILABLE_TYPES = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError...
    asyncpg.CannotConnectNowError,  # starting up, shutting down (smart)
    asyncpg.AdminShutdownError,  # fast shutdown, pg_terminate_backend
    asyncpg.CrashShutdownError,  # another backend crashed, or an immediate shutdown
    asyncpg.InsufficientResourcesError,  # disk full, too many connections
)


def classify(error: BaseException) -> BaseException:
    """A driver error as DatabaseUnavailable, UniqueViolation or ForeignKeyViolation, by type
    (and SQLite's code); anything else unchanged (a 500)."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if code in _SQLITE_UNIQUE_CODES:
            return UniqueViolation(str(error))
        if code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
            return ForeignKeyViolation(str(error))
        # A locked, full, unopenable, replaced (no such table) or damaged file; other
        # integrity errors (NOT NULL, CHECK) are bugs: 500.
        if isinstance(error, sqlite3.OperationalError) or (
            code is not None and code & 0xFF in _SQLITE_DAMAGED_CODES
        ):
            return DatabaseUnavailable(f"{type(error).__name__}: {error}")
        return error
    if isinstance(error, asyncpg.UniqueViolationError):
        return UniqueViolation(str(error))
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        return ForeignKeyViolation(str(error))
    if isinstance(error, _UNAVAILABLE_TYPES):
        return DatabaseUnavailable(f"{type(error).__name__}: {error}")
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = str(error.sqlstate or "")
        if sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return DatabaseUnavailable(f"{type(error).__name__}: {error}")
        if sqlstate.startswith(_BUSY_SQLSTATE_PREFIXES):
            return DatabaseBusy(f"{type(error).__name__}: {error}")
    return error


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement compiled for one dialect: its SQL, its parameters in order (each with the
    conversion its value needs on this dialect), the values bound in the statement itself,
    and how to read each result column back."""

    sql: str
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    defaults: dict[str, Any]
    readers: tuple[Callable[[Any], Any] | None, ...]

    def values(self, parameters: Parameters | None) -> list[Any]:
        given = {**self.defaults, **parameters} if self.defaults and parameters else parameters
        given = given or self.defaults
        return [
            given[name] if convert is None else convert(given[name]) for name, convert in self.binds
        ]


def _uuid_to_sqlite(value: Any) -> Any:
    """UUIDs as SQLAlchemy stores them on SQLite: 32 hex digits."""
    return f"{value.int:032x}" if isinstance(value, uuid.UUID) else value


def _datetime_to_sqlite(value: Any) -> Any:
    """Datetimes as SQLAlchemy stores them on SQLite (UTC, ISO with a space): they sort."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _any_to_sqlite(value: Any) -> Any:
    return _datetime_to_sqlite(_uuid_to_sqlite(value))


def _list_to_sqlite(values: Any) -> Any:
    return json.dumps([_any_to_sqlite(value) for value in values])


def _sqlite_writer(bind_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(bind_type, ARRAY):  # OneOf's list
        return _list_to_sqlite
    if isinstance(bind_type, Uuid):
        return _uuid_to_sqlite
    if isinstance(bind_type, DateTime):
        return _datetime_to_sqlite
    if isinstance(bind_type, NullType):  # a parameter of no known type
        return _any_to_sqlite
    return None


def _uuid_from_sqlite(value: Any) -> Any:
    return None if value is None else uuid.UUID(value)


def _datetime_from_sqlite(value: Any) -> Any:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _bool_from_sqlite(value: Any) -> Any:
    return None if value is None else bool(value)


def _sqlite_reader(column: Any) -> Callable[[Any], Any] | None:
    column_type = getattr(column, "type", None)
    if isinstance(column_type, Uuid):
        return _uuid_from_sqlite
    if isinstance(column_type, DateTime):
        return _datetime_from_sqlite
    if isinstance(column_type, Boolean):
        return _bool_from_sqlite
    return None


def compile_statement(statement: ClauseElement, dialect: Dialect) -> Compiled:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    names = tuple(compiled.positiontup or ())
    defaults = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
    sqlite = dialect.name == "sqlite"
    binds = tuple(
        (name, _sqlite_writer(compiled.binds[name].type) if sqlite else None) for name in names
    )
    readers: tuple[Callable[[Any], Any] | None, ...] = ()
    if sqlite:
        readers = tuple(_sqlite_reader(c) for c in getattr(statement, "exported_columns", ()))
    return Compiled(compiled.string, binds, defaults, readers)


class Connection:
    """One pooled connection, in a transaction or not; statements run here."""

    dialect_name: str

    def __init__(self, raw: Any, compile: Callable[[ClauseElement], Compiled]):
        self.raw = raw
        self._compile = compile

    async def fetch(
        self, statement: ClauseElement, parameters: Parameters | None = None
    ) -> list[Row]:
        raise NotImplementedError

    async def execute(self, statement: ClauseElement, parameters: Parameters | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        raise NotImplementedError

    async def execute_many(self, statement: ClauseElement, rows: Sequence[Parameters]) -> None:
        raise NotImplementedError

    async def fetch_one(
        self, statement: ClauseElement, parameters: Parameters | None = None
    ) -> Row | None:
        rows = await self.fetch(statement, parameters)
        return rows[0] if rows else None

    async def fetch_value(
        self, statement: ClauseElement, parameters: Parameters | None = None
    ) -> Any:
        row = await self.fetch_one(statement, parameters)
        return None if row is None else row[0]


class _SqliteConnection(Connection):
    dialect_name = "sqlite"
    raw: sqlite3.Connection

    async def fetch(
        self, statement: ClauseElement, parameters: Parameters | None = None
    ) -> list[Row]:
        compiled = self._compile(statement)
        try:
            # Through a cursor: OpenTelemetry's sqlite3 instrumentation traces only cursors.
            rows = self.raw.cursor().execute(compiled.sql, compiled.values(parameters)).fetchall()
        except sqlite3.Error as error:
            raise classify(error) from error
        readers = compiled.readers
        if not rows or not any(readers):
            return rows
        return [
            tuple(v if read is None else read(v) for v, read in zip(row, readers, strict=False))
            for row in rows
        ]

    async def execute(self, statement: ClauseElement, parameters: Parameters | None = None) -> int:
        compiled = self._compile(statement)
        try:
            return self.raw.cursor().execute(compiled.sql, compiled.values(parameters)).rowcount
        except sqlite3.Error as error:
            raise classify(error) from error

    async def execute_many(self, statement: ClauseElement, rows: Sequence[Parameters]) -> None:
        compiled = self._compile(statement)
        try:
            self.raw.cursor().executemany(compiled.sql, [compiled.values(row) for row in rows])
        except sqlite3.Error as error:
            raise classify(error) from error


def _run(raw: sqlite3.Connection, sql: str) -> None:
    try:
        raw.execute(sql)
    except sqlite3.Error as error:
        raise classify(error) from error


def _undo_write(raw: sqlite3.Connection) -> bool:
    """Roll a failed write back to its savepoint; False when the batch is lost with it."""
    if not raw.in_transaction:
        return False
    try:
        raw.execute("ROLLBACK TO write")
        raw.execute("RELEASE write")
    except sqlite3.Error:
        logger.warning("a write's savepoint could not be rolled back", exc_info=True)
        return False  # the batch's connection rolls back the whole transaction
    return True


class _PostgresConnection(Connection):
    dialect_name = "postgresql"

    async def fetch(
        self, statement: ClauseElement, parameters: Parameters | None = None
    ) -> list[Row]:
        compiled = self._compile(statement)
        try:
            rows: list[Row] = await self.raw.fetch(compiled.sql, *compiled.values(parameters))
        except Exception as error:
            raise classify(error) from error
        return rows

    async def execute(self, statement: ClauseElement, parameters: Parameters | None = None) -> int:
        compiled = self._compile(statement)
        try:
            status: str = await self.raw.execute(compiled.sql, *compiled.values(parameters))
        except Exception as error:
            raise classify(error) from error
        # The command tag ends with the row count: "UPDATE 2", "INSERT 0 1", "DELETE 0".
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def execute_many(self, statement: ClauseElement, rows: Sequence[Parameters]) -> None:
        compiled = self._compile(statement)
        try:
            await self.raw.executemany(compiled.sql, [compiled.values(row) for row in rows])
        except Exception as error:
            raise classify(error) from error


def _connection_lost(error: BaseException) -> bool:
    """Whether the connection an error came out of is broken or unanswered. (A cancelled one
    is not: the release cancels its statement on the server and rolls back, within a bound.)"""
    return isinstance(error, DatabaseUnavailable) and not isinstance(error, DatabaseBusy)


async def _session_left_as_is(_connection: Any) -> None:
    """No session state is ever set (no LISTEN, SET, cursors or session locks), so asyncpg's
    reset round trip on release is skipped; it still rolls back an open transaction first."""


class _PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg's connection, knowing its age (DATABASE_POOL_RECYCLE)."""

    def __init__(self, *arguments: Any, **options: Any) -> None:
        super().__init__(*arguments, **options)
        self.opened_at = time.monotonic()


@dataclass(slots=True)
class _WriteBatch:
    """A SQLite write transaction shared by the writes that took their turn in it."""

    raw: sqlite3.Connection
    committed: asyncio.Future[None]
    writes: int = 0
    commit_due: bool = False  # a commit is scheduled for when no writer has the turn


class Database:
    """The process's pool of connections to one database; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_sqlite = settings.is_sqlite
        self.dialect: Dialect = sqlite_dialect() if self.is_sqlite else postgres_dialect()  # type: ignore[no-untyped-call]
        self._compiled: dict[int, tuple[ClauseElement, Compiled]] = {}
        self._size = settings.database_pool_size + settings.database_max_overflow
        self._timeout = settings.database_pool_timeout
        self._recycle = settings.database_pool_recycle
        self._pool: Any = None  # asyncpg's
        self._idle: list[sqlite3.Connection] = []  # SQLite's
        self._sqlite_slots: asyncio.Semaphore | None = None
        self.write_lock: SqliteWriteLock | None = None
        self._batch: _WriteBatch | None = None  # SQLite: the write transaction open now
        self._writing = False  # SQLite: a writer has the turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        if self.is_sqlite:
            path = settings.sqlite_path
            if path is None:
                raise ValueError("DATABASE_URL: SQLite needs a file (in-memory is not supported)")
            create_private_file(path)
            self.write_lock = SqliteWriteLock(path, settings.sqlite_busy_timeout)

    def compile(self, statement: ClauseElement) -> Compiled:
        found = self._compiled.get(id(statement))
        if found is None:
            if len(self._compiled) >= _MOST_COMPILED:  # statements built per call: start over
                self._compiled.clear()
            # The statement is kept with its compiled form, so its id cannot be reused.
            found = (statement, compile_statement(statement, self.dialect))
            self._compiled[id(statement)] = found
        return found[1]

    async def fetch(
        self, statement: ClauseElement, parameters: Parameters | None = None
    ) -> list[Row]:
        """The rows of one statement, outside a transaction (one statement is one snapshot)."""
        async with self.connection() as connection:
            return await connection.fetch(statement, parameters)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection in autocommit mode."""
        if self.is_sqlite:
            raw = await self._take_sqlite()
            try:
                yield _SqliteConnection(raw, self.compile)
            finally:
                self._give_back_sqlite(raw)
            return
        pool = await self._postgres_pool()
        try:
            async with asyncio.timeout(self._timeout):
                acquired = await pool.acquire()
        except Exception as error:
            classified = classify(error)
            if isinstance(classified, DatabaseUnavailable) and not isinstance(error, TimeoutError):
                # The server refused or dropped a new connection (not: the pool was busy): it
                # is going away, or was. Let go of every pooled connection, so a smart
                # shutdown, which waits for them, can finish; new ones are made on demand.
                await pool.expire_connections()
            raise classified from error
        DATABASE_CONNECTIONS_IN_USE.inc()
        opened_at: float = acquired.opened_at
        try:
            yield _PostgresConnection(acquired, self.compile)
        except BaseException as error:
            if _connection_lost(error):
                # Never handed out again, nor rolled back over a socket that may never answer:
                # the server rolls back a closed session. (asyncpg may have released one the
                # server closed already: InterfaceError.)
                with contextlib.suppress(asyncpg.InterfaceError):
                    acquired.terminate()
            raise
        finally:
            DATABASE_CONNECTIONS_IN_USE.dec()
            try:
                if time.monotonic() - opened_at > self._recycle:
                    with contextlib.suppress(asyncpg.InterfaceError):
                        await acquired.close(timeout=self._timeout)
                # Nothing to do if it is closed; else a rollback, bounded like the acquire.
                await pool.release(acquired, timeout=self._timeout)
            except Exception as error:
                # asyncpg has terminated it and freed its slot. Not raised: the block's own
                # outcome (a commit done, a 404) is the answer, not a 503 from the clean-up.
                logger.warning("database connection not released cleanly: %r", error)

    @asynccontextmanager
    async def transaction(self, *, write: bool = False) -> AsyncIterator[Connection]:
        """Commit when the block ends normally, roll back when it raises. A read transaction is
        one snapshot (REPEATABLE READ on PostgreSQL); on SQLite a write one holds the write
        lock from its start (BEGIN IMMEDIATE, behind the host-wide queue)."""
        if self.is_sqlite:
            async with self._sqlite_transaction(write) as connection:
                yield connection
            return
        async with self.connection() as connection:
            raw = connection.raw
            isolation = "read_committed" if write else "repeatable_read"
            transaction = raw.transaction(isolation=isolation, readonly=not write)
            try:
                await transaction.start()
            except Exception as error:
                raise classify(error) from error
            try:
                yield connection
            except BaseException as error:
                # A lost connection is terminated (the server rolls back); a cancelled one is
                # rolled back by its release, within DATABASE_POOL_TIMEOUT.
                if not (_connection_lost(error) or isinstance(error, asyncio.CancelledError)):
                    with contextlib.suppress(Exception):
                        await transaction.rollback()
                raise
            try:
                await transaction.commit()
            except Exception as error:
                raise classify(error) from error

    @asynccontextmanager
    async def _sqlite_transaction(self, write: bool) -> AsyncIterator[Connection]:
        if write:
            async with self._sqlite_write() as connection:
                yield connection
            return
        async with self.connection() as connection:
            raw = connection.raw
            raw.execute("BEGIN")
            try:
                yield connection
            finally:
                raw.rollback()  # a read: nothing to keep

    @asynccontextmanager
    async def _sqlite_write(self) -> AsyncIterator[Connection]:
        """One write, in a savepoint of the batch open now (group commit): writers of this
        process take turns in one BEGIN IMMEDIATE ... COMMIT, and each is answered once the
        COMMIT holding it succeeded. A failed write is rolled back alone, and answered once
        that COMMIT is over too: it may have read the batch's earlier, uncommitted writes."""
        batch = await self._write_turn()
        raw = batch.raw
        refusal: Exception | None = None
        kept = False  # whether the batch can go on after this write
        try:
            _run(raw, "SAVEPOINT write")
            try:
                yield _SqliteConnection(raw, self.compile)
            except BaseException as error:
                kept = _undo_write(raw)
                if not isinstance(error, Exception):  # cancelled: nobody waits for the answer
                    raise
                refusal = error
            else:
                _run(raw, "RELEASE write")
                kept = True
        finally:
            # SQLite rolls back the whole transaction on some errors (disk full, I/O), and a
            # write that cannot be undone alone undoes it: every write of the batch is lost.
            if kept and raw.in_transaction:
                self._end_write(batch)
            else:
                self._end_batch(batch, DatabaseUnavailable("the write batch was rolled back"))
        # Shielded: the batch's other writers wait on the same commit. A lost batch makes a
        # refusal a 503 too, unless the refusal is the loss itself (its error says why).
        try:
            await asyncio.shield(batch.committed)
        except DatabaseUnavailable:
            if not isinstance(refusal, DatabaseUnavailable):
                raise
        if refusal is not None:
            raise refusal

    async def _write_turn(self) -> _WriteBatch:
        """This process's open write batch, once it is this writer's turn (one at a time)."""
        if self._writing:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append(turn)
            try:
                async with asyncio.timeout(self.settings.sqlite_busy_timeout):
                    await turn
            except BaseException as error:
                if turn.done() and not turn.cancelled():
                    self._pass_turn()  # the turn came just as this writer left
                else:
                    with contextlib.suppress(ValueError):  # skipped by _pass_turn already
                        self._waiting.remove(turn)
                if isinstance(error, TimeoutError):
                    raise DatabaseUnavailable("database is locked (write queue)") from error
                raise
        self._writing = True
        try:
            if self._batch is None:
                self._batch = await self._open_batch()
        except BaseException:
            self._pass_turn()
            raise
        return self._batch

    async def _open_batch(self) -> _WriteBatch:
        assert self.write_lock is not None
        try:
            await self.write_lock.acquire()
        except sqlite3.Error as error:  # waited the busy timeout, as SQLite would
            raise classify(error) from error
        try:
            raw = await self._take_sqlite()
        except BaseException:
            self.write_lock.release()
            raise
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            self._give_back_sqlite(raw)
            self.write_lock.release()
            raise classify(error) from error
        return _WriteBatch(raw, asyncio.get_running_loop().create_future())

    def _end_write(self, batch: _WriteBatch) -> None:
        """Hand on the turn, and the open batch with it; a full batch is committed first."""
        batch.writes += 1
        if batch.writes < _MOST_WRITES_PER_COMMIT:
            self._pass_turn()
        else:
            self._commit(batch)

    def _commit(self, batch: _WriteBatch) -> None:
        try:
            batch.raw.execute("COMMIT")
        except sqlite3.Error as error:
            self._end_batch(batch, classify(error))
        else:
            self._end_batch(batch, None)

    def _end_batch(self, batch: _WriteBatch, error: BaseException | None) -> None:
        """The batch is over, committed (no error) or lost; the next writer opens another."""
        self._batch = None
        if error is None:
            batch.committed.set_result(None)
        else:
            batch.committed.set_exception(error)
            batch.committed.exception()  # retrieved: its writers may all have failed already
        try:
            self._give_back_sqlite(batch.raw)  # rolls back what a failed COMMIT left open
        finally:  # whatever happened to the connection, the next writer is not wedged
            assert self.write_lock is not None
            self.write_lock.release()
            self._pass_turn()

    def _pass_turn(self) -> None:
        """The turn to the next writer waiting; with none, the open batch is committed once
        this loop iteration's other writers (requests that arrived together) took their turn."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._writing = False
        batch = self._batch
        if batch is not None and not batch.commit_due:
            batch.commit_due = True
            asyncio.get_running_loop().call_soon(self._commit_if_idle, batch)

    def _commit_if_idle(self, batch: _WriteBatch) -> None:
        batch.commit_due = False
        if self._batch is batch and not self._writing:  # else the writer's turn ends it
            self._writing = True
            self._commit(batch)

    async def _take_sqlite(self) -> sqlite3.Connection:
        if self._sqlite_slots is None:
            self._sqlite_slots = asyncio.Semaphore(self._size)
        if self._sqlite_slots.locked():  # all connections in use: wait, within the timeout
            try:
                async with asyncio.timeout(self._timeout):
                    await self._sqlite_slots.acquire()
            except TimeoutError as error:
                raise DatabaseUnavailable(
                    "no database connection within the pool timeout"
                ) from error
        else:
            await self._sqlite_slots.acquire()
        if self._idle:
            raw = self._idle.pop()
        else:
            try:
                raw = self._open_sqlite()
            except BaseException as error:
                self._sqlite_slots.release()
                raise classify(error) from error
        DATABASE_CONNECTIONS_IN_USE.inc()
        return raw

    def _give_back_sqlite(self, raw: sqlite3.Connection) -> None:
        try:
            if raw.in_transaction:  # a failure left it half-way: start clean next time
                raw.rollback()
            self._idle.append(raw)
        except sqlite3.Error:  # it cannot even roll back: the next take opens a new one
            with contextlib.suppress(sqlite3.Error):
                raw.close()
        finally:
            DATABASE_CONNECTIONS_IN_USE.dec()
            assert self._sqlite_slots is not None
            self._sqlite_slots.release()

    def _open_sqlite(self) -> sqlite3.Connection:
        path = self.settings.sqlite_path
        assert path is not None  # checked in __init__
        timeout = self.settings.sqlite_busy_timeout
        # isolation_level=None: BEGIN is ours, so writers take the lock up front (IMMEDIATE).
        raw = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("PRAGMA temp_store=MEMORY")  # savepoint journals of group commit
        raw.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        return raw

    async def start(self) -> None:
        """Create the pool (PostgreSQL); it connects on first use, so a database that is down
        at start-up is a 503 per request, not a failed start."""
        if not self.is_sqlite and self._pool is None:
            statement_timeout = self.settings.database_statement_timeout
            try:
                self._pool = await asyncpg.create_pool(
                    self.settings.asyncpg_dsn,
                    min_size=0,
                    max_size=self._size,
                    timeout=self._timeout,
                    server_settings={"statement_timeout": str(int(statement_timeout * 1000))},
                    # A server that never answers (a partition) is given up on a little after
                    # it would have cancelled the statement itself (57014, connection kept).
                    command_timeout=statement_timeout + min(statement_timeout, 5.0),
                    reset=_session_left_as_is,
                    connection_class=_PooledConnection,
                )
            except Exception as error:
                raise classify(error) from error

    async def _postgres_pool(self) -> Any:
        if self._pool is None:
            await self.start()
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        for raw in self._idle:
            raw.close()
        self._idle.clear()
        if self.write_lock is not None:
            self.write_lock.close()
