"""PostgreSQL: deleting an account while the same user's write is half-way is not a deadlock.

A PUT locks its collection, then its genre rows need a KEY SHARE lock on the user's row; a
refresh locks its token, then inserts the next one, which needs the same. Another connection
plays that write: it takes the first lock, waits for DELETE /me/ to queue behind it, then asks
for the user's row. Both must go through: the write first, then the deletion."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PASSWORD, movie
from tests.security_helpers import bearer, client_for, register_pair, settings_with

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("write", ["put", "refresh"])
async def test_a_write_in_flight_finishes_and_the_account_is_deleted_after_it(
    postgres_database: str, tmp_path: Path, write: str
) -> None:
    settings = settings_with(postgres_database, tmp_path)
    username = f"leaving-{write}"
    async with client_for(settings) as client:
        pair = await register_pair(client, username)
        auth = bearer(pair["access_token"])
        created = await client.post(
            "/collection/", json={"title": "Mine", "movies": [movie(1)]}, headers=auth
        )
        assert created.status_code == 201
        collection_id = created.json()["collection_uuid"]
        writer = await asyncpg.connect(postgres_database)
        try:
            user_id = await writer.fetchval("SELECT id FROM users WHERE username = $1", username)
            transaction = writer.transaction()
            await transaction.start()
            if write == "put":
                await writer.execute(
                    "SELECT 1 FROM collections WHERE id = $1 FOR UPDATE", collection_id
                )
            else:
                token_hash = hashlib.sha256(pair["refresh_token"].encode()).hexdigest()
                await writer.execute(
                    "SELECT 1 FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE", token_hash
                )
            deletion = asyncio.create_task(client.delete("/me/", headers=auth))
            await asyncio.sleep(0.5)  # DELETE /me/ waits on the writer's first lock
            assert not deletion.done()
            # The write's next step: PostgreSQL would detect a deadlock within 1 s here.
            await writer.execute(
                "SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE", user_id, timeout=10
            )
            await transaction.commit()
            deleted = await asyncio.wait_for(deletion, 10)
            assert deleted.status_code == 204
            assert await writer.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id) == 0
        finally:
            await writer.close()


async def test_a_login_that_loses_the_race_with_the_deletion_is_401(
    postgres_database: str, tmp_path: Path
) -> None:
    """The login reads the user, then its write waits on the deletion's lock of the user's
    row: once the deletion commits, the new refresh token has no user (was a 500)."""
    settings = settings_with(postgres_database, tmp_path)
    async with client_for(settings) as client:
        await register_pair(client, "leaving-login")
        deleter = await asyncpg.connect(postgres_database)
        try:
            transaction = deleter.transaction()
            await transaction.start()
            await deleter.execute("DELETE FROM users WHERE username = 'leaving-login'")
            login = asyncio.create_task(
                client.post("/login/", json={"username": "leaving-login", "password": PASSWORD})
            )
            await asyncio.sleep(0.5)  # the login's insert waits on the deleted row's lock
            assert not login.done()
            await transaction.commit()
            response = await asyncio.wait_for(login, 10)
        finally:
            await deleter.close()
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
