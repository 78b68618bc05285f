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
from movie_collections.hot_routes import Answered, HotRoutes
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
    """Status, headers and bytes; an ETag only by its presence, since each app's write bumps
    the version (the two apps write the same collection one after the other)."""
    headers = dict(response.headers)
    if "etag" in headers:
        headers["etag"] = "present"
    return response.status_code, headers, response.content


def _record_shortcut_answers(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies the shortcut answered itself (not handed to FastAPI), as they happen."""
    answered: list[bytes] = []
    original_try = HotRoutes._try

    async def recording_try(
        self: HotRoutes, scope: Scope, answer: Any, request_body: bytes, segment: str
    ) -> Answered | None:
        result = await original_try(self, scope, answer, request_body, segment)
        if result is not None:
            answered.append(result.content)
        return result

    monkeypatch.setattr(HotRoutes, "_try", recording_try)
    return answered


async def test_same_bytes_and_headers_as_fastapi(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, plain = clients
    answered = _record_shortcut_answers(monkeypatch)
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
        (f"/collection/{collection}/", {**auth, "If-None-Match": '"x"'}),  # via FastAPI
        # 401s of GETs are answered by the shortcut itself: same bytes as FastAPI's.
        (f"/collection/{collection}/", {}),
        ("/collection/not-a-uuid/", {}),
        ("/request-count/", {"Authorization": "Bearer not.a.token"}),
        (f"/collection/{collection}/", {"Authorization": "Bearer x.y.z"}),
        ("/movies/", {}),
        ("/movies/?page=not-a-number", {}),
        ("/collection/", {"Authorization": "Bearer"}),
        ("/collection/", {"Authorization": ""}),
    ]
    for path, headers in requests:
        same_id = {**headers, "X-Request-ID": "compare-1"}  # error bodies quote it
        fast_response = await fast.get(path, headers=same_id)
        plain_response = await plain.get(path, headers=same_id)
        assert _comparable(fast_response) == _comparable(plain_response), path
    # The POST, the two list reads and the owner's two detail reads came from the shortcut;
    # the errors and the conditional read went through FastAPI.
    assert len(answered) == 5
    # The request count differs between the apps (each counts its own), so compare shapes.
    fast_count = await fast.get("/request-count/", headers=auth)
    plain_count = await plain.get("/request-count/", headers=auth)
    assert fast_count.status_code == plain_count.status_code == 200
    assert fast_count.headers["content-type"] == plain_count.headers["content-type"]
    assert set(fast_count.json()) == set(plain_count.json()) == {"requests"}


async def test_a_get_without_a_valid_token_is_refused_by_the_shortcut(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap refusal: FastAPI's routing and dependencies are not reached for these."""
    fast, _ = clients

    async def not_reached(scope: Scope, receive: Any, send: Any) -> None:
        raise AssertionError(f"FastAPI was asked for {scope['path']}")

    for path, headers in [
        ("/collection/", {}),
        (f"/collection/{uuid.uuid4()}/", {"Authorization": "Bearer not.a.token"}),
        ("/request-count/", {}),
        ("/movies/", {"Authorization": "Bearer a.b.c"}),
    ]:
        hot = _hot_routes_of(fast)
        monkeypatch.setattr(hot, "app", not_reached)
        response = await fast.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"


def _hot_routes_of(client: httpx.AsyncClient) -> HotRoutes:
    """The HotRoutes instance in the app's middleware stack."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    layer: Any = transport.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, HotRoutes):
        layer = layer.app
    return layer


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


async def test_writes_answer_as_fastapi_and_bad_bodies_get_its_errors(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, plain = clients
    answered = _record_shortcut_answers(monkeypatch)
    auth = await register(fast)
    other = await register(fast)
    same_id = {"X-Request-ID": "compare-2"}
    good = {"title": "Films “é”", "movies": [movie(1, genres="Drama,Comedy"), movie(2)]}
    fast_created = await fast.post("/collection/", json=good, headers=auth)
    plain_created = await plain.post("/collection/", json=good, headers=auth)
    assert fast_created.status_code == plain_created.status_code == 201
    assert dict(fast_created.headers).keys() == dict(plain_created.headers).keys()
    assert fast_created.json().keys() == plain_created.json().keys() == {"collection_uuid"}
    collection = fast_created.json()["collection_uuid"]
    bad_posts: list[dict[str, Any]] = [
        {"json": {"movies": []}},  # no title
        {"json": {"title": "x", "movies": [{**movie(1), "uuid": "nope"}]}},
        {"json": {"title": "x", "movies": [movie(1), movie(1)]}},  # repeated movie
        {"json": {"title": 5}},
        {"content": b'{"title": "x",', "headers": {"Content-Type": "application/json"}},
        {"content": b'{"title": "x"}', "headers": {"Content-Type": "text/plain"}},
        {"content": b"[]", "headers": {"Content-Type": "application/json"}},
    ]
    for request in bad_posts:
        headers = {**auth, **same_id, **request.pop("headers", {})}
        fast_response = await fast.post("/collection/", headers=headers, **request)
        plain_response = await plain.post("/collection/", headers=headers, **request)
        assert _comparable(fast_response) == _comparable(plain_response), request
        assert fast_response.status_code >= 400
    replacement = {"title": "Renamed", "movies": [movie(3, genres="Horror")]}
    puts: list[tuple[dict[str, str], dict[str, Any]]] = [
        (auth, replacement),
        (auth, {"description": "only the description"}),
        (auth, {"title": None}),
        (auth, {"movies": [movie(4), movie(4)]}),
        (other, replacement),  # not theirs: 404
        ({}, replacement),
    ]
    answered.clear()
    for headers, body in puts:
        path = f"/collection/{collection}/"
        fast_response = await fast.put(path, json=body, headers={**headers, **same_id})
        plain_response = await plain.put(path, json=body, headers={**headers, **same_id})
        assert _comparable(fast_response) == _comparable(plain_response), body
    # The owner's two valid PUTs were answered by the shortcut, the four errors by FastAPI.
    assert len(answered) == 2
    listed = await fast.get(f"/collection/{collection}/", headers=auth)
    assert listed.json()["title"] == "Renamed"
    assert listed.json()["description"] == "only the description"
    assert [m["uuid"] for m in listed.json()["movies"]] == [movie(3)["uuid"]]
