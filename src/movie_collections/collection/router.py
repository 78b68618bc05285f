"""HTTP of /collection/: parse, call the service inside one transaction, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from movie_collections.auth.dependencies import CurrentUserId
from movie_collections.collection import service
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionCreated,
    CollectionDetail,
    CollectionList,
    CollectionUpdate,
)
from movie_collections.container import DatabaseDependency
from movie_collections.errors import problem_responses

router = APIRouter(prefix="/collection", tags=["collections"])


@router.get(
    "/",
    response_model=CollectionList,
    responses=problem_responses(401),
    summary="My collections (newest first) and my top 3 genres",
)
async def list_collections(user_id: CurrentUserId, database: DatabaseDependency) -> CollectionList:
    return await service.read_overview(database, user_id)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=CollectionCreated,
    responses=problem_responses(400, 401, 413, 422),
    summary="Create a collection with its movies (all or nothing)",
)
async def create_collection(
    payload: CollectionCreate, user_id: CurrentUserId, database: DatabaseDependency
) -> CollectionCreated:
    service.check_movie_count(payload.movies, database.settings.max_movies_per_collection)
    collection_id = await service.write_new(database, user_id, payload)
    return CollectionCreated(collection_uuid=collection_id)


@router.get(
    "/{collection_uuid}/",
    response_model=CollectionDetail,
    responses=problem_responses(401, 404),
    summary="One of my collections with its movies, in order",
)
async def get_collection(
    collection_uuid: str, user_id: CurrentUserId, database: DatabaseDependency
) -> CollectionDetail:
    collection_id = service.parse_collection_id(collection_uuid)
    return await service.read_detail(database, user_id, collection_id)


@router.put(
    "/{collection_uuid}/",
    response_model=CollectionDetail,
    responses=problem_responses(400, 401, 404, 413, 422),
    summary="Change the title, description or whole movie list of a collection",
)
async def update_collection(
    collection_uuid: str,
    payload: CollectionUpdate,
    user_id: CurrentUserId,
    database: DatabaseDependency,
) -> CollectionDetail:
    collection_id = service.parse_collection_id(collection_uuid)
    service.check_movie_count(payload.movies, database.settings.max_movies_per_collection)
    return await service.write_changes(database, user_id, collection_id, payload)


@router.delete(
    "/{collection_uuid}/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 404),
    summary="Delete a collection",
)
async def delete_collection(
    collection_uuid: str, user_id: CurrentUserId, database: DatabaseDependency
) -> Response:
    collection_id = service.parse_collection_id(collection_uuid)
    async with database.transaction(write=True) as connection:
        await service.delete(connection, user_id, collection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
