"""HTTP of /collection/: parse, call the service inside one transaction, shape the answer."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from movie_collections.auth.dependencies import CurrentUserId
from movie_collections.collection import service, transfer
from movie_collections.collection.budget import CollectionBudget, check_movie_count
from movie_collections.collection.cursors import cursors_for
from movie_collections.collection.etags import Preconditions, if_none_match_hits, parse_if_match
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionCreated,
    CollectionDetail,
    CollectionList,
    CollectionPage,
    CollectionsExport,
    CollectionsImported,
    CollectionUpdate,
    ListQuery,
    MovieChange,
    MoviesAppend,
    MoviesAppended,
    ShareAnswer,
    SharedCollection,
)
from movie_collections.container import get_container
from movie_collections.core.errors import NotFound, problem_responses
from movie_collections.core.openapi import operation_id
from movie_collections.core.responses import json_response
from movie_collections.idempotency.service import (
    AnsweredKey,
    Claim,
    InFlight,
    StoredResponse,
    request_hash,
)
from movie_collections.ratelimit.budgets import Budget
from movie_collections.ratelimit.dependencies import WritingUserId

router = APIRouter(
    prefix="/collection", tags=["collections"], generate_unique_id_function=operation_id
)
shared_router = APIRouter(
    prefix="/shared", tags=["collections"], generate_unique_id_function=operation_id
)

REPLAYED_HEADER = "Idempotent-Replayed"

# The conditional and idempotency headers are read from the request directly (FastAPI's
# header parameters cost more than the rest of a cached read) and documented here.
IF_MATCH = "If-Match"
IF_NONE_MATCH = "If-None-Match"
IDEMPOTENCY_KEY = "Idempotency-Key"
_HEADER_DESCRIPTIONS = {
    IF_MATCH: "Only act on the collection (read or change it) if its ETag is one of these (or "
    "`*`); otherwise 412 with the current ETag.",
    IF_NONE_MATCH: "On GET, 304 without a body if the collection still has one of these ETags; "
    "on a change, 412 if it has one of them (`*`: any).",
    IDEMPOTENCY_KEY: "A unique key per intended create (e.g. a UUID). Retrying with the same "
    "key and body answers like the first attempt instead of creating again; the same key "
    "with another body is 422, while the first attempt is still running 409. Keys are "
    "remembered per user for IDEMPOTENCY_KEY_TTL (24 h).",
}


def _header(request: Request, name: str) -> str | None:
    """A list header's value: repeated lines are one comma-separated list (RFC 9110, 5.3)."""
    values = request.headers.getlist(name)
    return ", ".join(values) if values else None


def _preconditions(request: Request, collection_id: uuid.UUID) -> Preconditions:
    return Preconditions(
        parse_if_match(_header(request, IF_MATCH), collection_id),
        _header(request, IF_NONE_MATCH),
    )


def _reads_header(*names: str) -> dict[str, Any]:
    """`openapi_extra=` documenting optional request headers the endpoint reads itself."""
    parameters = [
        {
            "name": name,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": _HEADER_DESCRIPTIONS[name],
        }
        for name in names
    ]
    return {"parameters": parameters}


_REPLAYED = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer of an earlier request with the "
        "same Idempotency-Key (nothing was created now).",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_IDEMPOTENCY_CONFLICT = (
    "The Idempotency-Key's first request is still running (retry after `Retry-After`)."
)
_CREATE_INVALID = (
    "The request is not valid (`errors` names each bad field), or its Idempotency-Key was "
    "used with another body."
)

_ETAG_HEADER = {
    "ETag": {
        "description": "Strong entity tag of the collection's current version.",
        "schema": {"type": "string"},
    }
}


_STALE = "If-Match does not match: the body is a problem, the ETag header the current version."

# Read as strings, so that anything but a UUID is a 404 like an unknown one (not a 422);
# documented as the UUIDs they are.
_UUID_FORMAT = {"format": "uuid"}
CollectionId = Annotated[
    str,
    Path(
        description="The collection's `collection_uuid` (anything else answers 404).",
        json_schema_extra=_UUID_FORMAT,
    ),
]
MovieId = Annotated[
    str,
    Path(description="The movie's `uuid` (404 if not in it).", json_schema_extra=_UUID_FORMAT),
]


def _with_etag(
    *statuses: int, success: int | None = 200, not_modified: bool = False
) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an endpoint whose success carries an ETag, plus its problem answers."""
    responses = problem_responses(*statuses, descriptions={412: _STALE})
    if 412 in responses:
        responses[412]["headers"] = {**responses[412].get("headers", {}), **_ETAG_HEADER}
    # FastAPI merges this into the success response it documents itself (model, description).
    if success is not None:
        responses[success] = {"headers": _ETAG_HEADER}
    if not_modified:
        responses[304] = {"description": "Not modified (If-None-Match)", "headers": _ETAG_HEADER}
    return responses


def _query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra=` documenting query parameters the endpoint validates itself."""
    schema = model.model_json_schema()
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {k: v for k, v in field.items() if k != "description"},
            "description": field.get("description", ""),
        }
        for name, field in schema["properties"].items()
    ]
    return {"parameters": parameters}


_LIST_PARAMETERS = frozenset(ListQuery.model_fields)


def _paged(request: Request) -> bool:
    """Whether any paging parameter is given (otherwise the spec's answer)."""
    given = request.query_params
    return bool(given) and not _LIST_PARAMETERS.isdisjoint(given)


def _list_query(request: Request) -> ListQuery:
    """The paging query, validated: 422 like any other query parameter."""
    given = request.query_params
    try:
        return ListQuery.model_validate(
            {name: given[name] for name in _LIST_PARAMETERS & set(given)}
        )
    except ValidationError as error:
        errors = [{**item, "loc": ("query", *item["loc"])} for item in error.errors()]
        raise RequestValidationError(errors) from error


@router.get(
    "/",
    response_model=CollectionList | CollectionPage,
    responses=problem_responses(400, 401, 422, 503),
    summary="My collections (newest first) and my top 3 genres; paged, sorted and searched "
    "on request",
    description="Without `limit`, `cursor`, `sort` and `q`: all my collections, newest first "
    "(the spec's answer). With any of them: one page of at most `limit` collections in `sort` "
    "order, only those whose title contains `q`, plus `data.next` (the URL of the next page, "
    "or null) and `data.count` (how many match). `favourite_genres` always covers all my "
    "collections. A cursor altered, forged, or used with another `sort` or `q` is 400.",
    openapi_extra=_query_parameters(ListQuery),
)
async def list_collections(user_id: CurrentUserId, request: Request) -> Response:
    """My collections, newest first, without their movies, and `favourite_genres`: the three
    genres that occur most often across the movies of all my collections (ties by name)."""
    container = get_container(request)
    if _paged(request):
        # Parsed only when the page is not kept already (an answer is kept per URL).
        body = await service.list_page(
            container.database,
            container.versions,
            container.list_answers,
            cursors_for(container.settings.signing_key),
            user_id,
            functools.partial(_list_query, request),
            str(request.url),
        )
        return json_response(body)
    return json_response(
        await service.list_collections(
            container.database, container.versions, container.list_answers, user_id
        )
    )


@dataclass(frozen=True, slots=True)
class _Creator:
    user_id: uuid.UUID
    key: AnsweredKey | InFlight | None  # what became of the Idempotency-Key, if one was sent


async def _creator(request: Request, user_id: CurrentUserId) -> _Creator:
    """The write budget is spent before the body is validated, except by a retry of a key
    already used: it is answered again, or 409, and writes nothing (if it takes over an
    abandoned key instead, the endpoint spends the budget then)."""
    container = get_container(request)
    key = _header(request, IDEMPOTENCY_KEY)  # two lines join into an invalid key
    found = None if key is None else await container.idempotency.find(user_id, key)
    if found is None:
        await container.user_budgets.spend(Budget.WRITES, user_id)
    return _Creator(user_id, found)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=CollectionCreated,
    responses={
        **problem_responses(
            400,
            401,
            409,
            413,
            422,
            429,
            503,
            descriptions={409: _IDEMPOTENCY_CONFLICT, 422: _CREATE_INVALID},
        ),
        201: {"headers": _REPLAYED},
    },
    summary="Create a collection with its movies (all or nothing; idempotent with a key)",
    openapi_extra=_reads_header(IDEMPOTENCY_KEY),
)
async def create_collection(
    payload: CollectionCreate,
    creator: Annotated[_Creator, Depends(_creator)],
    request: Request,
) -> Response:
    """Creates the collection and its movies in one transaction and answers its uuid.

    With `Idempotency-Key`, a retry of the same body answers the first answer again (with
    `Idempotent-Replayed: true`) instead of creating a second collection."""
    container = get_container(request)
    database = container.database
    if payload.movies is not None:
        check_movie_count(len(payload.movies), container.settings.max_movies_per_collection)
    budget = CollectionBudget.from_settings(container.settings)
    budget.check_movies(payload.movies)
    keys = container.idempotency
    user_id = creator.user_id
    claim: Claim | None = None
    idempotency_key = _header(request, IDEMPOTENCY_KEY)
    if idempotency_key is not None:
        body_hash = request_hash(payload)
        if isinstance(creator.key, AnsweredKey):
            return _replayed(creator.key.replay(body_hash))
        if isinstance(creator.key, InFlight):  # 409 (or 422) without the write lock
            creator.key.check(body_hash)
        claimed = await keys.claim(user_id, idempotency_key, body_hash)
        if isinstance(claimed, StoredResponse):  # answered since _creator looked
            return _replayed(claimed)
        claim = claimed
    async with keys.holding(claim):
        # A refusal here lets the key go, like any failure.
        if isinstance(creator.key, InFlight):  # taken over: this request does the work
            await container.user_budgets.spend(Budget.WRITES, user_id)
        await container.user_budgets.spend(Budget.MOVIES_WRITTEN, user_id, len(payload.movies))
        async with database.transaction(write=True) as connection:
            collection_id = await service.create(connection, user_id, payload, budget)
            body = CollectionCreated(collection_uuid=collection_id).model_dump_json()
            if claim is not None:
                await keys.record(connection, claim, status.HTTP_201_CREATED, body)
    return json_response(body.encode(), status.HTTP_201_CREATED)


def _replayed(stored: StoredResponse) -> Response:
    return Response(
        stored.body,
        status_code=stored.status,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


_EXPORT_MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


@router.get(
    "/export/",
    response_model=CollectionsExport,
    responses={
        **problem_responses(401, 422),
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "The export document (JSON), or one CSV row per movie.",
        },
    },
    summary="Export all my collections with their movies and notes (JSON or CSV)",
    description="`format=json` (default): the versioned document "
    '`{"format": "movie-collections/v1", "exported_at", "collections": [...]}`, '
    "collections oldest first, that `POST /collection/import/` takes back. `format=csv`: "
    "a header row, then one row per movie: " + ", ".join(transfer.CSV_COLUMNS) + ". "
    "Sent as an attachment, streamed.",
    operation_id="exportCollections",
)
async def export_collections(
    user_id: CurrentUserId,
    request: Request,
    format: Literal["json", "csv"] = Query("json", description="json or csv"),
) -> Response:
    database = get_container(request).database
    await transfer.check_user(database, user_id)
    stream = transfer.export_json if format == "json" else transfer.export_csv
    return StreamingResponse(
        stream(database, user_id),
        media_type=_EXPORT_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="movie-collections.{format}"'},
    )


@router.post(
    "/import/",
    status_code=status.HTTP_201_CREATED,
    response_model=CollectionsImported,
    responses=problem_responses(400, 401, 413, 422, 429, 503),
    summary="Import collections from an export document (all or nothing)",
    description="Takes a JSON export (`GET /collection/export/`, from any account) and "
    "creates its collections, in order, in one transaction (their `uuid` and times are "
    "new). A document that is invalid, or would pass MAX_COLLECTIONS_PER_USER or "
    "MAX_MOVIES_PER_COLLECTION, is 422 naming its first bad entry, and nothing is created.",
    operation_id="importCollections",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CollectionsExport"}}
            },
        }
    },
)
async def import_collections(user_id: WritingUserId, request: Request) -> Response:
    container = get_container(request)
    settings = container.settings
    document = transfer.parse_import(await request.body(), settings.max_movies_per_collection)
    await transfer.check_user(container.database, user_id)  # an empty document writes nothing
    movies = sum(len(collection.movies or ()) for collection in document.collections)
    await container.user_budgets.spend(Budget.MOVIES_WRITTEN, user_id, movies)
    async with container.database.transaction(write=True) as connection:
        created = await transfer.import_collections(
            connection, user_id, document, CollectionBudget.from_settings(settings)
        )
    body = CollectionsImported(collection_uuids=created).model_dump_json().encode()
    return json_response(body, status.HTTP_201_CREATED)


@router.get(
    "/{collection_uuid}/",
    response_model=CollectionDetail,
    responses=_with_etag(401, 404, 412, 503, not_modified=True),
    summary="One of my collections with its movies, in order",
    openapi_extra=_reads_header(IF_MATCH, IF_NONE_MATCH),
)
async def get_collection(
    collection_uuid: CollectionId,
    user_id: CurrentUserId,
    request: Request,
) -> Response:
    """The collection's title, description and movies in the order given, with its `ETag`;
    304 without a body when `If-None-Match` names the current version, 412 when `If-Match`
    does not (RFC 9110, 13.2.2: If-Match first)."""
    container = get_container(request)
    collection_id = service.parse_collection_id(collection_uuid)
    found = await service.get_collection(
        container.database, container.versions, container.detail_answers, user_id, collection_id
    )
    if_match = parse_if_match(_header(request, IF_MATCH), collection_id)
    if if_match is not None and not if_match.allows(found.version):
        raise service.stale(collection_id, found.version)
    if_none_match = _header(request, IF_NONE_MATCH)
    if if_none_match_hits(if_none_match, collection_id, found.version):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": found.etag})
    return json_response(found.body, headers={"ETag": found.etag})


@router.put(
    "/{collection_uuid}/",
    response_model=CollectionDetail,
    responses=_with_etag(400, 401, 404, 412, 413, 422, 429, 503),
    summary="Change the title, description or whole movie list of a collection",
    openapi_extra=_reads_header(IF_MATCH, IF_NONE_MATCH),
)
async def update_collection(
    collection_uuid: CollectionId,
    payload: CollectionUpdate,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    """Fields left out stay as they are; `movies`, when given, replaces the whole list. Answers
    the collection as it is now, with its new `ETag`."""
    container = get_container(request)
    collection_id = service.parse_collection_id(collection_uuid)
    condition = _preconditions(request, collection_id)
    if payload.movies is not None:
        check_movie_count(len(payload.movies), container.settings.max_movies_per_collection)
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
    responses=_with_etag(401, 404, 412, 429, 503, success=None),
    summary="Delete a collection",
    openapi_extra=_reads_header(IF_MATCH, IF_NONE_MATCH),
)
async def delete_collection(
    collection_uuid: CollectionId,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    """Deletes the collection and its movies (204); with `If-Match`, only the version named."""
    database = get_container(request).database
    collection_id = service.parse_collection_id(collection_uuid)
    condition = _preconditions(request, collection_id)
    async with database.transaction(write=True) as connection:
        await service.delete(connection, user_id, collection_id, condition)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{collection_uuid}/movies/",
    response_model=MoviesAppended,
    responses=_with_etag(400, 401, 404, 412, 413, 422, 429, 503),
    summary="Append movies to a collection (ones already there are reported, not doubled)",
    openapi_extra=_reads_header(IF_MATCH, IF_NONE_MATCH),
)
async def add_movies(
    collection_uuid: CollectionId,
    payload: MoviesAppend,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    """Appends the movies in order; those the collection already holds are listed in
    `already_present` and not added twice. Answers the whole collection with its new `ETag`."""
    container = get_container(request)
    collection_id = service.parse_collection_id(collection_uuid)
    condition = _preconditions(request, collection_id)
    budget = CollectionBudget.from_settings(container.settings)
    budget.check_movies(payload.movies)  # each posted movie, named by its place in the body
    await container.user_budgets.spend(Budget.MOVIES_WRITTEN, user_id, len(payload.movies))
    async with container.database.transaction(write=True) as connection:
        body, etag = await service.add_movies(
            connection,
            user_id,
            collection_id,
            payload.movies,
            container.settings.max_movies_per_collection,
            condition,
            budget,
        )
    return json_response(body, headers={"ETag": etag})


def _movie_write(
    collection_uuid: str, movie_uuid: str, request: Request
) -> tuple[uuid.UUID, uuid.UUID, Preconditions]:
    """The ids and preconditions of a write to one movie of a collection (a bad id is a 404)."""
    collection_id = service.parse_collection_id(collection_uuid)
    try:
        movie_id = uuid.UUID(movie_uuid)
    except ValueError as error:
        raise NotFound(service.MOVIE_NOT_FOUND) from error
    return collection_id, movie_id, _preconditions(request, collection_id)


@router.delete(
    "/{collection_uuid}/movies/{movie_uuid}/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_with_etag(401, 404, 412, 429, 503, success=204),
    summary="Remove one movie from a collection",
    openapi_extra=_reads_header(IF_MATCH, IF_NONE_MATCH),
)
async def remove_movie(
    collection_uuid: CollectionId,
    movie_uuid: MovieId,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    """Removes the movie (204, with the collection's new `ETag`); 404 if it is not in it."""
    database = get_container(request).database
    collection_id, movie_id, condition = _movie_write(collection_uuid, movie_uuid, request)
    async with database.transaction(write=True) as connection:
        etag = await service.remove_movie(connection, user_id, collection_id, movie_id, condition)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"ETag": etag})


@router.patch(
    "/{collection_uuid}/movies/{movie_uuid}/",
    response_model=CollectionDetail,
    responses=_with_etag(400, 401, 404, 412, 413, 422, 429, 503),
    summary="Set a movie's note and/or move it within the collection",
    description="`note` (null removes it) and/or `position` (0-based; the movies in between "
    "shift by one); a field left out stays as it is. Answers the collection and its new ETag.",
    operation_id="updateMovie",
    openapi_extra=_reads_header(IF_MATCH, IF_NONE_MATCH),
)
async def change_movie(
    collection_uuid: CollectionId,
    movie_uuid: MovieId,
    payload: MovieChange,
    user_id: WritingUserId,
    request: Request,
) -> Response:
    database = get_container(request).database
    collection_id, movie_id, condition = _movie_write(collection_uuid, movie_uuid, request)
    async with database.transaction(write=True) as connection:
        changed = await service.change_movie(
            connection, user_id, collection_id, movie_id, payload, condition
        )
    return json_response(changed.body, headers={"ETag": changed.etag})


@router.post(
    "/{collection_uuid}/share/",
    response_model=ShareAnswer,
    status_code=status.HTTP_201_CREATED,
    responses={
        **problem_responses(401, 404, 429, 503),
        200: {
            "description": "Already shared: the link",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ShareAnswer"}}
            },
        },
    },
    summary="Share a collection read-only by link (or get its existing link)",
    description="Makes the collection's link (201), or answers the one it has (200). Any "
    "signed-in user with the token may read the collection at `GET /shared/<token>/` and "
    "copy it with `POST /shared/<token>/copy/`; nothing else.",
    operation_id="shareCollection",
)
async def share_collection(
    collection_uuid: CollectionId, user_id: WritingUserId, request: Request
) -> Response:
    database = get_container(request).database
    collection_id = service.parse_collection_id(collection_uuid)
    async with database.transaction(write=True) as connection:
        body, created = await service.share(connection, user_id, collection_id)
    return json_response(body, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get(
    "/{collection_uuid}/share/",
    response_model=ShareAnswer,
    responses=problem_responses(401, 404, 503),
    summary="The share link of one of my collections (404 if it has none)",
    description="The link made by `POST /collection/<uuid>/share/`; 404 when the collection "
    "is not shared.",
    operation_id="getCollectionShare",
)
async def read_share(
    collection_uuid: CollectionId, user_id: CurrentUserId, request: Request
) -> Response:
    database = get_container(request).database
    collection_id = service.parse_collection_id(collection_uuid)
    return json_response(await service.read_share(database, user_id, collection_id))


@router.delete(
    "/{collection_uuid}/share/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 404, 429, 503),
    summary="Revoke a collection's share link",
    description="The link answers 404 from now on (204 also when the collection was not "
    "shared); sharing again makes a new token.",
    operation_id="unshareCollection",
)
async def unshare_collection(
    collection_uuid: CollectionId, user_id: WritingUserId, request: Request
) -> Response:
    database = get_container(request).database
    collection_id = service.parse_collection_id(collection_uuid)
    async with database.transaction(write=True) as connection:
        await service.unshare(connection, user_id, collection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@shared_router.get(
    "/{token}/",
    response_model=SharedCollection,
    responses=problem_responses(401, 404, 503),
    summary="A collection shared with me by link (read-only)",
    description="Title, description, movies with their notes, and the owner's username. "
    "404 for a token that is unknown or revoked.",
    operation_id="getSharedCollection",
)
async def read_shared(token: str, user_id: CurrentUserId, request: Request) -> Response:
    database = get_container(request).database
    return json_response(await service.read_shared(database, token))


@shared_router.post(
    "/{token}/copy/",
    status_code=status.HTTP_201_CREATED,
    response_model=CollectionCreated,
    responses=problem_responses(401, 404, 422, 429, 503),
    summary="Save a copy of a shared collection into my collections",
    description="A new collection of mine with the shared one's title, description, movies "
    "and notes; later changes to either do not reach the other. 422 past "
    "MAX_COLLECTIONS_PER_USER.",
    operation_id="copySharedCollection",
)
async def copy_shared(token: str, user_id: WritingUserId, request: Request) -> Response:
    container = get_container(request)
    budget = CollectionBudget.from_settings(container.settings)
    payload = await service.shared_copy(container.database, token)
    budget.check_movies(payload.movies)
    await container.user_budgets.spend(Budget.MOVIES_WRITTEN, user_id, len(payload.movies))
    async with container.database.transaction(write=True) as connection:
        collection_id = await service.create(connection, user_id, payload, budget)
    body = CollectionCreated(collection_uuid=collection_id).model_dump_json().encode()
    return json_response(body, status.HTTP_201_CREATED)
