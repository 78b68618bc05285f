"""Favourite genres come from counts the database keeps on write (migration 0004); they must
equal a recount of the movies' genres after every kind of write, concurrent ones included."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, text, update

from movie_collections.collection import repository
from movie_collections.collection.repository import (
    collection_genres,
    collection_movies,
    collections,
    split_genres,
    user_genres,
)
from movie_collections.core.migrate import alembic_config, upgrade_to_head
from tests.conftest import movie, register, stored_rows

GENRES = ["Drama", "Comedy", "Horror", "Sci-Fi", "Western", "Film-Noir"]


async def counts(
    app: FastAPI,
) -> tuple[dict[uuid.UUID, Counter[str]], dict[uuid.UUID, Counter[str]]]:
    """(kept counts summed over slots, a recount of the stored movies' genres), per owner.

    The per-collection counts (`collection_genres`, migration 0006) must equal a recount of
    each collection's movies too: they are what the kept counts are summed from."""
    kept_rows, movie_rows, collection_rows = await stored_rows(
        app,
        select(user_genres.c.owner_id, user_genres.c.genre, user_genres.c.occurrences),
        select(
            collections.c.owner_id, collection_movies.c.collection_id, collection_movies.c.genres
        )
        .select_from(collection_movies)
        .join(collections, collections.c.id == collection_movies.c.collection_id),
        select(
            collection_genres.c.collection_id,
            collection_genres.c.owner_id,
            collection_genres.c.genre,
            collection_genres.c.occurrences,
        ),
    )
    kept: dict[uuid.UUID, Counter[str]] = {}
    for owner, genre, occurrences in kept_rows:
        kept.setdefault(owner, Counter())[genre] += occurrences
    recount: dict[uuid.UUID, Counter[str]] = {}
    per_collection: Counter[tuple[uuid.UUID, uuid.UUID, str]] = Counter()
    for owner, collection_id, genres in movie_rows:
        for genre in split_genres(genres):
            recount.setdefault(owner, Counter())[genre] += 1
            per_collection[collection_id, owner, genre] += 1
    stored = {(c, o, genre): n for c, o, genre, n in collection_rows}
    assert stored == dict(per_collection)
    # Counts that went back to zero stay as rows; they mean the same as no row.
    return {o: +c for o, c in kept.items() if +c}, recount


def top_three(genres: Counter[str]) -> str:
    ranked = sorted(genres.items(), key=lambda item: (-item[1], item[0].encode()))
    return ",".join(genre for genre, _ in ranked[:3])


async def assert_exact(
    app: FastAPI, client: httpx.AsyncClient, users: list[dict[str, str]]
) -> None:
    kept, recount = await counts(app)
    assert kept == recount
    for auth in users:
        listed = (await client.get("/collection/", headers=auth)).json()["data"]
        me = (await client.get("/me/", headers=auth)).json()
        expected = top_three(recount.get(uuid.UUID(me["user_id"]), Counter()))
        assert listed["favourite_genres"] == expected


def movies(first: int, *genre_lists: str) -> list[dict[str, str]]:
    return [movie(first + index, genres=genres) for index, genres in enumerate(genre_lists)]


async def test_counts_equal_a_recount_after_every_kind_of_write(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    maya, ravi = await register(client), await register(client)
    users = [maya, ravi]
    created = await client.post(
        "/collection/",
        json={"title": "a", "movies": movies(1, "Drama, Comedy", "Drama", "Horror,Drama")},
        headers=maya,
    )
    first = created.json()["collection_uuid"]
    await assert_exact(app, client, users)
    second = (
        await client.post(
            "/collection/",
            json={"title": "b", "movies": movies(10, "Comedy", "Comedy,Sci-Fi")},
            headers={**maya, "Idempotency-Key": "second"},
        )
    ).json()["collection_uuid"]
    await client.post(
        "/collection/", json={"title": "r", "movies": movies(20, "Western")}, headers=ravi
    )
    await assert_exact(app, client, users)
    steps = [
        ("PUT", f"/collection/{first}/", {"movies": movies(30, "Sci-Fi", "Sci-Fi,Horror")}),
        ("PUT", f"/collection/{first}/", {"title": "renamed only"}),
        # Counts that change (Sci-Fi 2 -> 1), go (Horror), come (Drama, Western), stay.
        (
            "PUT",
            f"/collection/{first}/",
            {"movies": movies(50, "Drama", "Drama,Sci-Fi", "Western")},
        ),
        ("PUT", f"/collection/{first}/", {"movies": movies(60, "Western, Drama", "Drama")}),
        ("PUT", f"/collection/{first}/", {"movies": []}),
        ("PUT", f"/collection/{first}/", {"movies": movies(70, "Comedy", "Comedy, Comedy")}),
        ("POST", f"/collection/{second}/movies/", {"movies": movies(40, "Horror", "Film-Noir")}),
        ("DELETE", f"/collection/{second}/movies/{movie(10)['uuid']}/", None),
        ("DELETE", f"/collection/{first}/", None),
    ]
    for method, path, body in steps:
        response = await client.request(method, path, json=body, headers=maya)
        assert response.status_code < 300, (method, path, response.text)
        await assert_exact(app, client, users)
    assert (await client.delete("/me/", headers=ravi)).status_code == 204
    kept, recount = await counts(app)
    assert kept == recount
    assert len(kept) == 1
    await assert_exact(app, client, [maya])


async def test_concurrent_writes_of_one_user_keep_counts_exact(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """On PostgreSQL writers of one user share count rows; none may deadlock or lose one."""
    auth = await register(client)
    rng = random.Random(7)

    def some_movies(first: int) -> list[dict[str, str]]:
        return [
            movie(first + i, genres=",".join(rng.sample(GENRES, rng.randint(1, 3))))
            for i in range(rng.randint(1, 6))
        ]

    collections = [
        (
            await client.post(
                "/collection/", json={"title": f"c{i}", "movies": some_movies(0)}, headers=auth
            )
        ).json()["collection_uuid"]
        for i in range(6)
    ]
    requests = []
    for index in range(48):
        if index % 3 == 0:
            requests.append(
                client.post(
                    "/collection/", json={"title": "n", "movies": some_movies(100)}, headers=auth
                )
            )
        elif index % 3 == 1:
            target = collections[index % len(collections)]
            requests.append(
                client.put(
                    f"/collection/{target}/", json={"movies": some_movies(200)}, headers=auth
                )
            )
        else:
            target = collections[index % len(collections)]
            requests.append(
                client.post(
                    f"/collection/{target}/movies/",
                    json={"movies": some_movies(300 + index)},
                    headers=auth,
                )
            )
    responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses if r.status_code >= 500] == []
    await assert_exact(app, client, [auth])


async def test_counts_follow_any_change_of_the_per_collection_rows(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The triggers keep the user's counts whatever a statement does to the rows of
    `collection_genres`, not only what the API does: change a count, rename a genre."""
    auth = await register(client)
    body = {"title": "t", "movies": movies(1, "Drama,Comedy", "Drama")}
    assert (await client.post("/collection/", json=body, headers=auth)).status_code == 201
    database = app.state.container.database
    table = repository.collection_genres
    for change in (
        update(table).where(table.c.genre == "Drama").values(occurrences=table.c.occurrences + 3),
        update(table).where(table.c.genre == "Comedy").values(genre="Western"),
        update(table).values(occurrences=table.c.occurrences + 1),
    ):
        async with database.transaction(write=True) as connection:
            await connection.execute(change)
        kept_rows, per_collection_rows = await stored_rows(
            app,
            *(
                select(counted.c.genre, func.sum(counted.c.occurrences)).group_by(counted.c.genre)
                for counted in (user_genres, table)
            ),
        )
        kept = {genre: n for genre, n in kept_rows if n}
        assert kept == dict(per_collection_rows)
    assert kept == {"Drama": 6, "Western": 2}


async def test_migration_counts_the_genres_already_stored(
    database_url: str, tmp_path: Path
) -> None:
    """Down to 0003 (no counts) and up again: the counts are rebuilt from the stored rows."""
    from alembic import command
    from asgi_lifespan import LifespanManager

    from movie_collections.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, tmp_path / "data"))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        auth = await register(client)
        for index in range(3):
            body = {"title": f"c{index}", "movies": movies(10 * index, "Drama,Comedy", "Drama")}
            await client.post("/collection/", json=body, headers=auth)
        before = (await client.get("/collection/", headers=auth)).json()["data"]["favourite_genres"]
        config = alembic_config(database_url)
        # 0005: one genre row per (movie, genre) again, rebuilt from the movies.
        await asyncio.to_thread(command.downgrade, config, "0005")
        # The table as it was then: not the model's columns, so in plain SQL.
        [rows] = await stored_rows(app, text("SELECT position, genre FROM collection_genres"))
        assert Counter(rows) == Counter({(0, "Drama"): 3, (0, "Comedy"): 3, (1, "Drama"): 3})
        await asyncio.to_thread(command.downgrade, config, "0003")
        await asyncio.to_thread(upgrade_to_head, database_url)
        kept, recount = await counts(app)
        assert kept == recount
        assert sum(recount[next(iter(recount))].values()) == 9
        after = (await client.get("/collection/", headers=auth)).json()["data"]["favourite_genres"]
        assert before == after == "Drama,Comedy"
