"""Collection rules: ownership (through the repository), limits, favourite genres."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from movie_collections.auth.repository import user_exists
from movie_collections.collection import repository
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionDetail,
    CollectionList,
    CollectionsOverview,
    CollectionSummary,
    CollectionUpdate,
    Movie,
)
from movie_collections.errors import NotFound, Unauthorized, Unprocessable

COLLECTION_NOT_FOUND = "Collection not found."
USER_GONE = "The user of this access token no longer exists."


def check_movie_count(movies: list[Movie] | None, limit: int) -> None:
    """MAX_MOVIES_PER_COLLECTION may be set below the schema's maximum; checked before SQL."""
    if movies is not None and len(movies) > limit:
        raise Unprocessable(f"A collection holds at most {limit} movies.")


async def _not_found(connection: AsyncConnection, owner_id: uuid.UUID) -> NotFound | Unauthorized:
    """The error for an empty answer. Tokens are checked without the database, so the token
    of a deleted user still verifies: the user is looked up only here, on the paths whose
    answer would otherwise be empty, which keeps the hot paths free of the extra query."""
    if not await user_exists(connection, owner_id):
        return Unauthorized(USER_GONE)
    return NotFound(COLLECTION_NOT_FOUND)


def parse_collection_id(raw: str) -> uuid.UUID:
    """A path segment that is not a UUID is answered exactly like an unknown collection."""
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise NotFound(COLLECTION_NOT_FOUND) from error


async def overview(connection: AsyncConnection, owner_id: uuid.UUID) -> CollectionList:
    records = await repository.list_collections(connection, owner_id)
    if not records and not await user_exists(connection, owner_id):
        raise Unauthorized(USER_GONE)
    genres = await repository.favourite_genres(connection, owner_id) if records else []
    return CollectionList(
        data=CollectionsOverview(
            collections=[
                CollectionSummary(title=r.title, uuid=r.id, description=r.description)
                for r in records
            ],
            favourite_genres=",".join(genres),
        )
    )


async def create(
    connection: AsyncConnection, owner_id: uuid.UUID, payload: CollectionCreate
) -> uuid.UUID:
    try:
        return await repository.insert_collection(
            connection, owner_id, payload.title, payload.description, payload.movies
        )
    except IntegrityError as error:
        # The owner's row is referenced by a foreign key: its absence means a deleted user.
        if "foreign key" in str(error.orig).lower():
            raise Unauthorized(USER_GONE) from error
        raise


async def detail(
    connection: AsyncConnection, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> CollectionDetail:
    record = await repository.find_collection(connection, owner_id, collection_id)
    if record is None:
        raise await _not_found(connection, owner_id)
    movies = await repository.list_movies(connection, record.id)
    return CollectionDetail(
        uuid=record.id, title=record.title, description=record.description, movies=movies
    )


async def update(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    payload: CollectionUpdate,
) -> CollectionDetail:
    changes = payload.model_dump(include={"title", "description"}, exclude_unset=True)
    updated = await repository.update_collection(
        connection, owner_id, collection_id, changes, payload.movies
    )
    if not updated:
        raise await _not_found(connection, owner_id)
    return await detail(connection, owner_id, collection_id)


async def delete(
    connection: AsyncConnection, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> None:
    if not await repository.delete_collection(connection, owner_id, collection_id):
        raise await _not_found(connection, owner_id)
