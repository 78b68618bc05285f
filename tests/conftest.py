"""Apps, clients, databases and real server processes for the tests."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.sql import ClauseElement

from movie_collections.app import create_app
from movie_collections.core.database import Database
from movie_collections.core.migrate import upgrade_to_head
from movie_collections.core.settings import Settings
from tests.services import (
    create_postgres_database,
    drop_postgres_database,
    postgres_reachable,
    skip_or_fail,
)

# Cheap hashing keeps the suite fast; production defaults are tested in test_passwords.py.
FAST_HASHING: dict[str, Any] = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 8,
    "password_hash_parallelism": 1,
}
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789abcdef"
PASSWORD = "correct horse battery"
# The suite registers many users from one client address; tests of the limits set their own.
GENEROUS_RATE_LIMITS: dict[str, Any] = {
    "auth_rate_limit_per_username": 10_000,
    "auth_rate_limit_per_address": 10_000,
}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session, copied for every test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture
def unmigrated_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test's own, with no schema yet."""
    if not postgres_reachable():
        skip_or_fail("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = create_postgres_database("mc_empty")
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, migrated once, dropped at the end."""
    if not postgres_reachable():
        skip_or_fail("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = create_postgres_database()
    try:
        upgrade_to_head(url)
        yield url
    finally:
        drop_postgres_database(url)


async def _truncate_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "TRUNCATE users, collections, collection_movies, collection_genres, refresh_tokens,"
            " idempotency_keys, user_genres, user_list_versions"
            " CASCADE"
        )
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every API test runs once on SQLite and once on PostgreSQL, each on a clean database."""
    if request.param == "sqlite":
        return sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(_truncate_postgres(url))
    return url


def sqlite_copy(template: Path, directory: Path) -> str:
    """A fresh migrated SQLite database in `directory`, copied from the session's template."""
    path = directory / "test.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


# The host names of the in-process clients' base URLs.
TEST_HOSTS = "testserver,test,t"


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": TEST_SECRET,
        **FAST_HASHING,
        **GENEROUS_RATE_LIMITS,
        "allowed_hosts": TEST_HOSTS,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def register(client: httpx.AsyncClient, username: str | None = None) -> dict[str, str]:
    """Register a new user; returns the Authorization header for them."""
    name = username or f"user_{uuid.uuid4().hex[:12]}"
    response = await client.post("/register/", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return await register(client)


async def stored_rows(
    source: FastAPI | Settings, *statements: ClauseElement
) -> list[list[tuple[Any, ...]]]:
    """What is committed: the rows of each statement (plain tuples), all read in one snapshot.
    From an app, on its own pool; from settings, on a `Database` of its own, as another process
    would read."""
    if isinstance(source, FastAPI):
        return await _read(source.state.container.database, statements)
    database = Database(source)
    try:
        return await _read(database, statements)
    finally:
        await database.close()


async def _read(
    database: Database, statements: tuple[ClauseElement, ...]
) -> list[list[tuple[Any, ...]]]:
    async with database.transaction() as connection:
        return [[tuple(row) for row in await connection.fetch(s)] for s in statements]


def movie(index: int, genres: str = "Drama") -> dict[str, str]:
    return {
        "title": f"Movie {index}",
        "description": f"Description of movie {index}",
        "genres": genres,
        "uuid": str(uuid.UUID(int=index + 1)),
    }
