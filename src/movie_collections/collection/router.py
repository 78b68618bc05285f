"""HTTP of /collection/: parse, call the service inside one transaction, shape the answer."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status

from movie_collections.auth.dependencies import CurrentUserId
from movie_collections.collection import service
from movie_collections.collection.budget import CollectionBudget
from movie_collections.collection.etags import if_none_match_hits, parse_if_match
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionCreated,
    CollectionDetail,
    CollectionList,
    CollectionUpdate,
    MoviesAppend,
    MoviesAppended,
)
from movie_collections.container import get_container
from movie_collections.core.errors import NotFound, problem_responses
from movie_collections.core.responses import json_response
from movie_collections.idempotency.service import Claim, StoredResponse, request_hash
from movie_collections.ratelimit.budgets import Budget
from movie_collections.ratelimit.dependencies import WritingUserId

router = APIRouter(prefix="/collection", tags=["collections"])

REPLAYED_HEADER = "Idempotent-Replayed"

# The conditional and idempotency headers are read from the request directly (FastAPI's
# header parameters cost more than the rest of a cached read) and documented here.
IF_MATCH = "If-Match"
IF_NONE_MATCH = "If-None-Match"
IDEMPOTENCY_KEY = "Idempotency-Key"
_HEADER_DESCRIPTIONS = {
    IF_MATCH: "Only change the collection if its ETag is one of these (or `*`); otherwise 412 "
    "with the current ETag.",
    IF_NONE_MATCH: "Answer 304 without a body if the collection still has this ETag.",
    IDEMPOTENCY_KEY: "A unique key per intended create (e.g. a UUID). Retrying with the same "
    "key and body answers like the first attempt instead of creating again; the same key "
    "with another body is 422, while the first attempt is still running 409. Keys are "
    "remembered per user for IDEMPOTENCY_KEY_TTL (24 h).",
}


def _reads_header(name: str) -> dict[str, Any]:
    """`openapi_extra=` documenting an optional request header the endpoint reads itself."""
    parameter = {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": _HEADER_DESCRIPTIONS[name],
    }
    return {"parameters": [parameter]}


_ETAG_HEADER = {
    "ETag": {
        "description": "Strong entity tag of the collection's current version.",
        "schema": {"type": "string"},
    }
}


def _with_etag(
    *statuses: int, success: int | None = 200, not_modified: bool = False
) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an endpoint whose success carries an ETag, plus its problem answers."""
    responses = problem_responses(*statuses)
    if 412 in responses:
        responses[412]["headers"] = _ETAG_HEADER
        responses[412]["description"] = "If-Match does not match: the body is a problem, the "
        responses[412]["description"] += "ETag header the current version."
    # FastAPI merges this into the success response it documents itself (model, description).
    if success is not None:
        responses[success] = {"headers": _ETAG_HEADER}
    if not_modified:
        responses[304] = {"description": "Not modified (If-None-Match)", "headers": _ETAG_HEADER}
    return responses


@router.get(
    "/",
    response_model=CollectionList,
    responses=problem_responses(401),
    summary="My collections (newest first) and my top 3 genres",
)
async def list_collections(user_id: CurrentUserId, request: Request) -> Response:
    container = get_container(request)
    return json_response(
        await service.list_collections(container.database, container.list_answers, user_id)
    )


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=CollectionCreated,
    responses=problem_responses(400, 401, 409, 413, 422, 429),
    summary="Create a collection with its movies (all or nothing; idempotent with a key)",
    openapi_extra=_reads_header(IDEMPOTENCY_KEY),
)
async def create_collection(
    payload: CollectionCreate,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    container = get_container(request)
    database = container.database
    service.check_movie_count(payload.movies, container.settings.max_movies_per_collection)
    budget = CollectionBudget.from_settings(container.settings)
    budget.check_movies(payload.movies)
    keys = container.idempotency
    claim: Claim | None = None
    idempotency_key = request.headers.get(IDEMPOTENCY_KEY)
    if idempotency_key is not None:
        claimed = await keys.claim(user_id, idempotency_key, request_hash(payload))
        if isinstance(claimed, StoredResponse):
            return Response(
                claimed.body,
                status_code=claimed.status,
                media_type="application/json",
                headers={REPLAYED_HEADER: "true"},
            )
        claim = claimed
    async with keys.holding(claim):
        # Not for a replay (it writes nothing); a refusal here lets the key go, like any failure.
        await container.user_budgets.spend(Budget.MOVIES_WRITTEN, user_id, len(payload.movies))
        async with database.transaction(write=True) as connection:
            collection_id = await service.create(connection, user_id, payload, budget)
            body = CollectionCreated(collection_uuid=collection_id).model_dump_json()
            if claim is not None:
                await keys.record(connection, claim, status.HTTP_201_CREATED, body)
    return json_response(body.encode(), status.HTTP_201_CREATED)


@router.get(
    "/{collection_uuid}/",
    response_model=CollectionDetail,
    responses=_with_etag(401, 404, not_modified=True),
    summary="One of my collections with its movies, in order",
    openapi_extra=_reads_header(IF_NONE_MATCH),
)
async def get_collection(
    collection_uuid: str,
    user_id: CurrentUserId,
    request: Request,
) -> Response:
    container = get_container(request)
    collection_id = service.parse_collection_id(collection_uuid)
    found = await service.get_collection(
        container.database, container.detail_answers, user_id, collection_id
    )
    if_none_match = request.headers.get(IF_NONE_MATCH)
    if if_none_match_hits(if_none_match, collection_id, found.version):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": found.etag})
    return json_response(found.body, headers={"ETag": found.etag})


@router.put(
    "/{collection_uuid}/",
    response_model=CollectionDetail,
    responses=_with_etag(400, 401, 404, 412, 413, 422, 429),
    summary="Change the title, description or whole movie list of a collection",
    openapi_extra=_reads_header(IF_MATCH),
)
async def update_collection(
    collection_uuid: str,
    payload: CollectionUpdate,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    container = get_container(request)
    collection_id = service.parse_collection_id(collection_uuid)
    condition = parse_if_match(request.headers.get(IF_MATCH), collection_id)
    service.check_movie_count(payload.movies, container.settings.max_movies_per_collection)
    CollectionBudget.from_settings(container.settings).check_movies(payload.movies)
    if payload.movies is not None:
        await container.user_budgets.spend(Budget.MOVIES_WRITTEN, user_id, len(payload.movies))
    async with container.database.transaction(write=True) as connection:
        updated = await service.update(connection, user_id, collection_id, payload, condition)
    return json_response(updated.body, headers={"ETag": updated.etag})


@router.delete(
    "/{collection_uuid}/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_with_etag(401, 404, 412, 429, success=None),
    summary="Delete a collection",
    openapi_extra=_reads_header(IF_MATCH),
)
async def delete_collection(
    collection_uuid: str,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    database = get_container(request).database
    collection_id = service.parse_collection_id(collection_uuid)
    condition = parse_if_match(request.headers.get(IF_MATCH), collection_id)
    async with database.transaction(write=True) as connection:
        await service.delete(connection, user_id, collection_id, condition)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{collection_uuid}/movies/",
    response_model=MoviesAppended,
    responses=_with_etag(400, 401, 404, 412, 413, 422, 429),
    summary="Append movies to a collection (ones already there are reported, not doubled)",
    openapi_extra=_reads_header(IF_MATCH),
)
async def add_movies(
    collection_uuid: str,
    payload: MoviesAppend,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    container = get_container(request)
    collection_id = service.parse_collection_id(collection_uuid)
    condition = parse_if_match(request.headers.get(IF_MATCH), collection_id)
    await container.user_budgets.spend(Budget.MOVIES_WRITTEN, user_id, len(payload.movies))
    async with container.database.transaction(write=True) as connection:
        body, etag = await service.add_movies(
            connection,
            user_id,
            collection_id,
            payload.movies,
            container.settings.max_movies_per_collection,
            condition,
            CollectionBudget.from_settings(container.settings),
        )
    return json_response(body, headers={"ETag": etag})


@router.delete(
    "/{collection_uuid}/movies/{movie_uuid}/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_with_etag(401, 404, 412, 429, success=204),
    summary="Remove one movie from a collection",
    openapi_extra=_reads_header(IF_MATCH),
)
async def remove_movie(
    collection_uuid: str,
    movie_uuid: str,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    database = get_container(request).database
    collection_id = service.parse_collection_id(collection_uuid)
    try:
        movie_id = uuid.UUID(movie_uuid)
    except ValueError as error:
        raise NotFound(service.MOVIE_NOT_FOUND) from error
    condition = parse_if_match(request.headers.get(IF_MATCH), collection_id)
    async with database.transaction(write=True) as connection:
        etag = await service.remove_movie(connection, user_id, collection_id, movie_id, condition)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"ETag": etag})
