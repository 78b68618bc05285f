"""Append movies to a collection and remove one, without resending the whole list."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from movie_collections.collection.repository import (
    collection_genres,
    collection_movies,
    split_genres,
)
from tests.conftest import make_settings, movie, register, stored_rows


async def create(
    client: httpx.AsyncClient, auth: dict[str, str], movies: list[dict[str, str]]
) -> str:
    response = await client.post(
        "/collection/", json={"title": "t", "movies": movies}, headers=auth
    )
    assert response.status_code == 201, response.text
    return str(response.json()["collection_uuid"])


async def positions(app: FastAPI, collection_id: str) -> list[int]:
    """Stored positions of the movies (they must stay dense); the collection's genre counts
    must be those of the movies stored."""
    cid = uuid.UUID(collection_id)
    movies, counts = await stored_rows(
        app,
        select(collection_movies.c.position, collection_movies.c.genres)
        .where(collection_movies.c.collection_id == cid)
        .order_by(collection_movies.c.position),
        select(collection_genres.c.genre, collection_genres.c.occurrences).where(
            collection_genres.c.collection_id == cid
        ),
    )
    recount = Counter(genre for _, genres in movies for genre in split_genres(genres))
    assert dict(counts) == dict(recount)
    return [position for position, _ in movies]


async def favourite_genres(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    body = (await client.get("/collection/", headers=auth)).json()
    return str(body["data"]["favourite_genres"])


async def test_append_adds_in_order_and_reports_those_already_there(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    collection_id = await create(client, auth, [movie(1), movie(2)])
    path = f"/collection/{collection_id}/movies/"
    response = await client.post(
        path, json={"movies": [movie(5), movie(2), movie(3), movie(1)]}, headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["movies"] == [movie(1), movie(2), movie(5), movie(3)]
    assert body["already_present"] == [movie(2)["uuid"], movie(1)["uuid"]]
    assert body["uuid"] == collection_id
    assert body["title"] == "t"
    stored = await client.get(f"/collection/{collection_id}/", headers=auth)
    assert stored.json()["movies"] == body["movies"]
    assert stored.headers["ETag"] == response.headers["ETag"]
    assert await positions(app, collection_id) == [0, 1, 2, 3]


async def test_append_of_movies_all_present_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth, [movie(1)])
    etag = (await client.get(f"/collection/{collection_id}/", headers=auth)).headers["ETag"]
    response = await client.post(
        f"/collection/{collection_id}/movies/", json={"movies": [movie(1)]}, headers=auth
    )
    assert response.status_code == 200
    assert response.json()["already_present"] == [movie(1)["uuid"]]
    assert response.headers["ETag"] == etag


async def test_append_updates_favourite_genres(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth, [movie(1, "Drama")])
    await client.post(
        f"/collection/{collection_id}/movies/",
        json={"movies": [movie(2, "Horror, Comedy"), movie(3, "Horror")]},
        headers=auth,
    )
    assert await favourite_genres(client, auth) == "Horror,Comedy,Drama"


async def test_append_respects_the_movie_limit(
    client: httpx.AsyncClient, auth: dict[str, str], tmp_path: object
) -> None:
    collection_id = await create(client, auth, [movie(i) for i in range(999)])
    path = f"/collection/{collection_id}/movies/"
    too_many = await client.post(path, json={"movies": [movie(2000), movie(2001)]}, headers=auth)
    assert too_many.status_code == 422
    assert "1000" in too_many.json()["detail"]
    # One already there plus one new fits exactly.
    fits = await client.post(path, json={"movies": [movie(1), movie(2000)]}, headers=auth)
    assert fits.status_code == 200
    assert len(fits.json()["movies"]) == 1000


async def test_the_limit_is_the_setting(tmp_path: object, database_url: str) -> None:
    from pathlib import Path

    from asgi_lifespan import LifespanManager

    from movie_collections.app import create_app

    assert isinstance(tmp_path, Path)
    application = create_app(
        make_settings(database_url, tmp_path / "data", max_movies_per_collection=2)
    )
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            auth = await register(client)
            created = await client.post(
                "/collection/",
                json={"title": "t", "movies": [movie(1), movie(2), movie(3)]},
                headers=auth,
            )
            assert created.status_code == 422
            collection_id = await create(client, auth, [movie(1), movie(2)])
            appended = await client.post(
                f"/collection/{collection_id}/movies/", json={"movies": [movie(3)]}, headers=auth
            )
            assert appended.status_code == 422
            assert appended.json()["limit"] == "max_movies_per_collection"
            put = await client.put(
                f"/collection/{collection_id}/",
                json={"movies": [movie(1), movie(2), movie(3)]},
                headers=auth,
            )
            assert put.status_code == 422


async def test_append_rejects_bad_bodies(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    collection_id = await create(client, auth, [])
    path = f"/collection/{collection_id}/movies/"
    for body in (
        {"movies": []},
        {"movies": [movie(1), movie(1)]},
        {},
        {"movies": [{"title": "x"}]},
    ):
        assert (await client.post(path, json=body, headers=auth)).status_code == 422, body


async def test_remove_one_movie_keeps_order_positions_and_genres(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    movies = [movie(1, "Drama"), movie(2, "Horror,Drama"), movie(3, "Horror"), movie(4, "Comedy")]
    collection_id = await create(client, auth, movies)
    before = (await client.get(f"/collection/{collection_id}/", headers=auth)).headers["ETag"]
    assert await favourite_genres(client, auth) == "Drama,Horror,Comedy"
    response = await client.delete(
        f"/collection/{collection_id}/movies/{movie(2)['uuid']}/", headers=auth
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["ETag"] != before
    stored = await client.get(f"/collection/{collection_id}/", headers=auth)
    assert stored.json()["movies"] == [movies[0], movies[2], movies[3]]
    assert stored.headers["ETag"] == response.headers["ETag"]
    assert await positions(app, collection_id) == [0, 1, 2]
    # Drama 1, Horror 1, Comedy 1: ties by name.
    assert await favourite_genres(client, auth) == "Comedy,Drama,Horror"
    # Removing the first and the last, then appending, keeps everything dense.
    for index in (1, 4):
        gone = await client.delete(
            f"/collection/{collection_id}/movies/{movie(index)['uuid']}/", headers=auth
        )
        assert gone.status_code == 204
    await client.post(
        f"/collection/{collection_id}/movies/", json={"movies": [movie(2, "Western")]}, headers=auth
    )
    final = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert final["movies"] == [movies[2], movie(2, "Western")]
    assert await positions(app, collection_id) == [0, 1]
    assert await favourite_genres(client, auth) == "Horror,Western"


async def test_remove_answers_404_for_unknown_movie_collection_or_owner(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth, [movie(1)])
    intruder = await register(client)
    movie_id = movie(1)["uuid"]
    cases = [
        (f"/collection/{collection_id}/movies/{uuid.uuid4()}/", auth),
        (f"/collection/{collection_id}/movies/not-a-uuid/", auth),
        (f"/collection/{uuid.uuid4()}/movies/{movie_id}/", auth),
        (f"/collection/{collection_id}/movies/{movie_id}/", intruder),
    ]
    for path, headers in cases:
        response = await client.delete(path, headers=headers)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
    appended = await client.post(
        f"/collection/{collection_id}/movies/", json={"movies": [movie(2)]}, headers=intruder
    )
    assert appended.status_code == 404
    stored = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert stored["movies"] == [movie(1)]


@pytest.mark.parametrize("method", ["append", "remove"])
async def test_movie_edits_honour_if_match(
    client: httpx.AsyncClient, auth: dict[str, str], method: str
) -> None:
    collection_id = await create(client, auth, [movie(1), movie(2)])
    stale = (await client.get(f"/collection/{collection_id}/", headers=auth)).headers["ETag"]
    current = (
        await client.put(f"/collection/{collection_id}/", json={"title": "x"}, headers=auth)
    ).headers["ETag"]

    async def edit(etag: str) -> httpx.Response:
        headers = {**auth, "If-Match": etag}
        if method == "append":
            return await client.post(
                f"/collection/{collection_id}/movies/", json={"movies": [movie(3)]}, headers=headers
            )
        return await client.delete(
            f"/collection/{collection_id}/movies/{movie(1)['uuid']}/", headers=headers
        )

    refused = await edit(stale)
    assert refused.status_code == 412
    assert refused.headers["ETag"] == current
    assert (
        len((await client.get(f"/collection/{collection_id}/", headers=auth)).json()["movies"]) == 2
    )
    accepted = await edit(current)
    assert accepted.status_code in (200, 204)
