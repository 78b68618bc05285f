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
from movie_collections.db import Database
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


async def _read_not_found(database: Database, owner_id: uuid.UUID) -> NotFound | Unauthorized:
    """_not_found on the driver path: 401 for a deleted user's token, else 404."""
    if not await repository.read_user_exists(database, owner_id):
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


async def read_overview(database: Database, owner_id: uuid.UUID) -> CollectionList:
    """GET /collection/ on the hot-read path (one snapshot, no ORM layer)."""
    summaries, genres = await repository.read_overview(database, owner_id)
    if not summaries and not await repository.read_user_exists(database, owner_id):
        raise Unauthorized(USER_GONE)
    return CollectionList(
        data=CollectionsOverview(collections=summaries, favourite_genres=",".join(genres))
    )


async def read_detail(
    database: Database, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> CollectionDetail:
    """GET /collection/<uuid>/ on the hot-read path (one snapshot, no ORM layer)."""
    found = await repository.read_collection(database, owner_id, collection_id)
    if found is None:
        raise await _read_not_found(database, owner_id)
    record, movies = found
    return CollectionDetail(
        uuid=record.id, title=record.title, description=record.description, movies=movies
    )


async def write_new(
    database: Database, owner_id: uuid.UUID, payload: CollectionCreate
) -> uuid.UUID:
    """POST /collection/ on the hot-write path (one driver-level transaction)."""
    try:
        return await repository.write_new_collection(
            database, owner_id, payload.title, payload.description, payload.movies
        )
    except IntegrityError as error:
        # As in create(): the owner's row is referenced by a foreign key (deleted user).
        if "foreign key" in str(error.orig).lower():
            raise Unauthorized(USER_GONE) from error
        raise


async def write_changes(
    database: Database, owner_id: uuid.UUID, collection_id: uuid.UUID, payload: CollectionUpdate
) -> CollectionDetail:
    """PUT /collection/<uuid>/ on the hot-write path: the change and the answer in one
    transaction, so the answer is exactly what this change left."""
    changes = payload.model_dump(include={"title", "description"}, exclude_unset=True)
    found = await repository.write_collection_changes(
        database, owner_id, collection_id, changes, payload.movies
    )
    if found is None:
        raise await _read_not_found(database, owner_id)
    record, movies = found
    return CollectionDetail(
        uuid=record.id, title=record.title, description=record.description, movies=movies
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
