"""GET /request-count/ and POST /request-count/reset/."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from movie_collections.auth.dependencies import CurrentOperatorId, CurrentUserId
from movie_collections.container import get_container
from movie_collections.core.errors import ServiceUnavailable, problem_responses
from movie_collections.core.openapi import operation_id
from movie_collections.core.responses import json_response
from movie_collections.counter.backend import CounterLost, CounterUnavailable
from movie_collections.counter.schemas import RequestCount, ResetDone

router = APIRouter(
    prefix="/request-count", tags=["request counter"], generate_unique_id_function=operation_id
)


@router.get(
    "/",
    response_model=RequestCount,
    operation_id="getRequestCount",
    responses=problem_responses(401, 503),
    summary="Requests served by the service since the last reset (this one included)",
)
async def request_count(_user: CurrentUserId, request: Request) -> Response:
    """Every request that reached the service counts, whatever its path or status, across all
    worker processes (and hosts, with Redis). 503 while the count cannot be told exactly."""
    container = get_container(request)
    try:
        return json_response(RequestCount(requests=await container.counter.total()))
    except CounterLost as error:
        raise ServiceUnavailable(
            "The request count was lost: Redis came back without it (run Redis with "
            "appendonly yes). POST /request-count/reset/ starts a new count from zero."
        ) from error
    except CounterUnavailable as error:
        raise ServiceUnavailable(
            "The request counter's store is unreachable or full; the count cannot be told exactly.",
            headers={"Retry-After": "1"},
        ) from error


@router.post(
    "/reset/",
    response_model=ResetDone,
    responses=problem_responses(401, 403, 503),
    summary="Start counting again from zero",
    description="Any signed-in user may reset the count, unless OPERATOR_USERNAMES names the "
    "users who may (403 for the others).",
)
async def reset_request_count(_user: CurrentOperatorId, request: Request) -> ResetDone:
    """The next `GET /request-count/` answers 1 (itself). 503 while the store is unreachable."""
    container = get_container(request)
    try:
        await container.counter.reset()
    except CounterUnavailable as error:
        raise ServiceUnavailable(
            "The request counter's store is unreachable or full; try the reset again.",
            headers={"Retry-After": "1"},
        ) from error
    return ResetDone()
