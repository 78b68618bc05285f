"""Export (JSON document, CSV) and import of all my collections (issue 21, point 4): the round
trip is byte-identical apart from ids and times; a bad document changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import literal, select

from movie_collections.collection import transfer
from movie_collections.core.database import Database
from tests.conftest import make_settings, movie, register
from tests.test_collections import create

_COLLECTION_ID = re.compile(rb'"uuid":"[0-9a-f-]{36}","title"')
_TIME = re.compile(rb'"(exported_at|created_at|updated_at)":"[^"]+"')


def _without_ids_and_times(document: bytes) -> bytes:
    return _TIME.sub(rb'"\1":"T"', _COLLECTION_ID.sub(b'"uuid":"ID","title"', document))


async def _fill(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await create(
        client,
        auth,
        title="First",
        description='Quotes " and \\ and ünïcode',
        movies=[{**movie(1, "Drama,Comedy"), "note": "line one\nline two"}, movie(2, "")],
    )
    await create(client, auth, title="Empty", description="")
    await create(client, auth, title="=SUM(A1)", movies=[movie(3, "-Horror"), movie(1)])


async def _export(client: httpx.AsyncClient, auth: dict[str, str], kind: str) -> httpx.Response:
    response = await client.get(f"/collection/export/?format={kind}", headers=auth)
    assert response.status_code == 200, response.text
    return response


async def test_round_trip_is_byte_identical_apart_from_ids_and_times(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await _fill(client, auth)
    exported = await _export(client, auth, "json")
    assert exported.headers["content-type"] == "application/json"
    assert exported.headers["content-disposition"] == (
        'attachment; filename="movie-collections.json"'
    )
    document = exported.json()
    assert document["format"] == "movie-collections/v1"
    assert [c["title"] for c in document["collections"]] == ["First", "Empty", "=SUM(A1)"]
    first = document["collections"][0]
    assert first["movies"] == [
        {**movie(1, "Drama,Comedy"), "note": "line one\nline two"},
        {**movie(2, ""), "note": None},
    ]

    fresh = await register(client)
    imported = await client.post("/collection/import/", content=exported.content, headers=fresh)
    assert imported.status_code == 201, imported.text
    new_ids = imported.json()["collection_uuids"]
    assert len(new_ids) == 3
    assert not set(new_ids) & {c["uuid"] for c in document["collections"]}

    again = await _export(client, fresh, "json")
    assert _without_ids_and_times(again.content) == _without_ids_and_times(exported.content)
    assert again.content != exported.content  # only the ids and times differ
    # The imported collections are the new account's, with their genres counted.
    listed = (await client.get("/collection/", headers=fresh)).json()["data"]
    assert [c["uuid"] for c in listed["collections"]] == new_ids[::-1]
    assert (
        listed["favourite_genres"]
        == (await client.get("/collection/", headers=auth)).json()["data"]["favourite_genres"]
    )


async def test_csv_has_one_row_per_movie(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await _fill(client, auth)
    exported = await _export(client, auth, "csv")
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"] == (
        'attachment; filename="movie-collections.csv"'
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows == [
        ["collection_title", "position", "movie_uuid", "title", "genres", "note"],
        ["First", "0", movie(1)["uuid"], "Movie 1", "Drama,Comedy", "line one\nline two"],
        ["First", "1", movie(2)["uuid"], "Movie 2", "", ""],
        # Cells a spreadsheet would run as formulas are quoted with a leading apostrophe.
        ["'=SUM(A1)", "0", movie(3)["uuid"], "Movie 3", "'-Horror", ""],
        ["'=SUM(A1)", "1", movie(1)["uuid"], "Movie 1", "Drama", ""],
    ]


async def test_an_empty_account_exports_an_empty_document(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    document = (await _export(client, auth, "json")).json()
    assert document["collections"] == []
    assert (await _export(client, auth, "csv")).text.splitlines() == [
        "collection_title,position,movie_uuid,title,genres,note"
    ]
    assert (await client.get("/collection/export/?format=xml", headers=auth)).status_code == 422
    assert (await client.get("/collection/export/")).status_code == 401


def _document(*collections: dict[str, Any]) -> dict[str, Any]:
    return {"format": "movie-collections/v1", "collections": list(collections)}


async def test_a_bad_document_is_422_naming_its_first_bad_entry_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    good = {"title": "Good", "description": "", "movies": [movie(1)]}
    bad_movie = {"title": "Bad", "movies": [movie(2), {**movie(3), "uuid": "not-a-uuid"}]}
    cases = [
        (_document(good, bad_movie), "collections[1].movies[1].uuid"),
        (_document(good, {"title": ""}), "collections[1].title"),
        (_document(good, {"title": "x", "movies": [movie(1), movie(1)]}), "collections[1].movies"),
        (
            _document(good, {"title": "x", "movies": [{**movie(1), "note": "n" * 1001}]}),
            "collections[1].movies[0].note",
        ),
        (
            _document(good, {"title": "x", "movies": [movie(2), movie(3, "g" * 51)]}),
            "collections[1].movies[1].genres",
        ),
        (
            _document(
                good, {"title": "x", "movies": [movie(2, ",".join("abcdefghijklmnopqrstu"))]}
            ),
            "collections[1].movies[0].genres",
        ),
        ({"format": "movie-collections/v2", "collections": [good]}, "format"),
        ({"collections": [good]}, "format"),
        (_document(good) | {"collections": "many"}, "collections"),
        ([], "document"),
    ]
    for document, named in cases:
        response = await client.post("/collection/import/", json=document, headers=auth)
        assert response.status_code == 422, (named, response.text)
        assert response.json()["detail"].startswith(f"{named}: "), response.json()["detail"]
    not_json = await client.post("/collection/import/", content=b"{", headers=auth)
    assert not_json.status_code == 400
    listed = (await client.get("/collection/", headers=auth)).json()["data"]
    assert listed == {"collections": [], "favourite_genres": ""}


async def test_an_import_past_the_budgets_creates_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    settings = app.state.container.settings
    settings.max_collections_per_user = 3
    settings.max_movies_per_collection = 2
    await create(client, auth, title="Existing")
    two = _document({"title": "a"}, {"title": "b"})
    three = _document({"title": "a"}, {"title": "b"}, {"title": "c"})
    refused = await client.post("/collection/import/", json=three, headers=auth)
    assert refused.status_code == 422
    assert "at most 3 collections" in refused.json()["detail"]
    crowded = _document({"title": "a", "movies": [movie(1), movie(2), movie(3)]})
    refused = await client.post("/collection/import/", json=crowded, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("collections[0].movies: ")
    assert len((await client.get("/collection/", headers=auth)).json()["data"]["collections"]) == 1
    assert (await client.post("/collection/import/", json=two, headers=auth)).status_code == 201
    titles = [
        c["title"]
        for c in (await client.get("/collection/", headers=auth)).json()["data"]["collections"]
    ]
    assert titles == ["b", "a", "Existing"]
    refused = await client.post("/collection/import/", json=crowded, headers=auth)
    assert refused.json()["limit"] == "max_movies_per_collection"


async def test_concurrent_imports_of_one_user_with_no_collection_budget_all_succeed(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    """MAX_COLLECTIONS_PER_USER=0 (no budget): one user's imports still take turns. Each takes
    the genre-count locks of several collections; taken in other orders by two imports at
    once, they deadlocked on PostgreSQL (503)."""
    app.state.container.settings.max_collections_per_user = 0
    genres = ["Drama", "Comedy", "Horror", "Crime"]
    document = _document(
        *(
            {"title": f"c{n}", "movies": [movie(n, genres[n % 4]), movie(n + 10, genres[n // 2])]}
            for n in range(8)
        )
    )
    for _ in range(5):
        answers = await asyncio.gather(
            *(client.post("/collection/import/", json=document, headers=auth) for _ in range(4))
        )
        assert [answer.status_code for answer in answers] == [201] * 4, answers[0].text
    listed = (await client.get("/collection/", headers=auth)).json()["data"]
    assert len(listed["collections"]) == 5 * 4 * 8


async def test_the_export_document_is_documented_and_versioned(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    export = schema["components"]["schemas"]["CollectionsExport"]
    assert export["properties"]["format"]["const"] == "movie-collections/v1"
    body = schema["paths"]["/collection/import/"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/CollectionsExport")
    assert json.dumps(schema["paths"]["/collection/export/"]["get"]).count("text/csv") == 1


async def _import_titles(client: httpx.AsyncClient, auth: dict[str, str], count: int) -> list[str]:
    titles = [f"c{n:03}" for n in range(count)]
    document = _document(*({"title": title, "movies": [movie(1)]} for title in titles))
    imported = await client.post("/collection/import/", json=document, headers=auth)
    assert imported.status_code == 201, imported.text
    return titles


async def test_an_export_of_several_pages_has_every_collection_once_in_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    titles = await _import_titles(client, auth, 2 * transfer.EXPORT_PAGE + 3)
    document = (await _export(client, auth, "json")).json()
    assert [c["title"] for c in document["collections"]] == titles
    rows = list(csv.DictReader(io.StringIO((await _export(client, auth, "csv")).text)))
    assert [row["collection_title"] for row in rows] == titles


async def test_a_stalled_export_download_holds_no_database_connection(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    """A client that stops reading its export keeps no connection (nor snapshot) from others."""
    titles = await _import_titles(client, auth, transfer.EXPORT_PAGE + 5)
    owner_id = app.state.container.tokens.user_id_from(auth["Authorization"].split()[1])
    settings = make_settings(
        database_url,
        tmp_path / "one",
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout=0.5,
    )
    database = Database(settings)
    await database.start()
    try:
        download = transfer.export_json(database, owner_id)
        chunks = [await anext(download), await anext(download)]  # the opening, one collection
        async with database.connection() as connection:  # the pool's one connection is free
            assert await connection.fetch_value(select(literal(1))) == 1
        chunks += [chunk async for chunk in download]
    finally:
        await database.close()
    exported = json.loads(b"".join(chunks))
    assert [c["title"] for c in exported["collections"]] == titles
