"""GET /movies/: one page of the third-party catalogue, fetched for this request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from movie_collections.container import get_container
from movie_collections.core.errors import Unprocessable, problem_responses
from movie_collections.core.openapi import operation_id
from movie_collections.core.query import DecimalDigits
from movie_collections.movies.schemas import MoviePage
from movie_collections.ratelimit.dependencies import MoviesUserId

router = APIRouter(prefix="/movies", tags=["movies"], generate_unique_id_function=operation_id)


@router.get(
    "/",
    name="list_movies",
    response_model=MoviePage,
    responses=problem_responses(401, 404, 422, 429, 502, 504),
    summary="One page (10 movies) of the third-party catalogue, fetched live",
)
async def list_movies(
    request: Request,
    _user: MoviesUserId,
    page: Annotated[int, Query(ge=1, description="Page number, from 1."), DecimalDigits] = 1,
) -> Response:
    """Calls the third-party catalogue for this request (retrying a flaky one within a
    deadline) and answers its page with `next`/`previous` links to this service."""
    container = get_container(request)
    maximum = container.settings.movies_max_page
    if page > maximum:
        raise Unprocessable(f"page must be at most {maximum}.", limit="max_movies_page")
    upstream = await container.movies.fetch_page(page)
    return Response(
        container.movie_pages.body(upstream, page, request.url_for("list_movies")),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
