"""Hot-path reads on the database driver itself: several SELECTs in one snapshot, no ORM layer.

SQLAlchemy's async layer costs about a millisecond of CPU per read transaction (greenlet
switches, a thread hop per statement on SQLite, result processing): ten times the queries
themselves. Hot reads (the collection list and one collection) go through here instead:

- SQLite: the statements run in ONE hop to a small pool of reader threads, each with its own
  `sqlite3` connection set to `query_only`, inside BEGIN ... COMMIT (one WAL snapshot).
- PostgreSQL: an asyncpg pool; several statements run in one read-only REPEATABLE READ
  transaction (one snapshot); asyncpg caches each statement's prepared plan per connection.

Nothing is cached between requests here: every call reads the database as it is, so a
committed write is visible to the next read. SQL is written with PostgreSQL's `$1` parameters
(SQLite understands `?1`, which they are rewritten to); UUID parameters become SQLite's 32-hex
text, the form SQLAlchemy's `Uuid` type stores there.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from movie_collections.config import Settings

Statement = tuple[str, Sequence[Any]]
Rows = list[Sequence[Any]]

_NUMBERED_PARAMETER = re.compile(r"\$(\d+)")


def sqlite_sql(sql: str) -> str:
    """`$1` parameters as SQLite's numbered `?1`."""
    return _NUMBERED_PARAMETER.sub(r"?\1", sql)


def sqlite_parameters(parameters: Sequence[Any]) -> list[Any]:
    """UUIDs as the 32-hex text that SQLAlchemy's `Uuid` type stores on SQLite."""
    return [p.hex if isinstance(p, uuid.UUID) else p for p in parameters]


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID column's value as uuid.UUID (SQLite returns its 32-hex text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


class SnapshotReader(Protocol):
    async def read(self, statements: Sequence[Statement]) -> list[Rows]:
        """The rows of each statement, all read from one consistent snapshot."""

    async def close(self) -> None: ...


class SqliteSnapshotReader:
    """Reader threads with one `sqlite3` connection each; a whole snapshot per thread hop."""

    def __init__(self, path: Path, threads: int, busy_timeout_s: float) -> None:
        self._path = path
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._sql: dict[str, str] = {}

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            # query_only: this connection can never write, whatever SQL reaches it.
            connection.execute("PRAGMA query_only=ON")
            connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
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
        connection = self._connection()
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

    async def read(self, statements: Sequence[Statement]) -> list[Rows]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read_sync, statements)

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


class PostgresSnapshotReader:
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
        pool = await self._get_pool()
        async with pool.acquire(timeout=self._timeout) as connection:
            if len(statements) == 1:
                sql, parameters = statements[0]
                return [await connection.fetch(sql, *parameters)]
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                return [await connection.fetch(sql, *parameters) for sql, parameters in statements]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def create_snapshot_reader(settings: Settings) -> SnapshotReader | None:
    """The reader for this database, or None where it cannot apply (in-memory SQLite)."""
    if settings.is_sqlite:
        path = settings.sqlite_path
        if path is None:
            return None
        return SqliteSnapshotReader(
            path,
            threads=min(4, settings.database_pool_size),
            busy_timeout_s=settings.sqlite_busy_timeout,
        )
    return PostgresSnapshotReader(settings)
