"""Every HTML answer carries the CSP, refuses framing and sniffing; the docs load nothing
from elsewhere (their Swagger UI and ReDoc assets are served here)."""

from __future__ import annotations

import re

import httpx

from movie_collections.web.router import STATIC_DIRECTORY


def html_paths() -> list[str]:
    static_pages = sorted(f"/static/{path.name}" for path in STATIC_DIRECTORY.glob("*.html"))
    assert static_pages, "the client has HTML files"
    return ["/", *static_pages, "/docs", "/redoc"]


def directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


async def test_every_html_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for path in html_paths():
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
        policy = directives(response.headers["content-security-policy"])
        assert policy["frame-ancestors"] == "'none'", path
        assert policy["script-src"] == "'self'", path
        assert policy["default-src"] == "'self'", path
        assert policy["object-src"] == "'none'", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path


async def test_the_docs_pages_name_only_their_own_assets(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = (await client.get(path)).text
        assert "<script>" not in page, "an inline script would need 'unsafe-inline'"
        addresses = re.findall(r'(?:src|href|spec-url|data-openapi-url)="([^"]+)"', page)
        assert addresses, path
        for address in addresses:
            assert address.startswith("/"), address
            asset = await client.get(address)
            assert asset.status_code == 200, address
            if address != "/openapi.json":
                assert asset.headers["x-content-type-options"] == "nosniff", address
