"""The app never opens more PostgreSQL connections than its pool settings allow."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from tests.conftest import PASSWORD, make_settings, movie, register

pytestmark = pytest.mark.postgres


async def test_every_kind_of_request_at_once_stays_within_the_pool_size(
    postgres_database: str, tmp_path: Path
) -> None:
    """DATABASE_POOL_SIZE=3, no overflow: reads, creates (plain and idempotent), PUTs,
    appends, removals, deletes and logins all at once never hold more than 3 connections."""
    settings = make_settings(
        postgres_database, tmp_path / "data", database_pool_size=3, database_max_overflow=0
    )
    database_name = postgres_database.rsplit("/", 1)[1]
    observer = await asyncpg.connect(postgres_database)
    app = create_app(settings)
    peak = 0
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client,
        ):
            name = f"pool_{uuid.uuid4().hex[:8]}"
            auth = await register(client, name)
            ids = []
            for index in range(20):
                body = {"title": f"c{index}", "movies": [movie(index), movie(100 + index)]}
                created = await client.post("/collection/", json=body, headers=auth)
                ids.append(created.json()["collection_uuid"])
            login = {"username": name, "password": PASSWORD}
            requests = [
                *(client.get("/collection/", headers=auth) for _ in range(60)),
                # Not ids[15:], which are deleted at the same time (a 404 by then).
                *(client.get(f"/collection/{i}/", headers=auth) for i in ids[:15]),
                *(
                    client.post("/collection/", json={"title": f"n{i}"}, headers=auth)
                    for i in range(20)
                ),
                *(
                    client.post(
                        "/collection/",
                        json={"title": f"k{i}"},
                        headers={**auth, "Idempotency-Key": f"key-{i}"},
                    )
                    for i in range(20)
                ),
                *(
                    client.put(f"/collection/{i}/", json={"movies": [movie(7)]}, headers=auth)
                    for i in ids[:5]
                ),
                *(
                    client.post(
                        f"/collection/{i}/movies/", json={"movies": [movie(8)]}, headers=auth
                    )
                    for i in ids[5:10]
                ),
                *(
                    client.delete(
                        f"/collection/{ids[i]}/movies/{movie(100 + i)['uuid']}/", headers=auth
                    )
                    for i in range(10, 15)
                ),
                *(client.delete(f"/collection/{i}/", headers=auth) for i in ids[15:]),
                *(client.post("/login/", json=login) for _ in range(5)),
            ]
            task = asyncio.ensure_future(asyncio.gather(*requests))
            while not task.done():
                count = await observer.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> "
                    "pg_backend_pid()",
                    database_name,
                )
                peak = max(peak, count)
                await asyncio.sleep(0.002)
            answers = await task
            statuses = sorted({answer.status_code for answer in answers})
            assert set(statuses) <= {200, 201, 204}, statuses
    finally:
        await observer.close()
    assert 1 <= peak <= 3
