"""Finding the machine's PostgreSQL and Redis, and making fresh databases on them for tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip where a service is absent; with REQUIRE_SERVICES=1 (CI) that is a failure."""
    if services_required():
        pytest.fail(f"REQUIRE_SERVICES is set but {reason}")
    pytest.skip(reason)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_reachable() -> bool:
    return _reachable("127.0.0.1", 5432)


def redis_reachable() -> bool:
    return _reachable("127.0.0.1", 6379)


def postgres_url(database: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


def create_postgres_database(prefix: str = "mc_test") -> str:
    """CREATE DATABASE with a random name; returns its URL."""
    import asyncpg

    name = f"{prefix}_{secrets.token_hex(6)}"

    async def create() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return postgres_url(name)


def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


@contextlib.contextmanager
def server_database(kind: str, directory: Path) -> Iterator[str]:
    """An empty database for a server process: a SQLite file in `directory`, or a PostgreSQL
    database of its own (dropped afterwards); the server migrates it."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'server.db'}"
        return
    if not postgres_reachable():
        skip_or_fail("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)
