"""Many reads at once, on both databases: each gets exactly its own user's answer, the same as
when read alone, and a read made after a write has answered sees that write."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.conftest import movie, register


async def test_many_concurrent_readers_get_exactly_their_own_collections(
    client: httpx.AsyncClient,
) -> None:
    users = [await register(client) for _ in range(3)]
    owned: list[tuple[dict[str, str], str]] = []
    for number, auth in enumerate(users):
        for index in range(4):
            body = {
                "title": f"u{number} c{index}",
                "description": "d",
                "movies": [movie(number * 100 + index * 10 + m) for m in range(index)],
            }
            response = await client.post("/collection/", json=body, headers=auth)
            assert response.status_code == 201, response.text
            owned.append((auth, response.json()["collection_uuid"]))
    alone = {}
    for auth, collection in owned:
        response = await client.get(f"/collection/{collection}/", headers=auth)
        alone[collection] = (response.status_code, response.content, response.headers["etag"])
    lists = {
        a["Authorization"]: (await client.get("/collection/", headers=a)).content for a in users
    }

    async def detail(auth: dict[str, str], collection: str) -> tuple[int, bytes, str]:
        response = await client.get(f"/collection/{collection}/", headers=auth)
        return response.status_code, response.content, response.headers.get("etag", "")

    requests = [owned[index % len(owned)] for index in range(120)]
    foreign = [(users[(index + 1) % 3], owned[index * 4][1]) for index in range(3)]
    unknown = [(users[0], str(uuid.uuid4()))]
    answers = await asyncio.gather(
        *(detail(auth, collection) for auth, collection in requests + foreign + unknown),
        *(client.get("/collection/", headers=auth) for auth in users * 20),
    )
    details, listed = answers[: len(requests) + 4], answers[len(requests) + 4 :]
    for (_auth, collection), answer in zip(requests, details, strict=False):
        assert answer == alone[collection]
    assert all(answer[0] == 404 for answer in details[len(requests) :])
    for auth, response in zip(users * 20, listed, strict=True):
        assert response.content == lists[auth["Authorization"]]


async def test_a_reader_sees_its_own_write_under_concurrent_reads(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/collection/", json={"title": "t", "description": "d", "movies": []}, headers=auth
    )
    collection = response.json()["collection_uuid"]
    stop = asyncio.Event()

    async def background_reader() -> None:
        while not stop.is_set():
            await client.get(f"/collection/{collection}/", headers=auth)
            await client.get("/collection/", headers=auth)
            # In process, a request on SQLite may finish without ever waiting; a client on a
            # socket waits for every answer, and so lets the others (the writer) run.
            await asyncio.sleep(0)

    readers = [asyncio.create_task(background_reader()) for _ in range(16)]
    try:
        for round_ in range(30):
            title = f"title {round_}"
            put = await client.put(
                f"/collection/{collection}/",
                json={"title": title, "movies": [movie(round_)]},
                headers=auth,
            )
            assert put.status_code == 200, put.text
            got = await client.get(f"/collection/{collection}/", headers=auth)
            assert got.json()["title"] == title
            assert got.json()["movies"] == [movie(round_)]
            assert got.headers["etag"] == put.headers["etag"]
            listed = await client.get("/collection/", headers=auth)
            assert listed.json()["data"]["collections"][0]["title"] == title
    finally:
        stop.set()
        await asyncio.gather(*readers)
