"""Migration 0007: on SQLite the tables every collection write touches are stored in their
key's order (WITHOUT ROWID); down and up again keeps every row, index and trigger."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
from alembic import command
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from movie_collections.core.migrate import alembic_config, upgrade_to_head
from tests.conftest import make_settings, movie, register
from tests.test_favourite_genres import counts

CLUSTERED = ("collection_movies", "collection_genres", "user_genres", "user_list_versions")


def _schema(path: Path) -> dict[str, str]:
    """name -> CREATE statement of every table, index and trigger (autoindexes by name)."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name, coalesce(sql, '') FROM sqlite_master").fetchall()
    return dict(rows)


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as connection:
        return {
            table: sorted(connection.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608
            for table in CLUSTERED
        }


def _without_rowid(schema: dict[str, str], table: str) -> bool:
    return schema[table].rstrip().endswith("WITHOUT ROWID")


async def test_tables_written_per_collection_are_clustered_and_survive_down_and_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "storage.db"
    url = f"sqlite:///{path}"
    await asyncio.to_thread(upgrade_to_head, url)
    schema_at_head = _schema(path)
    assert all(_without_rowid(schema_at_head, table) for table in CLUSTERED)
    assert not _without_rowid(schema_at_head, "collections")

    app = create_app(make_settings(url, tmp_path / "data"))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        auth = await register(client)
        ids = []
        for index in range(3):
            genres = ["Drama,Comedy", "Drama", "Western"]
            body = {
                "title": f"c{index}",
                "movies": [movie(10 * index + n, genres=g) for n, g in enumerate(genres)],
            }
            created = await client.post("/collection/", json=body, headers=auth)
            ids.append(created.json()["collection_uuid"])
        rows_at_head = _rows(path)
        assert all(rows_at_head.values())

        config = alembic_config(url)
        await asyncio.to_thread(command.downgrade, config, "0007")
        schema_at_0007, rows_at_0007 = _schema(path), _rows(path)
        await asyncio.to_thread(command.downgrade, config, "0006")
        schema_down = _schema(path)
        assert not any(_without_rowid(schema_down, table) for table in CLUSTERED)
        # The same columns, keys, indexes and triggers: only the storage clause differs, and
        # with a rowid each key is a b-tree of its own (the one a clustered table saves).
        key_indexes = {f"sqlite_autoindex_{table}_1" for table in CLUSTERED}
        assert set(schema_down) == set(schema_at_0007) | key_indexes
        assert not key_indexes & set(schema_at_0007)
        for name, statement in schema_at_0007.items():
            assert statement.removesuffix(" WITHOUT ROWID") == schema_down[name]
        assert _rows(path) == rows_at_0007

        await asyncio.to_thread(upgrade_to_head, url)
        assert _schema(path) == schema_at_head
        # 0008 writes every collection's title key: the triggers raise the list's version.
        rows_up = _rows(path)
        assert rows_up.pop("user_list_versions") > rows_at_head.pop("user_list_versions")
        assert rows_up == rows_at_head

        # The triggers kept after the rebuilds still count: a PUT and a DELETE stay exact.
        replaced = {"movies": [movie(100, genres="Horror"), movie(101, genres="Drama")]}
        answer = await client.put(f"/collection/{ids[0]}/", json=replaced, headers=auth)
        assert answer.status_code == 200
        assert (await client.delete(f"/collection/{ids[1]}/", headers=auth)).status_code == 204
        kept, recount = await counts(app)
        assert kept == recount
        listed = (await client.get("/collection/", headers=auth)).json()["data"]
        assert listed["favourite_genres"] == "Drama,Comedy,Horror"
