"""GET /movies/: one page of the third-party catalogue, fetched for this request."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import URL

from movie_collections.auth.dependencies import CurrentUserId
from movie_collections.container import ContainerDependency
from movie_collections.errors import Unprocessable, problem_responses
from movie_collections.movies.schemas import MoviePage, UpstreamPage

router = APIRouter(prefix="/movies", tags=["movies"])


@router.get(
    "/",
    name="list_movies",
    response_model=MoviePage,
    responses=problem_responses(401, 404, 422, 502, 504),
    summary="One page (10 movies) of the third-party catalogue, fetched live",
)
async def list_movies(
    request: Request,
    _user: CurrentUserId,
    container: ContainerDependency,
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
) -> Response:
    maximum = container.settings.movies_max_page
    if page > maximum:
        raise Unprocessable(f"page must be at most {maximum}.")
    upstream = await container.movies.fetch_page(page)
    return Response(
        page_body(upstream, page, request.url_for("list_movies")),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def page_body(upstream: UpstreamPage, page: int, here: URL) -> bytes:
    """The answer's JSON: the upstream page with links to `here` (this endpoint's URL)."""
    next_page = _linked_page(upstream.next, default=page + 1)
    previous_page = _linked_page(upstream.previous, default=page - 1)
    answer = MoviePage.model_construct(
        count=upstream.count,
        next=str(here.include_query_params(page=next_page)) if next_page else None,
        previous=str(here.include_query_params(page=previous_page)) if previous_page else None,
        data=upstream.data,
    )
    # Serialised once here: the upstream body was validated already, no second pass needed.
    return answer.__pydantic_serializer__.to_json(answer)


def _linked_page(link: str | None, *, default: int) -> int | None:
    """The page number an upstream link points to; None when there is no link.

    Only the number is kept: our link is built from this request's own base URL, so the
    upstream's host (and any credentials in its links) never reach the client. A link
    without `page` (as DRF gives for page 1) means the adjacent page.
    """
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("page")
    if values and values[0].isdigit() and int(values[0]) >= 1:
        return int(values[0])
    return default if default >= 1 else None
