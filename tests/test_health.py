"""Liveness and readiness probes, and whether they count as requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from alembic import command
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from movie_collections.app import create_app
from movie_collections.core.migrate import alembic_config, upgrade_to_head
from tests.conftest import make_settings, register
from tests.processes import free_port


async def test_live_and_ready_need_no_token(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    # storage: the local counter's folder (and SQLite's) can allocate.
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}


async def test_health_counts_by_default(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    before = (await client.get("/request-count/", headers=auth)).json()["requests"]
    await client.get("/health/live")
    await client.get("/health/ready")
    after = (await client.get("/request-count/", headers=auth)).json()["requests"]
    assert after - before == 3


async def test_health_can_be_left_uncounted(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", health_counts_in_request_count=False)
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        auth = await register(client)
        before = (await client.get("/request-count/", headers=auth)).json()["requests"]
        for _ in range(5):
            await client.get("/health/live")
            await client.get("/health/ready")
        after = (await client.get("/request-count/", headers=auth)).json()["requests"]
        assert after - before == 1


async def test_ready_names_the_failed_dependency(database_url: str, tmp_path: Path) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(
        database_url, tmp_path / "data", redis_url=dead_redis, redis_socket_timeout=0.2
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert {**body["checks"], "storage": "ok"} == {
            "database": "ok",
            "redis": "unavailable",
            "storage": "ok",  # SQLite's folder, when the database is SQLite
        }
        assert "redis" in body["detail"]
        assert (await client.get("/health/live")).status_code == 200


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("unmigrated_postgres")
    return url


async def test_ready_waits_for_the_schema_this_code_needs(
    unmigrated_url: str, tmp_path: Path
) -> None:
    """Not migrated, or behind this release: 503 `not_migrated` (its requests would be 500s).
    A revision this code does not know is a newer release's, during a rolling update: ready."""
    url = unmigrated_url
    app = create_app(make_settings(url, tmp_path / "data"))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):

        async def database_state() -> tuple[int, str]:
            ready = await client.get("/health/ready")
            return ready.status_code, ready.json()["checks"]["database"]

        assert await database_state() == (503, "not_migrated")
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0007")
        assert await database_state() == (503, "not_migrated")
        await asyncio.to_thread(upgrade_to_head, url)
        assert await database_state() == (200, "ok")
        async with app.state.container.database.transaction(write=True) as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        assert await database_state() == (200, "ok")
