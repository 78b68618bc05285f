"""What a create's SQL alone costs on SQLite: the floor under `profile_app create`.

`python -m bench.sql_floor --requests 3000` runs the statements of a `POST /collection/` of
the benchmark's body (triggers included), parameters built beforehand, in savepoints of
64-write transactions like the group commit, and reports the CPU per create."""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite

from bench.seed import collection_body
from movie_collections.collection import repository
from movie_collections.collection.ids import new_collection_id
from movie_collections.collection.schemas import CollectionCreate
from movie_collections.core.database import Database, compile_statement
from movie_collections.core.migrate import upgrade_to_head
from movie_collections.core.settings import Settings

WRITES_PER_COMMIT = 64  # the group commit's batch at full load


def statements(owner_id: uuid.UUID, payload: CollectionCreate) -> list[tuple[str, list[Any]]]:
    """(SQL, rows of parameters) of one create, as the repository builds them."""
    dialect = sqlite.dialect()
    collection_id, now = new_collection_id(), datetime.now(UTC)
    fields = payload.model_dump(exclude={"movies"})
    collection = {
        **fields,
        "title_key": repository.title_key(fields["title"]),
        "id": collection_id,
        "owner_id": owner_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    genres = [
        {"collection_id": collection_id, "genre": g, "owner_id": owner_id, "occurrences": n}
        for g, n in repository.genre_counts(payload.movies).items()
    ]
    movies = repository._movie_rows(collection_id, payload.movies, 0)
    built = []
    for statement, rows in (
        (repository._INSERT_COLLECTION, [collection]),
        (repository._INSERT_MOVIE, movies),
        (repository._COUNT_GENRES["sqlite"], genres),
    ):
        compiled = compile_statement(statement, dialect)
        built.append((compiled.sql, [compiled.values(row) for row in rows]))
    return built


def database() -> tuple[sqlite3.Connection, uuid.UUID]:
    """A fresh migrated database, opened as the app opens it, and a user's id."""
    path = Path(tempfile.mkdtemp(prefix="mc-floor-")) / "floor.db"
    settings = Settings(database_url=f"sqlite:///{path}", data_dir=path.parent)
    upgrade_to_head(settings.database_url)
    raw = Database(settings)._open_sqlite()  # the app's connection: same pragmas
    owner_id = uuid.uuid4()
    raw.execute(
        "INSERT INTO users (id, username, username_key, password_hash, created_at) "
        "VALUES (?, 'floor', 'floor', 'x', '2026-01-01 00:00:00.000000')",
        (owner_id.hex,),
    )
    return raw, owner_id


def run(raw: sqlite3.Connection, creates: list[list[tuple[str, list[Any]]]]) -> float:
    """Runs the creates as the group commit would; the CPU seconds they took."""
    start = time.process_time()
    for first in range(0, len(creates), WRITES_PER_COMMIT):
        raw.execute("BEGIN IMMEDIATE")
        for create in creates[first : first + WRITES_PER_COMMIT]:
            raw.execute("SAVEPOINT write")
            for sql, rows in create:
                raw.executemany(sql, rows)
            raw.execute("RELEASE write")
        raw.execute("COMMIT")
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    arguments = parser.parse_args()
    raw, owner_id = database()
    payload = CollectionCreate.model_validate(collection_body(1000, 10))
    creates = [statements(owner_id, payload) for _ in range(arguments.requests)]
    cpu = run(raw, creates)
    print(f"create's SQL alone: {1e6 * cpu / len(creates):,.0f} µs CPU per create")


if __name__ == "__main__":
    main()
