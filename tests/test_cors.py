"""CORS: none by default; origins in CORS_ORIGINS get preflights answered and headers exposed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from tests.conftest import make_settings, register, sqlite_copy

ALLOWED = "https://app.example.com"
PREFLIGHT = {
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "authorization, content-type, if-match",
}


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """CORS does not depend on the database: SQLite only."""
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
async def cors_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    origins = f"{ALLOWED}, https://other.example"
    app = create_app(make_settings(database_url, tmp_path / "data", cors_origins=origins))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_a_preflight_from_an_allowed_origin_is_answered(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.options(
        "/collection/0c8f0e3a-5b7e-4a39-9a43-6f1d2f5a1e00/",
        headers={"Origin": ALLOWED, **PREFLIGHT},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "PUT" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "if-match"):
        assert header in allowed_headers
    assert "access-control-allow-credentials" not in response.headers


async def test_an_allowed_origin_can_read_the_headers_a_client_needs(
    cors_client: httpx.AsyncClient,
) -> None:
    auth = await register(cors_client)
    response = await cors_client.get("/collection/", headers={**auth, "Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = response.headers["access-control-expose-headers"].lower()
    for header in ("etag", "idempotent-replayed", "retry-after", "x-request-id"):
        assert header in exposed


async def test_another_origin_gets_no_cors_answer(cors_client: httpx.AsyncClient) -> None:
    origin = "https://evil.example"
    preflight = await cors_client.options("/collection/", headers={"Origin": origin, **PREFLIGHT})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    response = await cors_client.get("/health/live", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers


async def test_no_origin_is_allowed_by_default(client: httpx.AsyncClient) -> None:
    preflight = await client.options("/collection/", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    response = await client.get("/health/live", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers
