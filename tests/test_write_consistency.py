"""Writes that must be consistent are, on both databases, under concurrency."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from movie_collections.auth.repository import users
from movie_collections.collection import repository
from movie_collections.collection.schemas import Movie
from movie_collections.core.database import Database, UniqueViolation
from movie_collections.core.settings import Settings
from tests.conftest import PASSWORD, movie, stored_rows


async def test_concurrent_puts_leave_exactly_one_submitted_version(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = await client.post(
        "/collection/", json={"title": "start", "movies": [movie(0)]}, headers=auth
    )
    collection_id = created.json()["collection_uuid"]
    versions = {
        f"writer {writer}": [movie(writer * 100 + i, f"Genre{writer}") for i in range(20)]
        for writer in range(8)
    }
    answers = await asyncio.gather(
        *(
            client.put(
                f"/collection/{collection_id}/",
                json={"title": title, "movies": movies},
                headers=auth,
            )
            for title, movies in versions.items()
        )
    )
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    final = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert final["movies"] == versions[final["title"]]
    # The genre rows follow the same single version.
    overview = (await client.get("/collection/", headers=auth)).json()
    winner = final["title"].split()[-1]
    assert overview["data"]["favourite_genres"] == f"Genre{winner}"


async def test_concurrent_registrations_of_one_name(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(
        *(
            client.post("/register/", json={"username": name, "password": PASSWORD})
            for name in ["Same", "same", "SAME", "same", "sAme", "same", "saMe", "samE"]
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 7


async def test_create_is_all_or_nothing(settings: Settings, client: httpx.AsyncClient) -> None:
    """A failure half-way through the inserts (here: a duplicate movie that slipped past
    validation hits the unique constraint) leaves no collection, movie or genre behind."""
    owner = await client.post("/register/", json={"username": "atomic", "password": PASSWORD})
    assert owner.status_code == 201
    [[(owner_id,)]] = await stored_rows(settings, select(users.c.id))
    duplicate = Movie.model_construct(
        title="Twice", description="", genres="Drama", uuid=uuid.UUID(int=7)
    )
    database = Database(settings)
    try:
        with pytest.raises(UniqueViolation):
            async with database.transaction(write=True) as connection:
                await repository.insert_collection(
                    connection, owner_id, {"title": "half", "description": ""}, [duplicate] * 2
                )
    finally:
        await database.close()
    tables = (repository.collections, repository.collection_movies, repository.collection_genres)
    counts = await stored_rows(
        settings, *(select(func.count()).select_from(table) for table in tables)
    )
    assert counts == [[(0,)]] * len(tables)
