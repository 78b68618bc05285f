"""Alembic environment: migrations run on a short-lived SQLAlchemy engine of their own."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from movie_collections.auth import models as _auth_models  # noqa: F401  (registers tables)
from movie_collections.collection import models as _collection_models  # noqa: F401
from movie_collections.core.database import Base, create_private_file
from movie_collections.core.settings import Settings
from movie_collections.idempotency import models as _idempotency_models  # noqa: F401

# Two runs at once (a migration Job beside `serve --migrate`) take turns on PostgreSQL: the
# second finds the schema up to date. (On SQLite, BEGIN IMMEDIATE already serialises them.)
_MIGRATION_LOCK = 0x6D6F7669655F636F  # any constant of this application's own


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        context.run_migrations()


async def _run_online(database_url: str) -> None:
    settings = Settings(database_url=database_url, database_pool_size=1)
    if settings.sqlite_path is not None:
        create_private_file(settings.sqlite_path)
    if settings.is_sqlite:
        engine = create_async_engine(settings.async_database_url, poolclass=NullPool)
    else:  # asyncpg reads the URL itself, as the app's pool does (sslmode, sslrootcert, ...)
        engine = create_async_engine(
            "postgresql+asyncpg://",
            poolclass=NullPool,
            async_creator=lambda: asyncpg.connect(settings.asyncpg_dsn),
        )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


url = context.config.attributes.get("database_url") or Settings().database_url
asyncio.run(_run_online(url))
