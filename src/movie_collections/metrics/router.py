"""GET /metrics: the Prometheus text exposition of every worker, behind METRICS_TOKEN."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request, Response

from movie_collections.container import get_container
from movie_collections.core.errors import Unauthorized
from movie_collections.core.metrics import METRICS_CONTENT_TYPE, exposition
from movie_collections.core.openapi import operation_id

METRICS_PATH = "/metrics"

# Not in the OpenAPI document: it is for the operator's scraper, not for API clients.
router = APIRouter(include_in_schema=False, generate_unique_id_function=operation_id)


@router.get(METRICS_PATH)
async def metrics(request: Request) -> Response:
    token = get_container(request).settings.metrics_token
    expected = f"Bearer {token.get_secret_value() if token is not None else ''}".encode()
    presented = request.headers.get("authorization", "").encode()
    if token is None or not hmac.compare_digest(presented, expected):
        raise Unauthorized("Missing or invalid metrics token.")
    # Reading every worker's files is file I/O: off the event loop.
    return Response(await asyncio.to_thread(exposition), media_type=METRICS_CONTENT_TYPE)
