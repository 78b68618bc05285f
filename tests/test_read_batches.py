"""Concurrent hot reads coalesced into one statement (read_batches.py): the same answers as
reads of their own, never an answer read before the request was made, never another key's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from movie_collections.app import create_app
from movie_collections.driver_sql import PostgresDriverSql
from movie_collections.read_batches import KeyedRead, ReadBatches, Rows
from tests.conftest import make_settings, movie, register

pytestmark = pytest.mark.postgres

# A key's row, and which keys a batch held: enough to see what each statement answered.
_ECHO = KeyedRead(
    "SELECT $1::int * 10",
    "SELECT k.n, k.x * 10 FROM unnest($1::int[]) WITH ORDINALITY AS k(x, n) ORDER BY k.n",
)
# Division by zero for the key 0: a statement that fails.
_FAILS_ON_ZERO = KeyedRead(
    "SELECT 1 / $1::int",
    "SELECT k.n, 1 / k.x FROM unnest($1::int[]) WITH ORDINALITY AS k(x, n) ORDER BY k.n",
)
_VERSION = KeyedRead(
    "SELECT version FROM batch_probe WHERE id = $1",
    "SELECT k.n, p.version FROM unnest($1::int[]) WITH ORDINALITY AS k(id, n) "
    "JOIN batch_probe p ON p.id = k.id ORDER BY k.n",
)


@pytest.fixture
async def driver(postgres_database: str, tmp_path: Path) -> AsyncIterator[PostgresDriverSql]:
    sql = PostgresDriverSql(make_settings(postgres_database, tmp_path))
    try:
        yield sql
    finally:
        await sql.close()


async def _fetch_one(driver: PostgresDriverSql, sql: str, parameters: Any) -> Rows:
    [rows] = await driver.read([(sql, parameters)])
    return rows


async def test_concurrent_reads_go_in_few_statements_and_each_gets_its_own_rows(
    driver: PostgresDriverSql,
) -> None:
    batches = ReadBatches(lambda sql, parameters: _fetch_one(driver, sql, parameters))
    keys = [index % 37 for index in range(200)]  # repeated keys too
    answers = await asyncio.gather(*(batches.read(_ECHO, (key,)) for key in keys))
    assert [[tuple(row) for row in rows] for rows in answers] == [[(key * 10,)] for key in keys]
    assert batches.statements <= 3  # asked in one loop iteration: one batch, and not 200


async def test_a_read_asked_while_a_batch_is_out_waits_for_a_later_statement(
    driver: PostgresDriverSql,
) -> None:
    """The first batch has read (its statement ran) but not answered yet; a write commits;
    a read asked now must see the write: it may not be answered from the batch in flight."""
    pool = await driver._get_pool()
    await pool.execute("DROP TABLE IF EXISTS batch_probe")
    await pool.execute("CREATE TABLE batch_probe (id int PRIMARY KEY, version int)")
    await pool.execute("INSERT INTO batch_probe VALUES (1, 1)")
    statement_ran, release = asyncio.Event(), asyncio.Event()

    async def gated_fetch(sql: str, parameters: Any) -> Rows:
        rows = await _fetch_one(driver, sql, parameters)
        if not statement_ran.is_set():  # only the first statement is held back
            statement_ran.set()
            await release.wait()
        return rows

    try:
        for most_in_flight in (1, 2):
            await pool.execute("UPDATE batch_probe SET version = 1")
            statement_ran.clear()
            release.clear()
            batches = ReadBatches(gated_fetch, most_in_flight=most_in_flight)
            early = asyncio.create_task(batches.read(_VERSION, (1,)))
            await statement_ran.wait()
            await pool.execute("UPDATE batch_probe SET version = 2")  # committed
            late = asyncio.create_task(batches.read(_VERSION, (1,)))
            await asyncio.sleep(0.05)
            release.set()
            assert [tuple(row) for row in await early] == [(1,)]
            assert [tuple(row) for row in await late] == [(2,)]
    finally:
        await pool.execute("DROP TABLE batch_probe")


async def test_a_failed_statement_fails_its_reads_and_the_next_batch_is_sent(
    driver: PostgresDriverSql,
) -> None:
    batches = ReadBatches(lambda sql, parameters: _fetch_one(driver, sql, parameters))
    results = await asyncio.gather(
        *(batches.read(_FAILS_ON_ZERO, (key,)) for key in (0, 1, 2)), return_exceptions=True
    )
    # One statement for the three keys: a data error of one key fails the others of its
    # batch. The hot reads' keys are parsed UUIDs, so only a lost database fails them.
    assert all(isinstance(result, Exception) for result in results)
    assert [tuple(row) for row in await batches.read(_FAILS_ON_ZERO, (1,))] == [(1,)]


async def test_a_cancelled_read_leaves_the_others_answered(driver: PostgresDriverSql) -> None:
    batches = ReadBatches(lambda sql, parameters: _fetch_one(driver, sql, parameters))
    gone = asyncio.create_task(batches.read(_ECHO, (1,)))
    kept = asyncio.create_task(batches.read(_ECHO, (1,)))
    other = asyncio.create_task(batches.read(_ECHO, (2,)))
    await asyncio.sleep(0)
    gone.cancel()
    assert [tuple(row) for row in await kept] == [(10,)]
    assert [tuple(row) for row in await other] == [(20,)]
    with pytest.raises(asyncio.CancelledError):
        await gone
    only_cancelled = asyncio.create_task(batches.read(_ECHO, (3,)))
    await asyncio.sleep(0)
    only_cancelled.cancel()
    sent = batches.statements
    await asyncio.sleep(0.05)
    assert batches.statements == sent  # nobody waits for it: not sent


@pytest.fixture
async def postgres_app(postgres_database: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(postgres_database, tmp_path / "data"))
    async with LifespanManager(application):
        yield application


async def test_many_concurrent_readers_get_exactly_their_own_collections(
    postgres_app: FastAPI,
) -> None:
    transport = httpx.ASGITransport(app=postgres_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
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
        container = postgres_app.state.container
        sent_before = container.database.driver._batches.statements

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
        sent = container.database.driver._batches.statements - sent_before
        assert sent < len(answers) / 2  # coalesced, not one statement per request


async def test_a_reader_sees_its_own_write_under_concurrent_reads(postgres_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=postgres_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        auth = await register(client)
        response = await client.post(
            "/collection/", json={"title": "t", "description": "d", "movies": []}, headers=auth
        )
        collection = response.json()["collection_uuid"]
        stop = asyncio.Event()

        async def background_reader() -> None:
            while not stop.is_set():
                await client.get(f"/collection/{collection}/", headers=auth)
                await client.get("/collection/", headers=auth)

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
                assert got.headers["etag"] == put.headers["etag"]
                listed = await client.get("/collection/", headers=auth)
                assert listed.json()["data"]["collections"][0]["title"] == title
        finally:
            stop.set()
            await asyncio.gather(*readers)
