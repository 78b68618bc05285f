"""Liveness and readiness probes for load balancers and orchestrators (no token needed)."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from movie_collections.container import Container, get_container
from movie_collections.core.errors import PROBLEM_MEDIA_TYPE, problem_responses
from movie_collections.core.request_id import current_request_id

router = APIRouter(prefix="/health", tags=["health"])

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
CHECK_TIMEOUT_SECONDS = 2.0

CheckState = Literal["ok", "unavailable"]
_NOT_READY = "A store is unavailable: the problem's `checks` names each store's state."


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ok"] = "ok"
    checks: dict[str, CheckState]


@router.get(
    "/live",
    operation_id="getLiveness",
    response_model=Liveness,
    responses=problem_responses(),
    summary="The process is up (no dependency checks)",
)
async def live() -> Liveness:
    """For a liveness probe: answers while the process serves requests. No token needed."""
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    operation_id="getReadiness",
    responses=problem_responses(503, descriptions={503: _NOT_READY}),
    summary="The database (and Redis, when configured) answer",
)
async def ready(request: Request) -> Readiness | JSONResponse:
    """For a readiness probe: checks each store within 2 s. No token needed."""
    container = get_container(request)
    checks: dict[str, CheckState] = {"database": await _check_database(container)}
    if container.redis is not None:
        checks["redis"] = await _check_redis(container)
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": HTTPStatus.SERVICE_UNAVAILABLE.phrase,
                "status": HTTPStatus.SERVICE_UNAVAILABLE,
                "detail": f"Unavailable: {', '.join(failed)}.",
                "request_id": current_request_id(),
                "checks": checks,
            },
            status_code=HTTPStatus.SERVICE_UNAVAILABLE,
            media_type=PROBLEM_MEDIA_TYPE,
        )
    return Readiness(checks=checks)


_PING = text("SELECT 1")


async def _check_database(container: Container) -> CheckState:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with container.database.transaction() as connection:
                await connection.execute(_PING)
    except Exception:
        return "unavailable"
    return "ok"


async def _check_redis(container: Container) -> CheckState:
    assert container.redis is not None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await container.redis.ping()
    except Exception:
        return "unavailable"
    return "ok"
