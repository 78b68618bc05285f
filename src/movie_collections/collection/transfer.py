"""Export of all a user's collections (JSON document or CSV, streamed) and import of a JSON
export, all or nothing."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from movie_collections.collection import repository, service
from movie_collections.collection.budget import CollectionBudget, check_movie_count
from movie_collections.collection.schemas import (
    CollectionsExport,
    CollectionsImport,
    ExportedCollection,
)
from movie_collections.core.database import Connection, Database
from movie_collections.core.errors import BadRequest, Unauthorized, Unprocessable

EXPORT_PAGE = 20  # collections per read
CSV_COLUMNS = ("collection_title", "position", "movie_uuid", "title", "genres", "note")
# Spreadsheets run a cell starting with one of these as a formula: such cells get a leading
# apostrophe (OWASP's advice on CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


async def check_user(database: Database, owner_id: uuid.UUID) -> None:
    """A deleted user's token is 401 before an export streams (not an empty file) and before an
    import that may write nothing."""
    async with database.connection() as connection:
        if not await repository.user_exists(connection, owner_id):
            raise Unauthorized(service.USER_GONE)


async def _collections(
    database: Database, owner_id: uuid.UUID
) -> AsyncIterator[ExportedCollection]:
    """The owner's collections oldest first, read a page at a time, each page one snapshot: no
    connection is held while the client downloads (a stalled download would keep it)."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        async with database.transaction() as connection:
            listed = await repository.exported_collections(connection, owner_id, after, EXPORT_PAGE)
            page = []
            for collection_id, created_at, updated_at in listed:
                detail = await repository.read_detail(connection, owner_id, collection_id)
                assert detail is not None  # the same snapshot listed it
                page.append((collection_id, created_at, updated_at, detail))
        for collection_id, created_at, updated_at, detail in page:
            yield ExportedCollection.model_validate(
                {
                    "uuid": collection_id,
                    **detail.fields,
                    "created_at": created_at,
                    "updated_at": updated_at,
                    "movies": detail.movies,
                }
            )
        if len(listed) < EXPORT_PAGE:
            return
        last_id, last_created, _ = listed[-1]
        after = (last_created, last_id)


async def export_json(database: Database, owner_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The CollectionsExport document, one collection at a time."""
    empty = CollectionsExport(exported_at=datetime.now(UTC), collections=[])
    opening = empty.model_dump_json().encode()
    assert opening.endswith(b"[]}")
    yield opening[:-2]
    separator = b""
    async for collection in _collections(database, owner_id):
        yield separator + collection.model_dump_json().encode()
        separator = b","
    yield b"]}"


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


async def export_csv(database: Database, owner_id: uuid.UUID) -> AsyncIterator[bytes]:
    """One row per movie (CSV_COLUMNS), collections oldest first, movies in order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for collection in _collections(database, owner_id):
        for position, movie in enumerate(collection.movies):
            writer.writerow(
                (
                    _cell(collection.title),
                    position,
                    movie.uuid,
                    _cell(movie.title),
                    _cell(movie.genres),
                    _cell(movie.note or ""),
                )
            )
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue().encode()


def _location(parts: tuple[int | str, ...]) -> str:
    """('collections', 2, 'movies', 0, 'uuid') -> 'collections[2].movies[0].uuid'."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "document"


def parse_import(body: bytes, movie_limit: int) -> CollectionsImport:
    """The document, or 422 naming its first bad entry (400 if it is not JSON)."""
    try:
        document = CollectionsImport.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            raise BadRequest("The request body is not valid JSON.") from error
        raise Unprocessable(f"{_location(first['loc'])}: {first['msg']}") from error
    for index, collection in enumerate(document.collections):
        check_movie_count(len(collection.movies), movie_limit, f"collections[{index}].movies: ")
    return document


async def import_collections(
    connection: Connection,
    owner_id: uuid.UUID,
    document: CollectionsImport,
    budget: CollectionBudget,
) -> list[uuid.UUID]:
    """Create the document's collections in its order, in the caller's transaction, within
    the user's budgets. Their creation times are a microsecond apart, so that an export lists
    them in the same order."""
    for index, collection in enumerate(document.collections):
        budget.check_movies(collection.movies, where=f"collections[{index}].")
    await budget.ensure_room(connection, owner_id, len(document.collections))
    start = datetime.now(UTC)
    return [
        await service.create(
            connection, owner_id, collection, budget, start + timedelta(microseconds=i)
        )
        for i, collection in enumerate(document.collections)
    ]
