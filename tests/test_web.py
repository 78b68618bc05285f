"""The web client's files: served at / and /static/ without a token, with safe headers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from movie_collections.web.router import STATIC_DIRECTORY


async def test_index_is_served_without_a_token_with_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"


async def test_static_files_have_their_content_types_and_revalidate(
    client: httpx.AsyncClient,
) -> None:
    expected = {
        "/": "text/html",
        "/static/app.js": "javascript",
        "/static/api.js": "javascript",
        "/static/dom.js": "javascript",
        "/static/app.css": "text/css",
    }
    for path, content_type in expected.items():
        response = await client.get(path)
        assert response.status_code == 200, path
        assert content_type in response.headers["content-type"], path
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"
        etag = response.headers["etag"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path


async def test_missing_static_file_is_a_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/nope.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    escape = await client.get("/static/../config.py")
    assert escape.status_code == 404


async def test_client_routes_are_not_in_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/static") for path in paths)


def test_client_code_never_writes_markup() -> None:
    """Catalogue text must go in as text: no innerHTML, outerHTML, insertAdjacentHTML or eval."""
    forbidden = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(")
    scripts = sorted(Path(STATIC_DIRECTORY).glob("*.js"))
    assert {script.name for script in scripts} >= {"app.js", "api.js", "dom.js"}
    for script in scripts:
        assert not forbidden.search(script.read_text()), script.name


def test_client_keeps_the_token_out_of_cookies() -> None:
    source = "\n".join(path.read_text() for path in Path(STATIC_DIRECTORY).glob("*.js"))
    assert "document.cookie" not in source
    assert "localStorage" not in source
    assert 'credentials: "omit"' in source
