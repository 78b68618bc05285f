"""The executor's own promises: statements built per call do not pile up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import literal, select

from movie_collections.core.database import Database
from tests.conftest import make_settings


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
