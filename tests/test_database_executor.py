"""The executor's own promises: statements built per call do not pile up; OneOf binds a list;
a PostgreSQL error that means "try again" is a 503, not a 500."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Uuid, insert, literal, select, text
from sqlalchemy.schema import CreateTable

from movie_collections.core.database import Database, DatabaseUnavailable, OneOf
from tests.conftest import _truncate_postgres, make_settings, register
from tests.security_helpers import client_for


async def test_statements_built_per_call_do_not_grow_the_compiled_cache(
    database_url: str, tmp_path: Path
) -> None:
    database = Database(make_settings(database_url, tmp_path / "data"))
    await database.start()
    try:
        for n in range(3000):
            assert await database.fetch(select(literal(n))) == [(n,)]
        assert len(database._compiled) <= 1024
    finally:
        await database.close()


async def test_one_of_matches_a_list_of_any_length_on_either_database(
    database_url: str, tmp_path: Path
) -> None:
    table = Table(
        "one_of_probe",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("n", Integer),
        prefixes=["TEMPORARY"],
    )
    ids = [uuid.uuid4() for _ in range(5)]
    chosen = select(table.c.n).where(OneOf(table.c.id, "ids")).order_by(table.c.n)
    database = Database(make_settings(database_url, tmp_path / "data"))
    await database.start()
    try:
        async with database.connection() as connection:  # a temporary table is per connection
            await connection.execute(
                text(str(CreateTable(table).compile(dialect=database.dialect)))
            )
            await connection.execute_many(
                insert(table), [{"id": id_, "n": n} for n, id_ in enumerate(ids)]
            )
            for wanted in ([], [ids[2]], [ids[4], ids[0], uuid.uuid4(), ids[0]], ids):
                rows = await connection.fetch(chosen, {"ids": wanted})
                assert [row[0] for row in rows] == sorted(
                    {ids.index(i) for i in wanted if i in ids}
                )
    finally:
        await database.close()


async def test_one_of_finds_rows_by_index_on_sqlite(tmp_path: Path) -> None:
    table = Table("probe", MetaData(), Column("id", Uuid, primary_key=True), Column("n", Integer))
    chosen = select(table.c.n).where(OneOf(table.c.id, "ids"))
    database = Database(make_settings(f"sqlite:///{tmp_path}/probe.db", tmp_path / "data"))
    try:
        async with database.connection() as connection:
            await connection.execute(
                text(str(CreateTable(table).compile(dialect=database.dialect)))
            )
            sql = database.compile(chosen).sql
            plan = connection.raw.execute(f"EXPLAIN QUERY PLAN {sql}", ["[]"]).fetchall()
        assert any("SEARCH probe USING" in row[-1] for row in plan), plan
        assert not any(row[-1].startswith("SCAN probe") for row in plan), plan
    finally:
        await database.close()


@pytest.mark.postgres
async def test_a_write_waiting_on_a_row_lock_past_the_statement_timeout_is_503(
    postgres_database: str, tmp_path: Path
) -> None:
    await _truncate_postgres(postgres_database)
    settings = make_settings(postgres_database, tmp_path / "data", database_statement_timeout=0.3)
    async with client_for(settings) as client:
        auth = await register(client)
        created = await client.post("/collection/", json={"title": "held"}, headers=auth)
        path = f"/collection/{created.json()['collection_uuid']}/"
        holder = await asyncpg.connect(postgres_database)
        try:
            async with holder.transaction():  # another session keeps the row locked
                await holder.execute(
                    "SELECT 1 FROM collections WHERE id = $1 FOR UPDATE",
                    uuid.UUID(path.split("/")[2]),
                )
                response = await client.put(path, json={"title": "changed"}, headers=auth)
        finally:
            await holder.close()
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        assert (await client.get(path, headers=auth)).json()["title"] == "held"


@pytest.mark.postgres
@pytest.mark.parametrize("sqlstate", ["40P01", "40001", "57014"])
async def test_deadlocks_and_serialization_failures_are_unavailable(
    postgres_database: str, tmp_path: Path, sqlstate: str
) -> None:
    """A 503, and the connection, which is sound, stays in the pool."""
    settings = make_settings(
        postgres_database, tmp_path / "data", database_pool_size=1, database_max_overflow=0
    )
    database = Database(settings)
    await database.start()
    backend = text("SELECT pg_backend_pid()")
    try:
        [(pid,)] = await database.fetch(backend)
        with pytest.raises(DatabaseUnavailable):
            async with database.transaction(write=True) as connection:
                await connection.execute(
                    text(f"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '{sqlstate}'; END $$")
                )
        assert await database.fetch(backend) == [(pid,)]
    finally:
        await database.close()
