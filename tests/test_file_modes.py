"""Local state is readable by the service's own user only."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from movie_collections.core.migrate import upgrade_to_head
from tests.conftest import PASSWORD, make_settings, register


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_and_rate_limit_files_are_created_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "new" / "app.db"
    url = f"sqlite:///{database}"
    await asyncio.to_thread(upgrade_to_head, url)
    settings = make_settings(url, tmp_path / "data", auth_rate_limit_per_username=5)
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        await register(client, "modes")
        login = await client.post("/login/", json={"username": "modes", "password": PASSWORD})
        assert login.status_code == 200
        state = [database, database.with_name("app.db-wal"), database.with_name("app.db-shm")]
        state += sorted((tmp_path / "data").glob("rate_limits.db*"))
        assert len(state) >= 4
        assert {path.name: mode(path) for path in state} == {path.name: 0o600 for path in state}
