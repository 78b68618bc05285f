"""The collection CRUD of the spec, favourite genres, ownership and limits."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import movie, register


async def create(client: httpx.AsyncClient, auth: dict[str, str], **fields: object) -> str:
    payload = {"title": "Favourites", "description": "Mine", "movies": [], **fields}
    response = await client.post("/collection/", json=payload, headers=auth)
    assert response.status_code == 201, response.text
    return str(response.json()["collection_uuid"])


async def test_create_then_get_returns_movies_in_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    movies = [movie(3), movie(1), movie(2)]
    collection_id = await create(client, auth, movies=movies)
    uuid.UUID(collection_id)
    response = await client.get(f"/collection/{collection_id}/", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Favourites"
    assert body["description"] == "Mine"
    assert body["movies"] == movies


async def test_list_shape_newest_first_without_movies(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first = await create(client, auth, title="First", movies=[movie(1)])
    second = await create(client, auth, title="Second")
    response = await client.get("/collection/", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["is_success"] is True
    assert body["data"]["collections"] == [
        {"title": "Second", "uuid": second, "description": "Mine"},
        {"title": "First", "uuid": first, "description": "Mine"},
    ]
    assert body["data"]["favourite_genres"] == "Drama"


async def test_empty_list(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = (await client.get("/collection/", headers=auth)).json()
    assert body == {"is_success": True, "data": {"collections": [], "favourite_genres": ""}}


async def test_favourite_genres_counts_across_collections(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await create(
        client,
        auth,
        movies=[
            movie(1, "Comedy, Drama"),
            movie(2, " Drama ,Action"),
            movie(3, "Horror"),
            movie(4, ""),
        ],
    )
    # The same movie in a second collection counts twice; empty pieces are skipped.
    await create(client, auth, movies=[movie(1, "Comedy,,Drama"), movie(5, "Action")])
    body = (await client.get("/collection/", headers=auth)).json()
    # Drama 3, Action 2, Comedy 2 (tie broken by name), Horror 1.
    assert body["data"]["favourite_genres"] == "Drama,Action,Comedy"


async def test_favourite_genres_fewer_than_three(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await create(client, auth, movies=[movie(1, "Western"), movie(2, "")])
    body = (await client.get("/collection/", headers=auth)).json()
    assert body["data"]["favourite_genres"] == "Western"


async def test_a_genre_repeated_in_one_movie_counts_once(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await create(client, auth, movies=[movie(1, "Drama,Drama,Drama"), movie(2, "Action")])
    await create(client, auth, movies=[movie(3, "Action")])
    body = (await client.get("/collection/", headers=auth)).json()
    assert body["data"]["favourite_genres"] == "Action,Drama"


async def test_put_changes_only_given_fields(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth, movies=[movie(1), movie(2)])
    response = await client.put(
        f"/collection/{collection_id}/", json={"title": "Renamed"}, headers=auth
    )
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Renamed"
    assert body["description"] == "Mine"
    assert body["movies"] == [movie(1), movie(2)]

    response = await client.put(
        f"/collection/{collection_id}/",
        json={"movies": [movie(7, "Sci-Fi"), movie(1)]},
        headers=auth,
    )
    assert response.json()["movies"] == [movie(7, "Sci-Fi"), movie(1)]
    assert response.json()["title"] == "Renamed"
    fetched = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert fetched == response.json()
    overview = (await client.get("/collection/", headers=auth)).json()
    assert overview["data"]["favourite_genres"] == "Drama,Sci-Fi"


async def test_put_empty_movie_list_clears_movies_and_genres(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth, movies=[movie(1, "Drama")])
    response = await client.put(f"/collection/{collection_id}/", json={"movies": []}, headers=auth)
    assert response.json()["movies"] == []
    overview = (await client.get("/collection/", headers=auth)).json()
    assert overview["data"]["favourite_genres"] == ""


async def test_put_null_title_is_rejected(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    collection_id = await create(client, auth)
    response = await client.put(f"/collection/{collection_id}/", json={"title": None}, headers=auth)
    assert response.status_code == 422


async def test_delete(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    collection_id = await create(client, auth, movies=[movie(1, "Drama")])
    response = await client.delete(f"/collection/{collection_id}/", headers=auth)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/collection/{collection_id}/", headers=auth)).status_code == 404
    assert (await client.delete(f"/collection/{collection_id}/", headers=auth)).status_code == 404
    overview = (await client.get("/collection/", headers=auth)).json()
    assert overview["data"] == {"collections": [], "favourite_genres": ""}


async def test_other_users_collections_are_invisible(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth, movies=[movie(1, "Drama")])
    intruder = await register(client)
    unknown = str(uuid.uuid4())
    for target in (collection_id, unknown, "not-a-uuid"):
        path = f"/collection/{target}/"
        answers = [
            await client.get(path, headers=intruder),
            await client.put(path, json={"title": "Mine now"}, headers=intruder),
            await client.delete(path, headers=intruder),
        ]
        for answer in answers:
            assert answer.status_code == 404, (target, answer.text)
            assert answer.json()["detail"] == "Collection not found."
    overview = (await client.get("/collection/", headers=intruder)).json()
    assert overview["data"] == {"collections": [], "favourite_genres": ""}
    owner_view = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert owner_view["title"] == "Favourites"


async def test_a_put_of_movies_answers_what_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A PUT that replaces the movies answers from what it wrote (on SQLite, without reading
    the rows back): its bytes and ETag must be those of a read right after."""
    collection_id = await create(client, auth, movies=[movie(1), movie(2)])
    path = f"/collection/{collection_id}/"
    tricky = ['tab\t"quotes" \\ </script>', "Ünïcode “quotes” 🎬 \u2028", "\x7f\x01"]
    replacement = [
        {**movie(10 + index), "title": text, "description": text[::-1], "genres": f" {text}, ,x"}
        for index, text in enumerate(tricky)
    ] + [{"title": "Nulls", "description": None, "genres": None, "uuid": str(uuid.UUID(int=5))}]
    for payload in ({"movies": replacement}, {"title": "Both “x”", "movies": [movie(3)]}):
        put = await client.put(path, json=payload, headers=auth)
        assert put.status_code == 200, put.text
        got = await client.get(path, headers=auth)
        assert put.content == got.content
        assert put.headers["etag"] == got.headers["etag"]
    assert got.json()["title"] == "Both “x”"


async def test_puts_that_reorder_shrink_and_grow_the_list_store_exactly_that(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """On SQLite a PUT rewrites rows in place where it can: a movie moving to another
    position, a shorter or a longer list, must all end as the list sent."""
    collection_id = await create(client, auth, movies=[movie(i) for i in range(1, 6)])
    path = f"/collection/{collection_id}/"
    for numbers in ([5, 1, 2], [2, 6, 5, 7, 8, 9], [9, 8, 7, 6, 5, 2], [], [3], [3, 4]):
        sent = [movie(n, "Drama" if n % 2 else "Comedy, Drama") for n in numbers]
        put = await client.put(path, json={"movies": sent}, headers=auth)
        assert put.status_code == 200, put.text
        assert put.json()["movies"] == sent
        got = await client.get(path, headers=auth)
        assert got.content == put.content


async def test_a_put_of_movies_to_a_collection_not_owned_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The UPDATE that proves ownership (and If-Match) must stop the movie rewrite."""
    collection_id = await create(client, auth, movies=[movie(1, "Drama")])
    path = f"/collection/{collection_id}/"
    before = await client.get(path, headers=auth)
    intruder = await register(client)
    answer = await client.put(path, json={"movies": [movie(2, "Comedy")]}, headers=intruder)
    assert answer.status_code == 404
    tag, version = before.headers["etag"].strip('"').rsplit("-", 1)
    older = f'"{tag}-{int(version) - 1}"'
    stale = await client.put(path, json={"movies": [movie(3)]}, headers={**auth, "If-Match": older})
    assert stale.status_code == 412
    after = await client.get(path, headers=auth)
    assert after.content == before.content
    assert after.headers["etag"] == before.headers["etag"]
    overview = (await client.get("/collection/", headers=auth)).json()
    assert overview["data"]["favourite_genres"] == "Drama"


async def test_each_collection_keeps_its_own_copy_of_movie_data(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    other = await register(client)
    shared_uuid = movie(1)["uuid"]
    mine = await create(client, auth, movies=[movie(1, "Drama")])
    theirs = await create(
        client,
        other,
        movies=[{"title": "Hacked", "description": "x", "genres": "Spam", "uuid": shared_uuid}],
    )
    assert (await client.get(f"/collection/{mine}/", headers=auth)).json()["movies"] == [
        movie(1, "Drama")
    ]
    assert (await client.get(f"/collection/{theirs}/", headers=other)).json()["movies"][0][
        "title"
    ] == "Hacked"
    overview = (await client.get("/collection/", headers=auth)).json()
    assert overview["data"]["favourite_genres"] == "Drama"


@pytest.mark.parametrize(
    "payload",
    [
        {"description": "no title"},
        {"title": ""},
        {"title": "t" * 201},
        {"title": "ok", "description": "d" * 5001},
        {"title": "ok", "movies": [{**movie(1), "uuid": "not-a-uuid"}]},
        {"title": "ok", "movies": [{**movie(1), "title": "t" * 501}]},
        {"title": "ok", "movies": [{**movie(1), "description": "d" * 10_001}]},
        {"title": "ok", "movies": [{**movie(1), "genres": "g" * 501}]},
        {"title": "ok", "movies": [movie(1), movie(1)]},
        {"title": "ok", "movies": [movie(i) for i in range(1001)]},
        {"title": "ok", "movies": "not a list"},
        {"title": "ok", "movies": [{"title": "no uuid"}]},
    ],
)
async def test_create_limits(
    client: httpx.AsyncClient, auth: dict[str, str], payload: dict[str, object]
) -> None:
    response = await client.post("/collection/", json=payload, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    assert (await client.get("/collection/", headers=auth)).json()["data"]["collections"] == []


async def test_a_bad_optional_field_is_one_error_at_the_field(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """PUT's fields are `X | None` (omitted: unchanged): a bad value is X's error alone."""
    collection_id = await create(client, auth)
    for body, expected in (
        ({"title": ""}, ("body.title", "string_too_short")),
        ({"description": "d" * 5001}, ("body.description", "string_too_long")),
        ({"movies": "not a list"}, ("body.movies", "list_type")),
    ):
        response = await client.put(f"/collection/{collection_id}/", json=body, headers=auth)
        assert response.status_code == 422
        assert [(e["field"], e["type"]) for e in response.json()["errors"]] == [expected]


async def test_limits_at_the_boundary_are_accepted(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    movies = [movie(i) for i in range(1000)]
    # 500 characters of genres within the genre budgets: 20 genres, 19 of 24 characters, one of 25.
    genres = ",".join(f"{i:02d}" + "g" * (22 if i else 23) for i in range(20))
    assert len(genres) == 500
    movies[0] = {**movies[0], "title": "t" * 500, "description": "d" * 10_000, "genres": genres}
    collection_id = await create(
        client, auth, title="t" * 200, description="d" * 5000, movies=movies
    )
    body = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert len(body["movies"]) == 1000
    assert body["movies"][0] == movies[0]


async def test_movie_fields_missing_or_null_are_stored_empty(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    movies = [
        {"title": "Only title", "uuid": str(uuid.UUID(int=9))},
        {"title": "Nulls", "description": None, "genres": None, "uuid": str(uuid.UUID(int=10))},
    ]
    collection_id = await create(client, auth, movies=movies)
    body = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert [m["genres"] for m in body["movies"]] == ["", ""]
    assert [m["description"] for m in body["movies"]] == ["", ""]


async def test_put_validation_and_unknown(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    collection_id = await create(client, auth, movies=[movie(1)])
    bad = await client.put(
        f"/collection/{collection_id}/", json={"movies": [movie(2), movie(2)]}, headers=auth
    )
    assert bad.status_code == 422
    body = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert body["movies"] == [movie(1)]


async def test_text_is_stored_literally(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    title = "Robert'); DROP TABLE collections;-- 🎬 <script>alert(1)</script> ÆØÅ 漢字"
    collection_id = await create(client, auth, title=title, movies=[{**movie(1), "title": title}])
    body = (await client.get(f"/collection/{collection_id}/", headers=auth)).json()
    assert body["title"] == title
    assert body["movies"][0]["title"] == title
