"""Notes on the movies of a collection and their order (issue 21, point 2): notes through
create, PUT and append, and PATCH of one movie's note and/or position with If-Match."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import movie, register
from tests.test_collections import create


def _noted(index: int, note: str, genres: str = "Drama") -> dict[str, Any]:
    return {**movie(index, genres), "note": note}


async def _detail(client: httpx.AsyncClient, auth: dict[str, str], cid: str) -> httpx.Response:
    response = await client.get(f"/collection/{cid}/", headers=auth)
    assert response.status_code == 200
    return response


async def test_notes_are_kept_on_create_put_and_append_and_shown_only_when_set(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    cid = await create(client, auth, movies=[_noted(1, "Director's cut"), movie(2)])
    movies = (await _detail(client, auth, cid)).json()["movies"]
    # A movie without a note answers exactly as before notes existed.
    assert movies == [_noted(1, "Director's cut"), movie(2)]

    put = await client.put(
        f"/collection/{cid}/",
        json={"movies": [movie(2), _noted(3, "First"), {**movie(4), "note": ""}]},
        headers=auth,
    )
    assert put.status_code == 200
    assert put.json()["movies"] == [movie(2), _noted(3, "First"), movie(4)]
    assert (await _detail(client, auth, cid)).json()["movies"] == put.json()["movies"]

    appended = await client.post(
        f"/collection/{cid}/movies/", json={"movies": [_noted(5, "Later")]}, headers=auth
    )
    assert appended.json()["movies"][-1] == _noted(5, "Later")


@pytest.mark.parametrize(
    "bad_note", ["x" * 1001, "nul\x00", 5], ids=["too-long", "nul", "not-text"]
)
async def test_invalid_notes_are_422(
    client: httpx.AsyncClient, auth: dict[str, str], bad_note: object
) -> None:
    body = {"title": "t", "movies": [{**movie(1), "note": bad_note}]}
    assert (await client.post("/collection/", json=body, headers=auth)).status_code == 422
    cid = await create(client, auth, movies=[movie(1)])
    patch = await client.patch(
        f"/collection/{cid}/movies/{movie(1)['uuid']}/", json={"note": bad_note}, headers=auth
    )
    assert patch.status_code == 422
    assert (
        await client.post(
            "/collection/",
            json={"title": "t", "movies": [{**movie(1), "note": "x" * 1000}]},
            headers=auth,
        )
    ).status_code == 201


async def _patch(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    cid: str,
    index: int,
    body: dict[str, Any],
    **headers: str,
) -> httpx.Response:
    return await client.patch(
        f"/collection/{cid}/movies/{movie(index)['uuid']}/", json=body, headers={**auth, **headers}
    )


async def test_patch_sets_and_removes_a_note_and_answers_the_detail_with_its_etag(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    cid = await create(client, auth, movies=[movie(1), movie(2)])
    before = await _detail(client, auth, cid)
    response = await _patch(
        client, auth, cid, 2, {"note": "Watch first"}, **{"If-Match": before.headers["ETag"]}
    )
    assert response.status_code == 200
    assert response.json()["movies"] == [movie(1), _noted(2, "Watch first")]
    assert response.headers["ETag"] != before.headers["ETag"]
    after = await _detail(client, auth, cid)
    assert after.json() == response.json()
    assert after.headers["ETag"] == response.headers["ETag"]

    # The old ETag is stale now: 412 with the current one, nothing changed.
    stale = await _patch(
        client, auth, cid, 2, {"note": None}, **{"If-Match": before.headers["ETag"]}
    )
    assert stale.status_code == 412
    assert stale.headers["ETag"] == after.headers["ETag"]
    # Only the position given: the note stays; null removes it.
    moved = await _patch(client, auth, cid, 2, {"position": 0})
    assert moved.json()["movies"] == [_noted(2, "Watch first"), movie(1)]
    cleared = await _patch(client, auth, cid, 2, {"note": None})
    assert cleared.json()["movies"] == [movie(2), movie(1)]


async def test_moving_a_movie_shifts_the_others_and_leaves_genres(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    genres = ["Drama", "Comedy", "Comedy", "Western", "Horror"]
    movies = [_noted(i, f"n{i}", genres[i]) for i in range(5)]
    cid = await create(client, auth, movies=movies)
    await create(client, auth, title="Other", movies=[movie(9, "Western")])
    favourites = (await client.get("/collection/", headers=auth)).json()["data"]["favourite_genres"]
    order = list(range(5))
    for index, position in [(0, 4), (3, 1), (4, 0), (2, 2), (1, 3), (0, 0)]:
        response = await _patch(client, auth, cid, index, {"position": position})
        assert response.status_code == 200, response.text
        order.remove(index)
        order.insert(position, index)
        assert response.json()["movies"] == [movies[i] for i in order]
    assert (await _detail(client, auth, cid)).json()["movies"] == [movies[i] for i in order]
    listed = (await client.get("/collection/", headers=auth)).json()["data"]
    assert listed["favourite_genres"] == favourites == "Comedy,Western,Drama"
    # Positions stay 0..n-1: removing and appending still work in the new order.
    removed = await client.delete(
        f"/collection/{cid}/movies/{movie(order[0])['uuid']}/", headers=auth
    )
    assert removed.status_code == 204
    appended = await client.post(
        f"/collection/{cid}/movies/", json={"movies": [movie(7)]}, headers=auth
    )
    assert [m["uuid"] for m in appended.json()["movies"]] == [
        movie(i)["uuid"] for i in [*order[1:], 7]
    ]


async def test_patch_errors(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    cid = await create(client, auth, movies=[movie(1), movie(2)])
    assert (await _patch(client, auth, cid, 1, {"position": 2})).status_code == 422
    negative = await _patch(client, auth, cid, 1, {"position": -1})
    assert negative.status_code == 422
    # One error, at the field: not one per branch of `int | None` ("Input should be None").
    assert [(e["field"], e["type"]) for e in negative.json()["errors"]] == [
        ("body.position", "greater_than_equal")
    ]
    assert (await _patch(client, auth, cid, 1, {"position": None})).status_code == 422
    for not_an_integer in (True, "1", 1.0):  # JSON integers only
        moved = await _patch(client, auth, cid, 1, {"position": not_an_integer})
        assert moved.status_code == 422, not_an_integer
    assert (await _patch(client, auth, cid, 1, {})).status_code == 422
    assert (await _patch(client, auth, cid, 3, {"note": "x"})).status_code == 404
    not_uuid = await client.patch(
        f"/collection/{cid}/movies/nope/", json={"note": "x"}, headers=auth
    )
    assert not_uuid.status_code == 404
    other = await register(client)
    assert (await _patch(client, other, cid, 1, {"note": "mine"})).status_code == 404
    assert (
        await client.patch(f"/collection/{cid}/movies/{movie(1)['uuid']}/", json={"note": "x"})
    ).status_code == 401
    assert (await _detail(client, auth, cid)).json()["movies"] == [movie(1), movie(2)]


async def test_concurrent_moves_keep_every_movie_once(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Each move locks the collection: positions stay 0..n-1 with every movie once."""
    movies = [movie(i) for i in range(6)]
    cid = await create(client, auth, movies=movies)
    moves = [(i % 6, (5 * i + 3) % 6) for i in range(12)]
    answers = await asyncio.gather(
        *(
            _patch(client, auth, cid, index, {"position": p, "note": f"n{index}"})
            for index, p in moves
        )
    )
    assert [a.status_code for a in answers] == [200] * len(moves)
    final = (await _detail(client, auth, cid)).json()["movies"]
    assert sorted(m["uuid"] for m in final) == sorted(m["uuid"] for m in movies)
    assert len({a.headers["ETag"] for a in answers}) == len(moves)  # one version each
