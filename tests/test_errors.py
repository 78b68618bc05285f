"""Errors are problem+json everywhere; bodies that are too large are refused before parsing."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI


async def test_unknown_path_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/path")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.patch("/register/")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


async def test_head_is_get_without_the_body(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = await client.post("/collection/", json={"title": "Heads"}, headers=auth)
    for path in (f"/collection/{created.json()['collection_uuid']}/", "/me/", "/collection/"):
        got, head = await client.get(path, headers=auth), await client.head(path, headers=auth)
        assert head.status_code == got.status_code == 200
        assert head.content == b""
        for name in ("content-type", "content-length", "etag"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)
    assert (await client.head("/collection/")).status_code == 401
    refused = await client.head("/register/")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "POST"
    assert refused.content == b""


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/register/", "POST"),
        ("DELETE", "/collection/", "GET, HEAD, POST"),  # two routes share the path
        ("PATCH", "/collection/0c8f0e3a-5b7e-4a39-9a43-6f1d2f5a1e00/", "DELETE, GET, HEAD, PUT"),
        ("PUT", "/request-count/", "GET, HEAD"),
    ],
)
async def test_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2", b"\xff\xfe"])
async def test_broken_json_is_a_client_error(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/register/", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"


async def test_broken_json_on_authenticated_endpoint(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/collection/", content=b'{"title": ', headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The request body is not valid JSON."


async def test_declared_oversized_body_is_413(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = b'{"title": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/collection/", content=body, headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["limit"] == "max_body_bytes"


async def test_streamed_oversized_body_is_413(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"title": "'
        for _ in range(6):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    response = await client.post(
        "/collection/", content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["limit"] == "max_body_bytes"


async def test_unexpected_error_is_500_problem_with_request_id(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom-for-test")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    response = await client.get("/boom-for-test", headers={"X-Request-ID": "trace-me-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["request_id"] == "trace-me-123"
    assert "secret internal detail" not in response.text
    assert "trace-me-123" in caplog.text


async def test_request_id_is_made_when_missing_or_unsafe(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json", headers={"X-Request-ID": "bad id\nwith newline"})
    assert response.headers["x-request-id"] != "bad id\nwith newline"
    assert len(response.headers["x-request-id"]) == 32
