"""Collection rules: ownership (through the repository), limits, versions, favourite genres."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from pydantic_core import to_json
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from movie_collections.auth.repository import user_exists
from movie_collections.collection import repository
from movie_collections.collection.etags import IfMatch, etag_for
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionDetail,
    CollectionUpdate,
    Movie,
)
from movie_collections.core.database import Database
from movie_collections.core.errors import NotFound, PreconditionFailed, Unauthorized, Unprocessable
from movie_collections.core.versioned_cache import VersionedCache

COLLECTION_NOT_FOUND = "Collection not found."
MOVIE_NOT_FOUND = "Movie not found in this collection."
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


async def read_overview(
    database: Database, answers: VersionedCache[uuid.UUID] | None, owner_id: uuid.UUID
) -> bytes:
    """GET /collection/ on the hot-read path (one snapshot, no ORM layer): the JSON answer.

    With `answers`, the list's version is read first, and the answer built for that very
    version is sent again if this process has it (see kept_answers.py for why that is exact).
    """
    if answers is not None:
        version = await repository.read_list_version(database, owner_id)
        if version is not None:
            kept = answers.get(owner_id, version)
            if kept is not None:
                return kept
    overview = await repository.read_overview(database, owner_id)
    if not overview.user_exists:
        raise Unauthorized(USER_GONE)
    answer = overview_json(overview)
    if answers is not None and overview.version is not None:
        answers.put(owner_id, overview.version, answer)
    return answer


def overview_json(overview: repository.Overview) -> bytes:
    """The CollectionList answer, serialised by pydantic-core straight from the rows: the
    same bytes as CollectionList(...).model_dump_json() (tests/test_collections.py checks),
    without building and validating a model per collection (a third of the list's CPU)."""
    return to_json(
        {
            "is_success": True,
            "data": {
                "collections": overview.summaries,
                "favourite_genres": overview.favourite_genres,
            },
        }
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


@dataclass(frozen=True, slots=True)
class DetailAnswer:
    """A collection's answer (CollectionDetail's JSON) with the version its ETag is made from."""

    collection_id: uuid.UUID
    body: bytes
    version: int

    @property
    def etag(self) -> str:
        return etag_for(self.collection_id, self.version)


@dataclass(frozen=True, slots=True)
class VersionedDetail:
    """A collection as answered, with the version its ETag is made from."""

    detail: CollectionDetail
    version: int

    @property
    def etag(self) -> str:
        return etag_for(self.detail.uuid, self.version)


def _check_limit(count: int, limit: int) -> None:
    if count > limit:
        raise Unprocessable(f"A collection holds at most {limit} movies; this would make {count}.")


async def create(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    payload: CollectionCreate,
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
) -> VersionedDetail:
    record = await repository.find_collection(connection, owner_id, collection_id)
    if record is None:
        raise await _not_found(connection, owner_id)
    movies = await repository.list_movies(connection, record.id)
    return VersionedDetail(
        CollectionDetail(
            uuid=record.id, title=record.title, description=record.description, movies=movies
        ),
        record.version,
    )


async def read_detail(
    database: Database,
    answers: VersionedCache[tuple[uuid.UUID, uuid.UUID]] | None,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
) -> DetailAnswer:
    """GET /collection/<uuid>/ on the hot-read path (one statement, one snapshot).

    With `answers`, the collection's version is read first, and the answer built for that
    very version is sent again if this process has it (see kept_answers.py for why that is
    exact); otherwise the collection and its movies are read, with their version.
    """
    key = (owner_id, collection_id)
    if answers is not None:
        version = await repository.read_version(database, owner_id, collection_id)
        if version is None:
            raise await _read_not_found(database, owner_id)
        kept = answers.get(key, version)
        if kept is not None:
            return DetailAnswer(collection_id, kept, version)
    found = await repository.read_detail(database, owner_id, collection_id)
    if found is None:
        raise await _read_not_found(database, owner_id)
    if answers is not None:
        answers.put(key, found[1], found[0])
    return DetailAnswer(collection_id, *found)


async def write_update(
    database: Database,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    payload: CollectionUpdate,
    if_match: IfMatch | None = None,
) -> DetailAnswer:
    """PUT /collection/<uuid>/ on the hot-write path (one driver-level transaction)."""
    changes = payload.model_dump(include={"title", "description"}, exclude_unset=True)
    updated = await repository.write_update(
        database, owner_id, collection_id, changes, payload.movies, _versions(if_match)
    )
    if updated is not None:
        return DetailAnswer(collection_id, *updated)
    # Nothing matched: 404 (or 401 for a deleted user) if the collection is not the caller's,
    # else 412 with the version it has now.
    version = await repository.read_version(database, owner_id, collection_id)
    if version is None:
        raise await _read_not_found(database, owner_id)
    raise _stale(collection_id, version)


async def _read_not_found(database: Database, owner_id: uuid.UUID) -> NotFound | Unauthorized:
    """_not_found on the hot-read path."""
    if not await repository.read_user_exists(database, owner_id):
        return Unauthorized(USER_GONE)
    return NotFound(COLLECTION_NOT_FOUND)


async def delete(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    if_match: IfMatch | None = None,
) -> None:
    deleted = await repository.delete_collection(
        connection, owner_id, collection_id, _versions(if_match)
    )
    if not deleted:
        await _raise_missing_or_stale(connection, owner_id, collection_id)


async def add_movies(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movies: Sequence[Movie],
    movie_limit: int,
    if_match: IfMatch | None = None,
) -> tuple[VersionedDetail, list[uuid.UUID]]:
    """Append the movies not there yet, in the order given; report those already there."""
    version = await _lock(connection, owner_id, collection_id, if_match)
    present = set(await repository.movie_uuids(connection, collection_id))
    already_present = [movie.uuid for movie in movies if movie.uuid in present]
    new_movies = [movie for movie in movies if movie.uuid not in present]
    if new_movies:
        _check_limit(len(present) + len(new_movies), movie_limit)
        await repository.append_movies(
            connection, owner_id, collection_id, new_movies, len(present), version
        )
    return await detail(connection, owner_id, collection_id), already_present


async def remove_movie(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movie_uuid: uuid.UUID,
    if_match: IfMatch | None = None,
) -> int:
    """Take one movie out; the collection's new version."""
    version = await _lock(connection, owner_id, collection_id, if_match)
    new_version = await repository.remove_movie(
        connection, owner_id, collection_id, movie_uuid, version
    )
    if new_version is None:
        raise NotFound(MOVIE_NOT_FOUND)
    return new_version


async def _lock(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    if_match: IfMatch | None,
) -> int:
    """Lock the collection for this transaction and check If-Match against the locked version."""
    version = await repository.current_version(connection, owner_id, collection_id, lock=True)
    if version is None:
        raise await _not_found(connection, owner_id)
    if if_match is not None and not if_match.allows(version):
        raise _stale(collection_id, version)
    return version


def _versions(if_match: IfMatch | None) -> frozenset[int] | None:
    """The versions a write may apply to; None means any (no If-Match, or `*`)."""
    if if_match is None or if_match.any_version:
        return None
    return if_match.versions


async def _raise_missing_or_stale(
    connection: AsyncConnection, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> NoReturn:
    """After a write matched no row: 404 (or 401 for a deleted user) if the collection is not
    the caller's, else 412."""
    version = await repository.current_version(connection, owner_id, collection_id, lock=False)
    if version is None:
        raise await _not_found(connection, owner_id)
    raise _stale(collection_id, version)


def _stale(collection_id: uuid.UUID, version: int) -> PreconditionFailed:
    return PreconditionFailed(
        "The collection has changed since you read it (If-Match does not match); "
        "fetch it again and retry.",
        headers={"ETag": etag_for(collection_id, version)},
    )
