"""The app never opens more PostgreSQL connections than its pool settings allow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from tests.conftest import make_settings, movie, register

pytestmark = pytest.mark.postgres


async def test_connections_stay_within_pool_size(postgres_database: str, tmp_path: Path) -> None:
    settings = make_settings(
        postgres_database, tmp_path / "data", database_pool_size=3, database_max_overflow=1
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
            auth = await register(client)
            await client.post(
                "/collection/", json={"title": "t", "movies": [movie(1)]}, headers=auth
            )
            load = asyncio.gather(
                *(client.get("/collection/", headers=auth) for _ in range(200)),
                *(
                    client.post("/collection/", json={"title": f"c{i}"}, headers=auth)
                    for i in range(50)
                ),
            )
            task = asyncio.ensure_future(load)
            while not task.done():
                count = await observer.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> "
                    "pg_backend_pid()",
                    database_name,
                )
                peak = max(peak, count)
                await asyncio.sleep(0.005)
            answers = await task
            assert all(answer.status_code in (200, 201) for answer in answers)
    finally:
        await observer.close()
    assert 1 <= peak <= 4
