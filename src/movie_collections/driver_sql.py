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
  a reader thread instead, so the loop is never held for long. Writes go in ONE hop to one
  writer thread per process, which waits for the host-wide write lock (sqlite_write_lock.py:
  every writer of the file queues there, and is woken the moment it is free, instead of
  sleeping in SQLite's busy handler), then commits every unit queued by then in one
  BEGIN IMMEDIATE ... COMMIT, each unit in a savepoint of its own (group commit).
- PostgreSQL: an asyncpg pool of its own; reads in one read-only REPEATABLE READ transaction,
  writes in one transaction; asyncpg caches each statement's prepared plan per connection.

Nothing is cached between calls: every read sees the database as it is, so a committed write
is visible to the next read. SQL is written with PostgreSQL's `$1` parameters (rewritten to
SQLite's numbered `?1`); UUID parameters become SQLite's 32-hex text, the form SQLAlchemy's
`Uuid` type stores there, so rows written either way are the same.
"""

from __future__ import annotations

import asyncio
import queue
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

from movie_collections.core.settings import Settings
from movie_collections.core.sqlite_write_lock import SqliteWriteLock
from movie_collections.read_batches import KeyedRead, ReadBatches

Statement = tuple[str, Sequence[Any]]
Rows = list[Sequence[Any]]

_NUMBERED_PARAMETER = re.compile(r"\$(\d+)")
# A read on the event loop is interrupted after this many progress-handler calls, each every
# _PROGRESS_STEP SQLite VM instructions: ~200k instructions, about a millisecond.
_PROGRESS_STEP = 1000
_INLINE_BUDGET = 200
# Most write units one transaction of the writer thread takes (group commit); bounds the wait
# of the first caller of a batch behind the others.
_MAX_BATCH = 64
# A checkpoint runs in the COMMIT that takes the WAL past this many pages, while every other
# writer waits: two fsyncs and a copy of each page changed since the last one. SQLite's default
# (1,000 pages, 4 MB) made that every few dozen creates; 16,000 (64 MB of WAL at most, the
# file keeps that size) copies a page written by many commits once, and stalls writers 16
# times less often (creates: 939 -> 1,398 req/s in one A/B, docs/benchmarks.md).
WAL_AUTOCHECKPOINT_PAGES = 16000
# An executemany of a plain INSERT ... VALUES (...) is written as multi-row INSERTs of at most
# SQLite's default SQLITE_MAX_VARIABLE_NUMBER parameters.
_MULTI_ROW = re.compile(r"(\s*INSERT\s+INTO\s.+?\sVALUES\s*)(\([^()]*\))\s*$", re.I | re.S)
_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


@dataclass(frozen=True, slots=True)
class WriteStep:
    """One statement of a write unit of work."""

    sql: str
    parameters: Sequence[Any] = ()
    many: Sequence[Sequence[Any]] | None = None  # executemany over these rows instead
    require_rows: bool = False  # no row changed: roll back and answer None (e.g. not owned)
    fetch: bool = False  # a SELECT whose rows are returned
    # The values are in SQLite's stored forms already (built for SQLite): not converted again.
    sqlite_ready: bool = False


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


def _chunk_rows(remaining: int, width: int) -> int:
    """Rows in the next multi-row INSERT: a power of two, so that few distinct statements are
    prepared (and stay in the connection's statement cache) whatever the batch sizes."""
    most = min(remaining, max(1, _MAX_VARIABLES // max(1, width)))
    return 1 << (most.bit_length() - 1)


def _parameter_count(sql: str) -> int:
    """The highest `$n` of a statement: how many values one row binds."""
    return max((int(n) for n in _NUMBERED_PARAMETER.findall(sql)), default=0)


def _shifted(sql: str, offset: int) -> str:
    """`$n` as SQLite's `?(n + offset)`."""
    return _NUMBERED_PARAMETER.sub(lambda m: f"?{int(m.group(1)) + offset}", sql)


_STORED_AS_IS = frozenset({str, int, float, bytes, type(None)})


def _sqlite_step(step: WriteStep) -> WriteStep:
    """The step with its values in SQLite's forms: converted by the caller, on its event loop,
    so that the writer thread, which holds the host-wide write lock, does not (~80 us of a
    create's ~400 us of CPU under the lock)."""
    if step.sqlite_ready:
        return step
    if step.many is not None:
        rows = [sqlite_parameters(row) for row in step.many]
        return WriteStep(step.sql, step.parameters, rows, step.require_rows, step.fetch)
    parameters = sqlite_parameters(step.parameters)
    return WriteStep(step.sql, parameters, None, step.require_rows, step.fetch)


def sqlite_parameters(parameters: Sequence[Any]) -> list[Any]:
    """UUIDs and datetimes in the forms SQLAlchemy stores on SQLite (32-hex, ISO with space)."""
    return [_sqlite_value(p) for p in parameters]


def _sqlite_value(value: Any) -> Any:
    if type(value) in _STORED_AS_IS:  # most values: one set lookup, no isinstance checks
        return value
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

    async def read_keyed(self, query: KeyedRead, key: tuple[Any, ...]) -> Rows:
        """The rows of `query.single_sql` for `key`, from a statement started after this call
        (PostgreSQL coalesces concurrent ones: read_batches.py)."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class _WriteUnit:
    """One caller's write (values already in SQLite's forms), queued for the writer thread;
    rows or error set there."""

    steps: Sequence[WriteStep]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Rows] | None]
    rows: list[Rows] | None = None
    error: BaseException | None = None


def _step_rows(step: WriteStep) -> Sequence[Sequence[Any]]:
    return step.many if step.many is not None else [step.parameters]


def _still_wanted(batch: list[_WriteUnit]) -> list[_WriteUnit]:
    """Units whose caller is gone (request cancelled) are not written, as an executor job
    cancelled before it started was not."""
    return [unit for unit in batch if not unit.future.cancelled()]


def _fail(batch: list[_WriteUnit], error: BaseException) -> None:
    for unit in batch:
        unit.rows, unit.error = None, error


def _answer(batch: list[_WriteUnit]) -> None:
    """Wake each event loop once for all of its units (a wake-up is a write to its pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_WriteUnit]] = {}
    for unit in batch:
        by_loop.setdefault(unit.loop, []).append(unit)
    for loop, units in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, units)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            continue


def _settle(units: list[_WriteUnit]) -> None:
    for unit in units:
        if unit.future.done():  # cancelled meanwhile
            continue
        if unit.error is not None:
            unit.future.set_exception(unit.error)
        else:
            unit.future.set_result(unit.rows)


class SqliteDriverSql:
    """Reader threads and one writer thread, each with its own `sqlite3` connection."""

    def __init__(
        self,
        path: Path,
        reader_threads: int,
        busy_timeout_s: float,
        write_lock: SqliteWriteLock | None = None,
    ) -> None:
        self._path = path
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._readers = ThreadPoolExecutor(reader_threads, thread_name_prefix="sqlite-read")
        self._owns_write_lock = write_lock is None
        self._write_lock = write_lock or SqliteWriteLock(path, busy_timeout_s)
        self._queue: queue.SimpleQueue[_WriteUnit | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None  # started by the first write
        self._writer_lock = threading.Lock()
        self._closed = False
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._sql: dict[str, str] = {}
        self._multi_row_sql: dict[tuple[str, int], str] = {}
        self._plain_inserts: dict[str, bool] = {}
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
            connection.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
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

    def _writer_loop(self) -> None:
        """The writer thread: waits for a unit, then for the write lock, then writes every unit
        queued by then (those that came while it waited included) in one transaction."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._write_next_batch(first)
            _answer(batch)
            if stop:
                return

    def _write_next_batch(self, first: _WriteUnit) -> tuple[list[_WriteUnit], bool]:
        try:
            self._write_lock.acquire()
        except Exception as error:  # waited the busy timeout in this process: all fail
            batch, stop = self._take_batch(first)
            _fail(batch, error)
            return batch, stop
        try:
            batch, stop = self._take_batch(first)
            self._write_batch(batch)
        finally:
            self._write_lock.release()
        return batch, stop

    def _take_batch(self, first: _WriteUnit) -> tuple[list[_WriteUnit], bool]:
        """The first unit and whatever else is queued (up to _MAX_BATCH); True when closing."""
        batch = [first]
        while len(batch) < _MAX_BATCH:
            try:
                unit = self._queue.get_nowait()
            except queue.Empty:
                break
            if unit is None:
                return _still_wanted(batch), True
            batch.append(unit)
        return _still_wanted(batch), False

    def _write_batch(self, batch: list[_WriteUnit]) -> None:
        """Group commit, the write lock held: one BEGIN IMMEDIATE ... COMMIT for the batch, each
        unit in a savepoint of its own so that a failing unit undoes only itself. Nobody is
        answered before the COMMIT; if it (or anything outside a unit) fails, every unit gets
        that error."""
        if not batch:
            return
        connection = self._connection(read_only=False)
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._write_units(connection, batch)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except Exception as error:
            _fail(batch, error)

    def _write_units(self, connection: sqlite3.Connection, batch: list[_WriteUnit]) -> None:
        """Units that only INSERT, with the same statements, are written together: one
        multi-row INSERT per statement for all of them. Every statement is a hand-back of the
        GIL, which waits for the busy event loop while the write lock is held, and each unit
        committed alone rewrites the pages it shares with the others: a dozen creates of 10
        movies take about a dozen statements this way instead of ~400. A group that fails (a
        constraint) is undone and its units are written one by one like any other, so only the
        culprit fails. Units of one batch were concurrent: no order among them is promised."""
        alone: list[_WriteUnit] = []
        for shape, group in self._insert_groups(batch, alone).items():
            if len(group) == 1 or not self._write_together(connection, shape, group):
                alone.extend(group)
        order = {id(unit): index for index, unit in enumerate(batch)}
        for unit in sorted(alone, key=lambda unit: order[id(unit)]):  # in the order they came
            self._write_unit(connection, unit)

    def _insert_groups(
        self, batch: list[_WriteUnit], alone: list[_WriteUnit]
    ) -> dict[tuple[str, ...], list[_WriteUnit]]:
        """Insert-only units by their statements; the others are appended to `alone`."""
        groups: dict[tuple[str, ...], list[_WriteUnit]] = {}
        for unit in batch:
            if all(self._plain_insert(step) for step in unit.steps):
                groups.setdefault(tuple(step.sql for step in unit.steps), []).append(unit)
            else:
                alone.append(unit)
        return groups

    def _plain_insert(self, step: WriteStep) -> bool:
        """An INSERT ... VALUES whose outcome nobody reads (no rows fetched, none required)."""
        if step.fetch or step.require_rows:
            return False
        plain = self._plain_inserts.get(step.sql)
        if plain is None:
            plain = self._plain_inserts[step.sql] = _MULTI_ROW.match(step.sql) is not None
        return plain

    def _write_together(
        self, connection: sqlite3.Connection, shape: tuple[str, ...], group: list[_WriteUnit]
    ) -> bool:
        connection.execute("SAVEPOINT together")
        try:
            for index, sql in enumerate(shape):
                rows = [row for unit in group for row in _step_rows(unit.steps[index])]
                self._insert_rows(connection, sql, rows)
        except Exception:
            if not connection.in_transaction:
                raise  # SQLite rolled the whole transaction back (disk full, I/O): batch fails
            connection.execute("ROLLBACK TO together")
            connection.execute("RELEASE together")
            return False
        connection.execute("RELEASE together")
        for unit in group:
            unit.rows = []
        return True

    def _write_unit(self, connection: sqlite3.Connection, unit: _WriteUnit) -> None:
        connection.execute("SAVEPOINT unit")
        try:
            unit.rows = self._run_steps(connection, unit.steps)
        except Exception as error:
            if not connection.in_transaction:
                raise  # SQLite rolled the whole transaction back (disk full, I/O): batch fails
            connection.execute("ROLLBACK TO unit")
            if not isinstance(error, NothingChanged):
                unit.error = error
        connection.execute("RELEASE unit")

    def _run_steps(self, connection: sqlite3.Connection, steps: Sequence[WriteStep]) -> list[Rows]:
        results: list[Rows] = []
        for step in steps:
            if step.many is not None and self._plain_insert(step):
                changed = self._insert_rows(connection, step.sql, step.many)
            elif step.fetch:
                # A SELECT, or a write with RETURNING: the rows it gave are what it changed
                # (a RETURNING statement's rowcount is not final until its rows are read).
                rows = self._execute(connection, step).fetchall()
                results.append(rows)
                changed = len(rows)
            else:
                changed = self._execute(connection, step).rowcount
            if step.require_rows and changed == 0:
                raise NothingChanged
        return results

    def _execute(self, connection: sqlite3.Connection, step: WriteStep) -> sqlite3.Cursor:
        sql = self._translate(step.sql)
        if step.many is not None:
            return connection.executemany(sql, step.many)
        return connection.execute(sql, step.parameters)

    def _insert_rows(
        self, connection: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]
    ) -> int:
        """executemany of an INSERT ... VALUES as multi-row INSERTs: one statement (one step,
        one release of the GIL) per chunk instead of one per row. The writer holds the write
        lock meanwhile, and each GIL hand-back waits for the event loop's thread."""
        changed = 0
        width = _parameter_count(sql)
        start = 0
        while start < len(rows):
            part = rows[start : start + _chunk_rows(len(rows) - start, width)]
            start += len(part)
            parameters = [value for row in part for value in row]
            if len(parameters) != width * len(part):  # rows of another length: as SQLite would
                return changed + self._execute(connection, WriteStep(sql, many=part)).rowcount
            changed += connection.execute(self._multi_row(sql, len(part)), parameters).rowcount
        return changed

    def _multi_row(self, sql: str, count: int) -> str:
        """`INSERT ... VALUES ($1, $2)` for `count` rows: `VALUES (?1, ?2), (?3, ?4), ...`."""
        key = (sql, count)
        translated = self._multi_row_sql.get(key)
        if translated is None:
            match = _MULTI_ROW.match(sql)
            assert match is not None
            head, group = match.group(1), match.group(2)
            width = _parameter_count(sql)
            groups = (_shifted(group, row * width) for row in range(count))
            translated = self._multi_row_sql[key] = head + ", ".join(groups)
        return translated

    async def read(self, statements: Sequence[Statement]) -> list[Rows]:
        loop = asyncio.get_running_loop()
        try:
            rows = self._read_inline(statements)
            if rows is not None:
                return rows
            return await loop.run_in_executor(self._readers, self._read_sync, statements)
        except sqlite3.Error as error:
            raise as_sqlalchemy_error(error) from error

    async def read_keyed(self, query: KeyedRead, key: tuple[Any, ...]) -> Rows:
        # A read on the loop costs tens of microseconds here: nothing to coalesce.
        [rows] = await self.read([(query.single_sql, key)])
        return rows

    async def write(self, steps: Sequence[WriteStep]) -> list[Rows] | None:
        loop = asyncio.get_running_loop()
        unit = _WriteUnit([_sqlite_step(step) for step in steps], loop, loop.create_future())
        self._submit(unit)
        try:
            return await unit.future
        except sqlite3.Error as error:
            raise as_sqlalchemy_error(error) from error

    def _submit(self, unit: _WriteUnit) -> None:
        with self._writer_lock:
            if self._closed:
                raise RuntimeError("the SQLite writer is closed")
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._writer_loop, name="sqlite-write", daemon=True
                )
                self._writer.start()
            self._queue.put(unit)

    async def close(self) -> None:
        self._readers.shutdown(wait=True)
        with self._writer_lock:
            self._closed = True
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()
        if self._owns_write_lock:
            self._write_lock.close()
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


async def _session_left_as_is(_connection: Any) -> None:
    """asyncpg's default reset on release is one more round trip per call (advisory unlock all,
    CLOSE ALL, UNLISTEN *, RESET ALL): about as much server work as a read itself. This path
    leaves no session state to undo: it never LISTENs, SETs, opens cursors outside a
    transaction or takes session advisory locks (the genre counts take transaction-scoped
    ones), and asyncpg still rolls back a transaction left open before calling this."""


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
        self._batches = ReadBatches(self._fetch)

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
                        reset=_session_left_as_is,
                    )
        return self._pool

    async def read(self, statements: Sequence[Statement]) -> list[Rows]:
        try:
            return await self._read(statements)
        except Exception as error:
            raise as_sqlalchemy_error(error) from error

    async def read_keyed(self, query: KeyedRead, key: tuple[Any, ...]) -> Rows:
        return await self._batches.read(query, key)

    async def _fetch(self, sql: str, parameters: Sequence[Any]) -> Rows:
        [rows] = await self.read([(sql, parameters)])
        return rows

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
                            rows = await connection.fetch(step.sql, *step.parameters)
                            # A write with RETURNING: the rows it gave are what it changed.
                            if step.require_rows and not rows:
                                raise NothingChanged
                            results.append(rows)
                        else:
                            status = await connection.execute(step.sql, *step.parameters)
                            # "UPDATE 0", "DELETE 0": the command tag ends with the row count.
                            if step.require_rows and status.rsplit(" ", 1)[-1] == "0":
                                raise NothingChanged
            except NothingChanged:
                return None
        return results

    async def close(self) -> None:
        await self._batches.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def create_write_lock(settings: Settings) -> SqliteWriteLock | None:
    """The lock every writer of a SQLite file takes (None for PostgreSQL, in-memory SQLite)."""
    path = settings.sqlite_path
    if path is None:
        return None
    return SqliteWriteLock(path, settings.sqlite_busy_timeout, settings.database_pool_size)


def create_driver_sql(
    settings: Settings, write_lock: SqliteWriteLock | None = None
) -> DriverSql | None:
    """The driver path for this database, or None where it cannot apply (in-memory SQLite).
    On SQLite its writer shares `write_lock` with the engine's write transactions."""
    if settings.is_sqlite:
        path = settings.sqlite_path
        if path is None:
            return None
        return SqliteDriverSql(
            path,
            reader_threads=min(4, settings.database_pool_size),
            busy_timeout_s=settings.sqlite_busy_timeout,
            write_lock=write_lock,
        )
    return PostgresDriverSql(settings)
