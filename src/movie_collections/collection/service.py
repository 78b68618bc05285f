"""Collection rules: ownership (through the repository), limits, versions and ETags, answers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from movie_collections.collection import repository
from movie_collections.collection.budget import CollectionBudget
from movie_collections.collection.etags import IfMatch, etag_for
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionDetail,
    CollectionList,
    CollectionUpdate,
    Movie,
    MoviesAppended,
)
from movie_collections.core.database import Connection, Database, ForeignKeyViolation
from movie_collections.core.errors import (
    NotFound,
    PreconditionFailed,
    Unauthorized,
    Unprocessable,
)
from movie_collections.core.versioned_cache import VersionedCache

COLLECTION_NOT_FOUND = "Collection not found."
MOVIE_NOT_FOUND = "Movie not found in this collection."
USER_GONE = "The user of this access token no longer exists."


@dataclass(frozen=True, slots=True)
class Answer:
    """A collection's JSON answer with the version its ETag is made from."""

    collection_id: uuid.UUID
    body: bytes
    version: int

    @property
    def etag(self) -> str:
        return etag_for(self.collection_id, self.version)


def check_movie_count(movies: Sequence[Movie] | None, limit: int) -> None:
    """MAX_MOVIES_PER_COLLECTION may be set below the schema's maximum; checked before SQL."""
    if movies is not None and len(movies) > limit:
        raise Unprocessable(f"A collection holds at most {limit} movies.")


def parse_collection_id(raw: str) -> uuid.UUID:
    """A path segment that is not a UUID is answered exactly like an unknown collection."""
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise NotFound(COLLECTION_NOT_FOUND) from error


async def _not_found(connection: Connection, owner_id: uuid.UUID) -> NotFound | Unauthorized:
    """The error for a collection that is not the caller's. Tokens are checked without the
    database, so the user is looked up only here, off the hot path: a deleted user gets 401."""
    if not await repository.user_exists(connection, owner_id):
        return Unauthorized(USER_GONE)
    return NotFound(COLLECTION_NOT_FOUND)


def _stale(collection_id: uuid.UUID, version: int) -> PreconditionFailed:
    return PreconditionFailed(
        "The collection has changed since you read it (If-Match does not match); "
        "fetch it again and retry.",
        headers={"ETag": etag_for(collection_id, version)},
    )


def _detail_json(collection_id: uuid.UUID, detail: repository.Detail) -> bytes:
    answer = {"uuid": collection_id, **detail.fields, "movies": detail.movies}
    return CollectionDetail.model_validate(answer).model_dump_json().encode()


async def list_collections(
    database: Database, cache: VersionedCache[uuid.UUID] | None, owner_id: uuid.UUID
) -> bytes:
    """GET /collection/: the list's version is read first, and the answer built for that
    very version is sent again if this process has it."""
    if cache is not None:
        async with database.connection() as connection:
            version = await repository.list_version(connection, owner_id)
        kept = cache.get(owner_id, version) if version is not None else None
        if kept is not None:
            return kept
    async with database.transaction() as connection:
        overview = await repository.read_overview(connection, owner_id)
    if not overview.user_exists:
        raise Unauthorized(USER_GONE)
    answer = CollectionList.model_validate(
        {
            "data": {
                "collections": overview.summaries,
                "favourite_genres": overview.favourite_genres,
            }
        }
    )
    body = answer.model_dump_json().encode()
    if cache is not None and overview.version is not None:
        cache.put(owner_id, overview.version, body)
    return body


async def get_collection(
    database: Database,
    cache: VersionedCache[tuple[uuid.UUID, uuid.UUID]] | None,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
) -> Answer:
    """GET /collection/<uuid>/, through the versioned cache like the list."""
    key = (owner_id, collection_id)
    async with database.connection() as connection:
        if cache is not None:
            version = await repository.read_version(connection, owner_id, collection_id)
            if version is None:
                raise await _not_found(connection, owner_id)
            kept = cache.get(key, version)
            if kept is not None:
                return Answer(collection_id, kept, version)
        detail = await repository.read_detail(connection, owner_id, collection_id)
        if detail is None:
            raise await _not_found(connection, owner_id)
    body = _detail_json(collection_id, detail)
    if cache is not None:
        cache.put(key, detail.version, body)
    return Answer(collection_id, body, detail.version)


async def create(
    connection: Connection,
    owner_id: uuid.UUID,
    payload: CollectionCreate,
    budget: CollectionBudget,
) -> uuid.UUID:
    """The movies' genres are checked by the caller (budget.check_movies), before the
    transaction; the count of collections here, inside it."""
    await budget.ensure_room(connection, owner_id, 1)
    try:
        return await repository.insert_collection(
            connection, owner_id, payload.model_dump(exclude={"movies"}), payload.movies
        )
    except ForeignKeyViolation as error:  # the owner's row is gone: a deleted user
        raise Unauthorized(USER_GONE) from error


async def lock(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    if_match: IfMatch | None,
) -> int:
    """Lock the collection for this write transaction and check If-Match against its version."""
    version = await repository.read_version(connection, owner_id, collection_id, lock=True)
    if version is None:
        raise await _not_found(connection, owner_id)
    if if_match is not None and not if_match.allows(version):
        raise _stale(collection_id, version)
    return version


async def update(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    payload: CollectionUpdate,
    if_match: IfMatch | None,
) -> Answer:
    """PUT: change what is given; the movie list, if given, replaces the whole list."""
    await lock(connection, owner_id, collection_id, if_match)
    changes = payload.model_dump(exclude={"movies"}, exclude_unset=True)
    version, fields = await repository.update_collection(
        connection, owner_id, collection_id, changes
    )
    if payload.movies is not None:
        await repository.replace_movies(connection, owner_id, collection_id, payload.movies)
        # The movies just written are the whole list, in this order: nothing to read back.
        answer = CollectionDetail.model_construct(
            uuid=collection_id, **fields, movies=payload.movies
        )
        return Answer(collection_id, answer.model_dump_json().encode(), version)
    detail = await repository.read_detail(connection, owner_id, collection_id)
    assert detail is not None  # locked above
    return Answer(collection_id, _detail_json(collection_id, detail), version)


async def delete(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    if_match: IfMatch | None,
) -> None:
    await lock(connection, owner_id, collection_id, if_match)
    await repository.delete_collection(connection, owner_id, collection_id)


async def add_movies(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movies: Sequence[Movie],
    movie_limit: int,
    if_match: IfMatch | None,
    budget: CollectionBudget,
) -> tuple[bytes, str]:
    """Append the movies not there yet, in the order given; report those already there.
    The MoviesAppended answer and the new ETag."""
    await lock(connection, owner_id, collection_id, if_match)
    present = set(await repository.movie_uuids(connection, collection_id))
    already_present = [movie.uuid for movie in movies if movie.uuid in present]
    new_movies = [movie for movie in movies if movie.uuid not in present]
    if new_movies:
        count = len(present) + len(new_movies)
        if count > movie_limit:
            raise Unprocessable(
                f"A collection holds at most {movie_limit} movies; this would make {count}."
            )
        budget.check_movies(new_movies, await repository.genre_names(connection, collection_id))
        await repository.insert_movies(
            connection, owner_id, collection_id, new_movies, first_position=len(present)
        )
        await repository.update_collection(connection, owner_id, collection_id)
    detail = await repository.read_detail(connection, owner_id, collection_id)
    assert detail is not None  # locked above
    answer: dict[str, Any] = {
        "uuid": collection_id,
        **detail.fields,
        "movies": detail.movies,
        "already_present": already_present,
    }
    body = MoviesAppended.model_validate(answer).model_dump_json().encode()
    return body, etag_for(collection_id, detail.version)


async def remove_movie(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movie_uuid: uuid.UUID,
    if_match: IfMatch | None,
) -> str:
    """Take one movie out; the collection's new ETag."""
    await lock(connection, owner_id, collection_id, if_match)
    if not await repository.remove_movie(connection, collection_id, movie_uuid):
        raise NotFound(MOVIE_NOT_FOUND)
    version, _ = await repository.update_collection(connection, owner_id, collection_id)
    return etag_for(collection_id, version)
