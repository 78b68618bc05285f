"""All SQL of collections, each statement built once from the tables and scoped by owner."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Insert,
    Integer,
    Select,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from movie_collections.auth.models import User
from movie_collections.collection.ids import new_collection_id
from movie_collections.collection.models import (
    Collection,
    CollectionGenre,
    CollectionMovie,
    CollectionShare,
    UserGenre,
    UserListVersion,
)
from movie_collections.collection.schemas import (
    CollectionDetail,
    CollectionSummary,
    CollectionUpdate,
    ListSort,
    Movie,
)
from movie_collections.core.database import Connection, OneOf

collections = cast(Table, Collection.__table__)
collection_movies = cast(Table, CollectionMovie.__table__)
collection_genres = cast(Table, CollectionGenre.__table__)
user_genres = cast(Table, UserGenre.__table__)
user_list_versions = cast(Table, UserListVersion.__table__)
users = cast(Table, User.__table__)
collection_shares = cast(Table, CollectionShare.__table__)

# The schemas declare what is read and written: each field is the table column of its name,
# but for the ids (`id` of a collection, `movie_uuid` of a movie in one).
SUMMARY_FIELDS = tuple(CollectionSummary.model_fields)
COLLECTION_FIELDS = tuple(f for f in CollectionDetail.model_fields if f not in ("uuid", "movies"))
EDITABLE_FIELDS = tuple(f for f in CollectionUpdate.model_fields if f != "movies")
MOVIE_FIELDS = tuple(Movie.model_fields)


def _collection_column(field: str) -> Column[Any]:
    return collections.c.id if field == "uuid" else collections.c[field]


def _movie_column(field: str) -> Column[Any]:
    return collection_movies.c.movie_uuid if field == "uuid" else collection_movies.c[field]


# The one place that ties a collection to its owner: every statement on a collection uses it.
_OWNED = (collections.c.id == bindparam("collection_id")) & (
    collections.c.owner_id == bindparam("owner_id")
)
_IN_COLLECTION = collection_movies.c.collection_id == bindparam("collection_id")
_GENRES_IN_COLLECTION = collection_genres.c.collection_id == bindparam("collection_id")

_LIST_VERSION = select(func.sum(user_list_versions.c.version)).where(
    user_list_versions.c.owner_id == bindparam("owner_id")
)
_LIST_VERSIONS = (
    select(user_list_versions.c.owner_id, func.sum(user_list_versions.c.version))
    .where(OneOf(user_list_versions.c.owner_id, "owner_ids"))
    .group_by(user_list_versions.c.owner_id)
)
_SUMMARIES = (
    select(*(_collection_column(field) for field in SUMMARY_FIELDS))
    .where(collections.c.owner_id == bindparam("owner_id"))
    .order_by(collections.c.created_at.desc(), collections.c.id.desc())
)
_GENRE_TOTAL = func.sum(user_genres.c.occurrences)
_TOP_GENRES = (
    select(user_genres.c.genre)
    .where(user_genres.c.owner_id == bindparam("owner_id"))
    .group_by(user_genres.c.genre)
    .having(_GENRE_TOTAL > 0)
    .order_by(_GENRE_TOTAL.desc(), user_genres.c.genre)
    .limit(3)
)
_USER_EXISTS = select(users.c.id).where(users.c.id == bindparam("owner_id"))
# Locks the owner's row (NO KEY UPDATE: rows referencing it can still be inserted) so that one
# user's concurrent creates are counted one after the other. The count is a statement of its
# own: in a READ COMMITTED write it then sees what the previous holder committed.
_LOCK_OWNER = (
    select(users.c.id).where(users.c.id == bindparam("owner_id")).with_for_update(key_share=True)
)
_GENRE_NAMES = select(collection_genres.c.genre).where(_GENRES_IN_COLLECTION)
_VERSION = select(collections.c.version).where(_OWNED)
_VERSION_LOCKED = _VERSION.with_for_update()  # SQLite: the write transaction holds the lock
_VERSIONS = select(collections.c.owner_id, collections.c.id, collections.c.version).where(
    OneOf(collections.c.id, "collection_ids")
)
# One statement, so one snapshot: the version always belongs to the movies read with it.
_DETAIL = (
    select(
        collections.c.version,
        *(collections.c[field] for field in COLLECTION_FIELDS),
        *(_movie_column(field).label(f"movie_{field}") for field in MOVIE_FIELDS),
    )
    .select_from(
        collections.outerjoin(
            collection_movies, collection_movies.c.collection_id == collections.c.id
        )
    )
    .where(_OWNED)
    .order_by(collection_movies.c.position)
)
_MOVIE_UUIDS = (
    select(collection_movies.c.movie_uuid)
    .where(_IN_COLLECTION)
    .order_by(collection_movies.c.position)
)
_INSERT_COLLECTION = insert(collections)
_INSERT_MOVIE = insert(collection_movies)
# The fields a PUT may change change only when given (NULL keeps them); every write bumps the
# version.
_UPDATE_COLLECTION = (
    update(collections)
    .where(_OWNED)
    .values(
        **{
            field: func.coalesce(
                bindparam(f"new_{field}", type_=collections.c[field].type), collections.c[field]
            )
            for field in EDITABLE_FIELDS
        },
        title_key=func.coalesce(
            bindparam("new_title_key", type_=collections.c.title_key.type), collections.c.title_key
        ),
        updated_at=bindparam("now"),
        version=collections.c.version + 1,
    )
    .returning(collections.c.version, *(collections.c[field] for field in COLLECTION_FIELDS))
)
_DELETE_COLLECTION = delete(collections).where(_OWNED)
_DELETE_MOVIES = delete(collection_movies).where(_IN_COLLECTION)
_DELETE_GENRES = delete(collection_genres).where(_GENRES_IN_COLLECTION)
_FIND_MOVIE = select(collection_movies.c.position, collection_movies.c.genres).where(
    _IN_COLLECTION & (collection_movies.c.movie_uuid == bindparam("movie_uuid"))
)
_DELETE_MOVIE_AT = delete(collection_movies).where(
    _IN_COLLECTION & (collection_movies.c.position == bindparam("removed"))
)
# Two steps, because the primary key includes the position and both databases check
# uniqueness row by row: first move the tail out of the way (negative), then back, one lower.
_MOVE_TAIL_OUT = (
    update(collection_movies)
    .where(_IN_COLLECTION & (collection_movies.c.position > bindparam("removed")))
    .values(position=-collection_movies.c.position)
)
_MOVE_TAIL_BACK = (
    update(collection_movies)
    .where(_IN_COLLECTION & (collection_movies.c.position < 0))
    .values(position=-collection_movies.c.position - 1)
)
_UNCOUNT_GENRE = (
    update(collection_genres)
    .where(_GENRES_IN_COLLECTION & (collection_genres.c.genre == bindparam("genre")))
    .values(occurrences=collection_genres.c.occurrences - 1)
)
_DROP_UNUSED_GENRES = delete(collection_genres).where(
    _GENRES_IN_COLLECTION & (collection_genres.c.occurrences <= 0)
)

_SET_NOTE = (
    update(collection_movies)
    .where(_IN_COLLECTION & (collection_movies.c.movie_uuid == bindparam("movie_uuid")))
    .values(note=bindparam("note", type_=collection_movies.c.note.type))
)
# A move in three steps, for the same reason as a removal: the rows from the old place to the
# new one go negative (-1 - position), the moved one lands, the others come back one over.
_MOVE_RANGE_OUT = (
    update(collection_movies)
    .where(
        _IN_COLLECTION
        & collection_movies.c.position.between(
            bindparam("low", type_=Integer), bindparam("high", type_=Integer)
        )
    )
    .values(position=-collection_movies.c.position - 1)
)
_MOVE_LAND = (
    update(collection_movies)
    .where(
        _IN_COLLECTION & (collection_movies.c.position == -bindparam("moved", type_=Integer) - 1)
    )
    .values(position=bindparam("target", type_=Integer))
)
_MOVE_RANGE_BACK = (
    update(collection_movies)
    .where(_IN_COLLECTION & (collection_movies.c.position < 0))
    .values(position=-collection_movies.c.position - 1 + bindparam("shift", type_=Integer))
)
_MOVIE_COUNT = select(func.count()).select_from(collection_movies).where(_IN_COLLECTION)

# GET /collection/ by pages: each sort is a key column, ties broken by id; the next page
# starts after the (key, id) of the last row seen (keyset paging, on the owner's indexes).
_SORT_KEYS: dict[str, tuple[Column[Any], bool]] = {
    "-created": (collections.c.created_at, True),
    "created": (collections.c.created_at, False),
    "title": (collections.c.title_key, False),
    "-updated": (collections.c.updated_at, True),
}
_OWNERS = collections.c.owner_id == bindparam("owner_id")
_TITLE_MATCHES = collections.c.title_key.like(bindparam("pattern"), escape="\\")


def _page_statement(
    columns: Sequence[ColumnElement[Any]], sort: str, after: bool, search: bool
) -> Select[Any]:
    key, descending = _SORT_KEYS[sort]
    where: ColumnElement[bool] = _OWNERS
    if search:
        where = where & _TITLE_MATCHES
    if after:
        seen = tuple_(bindparam("after_key", type_=key.type), bindparam("after_id", type_=Uuid()))
        row = tuple_(key, collections.c.id)
        where = where & (row < seen if descending else row > seen)
    order = (key.desc(), collections.c.id.desc()) if descending else (key, collections.c.id)
    return select(*columns).where(where).order_by(*order).limit(bindparam("limit"))


_PAGES = {
    (sort, after, search): _page_statement(
        [*(_collection_column(field) for field in SUMMARY_FIELDS), _SORT_KEYS[sort][0]],
        sort,
        after,
        search,
    )
    for sort in _SORT_KEYS
    for after in (False, True)
    for search in (False, True)
}
_COUNTS = {
    False: select(func.count()).select_from(collections).where(_OWNERS),
    True: select(func.count()).select_from(collections).where(_OWNERS & _TITLE_MATCHES),
}
# The export: every collection of the owner, oldest first, with what only it shows.
_EXPORTED = {
    after: _page_statement(
        [collections.c.id, collections.c.created_at, collections.c.updated_at],
        "created",
        after,
        search=False,
    )
    for after in (False, True)
}

_IS_SHARED = collection_shares.c.collection_id == bindparam("collection_id")
_SHARE = select(collection_shares.c.token, collection_shares.c.created_at).where(_IS_SHARED)
_INSERT_SHARE = insert(collection_shares)
_DELETE_SHARE = delete(collection_shares).where(_IS_SHARED)
_SHARED = (
    select(
        collection_shares.c.token,
        collections.c.id,
        collections.c.owner_id,
        users.c.username,
    )
    .select_from(
        collection_shares.join(
            collections, collections.c.id == collection_shares.c.collection_id
        ).join(users, users.c.id == collections.c.owner_id)
    )
    .where(collection_shares.c.token == bindparam("token"))
)


def _count_genres_statement(dialect: Any) -> Insert:
    """Counts of genres the collection has already go up (an append), others start: the one
    statement whose construct differs per dialect."""
    statement = dialect.insert(collection_genres)
    return cast(
        Insert,
        statement.on_conflict_do_update(
            index_elements=[collection_genres.c.collection_id, collection_genres.c.genre],
            set_={"occurrences": collection_genres.c.occurrences + statement.excluded.occurrences},
        ),
    )


_COUNT_GENRES = {
    "sqlite": _count_genres_statement(sqlite),
    "postgresql": _count_genres_statement(postgresql),
}
_MOVIE_KEYS = tuple((_movie_column(field).key, field) for field in MOVIE_FIELDS)


@dataclass(frozen=True, slots=True)
class Overview:
    """The owner's collections (newest first) and top 3 genres, read in one snapshot."""

    summaries: list[dict[str, Any]]
    favourite_genres: str
    user_exists: bool
    version: int | None  # of the list (None: never written)


@dataclass(frozen=True, slots=True)
class Detail:
    """One collection: the version its ETag is made from, its fields (COLLECTION_FIELDS) and
    its movies in order (MOVIE_FIELDS each)."""

    version: int
    fields: dict[str, Any]
    movies: list[dict[str, Any]]


def split_genres(genres: str) -> list[str]:
    """'Drama, Comedy,,drama' -> ['Drama', 'Comedy', 'drama']: trimmed, no empties, no repeats."""
    return list(_split_genres(genres))


# A catalogue's movies share a few hundred genre strings; each write splits every movie's.
@functools.lru_cache(maxsize=4096)
def _split_genres(genres: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for genre in genres.split(","):
        name = genre.strip()
        if name:
            seen.setdefault(name, None)
    return tuple(seen)


def genre_counts(movies: Iterable[Movie]) -> dict[str, int]:
    """Genre -> how many of the movies have it (each movie counts a genre once)."""
    counts: dict[str, int] = {}
    for movie in movies:
        for genre in _split_genres(movie.genres):
            counts[genre] = counts.get(genre, 0) + 1
    return counts


def title_key(title: str) -> str:
    """What titles are sorted and searched by: casefolded, the same on every database."""
    return title.casefold()


def title_pattern(text: str) -> str:
    """A LIKE pattern matching titles that contain `text`, case-insensitively."""
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_version(connection: Connection, owner_id: uuid.UUID) -> int | None:
    """The version of the owner's list; None before their first write."""
    version = await connection.fetch_value(_LIST_VERSION, {"owner_id": owner_id})
    return None if version is None else int(version)


async def list_versions(
    connection: Connection, owner_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """The version of each owner's list, in one statement; owners never written are absent."""
    rows = await connection.fetch(_LIST_VERSIONS, {"owner_ids": owner_ids})
    return {owner_id: int(version) for owner_id, version in rows}


async def user_exists(connection: Connection, owner_id: uuid.UUID) -> bool:
    return await connection.fetch_one(_USER_EXISTS, {"owner_id": owner_id}) is not None


async def lock_owner(connection: Connection, owner_id: uuid.UUID) -> None:
    """The owner's row stays locked until the transaction ends: one user's creates take turns."""
    await connection.fetch_value(_LOCK_OWNER, {"owner_id": owner_id})


async def count_collections(connection: Connection, owner_id: uuid.UUID) -> int:
    return int(await connection.fetch_value(_COUNTS[False], {"owner_id": owner_id}) or 0)


async def genre_names(connection: Connection, collection_id: uuid.UUID) -> set[str]:
    """The distinct genres of a collection already proven to be the caller's."""
    rows = await connection.fetch(_GENRE_NAMES, {"collection_id": collection_id})
    return {row[0] for row in rows}


async def read_overview(connection: Connection, owner_id: uuid.UUID) -> Overview:
    """Call inside a read transaction, so that everything comes from one snapshot."""
    key = {"owner_id": owner_id}
    version = await list_version(connection, owner_id)
    summaries = [
        dict(zip(SUMMARY_FIELDS, row, strict=True))
        for row in await connection.fetch(_SUMMARIES, key)
    ]
    genres = ",".join(row[0] for row in await connection.fetch(_TOP_GENRES, key))
    # Asked only when the answer would be empty: a deleted user's token still verifies.
    exists = bool(summaries) or await user_exists(connection, owner_id)
    return Overview(summaries, genres, exists, version)


async def read_version(
    connection: Connection, owner_id: uuid.UUID, collection_id: uuid.UUID, *, lock: bool = False
) -> int | None:
    """The collection's version, or None when the owner has no such collection. With `lock`
    the row stays locked until the transaction ends."""
    statement = _VERSION_LOCKED if lock else _VERSION
    version = await connection.fetch_value(
        statement, {"collection_id": collection_id, "owner_id": owner_id}
    )
    return None if version is None else int(version)


CollectionKey = tuple[uuid.UUID, uuid.UUID]  # (owner, collection)


async def read_versions(
    connection: Connection, keys: Sequence[CollectionKey]
) -> dict[CollectionKey, int]:
    """The version of each (owner, collection), in one statement; a collection that is not
    that owner's is absent."""
    rows = await connection.fetch(_VERSIONS, {"collection_ids": [key[1] for key in keys]})
    return {(owner_id, collection_id): int(version) for owner_id, collection_id, version in rows}


async def read_detail(
    connection: Connection, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> Detail | None:
    rows = await connection.fetch(_DETAIL, {"collection_id": collection_id, "owner_id": owner_id})
    if not rows:
        return None
    first = rows[0]
    movies_from = 1 + len(COLLECTION_FIELDS)
    fields = dict(zip(COLLECTION_FIELDS, first[1:movies_from], strict=True))
    movies = [dict(zip(MOVIE_FIELDS, row[movies_from:], strict=True)) for row in rows]
    if movies[0]["uuid"] is None:  # the outer join's row of a collection without movies
        movies = []
    return Detail(int(first[0]), fields, movies)


async def movie_uuids(connection: Connection, collection_id: uuid.UUID) -> list[uuid.UUID]:
    """The movie uuids of a collection already proven to be the caller's, in order."""
    rows = await connection.fetch(_MOVIE_UUIDS, {"collection_id": collection_id})
    return [row[0] for row in rows]


async def insert_collection(
    connection: Connection,
    owner_id: uuid.UUID,
    fields: Mapping[str, Any],
    movies: Sequence[Movie],
    now: datetime | None = None,
) -> uuid.UUID:
    """A new collection with these fields (COLLECTION_FIELDS) and movies; its id. `now` is
    its creation time (an import spaces its collections so that they keep their order)."""
    collection_id = new_collection_id()
    now = now or datetime.now(UTC)
    row = {
        **fields,
        "title_key": title_key(fields["title"]),
        "id": collection_id,
        "owner_id": owner_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    await connection.execute(_INSERT_COLLECTION, row)
    await insert_movies(connection, owner_id, collection_id, movies, first_position=0)
    return collection_id


async def update_collection(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    changes: Mapping[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Change the given fields (EDITABLE_FIELDS) and bump the version; the new version and
    the collection's fields. Call with the row locked (read_version(lock=True))."""
    changes = changes or {}
    parameters = {f"new_{field}": changes.get(field) for field in EDITABLE_FIELDS}
    title = changes.get("title")
    parameters["new_title_key"] = None if title is None else title_key(title)
    row = await connection.fetch_one(
        _UPDATE_COLLECTION,
        {
            **parameters,
            "collection_id": collection_id,
            "owner_id": owner_id,
            "now": datetime.now(UTC),
        },
    )
    if row is None:
        raise RuntimeError("collection vanished while locked")
    return int(row[0]), dict(zip(COLLECTION_FIELDS, row[1:], strict=True))


async def delete_collection(
    connection: Connection, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> bool:
    deleted = await connection.execute(
        _DELETE_COLLECTION, {"collection_id": collection_id, "owner_id": owner_id}
    )
    return deleted > 0


async def replace_movies(
    connection: Connection, owner_id: uuid.UUID, collection_id: uuid.UUID, movies: Sequence[Movie]
) -> None:
    """The collection's movies become `movies` (positions 0..n-1), with their genre counts."""
    key = {"collection_id": collection_id}
    await connection.execute(_DELETE_GENRES, key)
    await connection.execute(_DELETE_MOVIES, key)
    await insert_movies(connection, owner_id, collection_id, movies, first_position=0)


def _movie_rows(
    collection_id: uuid.UUID, movies: Sequence[Movie], first_position: int
) -> list[dict[str, Any]]:
    return [
        {
            **{key: getattr(movie, field) for key, field in _MOVIE_KEYS},
            "collection_id": collection_id,
            "position": position,
        }
        for position, movie in enumerate(movies, start=first_position)
    ]


async def insert_movies(
    connection: Connection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movies: Sequence[Movie],
    first_position: int,
) -> None:
    """Add movies from `first_position` on, and count their genres."""
    if not movies:
        return
    await connection.execute_many(_INSERT_MOVIE, _movie_rows(collection_id, movies, first_position))
    counts = genre_counts(movies)
    if counts:
        await connection.execute_many(
            _COUNT_GENRES[connection.dialect_name],
            [
                {
                    "collection_id": collection_id,
                    "genre": genre,
                    "owner_id": owner_id,
                    "occurrences": n,
                }
                for genre, n in counts.items()
            ],
        )


async def remove_movie(
    connection: Connection, collection_id: uuid.UUID, movie_uuid: uuid.UUID
) -> bool:
    """Remove one movie and close the gap so positions stay 0..n-1; False if it is not there."""
    found = await connection.fetch_one(
        _FIND_MOVIE, {"collection_id": collection_id, "movie_uuid": movie_uuid}
    )
    if found is None:
        return False
    position, genres = found
    key = {"collection_id": collection_id, "removed": position}
    await connection.execute(_DELETE_MOVIE_AT, key)
    await connection.execute(_MOVE_TAIL_OUT, key)
    await connection.execute(_MOVE_TAIL_BACK, key)
    names = split_genres(genres)
    if names:
        await connection.execute_many(
            _UNCOUNT_GENRE, [{"collection_id": collection_id, "genre": g} for g in names]
        )
        await connection.execute(_DROP_UNUSED_GENRES, {"collection_id": collection_id})
    return True


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the owner's collections (SUMMARY_FIELDS each), the sort key of its last
    row if more follow, and how many collections match in all."""

    summaries: list[dict[str, Any]]
    last_key: tuple[Any, uuid.UUID] | None
    count: int


async def read_page(
    connection: Connection,
    owner_id: uuid.UUID,
    sort: ListSort,
    limit: int,
    after: tuple[Any, uuid.UUID] | None,
    search: str | None,
) -> Page:
    """Call inside a read transaction, with top_genres, for one snapshot."""
    parameters: dict[str, Any] = {"owner_id": owner_id, "limit": limit + 1}
    if search is not None:
        parameters["pattern"] = title_pattern(search)
    if after is not None:
        parameters["after_key"], parameters["after_id"] = after
    rows = await connection.fetch(_PAGES[sort, after is not None, search is not None], parameters)
    count = await connection.fetch_value(_COUNTS[search is not None], parameters)
    more = len(rows) > limit
    rows = rows[:limit]
    summaries = [dict(zip(SUMMARY_FIELDS, row[:-1], strict=True)) for row in rows]
    last_key = None
    if more:
        last = rows[-1]
        last_key = (last[-1], summaries[-1]["uuid"])
    return Page(summaries, last_key, int(count))


async def top_genres(connection: Connection, owner_id: uuid.UUID) -> str:
    rows = await connection.fetch(_TOP_GENRES, {"owner_id": owner_id})
    return ",".join(row[0] for row in rows)


async def exported_collections(
    connection: Connection,
    owner_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[tuple[uuid.UUID, datetime, datetime]]:
    """Id, creation and last change time of up to `limit` of the owner's collections, oldest
    first, from the one after `after` (its creation time and id) on."""
    parameters: dict[str, Any] = {"owner_id": owner_id, "limit": limit}
    if after is not None:
        parameters["after_key"], parameters["after_id"] = after
    rows = await connection.fetch(_EXPORTED[after is not None], parameters)
    return [(row[0], row[1], row[2]) for row in rows]


async def set_note(
    connection: Connection, collection_id: uuid.UUID, movie_uuid: uuid.UUID, note: str | None
) -> bool:
    """False if the movie is not in the collection (already proven to be the caller's)."""
    changed = await connection.execute(
        _SET_NOTE, {"collection_id": collection_id, "movie_uuid": movie_uuid, "note": note}
    )
    return changed > 0


async def movie_position(
    connection: Connection, collection_id: uuid.UUID, movie_uuid: uuid.UUID
) -> int | None:
    found = await connection.fetch_one(
        _FIND_MOVIE, {"collection_id": collection_id, "movie_uuid": movie_uuid}
    )
    return None if found is None else int(found[0])


async def movie_count(connection: Connection, collection_id: uuid.UUID) -> int:
    return int(await connection.fetch_value(_MOVIE_COUNT, {"collection_id": collection_id}))


async def move_movie(
    connection: Connection, collection_id: uuid.UUID, moved: int, target: int
) -> None:
    """The movie at `moved` goes to `target` (both 0..n-1); those between shift by one."""
    if moved == target:
        return
    low, high = min(moved, target), max(moved, target)
    key = {"collection_id": collection_id}
    await connection.execute(_MOVE_RANGE_OUT, {**key, "low": low, "high": high})
    await connection.execute(_MOVE_LAND, {**key, "moved": moved, "target": target})
    await connection.execute(_MOVE_RANGE_BACK, {**key, "shift": -1 if moved < target else 1})


async def read_share(
    connection: Connection, collection_id: uuid.UUID
) -> tuple[str, datetime] | None:
    """The token and creation time of a collection's link (ownership checked by the caller)."""
    row = await connection.fetch_one(_SHARE, {"collection_id": collection_id})
    return None if row is None else (row[0], row[1])


async def insert_share(
    connection: Connection, collection_id: uuid.UUID, token: str, now: datetime
) -> None:
    await connection.execute(
        _INSERT_SHARE, {"collection_id": collection_id, "token": token, "created_at": now}
    )


async def delete_share(connection: Connection, collection_id: uuid.UUID) -> None:
    await connection.execute(_DELETE_SHARE, {"collection_id": collection_id})


@dataclass(frozen=True, slots=True)
class Shared:
    """What a share token leads to: the collection, its owner and the owner's username."""

    token: str
    collection_id: uuid.UUID
    owner_id: uuid.UUID
    owner_username: str


async def find_shared(connection: Connection, token: str) -> Shared | None:
    row = await connection.fetch_one(_SHARED, {"token": token})
    return None if row is None else Shared(row[0], row[1], row[2], row[3])
