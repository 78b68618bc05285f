"""GET /limits/."""

from __future__ import annotations

from fastapi import APIRouter, Request

from movie_collections.auth.dependencies import CurrentUserId
from movie_collections.container import get_container
from movie_collections.core.errors import problem_responses
from movie_collections.core.openapi import operation_id
from movie_collections.limits.schemas import Limits
from movie_collections.limits.service import api_limits

router = APIRouter(tags=["limits"], generate_unique_id_function=operation_id)


@router.get(
    "/limits/",
    response_model=Limits,
    operation_id="getLimits",
    responses=problem_responses(401),
    summary="The limits of the API that apply to me",
)
async def limits(_user: CurrentUserId, request: Request) -> Limits:
    """Field sizes, body size, movies per collection and the login/register rate limits, as
    this deployment is configured."""
    container = get_container(request)
    return api_limits(container.settings)
