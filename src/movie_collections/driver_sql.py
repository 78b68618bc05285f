"""Hot-path SQL on the database driver itself: a whole unit of work per call, no ORM layer.

SQLAlchemy's async layer costs about a millisecond of CPU per read transaction and several per
write (greenlet switches, a thread hop per statement on SQLite, parameter and result
processing): ten times the queries themselves. The hot endpoints (the collection list, one
collection, creating a collection, replacing its movies) run their SQL through here instead:

- SQLite: reads run inside BEGIN ... COMMIT, so several SELECTs see one WAL snapshot, on
  connections set to `query_only`. A read first runs right on the event loop: a small read
  takes ~30 us, far less than a hop to a thread and back (~150 us of CPU and GIL hand-offs).
  A progress handler stops it after a fixed amount of SQLite work (about a millisecond), and
  it never waits for a lock (busy timeout 0): a read that is big or would wait is redone on
  a reader thread instead, so the loop is never held for long. Writes run in ONE hop to one
  writer thread per process inside BEGIN IMMEDIATE ... COMMIT (SQLite has one writer at a
  time anyway; writers queue on the busy timeout instead of failing "database is locked").
- PostgreSQL: an asyncpg pool of its own; reads in one read-only REPEATABLE READ transaction,
  writes in one transaction; asyncpg caches each statement's prepared plan per connection.

Nothing is cached between calls: every read sees the database as it is, so a committed write
is visible to the next read. SQL is written with PostgreSQL's `$1` parameters (rewritten to
SQLite's numbered `?1`); UUID parameters become SQLite's 32-hex text, the form SQLAlchemy's
`Uuid` type stores there, so rows written either way are the same.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import exc as sa_exc

from movie_collections.config import Settings

Statement = tuple[str, Sequence[Any]]
Rows = list[Sequence[Any]]

_NUMBERED_PARAMETER = re.compile(r"\$(\d+)")
# A read on the event loop is interrupted after this many progress-handler calls, each every
# _PROGRESS_STEP SQLite VM instructions: ~200k instructions, about a millisecond.
_PROGRESS_STEP = 1000
_INLINE_BUDGET = 200


@dataclass(frozen=True, slots=True)
class WriteStep:
    """One statement of a write unit of work."""

    sql: str
    parameters: Sequence[Any] = ()
    many: Sequence[Sequence[Any]] | None = None  # executemany over these rows instead
    require_rows: bool = False  # no row changed: roll back and answer None (e.g. not owned)
    fetch: bool = False  # a SELECT whose rows are returned


class NothingChanged(Exception):
    """A `require_rows` step changed no row: the unit of work is rolled back."""


def as_sqlalchemy_error(error: BaseException) -> BaseException:
    """The driver's error as the SQLAlchemy exception the engine path would have raised, so
    the one error mapping (errors.py) answers the same: an unreachable, locked or timed-out
    database is a 503 there, anything else a 500."""
    if isinstance(error, sa_exc.SQLAlchemyError):
        return error
    name = type(error).__name__
    if isinstance(error, TimeoutError):  # no pooled connection in time
        return sa_exc.TimeoutError(f"no database connection within the pool timeout ({name})")
    if isinstance(error, sqlite3.OperationalError | OSError) or "Connection" in name:
        return sa_exc.OperationalError(None, None, error)
    if isinstance(error, sqlite3.IntegrityError) or any(
        "IntegrityConstraintViolation" in cls.__name__ for cls in type(error).__mro__
    ):
        return sa_exc.IntegrityError(None, None, error)
    if isinstance(error, Exception) and (
        isinstance(error, sqlite3.Error) or type(error).__module__.startswith("asyncpg")
    ):
        return sa_exc.DBAPIError(None, None, error)
    return error


def sqlite_sql(sql: str) -> str:
    """`$1` parameters as SQLite's numbered `?1`."""
    return _NUMBERED_PARAMETER.sub(r"?\1", sql)


def sqlite_parameters(parameters: Sequence[Any]) -> list[Any]:
    """UUIDs and datetimes in the forms SQLAlchemy stores on SQLite (32-hex, ISO with space)."""
    return [_sqlite_value(p) for p in parameters]


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        # SQLAlchemy's SQLite DATETIME storage format: rows sort the same whoever wrote them.
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID column's value as uuid.UUID (SQLite returns its 32-hex text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


class DriverSql(Protocol):
    async def read(self, statements: Sequence[Statement]) -> list[Rows]:
        """The rows of each statement, all read from one consistent snapshot."""

    async def write(self, steps: Sequence[WriteStep]) -> list[Rows] | None:
        """Run the steps in one transaction; rows of the `fetch` steps, None if rolled back."""

    async def close(self) -> None: ...


class SqliteDriverSql:
    """Reader threads and one writer thread, each with its own `sqlite3` connection."""

    def __init__(self, path: Path, reader_threads: int, busy_timeout_s: float) -> None:
        self._path = path
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._readers = ThreadPoolExecutor(reader_threads, thread_name_prefix="sqlite-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._sql: dict[str, str] = {}
        self._inline: sqlite3.Connection | None = None
        self._inline_ticks = 0

    def _inline_connection(self) -> sqlite3.Connection:
        """The event loop's own read connection: never waits for a lock, stops when too long."""
        if self._inline is None:
            connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            connection.execute("PRAGMA query_only=ON")
            connection.execute("PRAGMA busy_timeout=0")
            connection.execute("PRAGMA mmap_size=268435456")
            connection.set_progress_handler(self._inline_progress, _PROGRESS_STEP)
            self._inline = connection
            with self._connections_lock:
                self._connections.append(connection)
        return self._inline

    def _inline_progress(self) -> int:
        self._inline_ticks += 1
        return 1 if self._inline_ticks > _INLINE_BUDGET else 0  # non-zero interrupts

    def _read_inline(self, statements: Sequence[Statement]) -> list[Rows] | None:
        """The read on the event loop, or None when it was too big or would have waited."""
        connection = self._inline_connection()
        self._inline_ticks = 0
        try:
            return self._read_on(connection, statements)
        except sqlite3.OperationalError:  # interrupted, or busy: redo it on a reader thread
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            return None

    def _connection(self, *, read_only: bool) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            if read_only:
                # query_only: a reader connection can never write, whatever SQL reaches it.
                connection.execute("PRAGMA query_only=ON")
            connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA synchronous=NORMAL")
            # Reads of a hot working set come from the OS page cache through mmap, not copies.
            connection.execute("PRAGMA mmap_size=268435456")
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def _translate(self, sql: str) -> str:
        translated = self._sql.get(sql)
        if translated is None:
            translated = self._sql[sql] = sqlite_sql(sql)
        return translated

    def _read_sync(self, statements: Sequence[Statement]) -> list[Rows]:
        return self._read_on(self._connection(read_only=True), statements)

    def _read_on(
        self, connection: sqlite3.Connection, statements: Sequence[Statement]
    ) -> list[Rows]:
        results: list[Rows] = []
        if len(statements) > 1:
            connection.execute("BEGIN")
        try:
            for sql, parameters in statements:
                rows = connection.execute(self._translate(sql), sqlite_parameters(parameters))
                results.append(rows.fetchall())
        finally:
            if len(statements) > 1:
                connection.execute("COMMIT")
        return results

    def _write_sync(self, steps: Sequence[WriteStep]) -> list[Rows] | None:
        connection = self._connection(read_only=False)
        results: list[Rows] = []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for step in steps:
                sql = self._translate(step.sql)
                if step.many is not None:
                    cursor = connection.executemany(
                        sql, [sqlite_parameters(row) for row in step.many]
                    )
                else:
                    cursor = connection.execute(sql, sqlite_parameters(step.parameters))
                if step.require_rows and cursor.rowcount == 0:
                    raise NothingChanged
                if step.fetch:
                    results.append(cursor.fetchall())
        except NothingChanged:
            connection.execute("ROLLBACK")
            return None
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return results

    async def read(self, statements: Sequence[Statement]) -> list[Rows]:
        loop = asyncio.get_running_loop()
        try:
            rows = self._read_inline(statements)
            if rows is not None:
                return rows
            return await loop.run_in_executor(self._readers, self._read_sync, statements)
        except sqlite3.Error as error:
            raise as_sqlalchemy_error(error) from error

    async def write(self, steps: Sequence[WriteStep]) -> list[Rows] | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._writer, self._write_sync, steps)
        except sqlite3.Error as error:
            raise as_sqlalchemy_error(error) from error

    async def close(self) -> None:
        self._readers.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


class PostgresDriverSql:
    """An asyncpg pool of its own, created on first use (inside the worker's event loop)."""

    def __init__(self, settings: Settings) -> None:
        _scheme, rest = settings.database_url.split(":", 1)
        self._dsn = "postgresql:" + rest
        self._size = settings.database_pool_size
        self._timeout = settings.database_pool_timeout
        self._statement_timeout_ms = str(int(settings.database_statement_timeout * 1000))
        self._pool: Any = None
        self._creating = asyncio.Lock()

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._creating:
                if self._pool is None:
                    import asyncpg  # type: ignore[import-untyped]

                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=self._size,
                        timeout=self._timeout,
                        server_settings={"statement_timeout": self._statement_timeout_ms},
                    )
        return self._pool

    async def read(self, statements: Sequence[Statement]) -> list[Rows]:
        try:
            return await self._read(statements)
        except Exception as error:
            raise as_sqlalchemy_error(error) from error

    async def write(self, steps: Sequence[WriteStep]) -> list[Rows] | None:
        try:
            return await self._write(steps)
        except Exception as error:
            raise as_sqlalchemy_error(error) from error

    async def _read(self, statements: Sequence[Statement]) -> list[Rows]:
        pool = await self._get_pool()
        async with pool.acquire(timeout=self._timeout) as connection:
            if len(statements) == 1:
                sql, parameters = statements[0]
                return [await connection.fetch(sql, *parameters)]
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                return [await connection.fetch(sql, *parameters) for sql, parameters in statements]

    async def _write(self, steps: Sequence[WriteStep]) -> list[Rows] | None:
        pool = await self._get_pool()
        results: list[Rows] = []
        async with pool.acquire(timeout=self._timeout) as connection:
            try:
                async with connection.transaction():
                    for step in steps:
                        if step.many is not None:
                            await connection.executemany(step.sql, step.many)
                        elif step.fetch:
                            results.append(await connection.fetch(step.sql, *step.parameters))
                        else:
                            status = await connection.execute(step.sql, *step.parameters)
                            # "UPDATE 0", "DELETE 0": the command tag ends with the row count.
                            if step.require_rows and status.rsplit(" ", 1)[-1] == "0":
                                raise NothingChanged
            except NothingChanged:
                return None
        return results

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def create_driver_sql(settings: Settings) -> DriverSql | None:
    """The driver path for this database, or None where it cannot apply (in-memory SQLite)."""
    if settings.is_sqlite:
        path = settings.sqlite_path
        if path is None:
            return None
        return SqliteDriverSql(
            path,
            reader_threads=min(4, settings.database_pool_size),
            busy_timeout_s=settings.sqlite_busy_timeout,
        )
    return PostgresDriverSql(settings)
