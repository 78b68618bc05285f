"""Serves the single-page web client: `/` with a strict CSP, and its files under `/static/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIRECTORY = Path(__file__).parent / "static"
STATIC_PATH = "/static"

# The client loads nothing but its own files and talks only to this origin. No inline script
# or style is allowed, so text from the catalogue can never run even if it reached the DOM as
# markup; frame-ancestors stops click-jacking.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def page_headers(content_security_policy: str) -> dict[str, str]:
    """What every HTML answer carries: its policy, no framing, no sniffing, no referrer."""
    return {
        "Content-Security-Policy": content_security_policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


SECURITY_HEADERS = page_headers(CONTENT_SECURITY_POLICY)

# Revalidate every time (cheap: ETag/Last-Modified answer 304), so a deploy is seen at once
# and the page never runs an old app.js against a new API.
REVALIDATE = "no-cache"

router = APIRouter(include_in_schema=False)


class ClientFiles(StaticFiles):
    """StaticFiles with the client's cache and security headers on every answer (an HTML
    file served from here runs the client under the same policy as `/`)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = REVALIDATE
        response.headers.update(SECURITY_HEADERS)
        return response


def client_files() -> ClientFiles:
    return ClientFiles(directory=STATIC_DIRECTORY)


_PAGE = client_files()


@router.get("/", response_class=FileResponse)
async def index(request: Request) -> Response:
    """The page, as `/static/index.html` is served: 304 when `If-None-Match` names it."""
    return await _PAGE.get_response("index.html", request.scope)
