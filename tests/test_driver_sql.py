"""The hot paths that run SQL on the driver behave like the engine path: errors and snapshots."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections import driver_sql
from movie_collections.app import create_app
from movie_collections.driver_sql import Rows, Statement
from tests.conftest import make_settings, movie, register


@pytest.fixture
def sqlite_copy(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "locked.db"
    shutil.copyfile(sqlite_template, path)
    return path


async def test_locked_sqlite_is_503_on_the_hot_write_path(
    sqlite_copy: Path, tmp_path: Path
) -> None:
    path = sqlite_copy
    settings = make_settings(f"sqlite:///{path}", tmp_path / "data", sqlite_busy_timeout=0.2)
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
            holder = sqlite3.connect(path, isolation_level=None)
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


async def test_read_too_big_for_the_event_loop_is_redone_on_a_thread(
    sqlite_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no budget every read is interrupted on the loop and must be answered by a thread.
    monkeypatch.setattr(driver_sql, "_INLINE_BUDGET", 0)
    monkeypatch.setattr(driver_sql, "_PROGRESS_STEP", 1)
    on_threads: list[int] = []
    read_on_thread = driver_sql.SqliteDriverSql._read_sync

    def counting(self: driver_sql.SqliteDriverSql, statements: list[Statement]) -> list[Rows]:
        on_threads.append(len(statements))
        return read_on_thread(self, statements)

    monkeypatch.setattr(driver_sql.SqliteDriverSql, "_read_sync", counting)
    settings = make_settings(f"sqlite:///{sqlite_copy}", tmp_path / "data")
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            auth = await register(client)
            movies = [movie(i, genres="Drama,Comedy" if i % 2 else "Drama") for i in range(50)]
            created = await client.post(
                "/collection/", json={"title": "big", "movies": movies}, headers=auth
            )
            assert created.status_code == 201
            collection = created.json()["collection_uuid"]
            listed = await client.get("/collection/", headers=auth)
            assert listed.status_code == 200
            assert listed.json()["data"]["favourite_genres"] == "Drama,Comedy"
            detail = await client.get(f"/collection/{collection}/", headers=auth)
            assert [m["title"] for m in detail.json()["movies"]] == [m["title"] for m in movies]
    # Each read was redone on a reader thread: the list's version (one statement), then the
    # list itself (version, collections and genres from one snapshot: 3 statements), then the
    # collection's version, then (no answer kept for it yet) the collection with its movies
    # (one statement, with the version its ETag is made from).
    assert on_threads == [1, 3, 1, 1]
