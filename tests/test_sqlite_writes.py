"""SQLite writes: the host-wide write lock queues writers of every process, a write waits
without blocking the event loop, one failing write never takes another with it, and a writer
waiting past the busy timeout is a 503."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import bindparam, delete, insert, update

from movie_collections.app import create_app
from movie_collections.collection.repository import collection_movies, collections
from movie_collections.core.database import (
    Connection,
    Database,
    DatabaseUnavailable,
    ForeignKeyViolation,
    UniqueViolation,
)
from movie_collections.core.sqlite_write_lock import SqliteWriteLock, lock_path
from tests.conftest import make_settings, movie, register
from tests.processes import NO_USER_BUDGETS, TEST_SECRET, ServerProcess
from tests.security_helpers import client_for

INSERT_COLLECTION = insert(collections)
INSERT_MOVIE = insert(collection_movies)
RENAME = (
    update(collections)
    .where(collections.c.id == bindparam("collection_id"))
    .values(title=bindparam("new_title"))
)
DELETE = delete(collections).where(collections.c.id == bindparam("collection_id"))
Write = Callable[[Connection], Awaitable[None]]


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


@pytest.fixture
async def writer(database: Path, tmp_path: Path) -> AsyncIterator[Database]:
    """The app's data layer on the file, as one worker process has it."""
    settings = make_settings(f"sqlite:///{database}", tmp_path / "data", sqlite_busy_timeout=5)
    pool = Database(settings)
    try:
        yield pool
    finally:
        await pool.close()


def create(collection_id: uuid.UUID, owner_id: uuid.UUID, movies: int) -> list[Write]:
    """The steps of a create: the collection, then its movies (positions 0..movies-1)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)

    async def insert_collection(connection: Connection) -> None:
        row = {"id": collection_id, "owner_id": owner_id, "title": "t", "title_key": "t"}
        row["description"] = ""
        await connection.execute(
            INSERT_COLLECTION, {**row, "created_at": now, "updated_at": now, "version": 1}
        )

    async def insert_movies(connection: Connection) -> None:
        await connection.execute_many(
            INSERT_MOVIE, [movie_row(collection_id, position) for position in range(movies)]
        )

    return [insert_collection, insert_movies]


def movie_row(collection_id: uuid.UUID, position: int) -> dict[str, object]:
    return {
        "collection_id": collection_id,
        "position": position,
        "movie_uuid": uuid.uuid4(),
        "title": "m",
        "description": "",
        "genres": "Drama",
        "note": None,
    }


def rename(collection_id: uuid.UUID, title: str) -> Write:
    """Rename a collection that must exist: none renamed fails (and so rolls back) the write."""

    async def step(connection: Connection) -> None:
        if await connection.execute(RENAME, {"collection_id": collection_id, "new_title": title}):
            return
        raise LookupError(collection_id)

    return step


async def write(database: Database, steps: list[Write]) -> None:
    """One write transaction of the given steps, as a request runs its write."""
    async with database.transaction(write=True) as connection:
        for step in steps:
            await step(connection)


def stored(database: Path) -> dict[str, int]:
    """Movies per collection id (hex), as committed."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT c.id, count(m.position) FROM collections c "
            "LEFT JOIN collection_movies m ON m.collection_id = c.id GROUP BY c.id"
        )
        return dict(rows.fetchall())


async def test_a_failing_write_fails_alone(
    database: Path, owner: uuid.UUID, outsider: SqliteWriteLock, writer: Database
) -> None:
    """Writes queued behind another process's lock all run once it is free; each commits or
    rolls back whole, and a failing one takes no other with it."""
    first, second, third, fourth, earlier = (uuid.uuid4() for _ in range(5))
    await write(writer, create(earlier, owner, 1))
    await outsider.acquire()  # every write below is queued by the time the lock is free
    try:
        writes = [
            asyncio.ensure_future(write(writer, steps))
            for steps in (
                create(first, owner, 3),
                create(first, owner, 2),  # the same id again: primary key
                create(second, uuid.uuid4(), 2),  # nobody owns it: foreign key
                [rename(uuid.uuid4(), "x")],  # no such row
                [rename(earlier, "renamed")],
                create(third, owner, 4),
                # Its collection goes in, then its movies fail (one position twice): undone whole.
                [
                    *create(fourth, owner, 2),
                    lambda connection: connection.execute(INSERT_MOVIE, movie_row(fourth, 0)),
                ],
            )
        ]
        await asyncio.sleep(0.3)
        assert not any(w.done() for w in writes)  # nothing written while the lock is held
    finally:
        outsider.release()
    results = await asyncio.gather(*writes, return_exceptions=True)

    assert [results[0], results[4], results[5]] == [None, None, None]
    assert isinstance(results[1], UniqueViolation)
    assert isinstance(results[2], ForeignKeyViolation)
    assert isinstance(results[3], LookupError)
    assert isinstance(results[6], UniqueViolation)
    assert stored(database) == {earlier.hex: 1, first.hex: 3, third.hex: 4}
    with sqlite3.connect(database) as connection:
        [(title,)] = connection.execute(
            "SELECT title FROM collections WHERE id = ?", (earlier.hex,)
        )
    assert title == "renamed"


def fill_the_disk(collection_id: uuid.UUID) -> Write:
    """A write that finds the disk full: SQLite then rolls back the whole transaction."""

    async def step(connection: Connection) -> None:
        raw = connection.raw  # type: ignore[attr-defined]
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
        raw.execute(f"PRAGMA max_page_count = {pages + 1}")
        try:
            row = {**movie_row(collection_id, 99), "description": "x" * 200_000}
            await connection.execute(INSERT_MOVIE, row)
        finally:
            raw.execute("PRAGMA max_page_count = 4294967294")

    return step


async def test_a_write_that_loses_the_whole_batch_fails_the_batch_and_no_more(
    database: Path, owner: uuid.UUID, outsider: SqliteWriteLock, writer: Database
) -> None:
    """Disk full mid-batch: the writes before it in the batch are lost and told so (503), the
    write itself is a 503 too, and the writes after it go into a batch of their own."""
    before, after = uuid.uuid4(), uuid.uuid4()
    await outsider.acquire()  # the three writes queue, and take their turns in one batch
    try:
        writes = [
            asyncio.ensure_future(write(writer, steps))
            for steps in (
                create(before, owner, 2),
                [fill_the_disk(before)],
                create(after, owner, 3),
            )
        ]
        await asyncio.sleep(0.3)
    finally:
        outsider.release()
    results = await asyncio.gather(*writes, return_exceptions=True)

    assert isinstance(results[0], DatabaseUnavailable)
    assert isinstance(results[1], DatabaseUnavailable)
    assert results[2] is None
    assert stored(database) == {after.hex: 3}


async def test_a_refused_write_is_answered_only_once_what_it_read_is_committed(
    database: Path, owner: uuid.UUID, outsider: SqliteWriteLock, writer: Database
) -> None:
    """A write refused because of an earlier write of its batch (here: the row it renames was
    deleted) answers after the batch's COMMIT: the batch lost, the refusal is a 503 (the row
    is there after all), not the 404 it would have been."""
    kept, other = uuid.uuid4(), uuid.uuid4()
    await write(writer, [*create(kept, owner, 1), *create(other, owner, 1)])

    async def delete_it(connection: Connection) -> None:
        await connection.execute(DELETE, {"collection_id": kept})

    await outsider.acquire()  # the three writes queue, and take their turns in one batch
    try:
        writes = [
            asyncio.ensure_future(write(writer, steps))
            for steps in ([delete_it], [rename(kept, "renamed")], [fill_the_disk(other)])
        ]
        await asyncio.sleep(0.3)
    finally:
        outsider.release()
    results = await asyncio.gather(*writes, return_exceptions=True)

    assert [type(result) for result in results] == [DatabaseUnavailable] * 3
    assert stored(database) == {kept.hex: 1, other.hex: 1}


class _UndoFails(sqlite3.Connection):
    """A connection whose next savepoint rollback fails, as on an I/O error."""

    fail_next_undo = False

    def execute(self, sql: str, *parameters: object) -> sqlite3.Cursor:  # type: ignore[override]
        if sql == "ROLLBACK TO write" and _UndoFails.fail_next_undo:
            _UndoFails.fail_next_undo = False
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, *parameters)


async def test_a_failed_write_that_cannot_be_undone_alone_loses_the_batch(
    database: Path, owner: uuid.UUID, outsider: SqliteWriteLock, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Its savepoint rollback fails: committing the batch would keep what the failed write
    did, so the whole batch is rolled back and each of its writes answers 503."""
    connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite3, "connect", lambda *a, **k: connect(*a, **{**k, "factory": _UndoFails})
    )
    settings = make_settings(f"sqlite:///{database}", tmp_path / "data", sqlite_busy_timeout=5)
    writer = Database(settings)
    before, failing = uuid.uuid4(), uuid.uuid4()

    async def create_then_refuse(connection: Connection) -> None:
        for step in create(failing, owner, 2):
            await step(connection)
        _UndoFails.fail_next_undo = True
        raise LookupError("refused")

    try:
        await outsider.acquire()  # both writes queue, and take their turns in one batch
        try:
            writes = [
                asyncio.ensure_future(write(writer, steps))
                for steps in (create(before, owner, 1), [create_then_refuse])
            ]
            await asyncio.sleep(0.3)
        finally:
            outsider.release()
        results = await asyncio.gather(*writes, return_exceptions=True)
        assert [type(result) for result in results] == [DatabaseUnavailable] * 2
        assert stored(database) == {}
        await write(writer, create(before, owner, 1))  # the next batch is a new one
        assert stored(database) == {before.hex: 1}
    finally:
        await writer.close()


async def test_a_writer_that_gave_up_on_the_lock_leaves_it_whole_to_the_next(
    database: Path, outsider: SqliteWriteLock
) -> None:
    """A writer leaves while its thread waits on for the lock file (the request was cancelled,
    or timed out): the next writer takes that wait over, and holds the lock as long as it
    believes it does."""
    await outsider.acquire()
    impatient = SqliteWriteLock(database, timeout_s=5)
    try:
        leaving = asyncio.ensure_future(impatient.acquire())
        await asyncio.sleep(0.1)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        next_writer = asyncio.ensure_future(impatient.acquire())
        await asyncio.sleep(0.1)
        outsider.release()
        await next_writer
        await asyncio.sleep(0.2)  # the given-up wait's thread has long been granted the lock
        probe = os.open(lock_path(database), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # held: another process would have to wait
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
        impatient.release()
    finally:
        impatient.close()


async def test_many_writes_queued_behind_the_lock_all_commit(
    database: Path, owner: uuid.UUID, outsider: SqliteWriteLock, writer: Database
) -> None:
    ids = [uuid.uuid4() for _ in range(20)]
    await outsider.acquire()
    try:
        writes = [asyncio.ensure_future(write(writer, create(i, owner, 10))) for i in ids]
        await asyncio.sleep(0.3)
        assert not any(w.done() for w in writes)
    finally:
        outsider.release()
    assert await asyncio.gather(*writes) == [None] * 20
    assert stored(database) == {i.hex: 10 for i in ids}


async def test_a_writer_that_leaves_the_queue_wedges_no_other(
    database: Path, owner: uuid.UUID, writer: Database
) -> None:
    """Writes share one commit (group commit): a queued writer that is cancelled (its client
    went away) leaves no write of the others uncommitted and none waiting forever."""
    first, gone, last = (uuid.uuid4() for _ in range(3))
    release = asyncio.Event()

    async def held(connection: Connection) -> None:
        await release.wait()  # the turn is held while the others queue

    holding = asyncio.ensure_future(write(writer, [*create(first, owner, 1), held]))
    await asyncio.sleep(0.05)
    leaving = asyncio.ensure_future(write(writer, create(gone, owner, 1)))
    staying = asyncio.ensure_future(write(writer, create(last, owner, 1)))
    await asyncio.sleep(0.05)
    leaving.cancel()
    release.set()
    assert await asyncio.wait_for(asyncio.gather(holding, staying), 5) == [None, None]
    assert leaving.cancelled()
    assert stored(database) == {first.hex: 1, last.hex: 1}

    # Cancelled just as its turn came (the open transaction handed to it): the write it
    # waited behind still commits.
    release.clear()
    other, alone = uuid.uuid4(), uuid.uuid4()
    holding = asyncio.ensure_future(write(writer, [*create(other, owner, 1), held]))
    await asyncio.sleep(0.05)
    leaving = asyncio.ensure_future(write(writer, create(alone, owner, 1)))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.sleep(0)  # the holder finishes and hands the turn on
    leaving.cancel()
    await asyncio.wait_for(holding, 5)
    assert stored(database) == {first.hex: 1, last.hex: 1, other.hex: 1}


async def test_a_process_killed_holding_the_lock_does_not_wedge_the_writers(
    database: Path, owner: uuid.UUID, writer: Database
) -> None:
    holder = subprocess.Popen(  # noqa: ASYNC220  (started once; the test waits on it anyway)
        [
            sys.executable,
            "-c",
            "import asyncio, time; from pathlib import Path;"
            "from movie_collections.core.sqlite_write_lock import SqliteWriteLock, lock_path;"
            f"asyncio.run(SqliteWriteLock(Path({str(database)!r}), 5).acquire());"
            "print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        collection = uuid.uuid4()
        pending = asyncio.ensure_future(write(writer, create(collection, owner, 1)))
        await asyncio.sleep(0.5)
        assert not pending.done()  # the other process's lock is the same lock
        holder.send_signal(signal.SIGKILL)
        await asyncio.wait_for(pending, timeout=5)
        assert stored(database) == {collection.hex: 1}
    finally:
        holder.kill()
        holder.wait()


async def test_app_writes_take_the_same_lock_without_blocking_the_loop(
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
            await outsider.acquire()
            try:
                put = asyncio.ensure_future(
                    client.put(f"/collection/{collection}/", json={"title": "u"}, headers=auth)
                )
                await asyncio.sleep(0.3)
                assert not put.done()  # the app's write transaction waits for the lock ...
                listed = await client.get("/collection/", headers=auth)  # ... off the loop
                assert listed.status_code == 200
                assert [c["title"] for c in listed.json()["data"]["collections"]] == ["t"]
            finally:
                outsider.release()
            renamed = await asyncio.wait_for(put, timeout=5)
            assert renamed.status_code == 200
            assert renamed.json()["title"] == "u"
            # Reads see the committed write.
            listed = await client.get("/collection/", headers=auth)
            assert [c["title"] for c in listed.json()["data"]["collections"]] == ["u"]
            detail = await client.get(f"/collection/{collection}/", headers=auth)
            assert detail.json()["title"] == "u"
            assert detail.headers["ETag"] == renamed.headers["ETag"]


@pytest.mark.parametrize("holder", ["this process", "another process"])
async def test_an_app_write_waiting_past_the_busy_timeout_is_503(
    database: Path, tmp_path: Path, holder: str
) -> None:
    settings = make_settings(f"sqlite:///{database}", tmp_path / "data", sqlite_busy_timeout=0.3)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            auth = await register(client)
            created = await client.post("/collection/", json={"title": "t"}, headers=auth)
            collection = created.json()["collection_uuid"]
            if holder == "this process":  # the PUT queues behind it in the process
                lock = app.state.container.database.write_lock
            else:  # the PUT waits for the lock file
                lock = SqliteWriteLock(database, timeout_s=5)
            await lock.acquire()
            try:
                response = await client.put(
                    f"/collection/{collection}/", json={"title": "u"}, headers=auth
                )
            finally:
                lock.release()
                if holder == "another process":
                    lock.close()
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            again = await client.put(
                f"/collection/{collection}/", json={"title": "u"}, headers=auth
            )
            assert again.status_code == 200


async def test_made_up_refresh_tokens_never_wait_for_the_write_lock(
    database: Path, tmp_path: Path, outsider: SqliteWriteLock
) -> None:
    """Anyone may send a refresh token: one never issued is refused without queuing."""
    settings = make_settings(f"sqlite:///{database}", tmp_path / "data", sqlite_busy_timeout=0.3)
    async with client_for(settings) as client:
        await outsider.acquire()
        try:
            made_up = {"refresh_token": "made-up-" + "x" * 40}
            assert (await client.post("/token/refresh/", json=made_up)).status_code == 401
            assert (await client.post("/logout/", json=made_up)).status_code == 204
        finally:
            outsider.release()


async def test_a_file_locked_by_another_sqlite_writer_is_503_and_reads_go_on(
    database: Path, tmp_path: Path
) -> None:
    """A writer outside the app's lock (another program on the file) holds SQLite's own
    write lock past the busy timeout: writes are 503, reads still answer (WAL)."""
    settings = make_settings(f"sqlite:///{database}", tmp_path / "data", sqlite_busy_timeout=0.2)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            auth = await register(client)
            created = await client.post(
                "/collection/", json={"title": "t", "movies": [movie(1)]}, headers=auth
            )
            assert created.status_code == 201
            collection = created.json()["collection_uuid"]
            holder = sqlite3.connect(database, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock throughout
            try:
                for response in (
                    await client.post("/collection/", json={"title": "x"}, headers=auth),
                    await client.put(
                        f"/collection/{collection}/", json={"title": "y"}, headers=auth
                    ),
                ):
                    assert response.status_code == 503, response.text
                    assert response.headers["content-type"] == "application/problem+json"
                # Readers are not blocked by a writer in WAL mode.
                listed = await client.get("/collection/", headers=auth)
                assert listed.status_code == 200
                assert [c["title"] for c in listed.json()["data"]["collections"]] == ["t"]
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            renamed = await client.put(
                f"/collection/{collection}/", json={"title": "z"}, headers=auth
            )
            assert renamed.status_code == 200
            assert renamed.json()["title"] == "z"


def test_two_workers_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": TEST_SECRET,
        **NO_USER_BUDGETS,
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


async def test_without_a_lock_file_the_writers_of_a_process_still_queue(tmp_path: Path) -> None:
    lock = SqliteWriteLock(tmp_path / "missing-directory" / "app.db", timeout_s=0.2)
    await lock.acquire()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        await lock.acquire()  # the same process waited the busy timeout
    lock.release()
    await asyncio.wait_for(lock.acquire(), timeout=0.1)  # free again: taken at once
    lock.release()
    lock.close()
