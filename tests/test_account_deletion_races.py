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
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from movie_collections.auth import repository
from movie_collections.core.database import compile_statement
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


async def test_a_logout_revoking_a_family_and_the_deletion_lock_its_tokens_in_one_order(
    postgres_database: str, tmp_path: Path
) -> None:
    """Another connection runs the logout's own locking statement, holding the first token
    it locks: the deletion waits for that one before taking any other (was a deadlock when
    the logout locked in the table's physical order)."""
    settings = settings_with(postgres_database, tmp_path)
    async with client_for(settings) as client:
        pair = await register_pair(client, "leaving-logout")
        refresh_token = pair["refresh_token"]
        for _ in range(2):  # a family of three tokens
            answer = await client.post("/token/refresh/", json={"refresh_token": refresh_token})
            refresh_token = answer.json()["refresh_token"]
        lock_family = compile_statement(repository._LOCK_FAMILY, asyncpg_dialect()).sql
        logout = await asyncpg.connect(postgres_database)
        try:
            family = await logout.fetchval(
                "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
                hashlib.sha256(refresh_token.encode()).hexdigest(),
            )
            # The smallest id's row moves last in the table: physical order is not id order.
            await logout.execute(
                "WITH moved AS (DELETE FROM refresh_tokens WHERE id = "
                "(SELECT id FROM refresh_tokens WHERE family_id = $1 ORDER BY id LIMIT 1) "
                "RETURNING *) INSERT INTO refresh_tokens SELECT * FROM moved",
                family,
            )
            first = (await logout.fetch(lock_family, family))[0]["id"]
            transaction = logout.transaction()
            await transaction.start()
            await logout.execute("SELECT 1 FROM refresh_tokens WHERE id = $1 FOR UPDATE", first)
            deletion = asyncio.create_task(
                client.delete("/me/", headers=bearer(pair["access_token"]))
            )
            await asyncio.sleep(0.5)  # DELETE /me/ waits on the logout's first lock
            assert not deletion.done()
            await logout.execute(lock_family, family, timeout=10)  # the logout's other locks
            await transaction.commit()
            deleted = await asyncio.wait_for(deletion, 10)
        finally:
            await logout.close()
        assert deleted.status_code == 204, deleted.text
