"""Answers kept per version (GET /collection/ and GET /collection/<uuid>/): never stale, never
another user's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from movie_collections.core.versioned_cache import VersionedCache
from tests.conftest import make_settings, movie, register


def test_bounded_by_bytes_least_recently_used_out_first() -> None:
    answers: VersionedCache[uuid.UUID] = VersionedCache(max_bytes=10)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    answers.put(first, 1, b"aaaa")
    answers.put(second, 1, b"bbbb")
    assert answers.get(first, 1) == b"aaaa"  # first is now the most recently used
    answers.put(third, 1, b"cccc")
    assert answers.get(second, 1) is None
    assert answers.get(first, 1) == b"aaaa"
    assert answers.get(first, 2) is None  # another version is never answered
    answers.put(first, 3, b"new")
    answers.put(first, 2, b"older")  # a slow request that read an older version
    assert answers.get(first, 3) == b"new"
    answers.put(third, 1, b"x" * 11)  # larger than the whole budget: not kept
    assert answers.get(third, 1) == b"cccc"


def test_the_text_of_keys_counts_against_the_bytes() -> None:
    """Pages are kept per URL, which the client may pad: the padding is paid for."""
    answers: VersionedCache[tuple[uuid.UUID, str]] = VersionedCache(max_bytes=10_000)
    owner = uuid.uuid4()
    keys = [(owner, f"/collection/?limit=5&pad={'x' * 1000}&n={n}") for n in range(30)]
    for key in keys:
        answers.put(key, 1, b"{}")
    assert answers.get(keys[0], 1) is None  # 30 URLs of 1 kB do not fit in 10 kB
    assert answers.get(keys[-1], 1) == b"{}"
    answers.put((owner, "/collection/?" + "x" * 10_000), 1, b"{}")  # alone past the budget
    assert answers.get((owner, "/collection/?" + "x" * 10_000), 1) is None


@pytest.fixture
async def two_hosts(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two apps on one database, each with its own kept answers, like two processes."""
    apps = [create_app(make_settings(database_url, tmp_path / f"data-{name}")) for name in "ab"]
    async with LifespanManager(apps[0]), LifespanManager(apps[1]):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
            for app in apps
        ]
        async with clients[0], clients[1]:
            yield clients[0], clients[1]


async def listed(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, object]:
    response = await client.get("/collection/", headers=auth)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


async def create_one(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    created = await client.post(
        "/collection/", json={"title": "one", "movies": [movie(1, "Drama")]}, headers=auth
    )
    assert created.status_code == 201, created.text
    return str(created.json()["collection_uuid"])


async def test_a_write_anywhere_is_seen_by_the_next_read_everywhere(
    two_hosts: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    reader, writer = two_hosts
    auth = await register(writer)
    collection = await create_one(writer, auth)
    steps = [
        ("PUT", f"/collection/{collection}/", {"title": "renamed"}),
        ("PUT", f"/collection/{collection}/", {"description": "described"}),
        ("PUT", f"/collection/{collection}/", {"movies": [movie(2, "Horror")]}),
        (
            "POST",
            f"/collection/{collection}/movies/",
            {"movies": [movie(3, "Sci-Fi,Comedy,Western")]},
        ),
        ("DELETE", f"/collection/{collection}/movies/{movie(2)['uuid']}/", None),
        ("POST", "/collection/", {"title": "two", "movies": [movie(4, "Comedy")]}),
        ("DELETE", f"/collection/{collection}/", None),
    ]
    seen = [await listed(reader, auth)]
    for method, path, body in steps:
        assert await listed(reader, auth) == seen[-1]  # kept, still right
        response = await writer.request(method, path, json=body, headers=auth)
        assert response.status_code < 300, (method, path, response.text)
        now = await listed(reader, auth)
        assert now == await listed(writer, auth)  # the reader's kept answer was not reused
        assert now != seen[-1], (method, path)
        seen.append(now)
    assert seen[1]["collections"][0]["title"] == "renamed"  # type: ignore[index]
    assert seen[3]["favourite_genres"] == "Horror"
    assert seen[4]["favourite_genres"] == "Comedy,Horror,Sci-Fi"
    assert seen[5]["favourite_genres"] == "Comedy,Sci-Fi,Western"
    assert [c["title"] for c in seen[-1]["collections"]] == ["two"]  # type: ignore[attr-defined]


async def test_never_another_users_answer_and_a_deleted_user_gets_401(
    two_hosts: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    reader, writer = two_hosts
    maya, ravi = await register(writer), await register(writer)
    for auth, title in ((maya, "maya's"), (ravi, "ravi's")):
        await writer.post("/collection/", json={"title": title}, headers=auth)
    for _ in range(2):  # the second round is answered from what was kept
        assert [c["title"] for c in (await listed(reader, maya))["collections"]] == ["maya's"]  # type: ignore[attr-defined]
        assert [c["title"] for c in (await listed(reader, ravi))["collections"]] == ["ravi's"]  # type: ignore[attr-defined]
    assert (await writer.delete("/me/", headers=maya)).status_code == 204
    assert (await reader.get("/collection/", headers=maya)).status_code == 401
    assert [c["title"] for c in (await listed(reader, ravi))["collections"]] == ["ravi's"]  # type: ignore[attr-defined]


async def detail(
    client: httpx.AsyncClient, auth: dict[str, str], path: str
) -> tuple[int, str, str]:
    response = await client.get(path, headers=auth)
    return response.status_code, response.text, response.headers.get("etag", "")


async def test_a_write_of_a_collection_anywhere_is_seen_by_its_next_read_everywhere(
    two_hosts: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    reader, writer = two_hosts
    auth = await register(writer)
    path = f"/collection/{await create_one(writer, auth)}/"
    steps: list[tuple[str, str, dict[str, object] | None, dict[str, str]]] = [
        ("PUT", path, {"title": "renamed"}, {}),
        ("PUT", path, {"description": "described"}, {}),
        ("PUT", path, {"movies": [movie(2, "Horror")]}, {}),
        ("PUT", path, {"movies": [movie(2, "Horror"), movie(5)]}, {"If-Match": "*"}),
        ("POST", f"{path}movies/", {"movies": [movie(3, "Sci-Fi")]}, {}),
        ("DELETE", f"{path}movies/{movie(2)['uuid']}/", None, {}),
    ]
    seen = [await detail(reader, auth, path)]
    for method, target, body, headers in steps:
        assert await detail(reader, auth, path) == seen[-1]  # kept, still right
        response = await writer.request(method, target, json=body, headers={**auth, **headers})
        assert response.status_code < 300, (method, target, response.text)
        now = await detail(reader, auth, path)
        assert now == await detail(writer, auth, path)  # the reader's kept answer was not reused
        assert now[1] != seen[-1][1], (method, target)  # the body
        assert now[2] != seen[-1][2], (method, target)  # the ETag
        seen.append(now)
    assert [m["uuid"] for m in httpx.Response(200, text=seen[-1][1]).json()["movies"]] == [
        movie(5)["uuid"],
        movie(3)["uuid"],
    ]
    assert (await writer.delete(path, headers=auth)).status_code == 204
    assert (await detail(reader, auth, path))[0] == 404


async def test_a_kept_collection_is_never_another_users_and_a_deleted_user_gets_401(
    two_hosts: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    reader, writer = two_hosts
    maya, ravi = await register(writer), await register(writer)
    created = await writer.post("/collection/", json={"title": "maya's"}, headers=maya)
    path = f"/collection/{created.json()['collection_uuid']}/"
    for _ in range(2):  # the second round is answered from what was kept
        status, body, _etag = await detail(reader, maya, path)
        assert status == 200
        assert "maya's" in body
        assert (await detail(reader, ravi, path))[0] == 404
    assert (await writer.delete("/me/", headers=maya)).status_code == 204
    assert (await detail(reader, maya, path))[0] == 401
