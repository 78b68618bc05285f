"""SQLite writes: the host-wide write lock, and group commit on the driver's writer thread."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import exc as sa_exc

from movie_collections.app import create_app
from movie_collections.core.sqlite_write_lock import SqliteWriteLock
from movie_collections.driver_sql import SqliteDriverSql, WriteStep
from tests.conftest import make_settings, movie, register
from tests.processes import TEST_SECRET, ServerProcess

INSERT_COLLECTION = (
    "INSERT INTO collections (id, owner_id, title, description, created_at, updated_at, "
    "version) VALUES ($1, $2, $3, '', '2026-01-01 00:00:00.000000', "
    "'2026-01-01 00:00:00.000000', 1)"
)
INSERT_MOVIE = (
    "INSERT INTO collection_movies (collection_id, position, movie_uuid, title, description, "
    "genres) VALUES ($1, $2, $3, 'm', '', 'Drama')"
)
RENAME = "UPDATE collections SET title = $2 WHERE id = $1"


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.fixture
def owner(database: Path) -> uuid.UUID:
    user_id = uuid.uuid4()
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO users (id, username, username_key, password_hash, created_at) "
            "VALUES (?, 'u', 'u', 'h', '2026-01-01 00:00:00.000000')",
            (user_id.hex,),
        )
    return user_id


@pytest.fixture
def outsider(database: Path) -> Iterator[SqliteWriteLock]:
    """The write lock as another process would take it (its own descriptor and queue)."""
    lock = SqliteWriteLock(database, timeout_s=5)
    yield lock
    lock.close()


def create_steps(collection_id: uuid.UUID, owner_id: uuid.UUID, movies: int) -> list[WriteStep]:
    rows = [(collection_id, position, uuid.uuid4()) for position in range(movies)]
    return [
        WriteStep(INSERT_COLLECTION, (collection_id, owner_id, "t")),
        WriteStep(INSERT_MOVIE, many=rows),
    ]


def stored(database: Path) -> dict[str, int]:
    """Movies per collection id (hex), as committed."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT c.id, count(m.position) FROM collections c "
            "LEFT JOIN collection_movies m ON m.collection_id = c.id GROUP BY c.id"
        )
        return dict(rows.fetchall())


async def test_a_failing_unit_of_a_batch_fails_alone(
    database: Path, owner: uuid.UUID, outsider: SqliteWriteLock, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    write_batch = SqliteDriverSql._write_batch

    def counting(self: SqliteDriverSql, batch: list[object]) -> None:
        batches.append(len(batch))
        write_batch(self, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(SqliteDriverSql, "_write_batch", counting)
    driver = SqliteDriverSql(database, reader_threads=1, busy_timeout_s=5)
    first, second, third, fourth, earlier = (uuid.uuid4() for _ in range(5))
    await driver.write(create_steps(earlier, owner, 1))
    outsider.acquire()  # the writer waits: every unit below is queued by the time it gets in
    try:
        writes = [
            asyncio.ensure_future(driver.write(steps))
            for steps in (
                create_steps(first, owner, 3),
                create_steps(first, owner, 2),  # the same id again: primary key
                create_steps(second, uuid.uuid4(), 2),  # nobody owns it: foreign key
                [WriteStep(RENAME, (uuid.uuid4(), "x"), require_rows=True)],  # no such row
                [WriteStep(RENAME, (earlier, "renamed"), require_rows=True)],
                create_steps(third, owner, 4),
                # Its collection goes in, then its movies fail (one position twice): undone whole.
                [
                    *create_steps(fourth, owner, 2),
                    WriteStep(INSERT_MOVIE, (fourth, 0, uuid.uuid4())),
                ],
            )
        ]
        await asyncio.sleep(0.3)
        assert not any(write.done() for write in writes)  # nothing answered before the COMMIT
    finally:
        outsider.release()
    results = await asyncio.gather(*writes, return_exceptions=True)
    await driver.close()

    assert batches == [1, 7]  # one transaction for all seven
    assert [results[0], results[4], results[5]] == [[], [], []]
    assert isinstance(results[1], sa_exc.IntegrityError)
    assert isinstance(results[2], sa_exc.IntegrityError)
    assert isinstance(results[6], sa_exc.IntegrityError)
    assert results[3] is None  # require_rows not met: rolled back, the others kept
    assert stored(database) == {earlier.hex: 1, first.hex: 3, third.hex: 4}
    with sqlite3.connect(database) as connection:
        [(title,)] = connection.execute(
            "SELECT title FROM collections WHERE id = ?", (earlier.hex,)
        )
    assert title == "renamed"


async def test_units_of_one_batch_are_inserted_together(
    database: Path, owner: uuid.UUID, outsider: SqliteWriteLock, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks: list[int] = []
    multi_row = SqliteDriverSql._multi_row

    def recording(self: SqliteDriverSql, sql: str, count: int) -> str:
        chunks.append(count)
        return multi_row(self, sql, count)

    monkeypatch.setattr(SqliteDriverSql, "_multi_row", recording)
    driver = SqliteDriverSql(database, reader_threads=1, busy_timeout_s=5)
    ids = [uuid.uuid4() for _ in range(20)]
    outsider.acquire()
    try:
        writes = [asyncio.ensure_future(driver.write(create_steps(i, owner, 10))) for i in ids]
        await asyncio.sleep(0.3)
    finally:
        outsider.release()
    assert await asyncio.gather(*writes) == [[]] * 20
    await driver.close()
    # 5 statements for 20 collections and 200 movies, in power-of-two chunks, not 220.
    assert chunks == [16, 4, 128, 64, 8]
    assert stored(database) == {i.hex: 10 for i in ids}


async def test_a_process_killed_holding_the_lock_does_not_wedge_the_writers(
    database: Path, owner: uuid.UUID
) -> None:
    holder = subprocess.Popen(  # noqa: ASYNC220  (started once; the test waits on it anyway)
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from movie_collections.core.sqlite_write_lock import SqliteWriteLock;"
            f"SqliteWriteLock(Path({str(database)!r}), 5).acquire();"
            "print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
    )
    driver = SqliteDriverSql(database, reader_threads=1, busy_timeout_s=5)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        collection = uuid.uuid4()
        write = asyncio.ensure_future(driver.write(create_steps(collection, owner, 1)))
        await asyncio.sleep(0.5)
        assert not write.done()  # the other process's lock is the same lock
        holder.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(write, timeout=5) == []
        assert stored(database) == {collection.hex: 1}
    finally:
        holder.kill()
        holder.wait()
        await driver.close()


async def test_engine_writes_take_the_same_lock_without_blocking_the_loop(
    database: Path, tmp_path: Path, outsider: SqliteWriteLock
) -> None:
    app = create_app(make_settings(f"sqlite:///{database}", tmp_path / "data"))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            auth = await register(client)
            created = await client.post(
                "/collection/", json={"title": "t", "movies": [movie(1)]}, headers=auth
            )
            collection = created.json()["collection_uuid"]
            outsider.acquire()
            try:
                put = asyncio.ensure_future(
                    client.put(f"/collection/{collection}/", json={"title": "u"}, headers=auth)
                )
                await asyncio.sleep(0.3)
                assert not put.done()  # the engine's write transaction waits for the lock ...
                listed = await client.get("/collection/", headers=auth)  # ... off the loop
                assert listed.status_code == 200
            finally:
                outsider.release()
            renamed = await asyncio.wait_for(put, timeout=5)
            assert renamed.status_code == 200
            assert renamed.json()["title"] == "u"


async def test_an_engine_write_waiting_past_the_busy_timeout_is_503(
    database: Path, tmp_path: Path
) -> None:
    settings = make_settings(f"sqlite:///{database}", tmp_path / "data", sqlite_busy_timeout=0.3)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            auth = await register(client)
            created = await client.post("/collection/", json={"title": "t"}, headers=auth)
            collection = created.json()["collection_uuid"]
            database_ = app.state.container.database
            await database_.write_lock.acquire_async()  # held by this process: queue behind it
            try:
                response = await client.put(
                    f"/collection/{collection}/", json={"title": "u"}, headers=auth
                )
            finally:
                database_.write_lock.release()
            assert response.status_code == 503, response.text
            again = await client.put(
                f"/collection/{collection}/", json={"title": "u"}, headers=auth
            )
            assert again.status_code == 200


def test_two_workers_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": TEST_SECRET,
    }
    with ServerProcess(environment, workers=2) as server:
        asyncio.run(_hammer(server.url, creates=400, concurrency=48))


async def _hammer(url: str, creates: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        auth = await register(client)
        gate = asyncio.Semaphore(concurrency)

        async def create(index: int) -> str:
            body = {"title": f"c{index}", "movies": [movie(index * 3 + k) for k in range(3)]}
            async with gate:
                response = await client.post("/collection/", json=body, headers=auth)
            assert response.status_code == 201, response.text
            return str(response.json()["collection_uuid"])

        async def replace(collection: str, index: int) -> None:
            body = {"movies": [movie(10_000 + index), movie(20_000 + index)]}
            async with gate:
                response = await client.put(f"/collection/{collection}/", json=body, headers=auth)
            assert response.status_code == 200, response.text

        ids = await asyncio.gather(*(create(i) for i in range(creates)))
        await asyncio.gather(
            *(replace(c, i) for i, c in enumerate(ids[:100])),
            *(create(creates + i) for i in range(100)),
        )
        listed = await client.get("/collection/", headers=auth)
        assert listed.status_code == 200
        collections = listed.json()["data"]["collections"]
        assert len(collections) == creates + 100
        for index, collection in enumerate(ids[:100:10]):
            detail = await client.get(f"/collection/{collection}/", headers=auth)
            movies = [m["uuid"] for m in detail.json()["movies"]]
            assert movies == [
                movie(10_000 + index * 10)["uuid"],
                movie(20_000 + index * 10)["uuid"],
            ]


def test_without_a_lock_file_the_threads_of_a_process_still_queue(tmp_path: Path) -> None:
    lock = SqliteWriteLock(tmp_path / "missing-directory" / "app.db", timeout_s=0.2)
    lock.acquire()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        lock.acquire()  # the same process waited the busy timeout
    lock.release()
    assert lock.try_acquire()
    lock.release()
    lock.close()
