"""GET /collection/ answers kept per list version: never stale, never another user's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from movie_collections.collection.list_answers import ListAnswers
from tests.conftest import make_settings, movie, register


def test_bounded_by_bytes_least_recently_used_out_first() -> None:
    answers = ListAnswers(max_bytes=10)
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


async def test_a_write_anywhere_is_seen_by_the_next_read_everywhere(
    two_hosts: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    reader, writer = two_hosts
    auth = await register(writer)
    created = await writer.post(
        "/collection/", json={"title": "one", "movies": [movie(1, "Drama")]}, headers=auth
    )
    collection = created.json()["collection_uuid"]
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
