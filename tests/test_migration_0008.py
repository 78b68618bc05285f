"""Migration 0008 (issue 21) on a database filled at the previous head (0007), on SQLite and
PostgreSQL: the stored collections and movies are kept, every title gets its casefolded key
(sorting and searching work at once), movies have no note, and nothing is shared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from movie_collections.app import create_app
from movie_collections.auth.passwords import PasswordHashing
from movie_collections.core.database import Database
from movie_collections.core.migrate import alembic_config, upgrade_to_head
from tests.conftest import PASSWORD, make_settings, movie
from tests.services import (
    create_postgres_database,
    drop_postgres_database,
    postgres_reachable,
    skip_or_fail,
)

TITLES = ["Zulu", "äpfel", "Alpha", "STRASSE", "beta"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, with no schema yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'previous.db'}"
        return
    if not postgres_reachable():
        skip_or_fail("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = create_postgres_database("mc_migration")
    try:
        yield url
    finally:
        drop_postgres_database(url)


async def _fill_at_0007(
    database: Database, owner: uuid.UUID, password_hash: str
) -> list[uuid.UUID]:
    """The rows the previous release wrote, in plain SQL (the models are the new ones)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [uuid.uuid4() for _ in TITLES]
    async with database.transaction(write=True) as connection:
        await connection.execute(
            text(
                "INSERT INTO users (id, username, username_key, password_hash, created_at) "
                "VALUES (:id, 'old_user', 'old_user', :hash, :now)"
            ),
            {"id": owner, "hash": password_hash, "now": start},
        )
        for index, (collection_id, title) in enumerate(zip(ids, TITLES, strict=True)):
            created = start + timedelta(minutes=index)
            await connection.execute(
                text(
                    "INSERT INTO collections (id, owner_id, title, description, created_at, "
                    "updated_at, version) VALUES (:id, :owner, :title, 'old', :at, :at, 1)"
                ),
                {"id": collection_id, "owner": owner, "title": title, "at": created},
            )
            await connection.execute(
                text(
                    "INSERT INTO collection_genres (collection_id, genre, owner_id, occurrences) "
                    "VALUES (:cid, 'Drama', :owner, 2)"
                ),
                {"cid": collection_id, "owner": owner},
            )
            for position in range(2):
                data = movie(10 * index + position)
                await connection.execute(
                    text(
                        "INSERT INTO collection_movies (collection_id, position, movie_uuid, "
                        "title, description, genres) VALUES (:cid, :position, :uuid, :title, "
                        ":description, :genres)"
                    ),
                    {
                        "cid": collection_id,
                        "position": position,
                        "uuid": uuid.UUID(data["uuid"]),
                        "title": data["title"],
                        "description": data["description"],
                        "genres": data["genres"],
                    },
                )
    return ids


async def test_a_populated_database_upgrades_in_place(empty_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(empty_url), "0007")
    settings = make_settings(empty_url, tmp_path / "data")
    owner = uuid.uuid4()
    database = Database(settings)
    try:
        password_hash = await PasswordHashing(settings).hash(PASSWORD)
        ids = await _fill_at_0007(database, owner, password_hash)
    finally:
        await database.close()

    await asyncio.to_thread(upgrade_to_head, empty_url)

    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        login = await client.post("/login/", json={"username": "old_user", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        plain = (await client.get("/collection/", headers=auth)).json()["data"]
        assert [c["uuid"] for c in plain["collections"]] == [str(i) for i in ids[::-1]]
        assert plain["favourite_genres"] == "Drama"
        by_title = (await client.get("/collection/?sort=title", headers=auth)).json()["data"]
        assert [c["title"] for c in by_title["collections"]] == [
            "Alpha",
            "beta",
            "STRASSE",
            "Zulu",
            "äpfel",
        ]
        found = (await client.get("/collection/?q=straße", headers=auth)).json()["data"]
        assert [c["title"] for c in found["collections"]] == ["STRASSE"]
        detail = await client.get(f"/collection/{ids[0]}/", headers=auth)
        assert detail.json()["movies"] == [movie(0), movie(1)]  # no notes
        assert detail.headers["ETag"] == f'"{ids[0].hex}-1"'
        assert (await client.get(f"/collection/{ids[0]}/share/", headers=auth)).status_code == 404
        # The new writes work on the old rows.
        noted = await client.patch(
            f"/collection/{ids[0]}/movies/{movie(1)['uuid']}/",
            json={"note": "kept", "position": 0},
            headers=auth,
        )
        assert noted.json()["movies"] == [{**movie(1), "note": "kept"}, movie(0)]
        assert (await client.post(f"/collection/{ids[0]}/share/", headers=auth)).status_code == 201
