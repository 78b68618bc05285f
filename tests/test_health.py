"""Liveness and readiness probes, and whether they count as requests."""

from __future__ import annotations

from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
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
