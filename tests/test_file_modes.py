"""Local state is readable by the service's own user only."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from movie_collections.core.migrate import upgrade_to_head
from tests.conftest import PASSWORD, make_settings, register
from tests.security_helpers import client_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_and_rate_limit_files_are_created_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "new" / "app.db"
    url = f"sqlite:///{database}"
    await asyncio.to_thread(upgrade_to_head, url)
    settings = make_settings(url, tmp_path / "data", auth_rate_limit_per_username=5)
    async with client_for(settings) as client:
        await register(client, "modes")
        login = await client.post("/login/", json={"username": "modes", "password": PASSWORD})
        assert login.status_code == 200
        state = [database, database.with_name("app.db-wal"), database.with_name("app.db-shm")]
        state += sorted((tmp_path / "data").glob("rate_limits.db*"))
        assert len(state) >= 4
        assert {path.name: mode(path) for path in state} == {path.name: 0o600 for path in state}


async def test_every_folder_and_file_of_local_state_is_owner_only(tmp_path: Path) -> None:
    """Folders 0700 (parents the service creates too), files 0600: the database, the write
    lock, the rate-limit store, the generated secret key and every counter file."""
    database = tmp_path / "db" / "nested" / "app.db"
    url = f"sqlite:///{database}"
    await asyncio.to_thread(upgrade_to_head, url)
    data_dir = tmp_path / "state" / "data"
    settings = make_settings(url, data_dir, secret_key=None, auth_rate_limit_per_username=5)
    async with client_for(settings) as client:
        auth = await register(client, "modes")
        assert (await client.post("/request-count/reset/", headers=auth)).status_code == 200
        assert (await client.get("/request-count/", headers=auth)).status_code == 200
    created = [path for root in (tmp_path / "db", tmp_path / "state") for path in root.rglob("*")]
    created += [tmp_path / "db", tmp_path / "state"]
    names = {path.name for path in created}
    assert {"secret_key", "rate_limits.db", "state.json", "counter", "nested"} <= names
    assert any(name.endswith(".count") for name in names)
    expected = {path: 0o700 if path.is_dir() else 0o600 for path in created}
    assert {path: mode(path) for path in created} == expected
