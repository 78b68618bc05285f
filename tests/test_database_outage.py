"""When PostgreSQL goes away the API answers 503 problem+json, and recovers by itself."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from movie_collections.app import create_app
from movie_collections.core.database import (
    Database,
    DatabaseUnavailable,
    ForeignKeyViolation,
    UniqueViolation,
    classify,
)
from movie_collections.core.migrate import upgrade_to_head
from tests.conftest import PASSWORD, make_settings, movie, register
from tests.private_services import PrivatePostgres, postgres_server_available
from tests.security_helpers import client_for
from tests.services import skip_or_fail

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not postgres_server_available():
        skip_or_fail("PostgreSQL server binaries are not installed")
    with PrivatePostgres() as server:
        upgrade_to_head(server.url)
        yield server


async def test_database_outage_is_503_and_recovers(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    settings = make_settings(private_postgres.url, tmp_path / "data", database_pool_timeout=2)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        auth = await register(client)
        created = await client.post(
            "/collection/", json={"title": "before", "movies": [movie(1)]}, headers=auth
        )
        assert created.status_code == 201

        await asyncio.to_thread(private_postgres.stop)
        for request in (
            client.get("/collection/", headers=auth),
            client.post("/collection/", json={"title": "during"}, headers=auth),
            client.post("/register/", json={"username": "during", "password": PASSWORD}),
            client.get("/health/ready"),
        ):
            response = await request
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
        # Endpoints that need no database keep answering.
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/request-count/", headers=auth)).status_code == 200

        await asyncio.to_thread(private_postgres.start)
        listed = await client.get("/collection/", headers=auth)
        assert listed.status_code == 200, listed.text
        titles = [c["title"] for c in listed.json()["data"]["collections"]]
        assert titles == ["before"]
        assert (await client.get("/health/ready")).status_code == 200
        again = await client.post("/collection/", json={"title": "after"}, headers=auth)
        assert again.status_code == 201


async def test_a_restart_while_idle_costs_no_request(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """PostgreSQL restarts while the pooled connections sit idle: the server closed them all.
    Neither the driver's pool (list, detail, create, replace) nor the engine's (registration,
    idempotent create) hands one out again, so no request sees the restart."""
    settings = make_settings(private_postgres.url, tmp_path / "data", database_pool_size=4)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        auth = await register(client)
        created = await client.post(
            "/collection/", json={"title": "kept", "movies": [movie(1)]}, headers=auth
        )
        collection = created.json()["collection_uuid"]
        # Several pooled connections, all open when the server goes away.
        warm = await asyncio.gather(*(client.get("/collection/", headers=auth) for _ in range(16)))
        assert {response.status_code for response in warm} == {200}

        await asyncio.to_thread(private_postgres.stop)
        await asyncio.to_thread(private_postgres.start)

        requests = [client.get("/collection/", headers=auth) for _ in range(8)]
        requests += [client.get(f"/collection/{collection}/", headers=auth) for _ in range(4)]
        requests += [
            client.post("/collection/", json={"title": f"new {i}"}, headers=auth) for i in range(4)
        ]
        requests.append(
            client.put(f"/collection/{collection}/", json={"title": "renamed"}, headers=auth)
        )
        # And the SQLAlchemy engine's paths: registration, an idempotent create.
        requests.append(client.post("/register/", json={"username": "after", "password": PASSWORD}))
        requests.append(
            client.post(
                "/collection/", json={"title": "keyed"}, headers={**auth, "Idempotency-Key": "k"}
            )
        )
        answers = await asyncio.gather(*requests)
        assert [r.status_code for r in answers if r.status_code >= 300] == []
        listed = await client.get("/collection/", headers=auth)
        assert len(listed.json()["data"]["collections"]) == 6


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        asyncpg.InterfaceError(
            "cannot call Transaction.__aexit__(): the underlying connection is closed"
        ),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        ConnectionResetError(104, "Connection reset by peer"),
        asyncpg.InvalidCatalogNameError('database "gone" does not exist'),  # dropped
        asyncpg.InvalidPasswordError('password authentication failed for user "app"'),
        TimeoutError(),  # a server that never answered (command timeout)
    ],
    ids=type,
)
def test_what_a_stopping_server_raises_is_unavailable(error: Exception) -> None:
    """What asyncpg raises while PostgreSQL stops (smart, fast or immediate) is a 503."""
    assert isinstance(classify(error), DatabaseUnavailable)


def _sqlite_error(*statements: str) -> sqlite3.Error:
    """What SQLite itself raises running the statements on a small schema."""
    connection = sqlite3.connect(":memory:")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
    connection.execute("CREATE TABLE c (id INTEGER UNIQUE NOT NULL REFERENCES p (id))")
    connection.execute("INSERT INTO p VALUES (1)")
    connection.execute("INSERT INTO c VALUES (1)")
    try:
        for statement in statements:
            connection.execute(statement)
    except sqlite3.Error as error:
        return error
    finally:
        connection.close()
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("INSERT INTO c VALUES (1)", UniqueViolation),
        ("INSERT INTO p VALUES (1)", UniqueViolation),  # the primary key
        ("INSERT INTO c VALUES (2)", ForeignKeyViolation),
        ("INSERT INTO c VALUES (NULL)", sqlite3.IntegrityError),  # a bug: 500
        # As when the file was replaced by an empty one under the process (a restore).
        ("SELECT 1 FROM gone", DatabaseUnavailable),
    ],
)
def test_sqlite_errors_are_classified_by_their_code(statement: str, expected: type) -> None:
    """A unique key, a foreign key, a file not as expected, or a bug (a 500)."""
    assert type(classify(_sqlite_error(statement))) is expected


def test_a_locked_or_unreadable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    locked = sqlite3.connect(tmp_path / "db", timeout=0)
    locked.execute("CREATE TABLE t (x)")
    holder = sqlite3.connect(tmp_path / "db")
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as busy:
        locked.execute("BEGIN IMMEDIATE")
    holder.close()
    locked.close()
    with pytest.raises(sqlite3.OperationalError) as cannot_open:
        sqlite3.connect(tmp_path / "missing" / "db").execute("SELECT 1")
    (tmp_path / "garbled").write_bytes(b"not a database, " * 1024)
    with pytest.raises(sqlite3.DatabaseError) as garbled:
        sqlite3.connect(tmp_path / "garbled").execute("SELECT 1 FROM sqlite_master")
    refused = (busy.value, cannot_open.value, garbled.value)
    for error in (*refused, sqlite3.OperationalError("database is locked")):
        assert isinstance(classify(error), DatabaseUnavailable), error


@pytest.mark.parametrize("how", ["terminated", "raised"])
async def test_a_connection_that_failed_as_unavailable_is_not_reused(
    private_postgres: PrivatePostgres, tmp_path: Path, how: str
) -> None:
    """A backend terminated under a transaction (as a fast shutdown does), or one whose
    statement failed with a "shutting down" error while the connection itself looks open (as
    asyncpg's state errors do): that request gets DatabaseUnavailable, and the pool never hands
    the connection out again."""
    settings = make_settings(private_postgres.url, tmp_path / "data", database_pool_size=1)
    database = Database(settings)
    await database.start()
    admin = await asyncpg.connect(private_postgres.url)
    try:
        pids: list[int] = []
        with pytest.raises(DatabaseUnavailable):
            await _fails_mid_transaction(database, admin, pids, how)
        # The one pooled connection is a new one, and it works.
        for _ in range(3):
            async with database.transaction(write=True) as connection:
                assert await connection.fetch_value(_BACKEND_PID) != pids[0]
    finally:
        await admin.close()
        await database.close()


_BACKEND_PID = text("SELECT pg_backend_pid()")
_RAISE_ADMIN_SHUTDOWN = text(
    "DO $$ BEGIN RAISE EXCEPTION 'shutting down' USING ERRCODE = '57P01'; END $$"
)


async def _fails_mid_transaction(
    database: Database, admin: asyncpg.Connection, pids: list[int], how: str
) -> None:
    async with database.transaction(write=True) as connection:
        pids.append(await connection.fetch_value(_BACKEND_PID))
        if how == "terminated":
            await admin.execute("SELECT pg_terminate_backend($1)", pids[0])
            await connection.fetch_value(_BACKEND_PID)
        else:
            await connection.execute(_RAISE_ADMIN_SHUTDOWN)


class Partition:
    """A TCP proxy to PostgreSQL that can stop passing bytes, as a network partition or a frozen
    server does: connections stay open, and nothing comes back."""

    def __init__(self, target: httpx.URL) -> None:
        self._target = target
        self.passing = asyncio.Event()
        self.passing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await asyncio.open_connection(self._target.host, self._target.port or 5432)
        for source, sink in ((reader, upstream[1]), (upstream[0], writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            await self.passing.wait()
            sink.write(data)
        sink.close()


async def test_a_database_that_stops_answering_is_503_within_its_timeouts(
    postgres_database: str, tmp_path: Path
) -> None:
    """Connections already pooled to a server that no longer answers (the pool warm, a
    partition): every endpoint that needs the database answers 503 once its client timeout
    (statement timeout + grace) passes, readiness within its 2 s, and all is well once the
    network heals."""
    target = httpx.URL(postgres_database.replace("postgresql://", "http://"))
    partition = Partition(target)
    async with partition as port:
        url = postgres_database.replace(f"{target.host}:{target.port or 5432}", f"127.0.0.1:{port}")
        settings = make_settings(
            url, tmp_path / "data", database_statement_timeout=1, database_pool_timeout=1
        )
        async with client_for(settings) as client:
            name = f"partition_{uuid.uuid4().hex[:8]}"
            auth = await register(client, name)
            body = {"title": "before", "movies": [movie(1)]}
            collection = (await client.post("/collection/", json=body, headers=auth)).json()
            path = f"/collection/{collection['collection_uuid']}/"
            assert (await client.get(path, headers=auth)).status_code == 200

            partition.passing.clear()
            requests = {
                "list": client.get("/collection/", headers=auth),
                "detail": client.get(path, headers=auth),
                "create": client.post("/collection/", json=body, headers=auth),
                "login": client.post("/login/", json={"username": name, "password": PASSWORD}),
            }
            for what, request in requests.items():
                # A bound for the test alone: without client timeouts these never answered.
                response = await asyncio.wait_for(request, timeout=30)
                assert response.status_code == 503, (what, response.text)
                assert response.headers["content-type"] == "application/problem+json", what
            ready = await asyncio.wait_for(client.get("/health/ready"), timeout=10)
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == "unavailable"

            partition.passing.set()
            assert (await client.get(path, headers=auth)).status_code == 200
            created = await client.post("/collection/", json=body, headers=auth)
            assert created.status_code == 201
