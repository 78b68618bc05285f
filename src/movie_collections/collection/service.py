"""Collection rules: ownership (through the repository), limits, versions and ETags, answers."""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from movie_collections.collection import repository
from movie_collections.collection.budget import CollectionBudget, check_movie_count
from movie_collections.collection.cursors import Cursors, Position
from movie_collections.collection.etags import UNCONDITIONAL, Preconditions, etag_for
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionDetail,
    CollectionList,
    CollectionPage,
    CollectionUpdate,
    ListQuery,
    Movie,
    MovieChange,
    MoviesAppended,
    Share,
    ShareAnswer,
    SharedCollection,
)
from movie_collections.core.batching import FreshBatches
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
SHARE_NOT_FOUND = "No collection is shared under this link (it may have been revoked)."
SHARED_PATH = "/shared/{token}/"
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Answer:
    """A collection's JSON answer with the version its ETag is made from."""

    collection_id: uuid.UUID
    body: bytes
    version: int

    @property
    def etag(self) -> str:
        return etag_for(self.collection_id, self.version)


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


def stale(collection_id: uuid.UUID, version: int) -> PreconditionFailed:
    """412 naming the current version."""
    return PreconditionFailed(
        "The collection's version fails the request's If-Match or If-None-Match: it has "
        "changed since you read it, or it exists; fetch it again and retry.",
        headers={"ETag": etag_for(collection_id, version)},
    )


def answer_json(answer: CollectionDetail | SharedCollection) -> bytes:
    """A collection's answer: a movie's note is shown only when it has one, so answers of
    collections without notes are those of the spec."""
    return answer.model_dump_json(exclude_none=True).encode()


def _detail_json(collection_id: uuid.UUID, detail: repository.Detail) -> bytes:
    answer = {"uuid": collection_id, **detail.fields, "movies": detail.movies}
    return answer_json(CollectionDetail.model_validate(answer))


ListKey = uuid.UUID | tuple[uuid.UUID, str]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Versions:
    """The current versions the versioned caches are checked against, of collections and of
    owners' lists: concurrent requests read theirs in one statement (FreshBatches)."""

    def __init__(self, database: Database) -> None:
        self.collections = FreshBatches(_batch_reader(database, repository.read_versions))
        self.lists = FreshBatches(_batch_reader(database, repository.list_versions))


def _batch_reader(
    database: Database, read: Callable[[Connection, Sequence[K]], Awaitable[dict[K, V]]]
) -> Callable[[Sequence[K]], Awaitable[dict[K, V]]]:
    async def fetch(keys: Sequence[K]) -> dict[K, V]:
        async with database.connection() as connection:
            return await read(connection, keys)

    return fetch


async def _list_answer(
    database: Database,
    versions: Versions,
    cache: VersionedCache[ListKey] | None,
    key: ListKey,
    owner_id: uuid.UUID,
    build: Callable[[Connection], Awaitable[tuple[bytes, int | None]]],
) -> bytes:
    """An answer about the owner's list (the list, or a page of it): the list's version is read
    first, and the answer built for that very version is sent again if this process has it.
    Otherwise `build` reads the data and the version in one snapshot and answers."""
    if cache is not None:
        version = await versions.lists.get(owner_id)
        kept = cache.get(key, version) if version is not None else None
        if kept is not None:
            return kept
    async with database.transaction() as connection:
        body, version = await build(connection)
    if cache is not None and version is not None:
        cache.put(key, version, body)
    return body


async def list_collections(
    database: Database,
    versions: Versions,
    cache: VersionedCache[ListKey] | None,
    owner_id: uuid.UUID,
) -> bytes:
    """GET /collection/: all the owner's collections, newest first, and the top genres."""

    async def build(connection: Connection) -> tuple[bytes, int | None]:
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
        return answer.model_dump_json().encode(), overview.version

    return await _list_answer(database, versions, cache, owner_id, owner_id, build)


async def get_collection(
    database: Database,
    versions: Versions,
    cache: VersionedCache[repository.CollectionKey] | None,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
) -> Answer:
    """GET /collection/<uuid>/, through the versioned cache like the list."""
    key = (owner_id, collection_id)
    if cache is not None:
        version = await versions.collections.get(key)
        if version is not None:
            kept = cache.get(key, version)
            if kept is not None:
                return Answer(collection_id, kept, version)
    async with database.connection() as connection:
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
    now: datetime | None = None,
) -> uuid.UUID:
    """The movies' genres are checked by the caller (budget.check_movies), before the
    transaction; the count of collections here, inside it."""
    await budget.ensure_room(connection, owner_id, 1)
    try:
        return await repository.insert_collection(
            connection, owner_id, payload.model_dump(exclude={"movies"}), payload.movies, now
        )
    except ForeignKeyViolation as error:  # the owner's row is gone: a deleted user
        raise Unauthorized(USER_GONE) from error


async def lock(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    conditions: Preconditions,
) -> int:
    """Lock the collection for this write transaction and check the preconditions against
    its version."""
    version = await repository.read_version(connection, owner_id, collection_id, lock=True)
    if version is None:
        raise await _not_found(connection, owner_id)
    if not conditions.allow(collection_id, version):
        raise stale(collection_id, version)
    return version


async def update(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    payload: CollectionUpdate,
    conditions: Preconditions,
) -> Answer:
    """PUT: change what is given; the movie list, if given, replaces the whole list."""
    await lock(connection, owner_id, collection_id, conditions)
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
        return Answer(collection_id, answer_json(answer), version)
    detail = await repository.read_detail(connection, owner_id, collection_id)
    assert detail is not None  # locked above
    return Answer(collection_id, _detail_json(collection_id, detail), version)


async def delete(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    conditions: Preconditions,
) -> None:
    await lock(connection, owner_id, collection_id, conditions)
    await repository.delete_collection(connection, owner_id, collection_id)


async def add_movies(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movies: Sequence[Movie],
    movie_limit: int,
    conditions: Preconditions,
    budget: CollectionBudget,
) -> tuple[bytes, str]:
    """Append the movies not there yet, in the order given; report those already there.
    The MoviesAppended answer and the new ETag."""
    await lock(connection, owner_id, collection_id, conditions)
    present = set(await repository.movie_uuids(connection, collection_id))
    already_present = [movie.uuid for movie in movies if movie.uuid in present]
    new_movies = [movie for movie in movies if movie.uuid not in present]
    if new_movies:
        check_movie_count(len(present) + len(new_movies), movie_limit)
        # Each movie was checked by the caller; here, the collection's genres with theirs.
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
    body = answer_json(MoviesAppended.model_validate(answer))
    return body, etag_for(collection_id, detail.version)


async def remove_movie(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movie_uuid: uuid.UUID,
    conditions: Preconditions,
) -> str:
    """Take one movie out; the collection's new ETag."""
    await lock(connection, owner_id, collection_id, conditions)
    if not await repository.remove_movie(connection, collection_id, movie_uuid):
        raise NotFound(MOVIE_NOT_FOUND)
    version, _ = await repository.update_collection(connection, owner_id, collection_id)
    return etag_for(collection_id, version)


async def list_page(
    database: Database,
    versions: Versions,
    cache: VersionedCache[ListKey] | None,
    cursors: Cursors,
    owner_id: uuid.UUID,
    parse_query: Callable[[], ListQuery],
    url: str,
) -> bytes:
    """GET /collection/ with paging (`url` is the request's): one page in the query's sort order
    after the cursor's row, how many match, the favourite genres of all the collections, and
    the link to the next page, kept by URL like the whole list. The query and its cursor are
    read only to build the page: an answer kept for this URL was built from them already."""

    async def build(connection: Connection) -> tuple[bytes, int | None]:
        query = parse_query()
        after = None
        if query.cursor is not None:
            position = cursors.decode(query.cursor, owner_id, query.sort, query.q)
            after = (position.key, position.collection_id)
        version = await repository.list_version(connection, owner_id)
        page = await repository.read_page(
            connection, owner_id, query.sort, query.limit, after, query.q
        )
        genres = await repository.top_genres(connection, owner_id)
        if not page.count and not await repository.user_exists(connection, owner_id):
            raise Unauthorized(USER_GONE)
        next_link = None
        if page.last_key is not None:
            key, last_id = page.last_key
            cursor = cursors.encode(Position(owner_id, query.sort, query.q, key, last_id))
            next_link = _with_cursor(url, cursor)
        answer = CollectionPage.model_validate(
            {
                "data": {
                    "collections": page.summaries,
                    "favourite_genres": genres,
                    "next": next_link,
                    "count": page.count,
                }
            }
        )
        return answer.model_dump_json().encode(), version

    return await _list_answer(database, versions, cache, (owner_id, url), owner_id, build)


def _with_cursor(url: str, cursor: str) -> str:
    """`url` with its `cursor` parameter set to `cursor`, the others kept as they were."""
    base, _, query = url.partition("?")
    kept = [part for part in query.split("&") if part and not part.startswith("cursor=")]
    return f"{base}?{'&'.join([*kept, f'cursor={cursor}'])}"


async def change_movie(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movie_uuid: uuid.UUID,
    change: MovieChange,
    conditions: Preconditions,
) -> Answer:
    """PATCH of one movie: its note (null removes it) and/or its position (the movies in
    between shift by one). Genres are untouched."""
    await lock(connection, owner_id, collection_id, conditions)
    moved = await repository.movie_position(connection, collection_id, movie_uuid)
    if moved is None:
        raise NotFound(MOVIE_NOT_FOUND)
    if change.position is not None:
        count = await repository.movie_count(connection, collection_id)
        if change.position >= count:
            raise Unprocessable(
                f"position must be below {count}, the number of movies in the collection."
            )
        await repository.move_movie(connection, collection_id, moved, change.position)
    if "note" in change.model_fields_set:
        await repository.set_note(connection, collection_id, movie_uuid, change.note)
    await repository.update_collection(connection, owner_id, collection_id)
    detail = await repository.read_detail(connection, owner_id, collection_id)
    assert detail is not None  # locked above
    return Answer(collection_id, _detail_json(collection_id, detail), detail.version)


def _share_json(collection_id: uuid.UUID, token: str, created_at: datetime) -> bytes:
    share = Share(
        token=token,
        url=SHARED_PATH.format(token=token),
        collection_uuid=collection_id,
        created_at=created_at,
    )
    return ShareAnswer(data=share).model_dump_json().encode()


async def share(
    connection: Connection, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> tuple[bytes, bool]:
    """The collection's link, made now if it has none: the answer, and whether it is new."""
    await lock(connection, owner_id, collection_id, UNCONDITIONAL)
    found = await repository.read_share(connection, collection_id)
    if found is not None:
        return _share_json(collection_id, *found), False
    token, now = secrets.token_urlsafe(32), datetime.now(UTC)
    await repository.insert_share(connection, collection_id, token, now)
    return _share_json(collection_id, token, now), True


async def read_share(database: Database, owner_id: uuid.UUID, collection_id: uuid.UUID) -> bytes:
    async with database.transaction() as connection:
        if await repository.read_version(connection, owner_id, collection_id) is None:
            raise await _not_found(connection, owner_id)
        found = await repository.read_share(connection, collection_id)
    if found is None:
        raise NotFound("This collection is not shared.")
    return _share_json(collection_id, *found)


async def unshare(connection: Connection, owner_id: uuid.UUID, collection_id: uuid.UUID) -> None:
    await lock(connection, owner_id, collection_id, UNCONDITIONAL)
    await repository.delete_share(connection, collection_id)


async def _shared(
    connection: Connection, token: str
) -> tuple[repository.Shared, repository.Detail]:
    """What a share link shows, or 404. The token was found through the database's index;
    it is compared again in constant time."""
    if not _TOKEN_SHAPE.fullmatch(token):  # never a query for what no token looks like
        raise NotFound(SHARE_NOT_FOUND)
    found = await repository.find_shared(connection, token)
    if found is None or not hmac.compare_digest(found.token.encode(), token.encode()):
        raise NotFound(SHARE_NOT_FOUND)
    detail = await repository.read_detail(connection, found.owner_id, found.collection_id)
    if detail is None:
        raise NotFound(SHARE_NOT_FOUND)
    return found, detail


async def read_shared(database: Database, token: str) -> bytes:
    """GET /shared/<token>/: the collection read-only, with its owner's username."""
    async with database.transaction() as connection:
        found, detail = await _shared(connection, token)
    answer = {**detail.fields, "owner": found.owner_username, "movies": detail.movies}
    return answer_json(SharedCollection.model_validate(answer))


async def shared_copy(database: Database, token: str) -> CollectionCreate:
    """POST /shared/<token>/copy/: the collection to create, like the shared one (as read now;
    created by `create` in a write transaction of its own, once the budgets allow it)."""
    async with database.transaction() as connection:
        _found, detail = await _shared(connection, token)
    return CollectionCreate.model_validate({**detail.fields, "movies": detail.movies})
