"""All SQL of collections. Every statement is scoped by owner through `_owned`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from movie_collections.collection.models import Collection, CollectionGenre, CollectionMovie
from movie_collections.collection.schemas import CollectionSummary, Movie
from movie_collections.db import Database
from movie_collections.driver_sql import WriteStep, as_uuid

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
    seen: dict[str, None] = {}
    for genre in genres.split(","):
        name = genre.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


async def list_collections(
    connection: AsyncConnection, owner_id: uuid.UUID
) -> Sequence[CollectionRecord]:
    rows = await connection.execute(
        select(
            collections.c.id, collections.c.title, collections.c.description, collections.c.version
        )
        .where(collections.c.owner_id == owner_id)
        .order_by(collections.c.created_at.desc(), collections.c.id.desc())
    )
    return [CollectionRecord(*row) for row in rows]


async def favourite_genres(
    connection: AsyncConnection, owner_id: uuid.UUID, limit: int = 3
) -> list[str]:
    occurrences = func.count().label("occurrences")
    rows = await connection.execute(
        select(collection_genres.c.genre, occurrences)
        .where(collection_genres.c.owner_id == owner_id)
        .group_by(collection_genres.c.genre)
        .order_by(occurrences.desc(), collection_genres.c.genre)
        .limit(limit)
    )
    return [row.genre for row in rows]


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
    collection_id = uuid.uuid4()
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


async def update_collection(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    changes: dict[str, Any],
    movies: Sequence[Movie] | None,
) -> bool:
    """Apply the changes; False when the caller owns no such collection.

    The row UPDATE comes first: it locks the collection, so concurrent writers of one
    collection run one after the other and the movie list is always one writer's whole list.
    """
    result = await connection.execute(
        update(collections)
        .where(_owned(collection_id, owner_id))
        .values(**changes, updated_at=datetime.now(UTC), version=collections.c.version + 1)
    )
    if result.rowcount == 0:
        return False
    if movies is not None:
        await connection.execute(
            delete(collection_genres).where(collection_genres.c.collection_id == collection_id)
        )
        await connection.execute(
            delete(collection_movies).where(collection_movies.c.collection_id == collection_id)
        )
        await _insert_movies(connection, owner_id, collection_id, movies, first_position=0)
    return True


async def delete_collection(
    connection: AsyncConnection, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> bool:
    result = await connection.execute(delete(collections).where(_owned(collection_id, owner_id)))
    return result.rowcount > 0


async def _insert_movies(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    movies: Sequence[Movie],
    first_position: int,
) -> None:
    if not movies:
        return
    movie_rows: list[dict[str, object]] = []
    genre_rows: list[dict[str, object]] = []
    for position, movie in enumerate(movies, start=first_position):
        movie_rows.append(
            {
                "collection_id": collection_id,
                "position": position,
                "movie_uuid": movie.uuid,
                "title": movie.title,
                "description": movie.description,
                "genres": movie.genres,
            }
        )
        genre_rows.extend(
            {
                "collection_id": collection_id,
                "position": position,
                "genre": genre,
                "owner_id": owner_id,
            }
            for genre in split_genres(movie.genres)
        )
    await connection.execute(insert(collection_movies), movie_rows)
    if genre_rows:
        await connection.execute(insert(collection_genres), genre_rows)


# Hot reads: plain SQL on the driver (movie_collections.driver_sql), the same queries as
# above, each pair read from one snapshot. Ownership is in the WHERE clause of every statement.
_LIST_COLLECTIONS_SQL = (
    "SELECT id, title, description FROM collections WHERE owner_id = $1 "
    "ORDER BY created_at DESC, id DESC"
)
_FAVOURITE_GENRES_SQL = (
    "SELECT genre FROM collection_genres WHERE owner_id = $1 "
    "GROUP BY genre ORDER BY count(*) DESC, genre LIMIT 3"
)
_FIND_COLLECTION_SQL = (
    "SELECT id, title, description FROM collections WHERE id = $1 AND owner_id = $2"
)
# Joined to the owned collection so that the movies can never be another user's.
_LIST_MOVIES_SQL = (
    "SELECT m.title, m.description, m.genres, m.movie_uuid FROM collection_movies m "
    "JOIN collections c ON c.id = m.collection_id "
    "WHERE m.collection_id = $1 AND c.owner_id = $2 ORDER BY m.position"
)


_USER_EXISTS_SQL = "SELECT 1 FROM users WHERE id = $1"


async def read_user_exists(database: Database, user_id: uuid.UUID) -> bool:
    """Only asked when an answer would be empty (see service._not_found)."""
    [rows] = await database.read_snapshot([(_USER_EXISTS_SQL, (user_id,))])
    return bool(rows)


@dataclass(frozen=True, slots=True)
class SummaryRecord:
    id: uuid.UUID
    title: str
    description: str


_SUMMARIES = TypeAdapter(list[CollectionSummary])


async def read_overview(
    database: Database, owner_id: uuid.UUID
) -> tuple[list[CollectionSummary], list[str]]:
    """The owner's collections (newest first) and top 3 genres, from one snapshot."""
    collection_rows, genre_rows = await database.read_snapshot(
        [(_LIST_COLLECTIONS_SQL, (owner_id,)), (_FAVOURITE_GENRES_SQL, (owner_id,))]
    )
    # One validation call for the whole list (in pydantic-core, UUID text parsed there too):
    # a quarter of the cost of building the summaries one by one for a thousand collections.
    summaries = _SUMMARIES.validate_python(
        [
            {"uuid": id_, "title": title, "description": description}
            for id_, title, description in collection_rows
        ]
    )
    return summaries, [row[0] for row in genre_rows]


async def read_collection(
    database: Database, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> tuple[SummaryRecord, list[Movie]] | None:
    """One owned collection and its movies in order, from one snapshot; None if not owned."""
    found, movie_rows = await database.read_snapshot(
        [
            (_FIND_COLLECTION_SQL, (collection_id, owner_id)),
            (_LIST_MOVIES_SQL, (collection_id, owner_id)),
        ]
    )
    if not found:
        return None
    return _collection_from_rows(found[0], movie_rows)


# Hot writes: the same rows as insert_collection / update_collection above, written in one
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
    "INSERT INTO collection_genres (collection_id, position, genre, owner_id) "
    "VALUES ($1, $2, $3, $4)"
)
_DELETE_GENRES_SQL = "DELETE FROM collection_genres WHERE collection_id = $1"
_DELETE_MOVIES_SQL = "DELETE FROM collection_movies WHERE collection_id = $1"


def _movie_steps(
    owner_id: uuid.UUID, collection_id: uuid.UUID, movies: Sequence[Movie]
) -> list[WriteStep]:
    movie_rows: list[tuple[object, ...]] = []
    genre_rows: list[tuple[object, ...]] = []
    for position, movie in enumerate(movies):
        movie_rows.append(
            (collection_id, position, movie.uuid, movie.title, movie.description, movie.genres)
        )
        genre_rows.extend(
            (collection_id, position, genre, owner_id) for genre in split_genres(movie.genres)
        )
    steps = []
    if movie_rows:
        steps.append(WriteStep(_INSERT_MOVIE_SQL, many=movie_rows))
    if genre_rows:
        steps.append(WriteStep(_INSERT_GENRE_SQL, many=genre_rows))
    return steps


async def write_new_collection(
    database: Database,
    owner_id: uuid.UUID,
    title: str,
    description: str,
    movies: Sequence[Movie],
) -> uuid.UUID:
    """insert_collection in one driver-level transaction."""
    collection_id = uuid.uuid4()
    now = datetime.now(UTC)
    await database.write_unit(
        [
            WriteStep(_INSERT_COLLECTION_SQL, (collection_id, owner_id, title, description, now)),
            *_movie_steps(owner_id, collection_id, movies),
        ]
    )
    return collection_id


async def write_collection_changes(
    database: Database,
    owner_id: uuid.UUID,
    collection_id: uuid.UUID,
    changes: dict[str, str],
    movies: Sequence[Movie] | None,
) -> tuple[SummaryRecord, list[Movie]] | None:
    """update_collection, then the collection as it now is, in one transaction; None if the
    caller owns no such collection. The owned UPDATE comes first (see update_collection)."""
    # Column names come from this fixed list only, never from the request.
    columns = [column for column in ("title", "description") if column in changes]
    assignments = "".join(f"{column} = ${index}, " for index, column in enumerate(columns, 4))
    update = WriteStep(
        f"UPDATE collections SET {assignments}updated_at = $3, "  # noqa: S608
        "version = version + 1 WHERE id = $1 AND owner_id = $2",
        (collection_id, owner_id, datetime.now(UTC), *(changes[c] for c in columns)),
        require_rows=True,
    )
    steps = [update]
    if movies is not None:
        steps += [
            WriteStep(_DELETE_GENRES_SQL, (collection_id,)),
            WriteStep(_DELETE_MOVIES_SQL, (collection_id,)),
            *_movie_steps(owner_id, collection_id, movies),
        ]
    steps += [
        WriteStep(_FIND_COLLECTION_SQL, (collection_id, owner_id), fetch=True),
        WriteStep(_LIST_MOVIES_SQL, (collection_id, owner_id), fetch=True),
    ]
    results = await database.write_unit(steps)
    if results is None:
        return None
    found, movie_rows = results
    return _collection_from_rows(found[0], movie_rows)


def _collection_from_rows(
    collection_row: Sequence[Any], movie_rows: Sequence[Sequence[Any]]
) -> tuple[SummaryRecord, list[Movie]]:
    id_, title, description = collection_row
    movies = [
        Movie.model_construct(
            title=title, description=description, genres=genres, uuid=as_uuid(movie_id)
        )
        for title, description, genres, movie_id in movie_rows
    ]
    return SummaryRecord(as_uuid(id_), title, description), movies
