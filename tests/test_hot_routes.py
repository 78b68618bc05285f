"""The hot-route shortcut answers exactly as FastAPI would, and leaves every other case to it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.types import Scope

from movie_collections.app import create_app
from movie_collections.hot_routes import HotRoutes
from tests.conftest import make_settings, movie, register


@pytest.fixture
async def clients(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two apps on one database and key: with the shortcut, and without it (plain FastAPI)."""
    fast = create_app(make_settings(database_url, tmp_path / "data"))
    plain = create_app(make_settings(database_url, tmp_path / "data", hot_routes=False))
    async with (
        LifespanManager(fast),
        LifespanManager(plain),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=fast), base_url="http://test"
        ) as fast_client,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=plain), base_url="http://test"
        ) as plain_client,
    ):
        yield fast_client, plain_client


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.content


async def test_same_bytes_and_headers_as_fastapi(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, plain = clients
    answered: list[bytes] = []
    original_try = HotRoutes._try

    async def recording_try(self: HotRoutes, scope: Scope, answer: Any) -> bytes | None:
        body = await original_try(self, scope, answer)
        if body is not None:
            answered.append(body)
        return body

    monkeypatch.setattr(HotRoutes, "_try", recording_try)
    auth = await register(fast)
    other = await register(fast)
    created = await fast.post(
        "/collection/",
        json={
            "title": "Ünïcode “quotes” 🎬",
            "description": 'tab\tand "escapes" \\ and </script>',
            "movies": [movie(1, genres="Drama, Comedy"), movie(2, genres="Sci-Fi,Drama")],
        },
        headers=auth,
    )
    assert created.status_code == 201
    collection = created.json()["collection_uuid"]
    empty_user = await register(fast)
    requests = [
        ("/collection/", auth),
        ("/collection/", empty_user),
        (f"/collection/{collection}/", auth),
        (f"/collection/{collection.upper()}/", auth),
        (f"/collection/{collection}/", other),  # another user's: 404 through FastAPI
        (f"/collection/{uuid.uuid4()}/", auth),
        ("/collection/not-a-uuid/", auth),
        ("/collection/", {}),
        ("/collection/", {"Authorization": "Bearer not.a.token"}),
        ("/collection/", {"Authorization": "Basic abc"}),
        ("/request-count/", {}),
    ]
    for path, headers in requests:
        same_id = {**headers, "X-Request-ID": "compare-1"}  # error bodies quote it
        fast_response = await fast.get(path, headers=same_id)
        plain_response = await plain.get(path, headers=same_id)
        assert _comparable(fast_response) == _comparable(plain_response), path
    assert len(answered) == 4  # the four 200s above came from the shortcut
    # The request count differs between the apps (each counts its own), so compare shapes.
    fast_count = await fast.get("/request-count/", headers=auth)
    plain_count = await plain.get("/request-count/", headers=auth)
    assert fast_count.status_code == plain_count.status_code == 200
    assert fast_count.headers["content-type"] == plain_count.headers["content-type"]
    assert set(fast_count.json()) == set(plain_count.json()) == {"requests"}


async def test_writes_are_seen_by_the_next_read(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, _ = clients
    auth = await register(fast)
    assert (await fast.get("/collection/", headers=auth)).json()["data"]["collections"] == []
    created = await fast.post("/collection/", json={"title": "first"}, headers=auth)
    collection = created.json()["collection_uuid"]
    listed = await fast.get("/collection/", headers=auth)
    assert [c["title"] for c in listed.json()["data"]["collections"]] == ["first"]
    await fast.put(f"/collection/{collection}/", json={"title": "renamed"}, headers=auth)
    assert (await fast.get(f"/collection/{collection}/", headers=auth)).json()["title"] == (
        "renamed"
    )
    await fast.delete(f"/collection/{collection}/", headers=auth)
    assert (await fast.get(f"/collection/{collection}/", headers=auth)).status_code == 404
