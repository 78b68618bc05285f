"""The database engine, the table metadata base, and the one way to open a unit of work."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from movie_collections.core.settings import Settings
from movie_collections.driver_sql import (
    WAL_AUTOCHECKPOINT_PAGES,
    NothingChanged,
    Rows,
    Statement,
    WriteStep,
    as_sqlalchemy_error,
    create_driver_sql,
    create_write_lock,
    sqlite_parameters,
    sqlite_sql,
)
from movie_collections.read_batches import KeyedRead

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


WRITE_OPTION = "movie_collections_write"


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine tuned for the configured database; SQLite gets WAL and immediate write locks."""
    if settings.is_sqlite:
        sqlite_path = settings.sqlite_path
        if sqlite_path is not None:
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            settings.async_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout,
            connect_args={"timeout": settings.sqlite_busy_timeout},
            hide_parameters=True,
        )
        _configure_sqlite(engine, settings)
        return engine
    statement_timeout_ms = str(int(settings.database_statement_timeout * 1000))
    engine = create_async_engine(
        settings.async_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout,
        pool_pre_ping=False,
        hide_parameters=True,
        connect_args={
            "server_settings": {"statement_timeout": statement_timeout_ms},
            "timeout": settings.database_pool_timeout,
        },
    )
    _discard_closed_connections(engine)
    return engine


def _discard_closed_connections(engine: AsyncEngine) -> None:
    """A pooled connection the server closed (it restarted while the connection sat idle) is
    replaced at checkout instead of failing its first statement with a 503.

    asyncpg notices the server's goodbye on its own and marks the connection closed; asking
    it costs no round trip, unlike `pool_pre_ping`. Raising DisconnectionError makes the pool
    discard the connection and check out another (tests/test_database_outage.py).
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver_connection = getattr(dbapi_connection, "driver_connection", None)
        if driver_connection is not None and driver_connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")


def _configure_sqlite(engine: AsyncEngine, settings: Settings) -> None:
    busy_timeout_ms = int(settings.sqlite_busy_timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit transactions are switched off so that BEGIN is ours:
        # writers take the lock up front (BEGIN IMMEDIATE) and can never deadlock on upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        writes = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


# hide_parameters: a logged database error never carries the values bound to the statement
# (password hashes, usernames, users' text).


class Database:
    """Owns the engine; hands out transactions. Services receive the connection, never commit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        # On a SQLite file every writer queues here first, the driver's and the engine's.
        self.write_lock = create_write_lock(settings)
        self.driver = create_driver_sql(settings, self.write_lock)

    async def read_snapshot(self, statements: Sequence[Statement]) -> list[Rows]:
        """Rows of each SELECT (`$1` parameters), from one snapshot, on the hot-read path."""
        if self.driver is not None:
            return await self.driver.read(statements)
        # In-memory SQLite has no file for other connections to open: use the engine's own.
        async with self.transaction() as connection:
            return [await _execute(connection, sql, parameters) for sql, parameters in statements]

    async def read_keyed(self, query: KeyedRead, key: tuple[Any, ...]) -> Rows:
        """The rows of `query.single_sql` for `key` (hot reads; coalesced with concurrent
        reads of the same kind on PostgreSQL, see read_batches.py)."""
        if self.driver is not None:
            return await self.driver.read_keyed(query, key)
        [rows] = await self.read_snapshot([(query.single_sql, key)])
        return rows

    async def write_unit(self, steps: Sequence[WriteStep]) -> list[Rows] | None:
        """Run the steps in one write transaction (hot-write path): the rows of the `fetch`
        steps, or None when a `require_rows` step changed nothing (everything rolled back)."""
        if self.driver is not None:
            return await self.driver.write(steps)
        try:
            async with self.transaction(write=True) as connection:
                results: list[Rows] = []
                for step in steps:
                    for parameters in step.many if step.many is not None else [step.parameters]:
                        result = await connection.exec_driver_sql(
                            sqlite_sql(step.sql), tuple(sqlite_parameters(parameters))
                        )
                        # A fetch step (SELECT, or a write with RETURNING) changed its rows.
                        rows: Rows | None = list(result.all()) if step.fetch else None
                        changed = result.rowcount if rows is None else len(rows)
                        if step.require_rows and changed == 0:
                            raise NothingChanged
                        if rows is not None:
                            results.append(rows)
                return results
        except NothingChanged:
            return None

    @asynccontextmanager
    async def transaction(
        self, *, write: bool = False, snapshot: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """Commit when the block ends normally, roll back when it raises.

        `snapshot` makes every statement of a read see the same instant (REPEATABLE READ on
        PostgreSQL, whose default gives each statement its own): a collection and its movies
        then always belong to the version its ETag names. SQLite reads are snapshots already.
        """
        async with self._write_lock_if(write), self.engine.connect() as connection:
            if write:
                connection = await connection.execution_options(**{WRITE_OPTION: True})
            elif snapshot and not self.settings.is_sqlite:
                connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                yield connection

    @asynccontextmanager
    async def _write_lock_if(self, write: bool) -> AsyncIterator[None]:
        """The SQLite write lock around a write transaction (taken before a pooled connection,
        so no connection idles while its transaction waits for its turn)."""
        if not write or self.write_lock is None:
            yield
            return
        try:
            await self.write_lock.acquire_async()
        except sqlite3.Error as error:  # waited the busy timeout: 503, as SQLite's wait was
            raise as_sqlalchemy_error(error) from error
        try:
            yield
        finally:
            self.write_lock.release()

    async def dispose(self) -> None:
        if self.driver is not None:
            await self.driver.close()
        await self.engine.dispose()
        if self.write_lock is not None:
            self.write_lock.close()


async def _execute(connection: AsyncConnection, sql: str, parameters: Sequence[Any]) -> Rows:
    result = await connection.exec_driver_sql(sqlite_sql(sql), tuple(sqlite_parameters(parameters)))
    return list(result.all())
