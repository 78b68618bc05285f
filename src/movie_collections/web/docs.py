"""/docs (Swagger UI) and /redoc, served with their assets from this service: no CDN, no
inline script, framing refused. The assets come from the fastapi-offline package."""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from movie_collections.web.router import STATIC_PATH, ClientFiles, page_headers

DOCS_ASSETS_PATH = "/docs-assets"
DOCS_ASSETS_DIRECTORY = Path(str(files("fastapi_offline") / "static"))

# The client's policy, but Swagger UI and ReDoc set inline styles and ReDoc searches in a
# Web Worker it builds from a blob: scripts still come from this origin only.
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SWAGGER_UI_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{static}/swagger-ui-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - ReDoc</title>
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


def _page(template: str, request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    html = template.format(
        title=escape(request.app.title),
        assets=escape(root + DOCS_ASSETS_PATH),
        static=escape(root + STATIC_PATH),
        openapi=escape(root + (request.app.openapi_url or "")),
    )
    return HTMLResponse(html, headers=page_headers(DOCS_CONTENT_SECURITY_POLICY))


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return _page(SWAGGER_UI_PAGE, request)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return _page(REDOC_PAGE, request)


def docs_assets() -> ClientFiles:
    return ClientFiles(directory=DOCS_ASSETS_DIRECTORY)
