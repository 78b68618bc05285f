"""All SQL of collections. Every statement is scoped by owner through `_owned`."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from pydantic_core import to_json
from sqlalchemy import ColumnElement, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from movie_collections.collection.ids import new_collection_id
from movie_collections.collection.models import Collection, CollectionGenre, CollectionMovie
from movie_collections.collection.schemas import Movie
from movie_collections.core.database import Database
from movie_collections.driver_sql import Rows, WriteStep
from movie_collections.read_batches import KeyedRead

collections = cast(Table, Collection.__table__)
collection_movies = cast(Table, CollectionMovie.__table__)
collection_genres = cast(Table, CollectionGenre.__table__)


@dataclass(frozen=True, slots=True)
class CollectionRecord:
    id: uuid.UUID
    title: str
    description: str
    version: int


def _owned(collection_id: uuid.UUID, owner_id: uuid.UUID) -> ColumnElement[bool]:
    """The one place that ties a collection to its owner: no query can forget it."""
    return (collections.c.id == collection_id) & (collections.c.owner_id == owner_id)


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
    """Genre -> how many of the movies have it (each movie counts a genre once), in the
    order first met: the rows of `collection_genres` for a collection of these movies."""
    counts: dict[str, int] = {}
    for movie in movies:
        for genre in _split_genres(movie.genres):
            counts[genre] = counts.get(genre, 0) + 1
    return counts


async def find_collection(
    connection: AsyncConnection, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> CollectionRecord | None:
    row = (
        await connection.execute(
            select(
                collections.c.id,
                collections.c.title,
                collections.c.description,
                collections.c.version,
            ).where(_owned(collection_id, owner_id))
        )
    ).first()
    return CollectionRecord(*row) if row is not None else None


async def list_movies(connection: AsyncConnection, collection_id: uuid.UUID) -> list[Movie]:
    """Movies of a collection already proven to be the caller's, in the order given."""
    rows = await connection.execute(
        select(
            collection_movies.c.title,
            collection_movies.c.description,
            collection_movies.c.genres,
            collection_movies.c.movie_uuid,
        )
        .where(collection_movies.c.collection_id == collection_id)
        .order_by(collection_movies.c.position)
    )
    return [
        Movie.model_construct(title=title, description=description, genres=genres, uuid=movie_id)
        for title, description, genres, movie_id in rows
    ]


async def insert_collection(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    title: str,
    description: str,
    movies: Sequence[Movie],
) -> uuid.UUID:
    collection_id = new_collection_id()
    now = datetime.now(UTC)
    await connection.execute(
        insert(collections).values(
            id=collection_id,
            owner_id=owner_id,
            title=title,
            description=description,
            created_at=now,
            updated_at=now,
            version=1,
        )
    )
    await _insert_movies(connection, owner_id, collection_id, movies, first_position=0)
    return collection_id


async def current_version(
    connection: AsyncConnection, owner_id: uuid.UUID, collection_id: uuid.UUID, *, lock: bool
) -> int | None:
    """The collection's version, or None when the caller owns no such collection.

    With `lock`, the row stays locked until the transaction ends (SELECT ... FOR UPDATE on
    PostgreSQL; on SQLite a write transaction already holds the database's write lock).
    """
    statement = select(collections.c.version).where(_owned(collection_id, owner_id))
    if lock:
        statement = statement.with_for_update()
    return (await connection.execute(statement)).scalar_one_or_none()


async def _bump_version(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    changes: dict[str, Any],
    expected_versions: frozenset[int] | None,
) -> int | None:
    condition = _owned(collection_id, owner_id)
    if expected_versions is not None:
        condition = condition & collections.c.version.in_(expected_versions)
    row = (
        await connection.execute(
            update(collections)
            .where(condition)
            .values(**changes, updated_at=datetime.now(UTC), version=collections.c.version + 1)
            .returning(collections.c.version)
        )
    ).first()
    return int(row[0]) if row is not None else None


async def delete_collection(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    expected_versions: frozenset[int] | None = None,
) -> bool:
    condition = _owned(collection_id, owner_id)
    if expected_versions is not None:
        condition = condition & collections.c.version.in_(expected_versions)
    result = await connection.execute(delete(collections).where(condition))
    return result.rowcount > 0


async def movie_uuids(connection: AsyncConnection, collection_id: uuid.UUID) -> list[uuid.UUID]:
    """The movie uuids of a collection already proven to be the caller's, in order."""
    rows = await connection.execute(
        select(collection_movies.c.movie_uuid)
        .where(collection_movies.c.collection_id == collection_id)
        .order_by(collection_movies.c.position)
    )
    return list(rows.scalars())


async def append_movies(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movies: Sequence[Movie],
    first_position: int,
    locked_version: int,
) -> int:
    """Add movies after the last one (the row is locked by the caller); the new version."""
    await _insert_movies(connection, owner_id, collection_id, movies, first_position)
    return await _bump_locked(connection, owner_id, collection_id, locked_version)


async def remove_movie(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movie_uuid: uuid.UUID,
    locked_version: int,
) -> int | None:
    """Remove one movie and close the gap so positions stay 0..n-1; None if it is not there."""
    found = (
        await connection.execute(
            select(collection_movies.c.position, collection_movies.c.genres).where(
                (collection_movies.c.collection_id == collection_id)
                & (collection_movies.c.movie_uuid == movie_uuid)
            )
        )
    ).first()
    if found is None:
        return None
    position, genres = found
    await _uncount_genres(connection, collection_id, split_genres(genres))
    in_collection = collection_movies.c.collection_id == collection_id
    await connection.execute(
        delete(collection_movies).where(in_collection & (collection_movies.c.position == position))
    )
    # Two steps, because the primary key includes the position and both databases check
    # uniqueness row by row: first move the tail out of the way (negative), then back, one
    # lower.
    await connection.execute(
        update(collection_movies)
        .where(in_collection & (collection_movies.c.position > position))
        .values(position=-collection_movies.c.position)
    )
    await connection.execute(
        update(collection_movies)
        .where(in_collection & (collection_movies.c.position < 0))
        .values(position=-collection_movies.c.position - 1)
    )
    return await _bump_locked(connection, owner_id, collection_id, locked_version)


async def _uncount_genres(
    connection: AsyncConnection, collection_id: uuid.UUID, genres: list[str]
) -> None:
    """One movie with these genres leaves the collection: each count one lower, and a genre
    no movie has any more gone (counts stay > 0)."""
    if not genres:
        return
    in_collection = collection_genres.c.collection_id == collection_id
    await connection.execute(
        update(collection_genres)
        .where(in_collection & collection_genres.c.genre.in_(genres))
        .values(occurrences=collection_genres.c.occurrences - 1)
    )
    await connection.execute(
        delete(collection_genres).where(in_collection & (collection_genres.c.occurrences <= 0))
    )


async def _bump_locked(
    connection: AsyncConnection, owner_id: uuid.UUID, collection_id: uuid.UUID, locked_version: int
) -> int:
    """Bump a version read under lock; the WHERE on it makes a lost update impossible."""
    new_version = await _bump_version(
        connection, owner_id, collection_id, {}, frozenset({locked_version})
    )
    if new_version is None:
        raise RuntimeError("collection changed while locked")
    return new_version


async def _insert_movies(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movies: Sequence[Movie],
    first_position: int,
) -> None:
    if not movies:
        return
    movie_rows = [
        {
            "collection_id": collection_id,
            "position": position,
            "movie_uuid": movie.uuid,
            "title": movie.title,
            "description": movie.description,
            "genres": movie.genres,
        }
        for position, movie in enumerate(movies, start=first_position)
    ]
    await connection.execute(insert(collection_movies), movie_rows)
    counts = genre_counts(movies)
    if not counts:
        return
    # Counts of genres the collection has already go up (an append), others start.
    upsert = (postgresql if connection.dialect.name == "postgresql" else sqlite).insert
    statement = upsert(collection_genres)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[collection_genres.c.collection_id, collection_genres.c.genre],
            set_={"occurrences": collection_genres.c.occurrences + statement.excluded.occurrences},
        ),
        [
            {"collection_id": collection_id, "genre": genre, "owner_id": owner_id, "occurrences": n}
            for genre, n in counts.items()
        ],
    )


# Hot reads: plain SQL on the driver (movie_collections.driver_sql), read from one snapshot.
# Ownership is in the WHERE clause of every statement. Favourite genres come from the counts
# the triggers of migration 0004 keep (a few rows per user), summed over their slots.
# SQLite gives the id in its canonical text form (stored as 32 hex digits), so the answer
# is serialised straight from the rows (see service.overview_json).
_LIST_COLLECTIONS_SQL = (
    "SELECT substr(id, 1, 8) || '-' || substr(id, 9, 4) || '-' || substr(id, 13, 4) || '-' "
    "|| substr(id, 17, 4) || '-' || substr(id, 21), title, description "
    "FROM collections WHERE owner_id = $1 ORDER BY created_at DESC, id DESC"
)
_TOP_GENRES_SQL = (
    "SELECT genre, sum(occurrences) AS n FROM user_genres WHERE owner_id = $1 "
    "GROUP BY genre HAVING sum(occurrences) > 0 ORDER BY n DESC, genre LIMIT 3"
)
# (S608: these are composed of this module's constants only.)
_FAVOURITE_GENRES_SQL = f"SELECT genre FROM ({_TOP_GENRES_SQL}) top"  # noqa: S608
# PostgreSQL: the same answer in ONE statement (one round trip instead of four with BEGIN
# and COMMIT; a single statement reads one snapshot). The first row carries the top genres,
# joined in order, and whether the user exists; a user without collections gets one row with
# NULL collection columns.
_OVERVIEW_POSTGRES_SQL = (
    "SELECT c.id, c.title, c.description, head.genres, head.user_exists, head.list_version "  # noqa: S608
    "FROM ("
    "SELECT (SELECT string_agg(genre, ',' ORDER BY n DESC, genre) "
    f"FROM ({_TOP_GENRES_SQL}) top) AS genres, "
    "EXISTS (SELECT 1 FROM users WHERE id = $1) AS user_exists, "
    "(SELECT sum(version) FROM user_list_versions WHERE owner_id = $1) AS list_version) head "
    "LEFT JOIN collections c ON c.owner_id = $1 ORDER BY c.created_at DESC, c.id DESC"
)
_USER_EXISTS_SQL = "SELECT 1 FROM users WHERE id = $1"
# The version of the user's list (migration 0005); NULL before their first write.
_LIST_VERSION_SQL = "SELECT sum(version) FROM user_list_versions WHERE owner_id = $1"


async def read_user_exists(database: Database, user_id: uuid.UUID) -> bool:
    """Only asked when an answer would be empty (see service._not_found)."""
    [rows] = await database.read_snapshot([(_USER_EXISTS_SQL, (user_id,))])
    return bool(rows)


@dataclass(frozen=True, slots=True)
class Overview:
    """The owner's collections (newest first), top 3 genres, and whether the owner exists.

    Each summary is a dict in CollectionSummary's field order; its uuid is a uuid.UUID or its
    canonical text. Rows were validated on the way in, so they are not validated again.
    """

    summaries: list[dict[str, Any]]
    favourite_genres: str
    user_exists: bool
    version: int | None  # of the list, read in the same snapshot (None: never written)


def _summaries(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{"title": title, "uuid": id_, "description": text} for id_, title, text in rows]


async def read_overview(database: Database, owner_id: uuid.UUID) -> Overview:
    """The owner's collections and favourite genres, from one snapshot."""
    if not database.settings.is_sqlite:
        [rows] = await database.read_snapshot([(_OVERVIEW_POSTGRES_SQL, (owner_id,))])
        head = rows[0]
        summaries = _summaries(row[:3] for row in rows if row[0] is not None)
        return Overview(summaries, head[3] or "", bool(head[4]), _version(head[5]))
    version_rows, collection_rows, genre_rows = await database.read_snapshot(
        [
            (_LIST_VERSION_SQL, (owner_id,)),
            (_LIST_COLLECTIONS_SQL, (owner_id,)),
            (_FAVOURITE_GENRES_SQL, (owner_id,)),
        ]
    )
    summaries = _summaries(collection_rows)
    # Asked only when the answer would be empty: a deleted user's token still verifies.
    exists = bool(summaries) or await read_user_exists(database, owner_id)
    genres = ",".join(row[0] for row in genre_rows)
    return Overview(summaries, genres, exists, _version(version_rows[0][0]))


# The list version of many users in one statement (read_batches.py): a row per user.
_LIST_VERSION_READ = KeyedRead(
    _LIST_VERSION_SQL,
    "SELECT k.n, (SELECT sum(version) FROM user_list_versions v WHERE v.owner_id = k.owner_id) "
    "FROM unnest($1::uuid[]) WITH ORDINALITY AS k(owner_id, n) ORDER BY k.n",
)


async def read_list_version(database: Database, owner_id: uuid.UUID) -> int | None:
    rows = await database.read_keyed(_LIST_VERSION_READ, (owner_id,))
    return _version(rows[0][0])


def _version(value: Any) -> int | None:
    return None if value is None else int(value)


# Hot writes: the same rows as insert_collection above, written in one
# transaction on the driver (movie_collections.driver_sql).
_INSERT_COLLECTION_SQL = (
    "INSERT INTO collections (id, owner_id, title, description, created_at, updated_at, version) "
    "VALUES ($1, $2, $3, $4, $5, $5, 1)"
)
_INSERT_MOVIE_SQL = (
    "INSERT INTO collection_movies (collection_id, position, movie_uuid, title, description, "
    "genres) VALUES ($1, $2, $3, $4, $5, $6)"
)
_INSERT_GENRE_SQL = (
    "INSERT INTO collection_genres (collection_id, genre, owner_id, occurrences) "
    "VALUES ($1, $2, $3, $4)"
)
_DELETE_GENRES_SQL = "DELETE FROM collection_genres WHERE collection_id = $1"
_DELETE_MOVIES_SQL = "DELETE FROM collection_movies WHERE collection_id = $1"


# PostgreSQL: a write's movies in ONE statement (an executemany is one execution per row:
# 10 movies took ~210 us of a PUT's ~1.2 ms in the database, one statement ~half that).
_INSERT_MOVIES_POSTGRES_SQL = (
    "INSERT INTO collection_movies (collection_id, position, movie_uuid, title, description, "
    "genres) SELECT $1, m.position, m.movie_uuid, m.title, m.description, m.genres "
    "FROM unnest($2::integer[], $3::uuid[], $4::text[], $5::text[], $6::text[]) "
    "AS m(position, movie_uuid, title, description, genres)"
)
# PostgreSQL: every genre count of a write in ONE statement, so the counting trigger
# (migrations 0004 and 0006, statement-level) runs once per write instead of once per row.
_INSERT_GENRES_POSTGRES_SQL = (
    "INSERT INTO collection_genres (collection_id, genre, owner_id, occurrences) "
    "SELECT $1, genre, $2, n FROM unnest($3::text[], $4::integer[]) AS g(genre, n)"
)


def _movie_steps(
    owner_id: uuid.UUID, collection_id: uuid.UUID, movies: Sequence[Movie], *, postgres: bool
) -> list[WriteStep]:
    """The movies at positions 0..n-1 and their genre counts, for a collection that has none."""
    counts = genre_counts(movies)
    if postgres:
        steps = []
        if movies:
            columns = (
                list(range(len(movies))),
                [m.uuid for m in movies],
                [m.title for m in movies],
                [m.description for m in movies],
                [m.genres for m in movies],
            )
            steps.append(WriteStep(_INSERT_MOVIES_POSTGRES_SQL, (collection_id, *columns)))
        if counts:
            parameters = (collection_id, owner_id, list(counts), list(counts.values()))
            steps.append(WriteStep(_INSERT_GENRES_POSTGRES_SQL, parameters))
        return steps
    collection_key, owner_key = collection_id.hex, owner_id.hex
    steps = _sqlite_movie_steps(collection_key, movies)
    if counts:
        genre_rows = [(collection_key, genre, owner_key, n) for genre, n in counts.items()]
        steps.append(WriteStep(_INSERT_GENRE_SQL, many=genre_rows, sqlite_ready=True))
    return steps


def _sqlite_movie_steps(collection_key: str, movies: Sequence[Movie]) -> list[WriteStep]:
    """The movie rows in the forms SQLite stores (UUIDs as 32-hex text), each id converted
    once rather than once per row it appears in, and marked so: the driver's conversion pass
    (driver_sql._sqlite_step) skips their values."""
    if not movies:
        return []
    return [
        WriteStep(
            _INSERT_MOVIE_SQL, many=_sqlite_movie_rows(collection_key, movies), sqlite_ready=True
        )
    ]


def _sqlite_movie_rows(collection_key: str, movies: Sequence[Movie]) -> list[tuple[object, ...]]:
    return [
        (collection_key, position, m.uuid.hex, m.title, m.description, m.genres)
        for position, m in enumerate(movies)
    ]


# Up to this many movies, a SQLite PUT rewrites the movie rows in place (_rewrite_movies_sql);
# beyond, it deletes and inserts them: one statement per count is prepared and kept.
_REWRITTEN_IN_PLACE = 32


def _sqlite_movies_replaced(collection_key: str, movies: Sequence[Movie]) -> list[WriteStep]:
    """The collection's movie rows made `movies`, positions 0..n-1. Every row is written, but
    a row at a position the new list still has is rewritten in place (all its columns; its
    key stays, so SQLite leaves the primary-key index and the row's place in the table
    alone: ~40% less SQL than deleting and inserting it). The rows past the new list, and
    those holding a movie of the new list, are deleted first, so no rewrite can meet the
    (collection, movie) unique constraint half-way (a reordered list)."""
    count = len(movies)
    if not count or count > _REWRITTEN_IN_PLACE:
        return [
            WriteStep(_DELETE_MOVIES_SQL, (collection_key,), sqlite_ready=True),
            *_sqlite_movie_steps(collection_key, movies),
        ]
    movie_keys = [m.uuid.hex for m in movies]
    making_room = (collection_key, count, *movie_keys)
    rewritten: list[object] = [collection_key]
    for movie_key, m in zip(movie_keys, movies, strict=True):
        rewritten += (movie_key, m.title, m.description, m.genres)
    return [
        WriteStep(_delete_movies_making_room_sql(count), making_room, sqlite_ready=True),
        WriteStep(_rewrite_movies_sql(count), rewritten, sqlite_ready=True),
    ]


@functools.lru_cache(maxsize=_REWRITTEN_IN_PLACE)
def _delete_movies_making_room_sql(count: int) -> str:
    """Delete the collection's ($1) movies at positions >= $2 or holding the movies $3 ..
    $(count + 2)."""
    placeholders = ", ".join(f"${n}" for n in range(3, count + 3))
    return f"{_DELETE_MOVIES_SQL} AND (position >= $2 OR movie_uuid IN ({placeholders}))"


@functools.lru_cache(maxsize=_REWRITTEN_IN_PLACE)
def _rewrite_movies_sql(count: int) -> str:
    """Write the collection's ($1) movie rows at positions 0 .. count - 1, 4 values each from
    $2 (uuid, title, description, genres): a row whose position is taken is rewritten in
    place, the others inserted. The collection is bound once and the positions are written
    out, not bound per row: 41 values instead of 60 for 10 movies, each one fewer to
    convert and bind while the write lock is held (~3% of a PUT's SQL in plain sqlite3)."""
    rows = ", ".join(
        f"($1, {position}, " + ", ".join(f"${4 * position + n}" for n in range(2, 6)) + ")"
        for position in range(count)
    )
    return (
        "INSERT INTO collection_movies (collection_id, position, movie_uuid, title, "  # noqa: S608
        f"description, genres) VALUES {rows} "
        "ON CONFLICT (collection_id, position) DO UPDATE SET movie_uuid = excluded.movie_uuid, "
        "title = excluded.title, description = excluded.description, genres = excluded.genres"
    )


def _replace_steps(
    owner_id: uuid.UUID, collection_id: uuid.UUID, movies: Sequence[Movie], *, postgres: bool
) -> list[WriteStep]:
    """The collection's movies replaced by `movies` (positions 0..n-1), and its genre counts
    made theirs."""
    if postgres:
        return [
            WriteStep(_DELETE_GENRES_SQL, (collection_id,)),
            WriteStep(_DELETE_MOVIES_SQL, (collection_id,)),
            *_movie_steps(owner_id, collection_id, movies, postgres=True),
        ]
    # SQLite fires the counting triggers once per row: only the genre counts that change are
    # written (deleted, inserted or updated), not the collection's every count twice. Movies
    # of different lists share genres, so most counts stay or change by a few.
    key, owner_key = collection_id.hex, owner_id.hex
    counts = genre_counts(movies)
    steps = [
        WriteStep(_delete_genres_but_sql(len(counts)), (key, *counts), sqlite_ready=True),
        *_sqlite_movies_replaced(key, movies),
    ]
    if counts:
        values: list[object] = [key, owner_key]
        for genre_and_count in counts.items():
            values += genre_and_count
        steps.append(WriteStep(_set_genre_counts_sql(len(counts)), values, sqlite_ready=True))
    return steps


@functools.lru_cache(maxsize=128)
def _delete_genres_but_sql(kept: int) -> str:
    """Delete the collection's ($1) genre counts but those of genres $2 .. $(kept + 1)."""
    if not kept:
        return _DELETE_GENRES_SQL
    placeholders = ", ".join(f"${n}" for n in range(2, kept + 2))
    return f"{_DELETE_GENRES_SQL} AND genre NOT IN ({placeholders})"


@functools.lru_cache(maxsize=128)
def _set_genre_counts_sql(rows: int) -> str:
    """Set `rows` genre counts of the collection $1 (owner $2), 2 values each from $3 (genre,
    count): new genres inserted, changed counts updated, equal ones left alone (no trigger
    fires for them). The collection and owner are bound once, as in _rewrite_movies_sql."""
    pairs = ", ".join(f"($1, ${2 * row + 3}, $2, ${2 * row + 4})" for row in range(rows))
    return (
        "INSERT INTO collection_genres (collection_id, genre, owner_id, occurrences) "  # noqa: S608
        f"VALUES {pairs} ON CONFLICT (collection_id, genre) DO UPDATE "
        "SET occurrences = excluded.occurrences WHERE occurrences <> excluded.occurrences"
    )


async def write_new_collection(
    database: Database,
    owner_id: uuid.UUID,
    title: str,
    description: str,
    movies: Sequence[Movie],
) -> uuid.UUID:
    """insert_collection in one driver-level transaction."""
    collection_id = new_collection_id()
    now = datetime.now(UTC)
    await database.write_unit(
        [
            WriteStep(_INSERT_COLLECTION_SQL, (collection_id, owner_id, title, description, now)),
            *_movie_steps(
                owner_id, collection_id, movies, postgres=not database.settings.is_sqlite
            ),
        ]
    )
    return collection_id


# One collection with its movies in ONE statement: a single statement reads one snapshot on
# both databases, so the version (the ETag) always belongs to the movies listed with it, and
# PostgreSQL needs no transaction round trips around it. A collection without movies is one
# row whose movie columns are NULL. SQLite gives the movie uuids in canonical text (stored as
# 32 hex digits), so the answer is serialised straight from the rows (_detail_from).
_DETAIL_SQL = (
    "SELECT c.title, c.description, c.version, m.title, m.description, m.genres, {movie_uuid} "
    "FROM collections c LEFT JOIN collection_movies m ON m.collection_id = c.id "
    "WHERE c.id = $1 AND c.owner_id = $2 ORDER BY m.position"
)
_DETAIL_SQLITE_SQL = _DETAIL_SQL.format(
    movie_uuid="substr(m.movie_uuid, 1, 8) || '-' || substr(m.movie_uuid, 9, 4) || '-' || "
    "substr(m.movie_uuid, 13, 4) || '-' || substr(m.movie_uuid, 17, 4) || '-' || "
    "substr(m.movie_uuid, 21)"
)
_DETAIL_POSTGRES_SQL = _DETAIL_SQL.format(movie_uuid="m.movie_uuid")
# PostgreSQL: many (collection, owner) keys in one statement (read_batches.py).
_DETAIL_POSTGRES_READ = KeyedRead(
    _DETAIL_POSTGRES_SQL,
    "SELECT k.n, c.title, c.description, c.version, m.title, m.description, m.genres, "
    "m.movie_uuid FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS k(id, owner_id, n) "
    "JOIN collections c ON c.id = k.id AND c.owner_id = k.owner_id "
    "LEFT JOIN collection_movies m ON m.collection_id = c.id ORDER BY k.n, m.position",
)
_DETAIL_SQLITE_READ = KeyedRead(_DETAIL_SQLITE_SQL)
_VERSION_SQL = "SELECT version FROM collections WHERE id = $1 AND owner_id = $2"
_VERSION_READ = KeyedRead(
    _VERSION_SQL,
    "SELECT k.n, c.version "
    "FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS k(id, owner_id, n) "
    "JOIN collections c ON c.id = k.id AND c.owner_id = k.owner_id ORDER BY k.n",
)


def _detail_sql(database: Database) -> str:
    return _DETAIL_SQLITE_SQL if database.settings.is_sqlite else _DETAIL_POSTGRES_SQL


def _detail_from(collection_id: uuid.UUID, rows: Rows) -> tuple[bytes, int] | None:
    """The CollectionDetail answer's JSON and the version, from the rows of _DETAIL_SQL; None
    when there are none. Stored rows were validated on the way in."""
    if not rows:
        return None
    first = rows[0]
    movies = [
        {"title": row[3], "description": row[4], "genres": row[5], "uuid": row[6]}
        for row in rows
        if row[6] is not None
    ]
    return _detail_json(collection_id, first[0], first[1], movies), int(first[2])


def _detail_written(
    collection_id: uuid.UUID, returned: Sequence[Any], movies: Sequence[Movie]
) -> tuple[bytes, int]:
    """The answer of a PUT that replaced the movies, without reading them back: the title,
    description and version its UPDATE returned, and the movies it has just written, which
    are now the whole list, in this order (the same values the rows hold)."""
    title, description, version = returned
    written = [
        {"title": m.title, "description": m.description, "genres": m.genres, "uuid": m.uuid}
        for m in movies
    ]
    return _detail_json(collection_id, title, description, written), int(version)


def _detail_json(
    collection_id: uuid.UUID, title: str, description: str, movies: list[dict[str, Any]]
) -> bytes:
    """CollectionDetail's JSON serialised by pydantic-core straight from plain values: the
    same bytes as CollectionDetail(...).model_dump_json() (tests/test_collections.py checks),
    without a model per movie (which was half the CPU of a PUT's answer)."""
    return to_json(
        {"uuid": collection_id, "title": title, "description": description, "movies": movies}
    )


async def read_detail(
    database: Database, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> tuple[bytes, int] | None:
    """The owner's collection with its movies in order (JSON), and its version; None if not
    theirs."""
    query = _DETAIL_SQLITE_READ if database.settings.is_sqlite else _DETAIL_POSTGRES_READ
    rows = await database.read_keyed(query, (collection_id, owner_id))
    return _detail_from(collection_id, rows)


async def read_version(
    database: Database, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> int | None:
    rows = await database.read_keyed(_VERSION_READ, (collection_id, owner_id))
    return int(rows[0][0]) if rows else None


async def write_update(
    database: Database,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    changes: dict[str, str],
    movies: Sequence[Movie] | None,
    expected_versions: frozenset[int] | None = None,
) -> tuple[bytes, int] | None:
    """Apply the changes in one driver-level transaction; the collection as it then is, or
    None when nothing was updated (not the owner's, or its version is not expected).

    The row UPDATE comes first: it locks the collection (on SQLite the write lock is taken
    already), so concurrent writers of one collection run one after the other and the movie
    list is always one writer's whole list. If-Match is part of its WHERE clause, so it
    cannot race with another writer; when it matches no row nothing else runs.
    """
    parameters: list[object] = [collection_id, owner_id, datetime.now(UTC)]
    assignments = ["version = version + 1", "updated_at = $3"]
    for column in ("title", "description"):  # a fixed list: no column name from the client
        if column in changes:
            parameters.append(changes[column])
            assignments.append(f"{column} = ${len(parameters)}")
    condition = "id = $1 AND owner_id = $2"
    if expected_versions is not None:
        first = len(parameters) + 1
        parameters.extend(sorted(expected_versions))
        placeholders = ", ".join(f"${n}" for n in range(first, len(parameters) + 1))
        condition += f" AND version IN ({placeholders})" if placeholders else " AND 1 = 0"
    # Only fixed column names and numbered placeholders are joined; values are bound.
    update_sql = f"UPDATE collections SET {', '.join(assignments)} WHERE {condition}"  # noqa: S608
    postgres = not database.settings.is_sqlite
    if movies is None:
        # The movies stay: the collection is read back at the end.
        steps = [
            WriteStep(update_sql, parameters, require_rows=True),
            WriteStep(_detail_sql(database), (collection_id, owner_id), fetch=True),
        ]
        results = await database.write_unit(steps)
        return None if results is None else _detail_from(collection_id, results[0])
    # Movies replaced: the answer is what the UPDATE returns and the movies written, so
    # nothing is read back while the write holds its locks (on SQLite a 10-row join, ~15% of
    # a PUT's time under the write lock; on PostgreSQL one round trip of the transaction).
    returning = WriteStep(update_sql + _RETURNING_SQL, parameters, require_rows=True, fetch=True)
    results = await database.write_unit(
        [returning, *_replace_steps(owner_id, collection_id, movies, postgres=postgres)]
    )
    return None if results is None else _detail_written(collection_id, results[0][0], movies)


_RETURNING_SQL = " RETURNING title, description, version"
