"""Refresh tokens: single use, rotated, stored hashed, revoked as a family on reuse or logout."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from movie_collections.auth.repository import refresh_tokens, users
from movie_collections.core.settings import Settings
from tests.conftest import PASSWORD, stored_rows
from tests.security_helpers import bearer, client_for, register_pair, settings_with


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/token/refresh/", json={"refresh_token": token})


async def test_register_and_login_return_a_refresh_token(client: httpx.AsyncClient) -> None:
    pair = await register_pair(client, "maya")
    assert pair["refresh_expires_in"] == 30 * 24 * 3600
    assert len(pair["refresh_token"]) >= 43
    login = await client.post("/login/", json={"username": "maya", "password": PASSWORD})
    assert login.status_code == 200
    assert set(login.json()) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert login.json()["refresh_token"] != pair["refresh_token"]


async def test_refresh_rotates_and_the_new_pair_works(client: httpx.AsyncClient) -> None:
    pair = await register_pair(client)
    response = await _refresh(client, pair["refresh_token"])
    assert response.status_code == 200
    new = response.json()
    assert new["refresh_token"] != pair["refresh_token"]
    assert new["access_token"] != pair["access_token"]
    assert (
        await client.get("/collection/", headers=bearer(new["access_token"]))
    ).status_code == 200
    # And the rotated one can be rotated again.
    assert (await _refresh(client, new["refresh_token"])).status_code == 200


async def test_reusing_a_spent_refresh_token_revokes_the_family(
    client: httpx.AsyncClient,
) -> None:
    pair = await register_pair(client)
    other_login = await client.post(
        "/login/", json={"username": "x" * 3, "password": PASSWORD}
    )  # a stranger's failed login changes nothing
    assert other_login.status_code == 401
    stolen = pair["refresh_token"]
    rotated = (await _refresh(client, stolen)).json()["refresh_token"]

    reuse = await _refresh(client, stolen)
    assert reuse.status_code == 401
    assert reuse.headers["content-type"] == "application/problem+json"
    # The theft signal: the legitimate holder's current token is revoked too.
    assert (await _refresh(client, rotated)).status_code == 401


async def test_reuse_revokes_only_that_login(client: httpx.AsyncClient) -> None:
    first = await register_pair(client, "ravi")
    login = await client.post("/login/", json={"username": "ravi", "password": PASSWORD})
    second = login.json()
    await _refresh(client, first["refresh_token"])
    assert (await _refresh(client, first["refresh_token"])).status_code == 401
    assert (await _refresh(client, second["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_with_one_token_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    pair = await register_pair(client)
    responses = await asyncio.gather(*(_refresh(client, pair["refresh_token"]) for _ in range(4)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 401, 401, 401]
    winner = next(response for response in responses if response.status_code == 200)
    # The losers count as reuse: the winner's new token is revoked with the family.
    assert (await _refresh(client, winner.json()["refresh_token"])).status_code == 401


async def test_logout_revokes_the_family(client: httpx.AsyncClient) -> None:
    pair = await register_pair(client)
    rotated = (await _refresh(client, pair["refresh_token"])).json()
    response = await client.post("/logout/", json={"refresh_token": rotated["refresh_token"]})
    assert response.status_code == 204
    assert (await _refresh(client, rotated["refresh_token"])).status_code == 401
    # Logging out twice, or with a token never issued, answers the same and reveals nothing.
    again = await client.post("/logout/", json={"refresh_token": rotated["refresh_token"]})
    unknown = await client.post("/logout/", json={"refresh_token": "never-issued"})
    assert again.status_code == unknown.status_code == 204


async def test_unknown_and_malformed_refresh_tokens(client: httpx.AsyncClient) -> None:
    assert (await _refresh(client, "never-issued")).status_code == 401
    assert (await client.post("/token/refresh/", json={})).status_code == 422
    assert (await _refresh(client, "x" * 201)).status_code == 422
    assert (await client.post("/token/refresh/", json={"refresh_token": 5})).status_code == 422


async def test_expired_refresh_token_is_refused(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(database_url, tmp_path, refresh_token_ttl=1)
    async with client_for(settings) as client:
        pair = await register_pair(client)
        assert pair["refresh_expires_in"] == 1
        await asyncio.sleep(1.2)
        assert (await _refresh(client, pair["refresh_token"])).status_code == 401


async def test_expired_refresh_tokens_go_when_their_user_next_gets_one(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_with(database_url, tmp_path, refresh_token_ttl=2)
    async with client_for(settings) as client:
        spent = await register_pair(client, "ana")
        assert (await _refresh(client, spent["refresh_token"])).status_code == 200
        other = await register_pair(client, "ben")
        await asyncio.sleep(2.2)  # the two logins have 2 s
        logins = [
            await client.post("/login/", json={"username": "ana", "password": PASSWORD})
            for _ in range(2)
        ]
    [rows] = await stored_rows(
        settings,
        select(users.c.username, refresh_tokens.c.token_hash).join(
            users, users.c.id == refresh_tokens.c.user_id
        ),
    )
    digest = lambda body: hashlib.sha256(body["refresh_token"].encode()).hexdigest()  # noqa: E731
    # Ana's spent and rotated tokens went, her two live logins stay; Ben's expired one waits
    # for Ben's next token.
    assert sorted(rows) == sorted(
        [("ana", digest(login.json())) for login in logins] + [("ben", digest(other))]
    )


async def test_only_a_hash_of_the_refresh_token_is_stored(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    pair = await register_pair(client)
    [rows] = await stored_rows(settings, select(refresh_tokens.c.token_hash))
    stored = [token_hash for (token_hash,) in rows]
    assert stored == [hashlib.sha256(pair["refresh_token"].encode()).hexdigest()]


async def test_password_hash_is_upgraded_on_login_when_parameters_change(
    database_url: str, tmp_path: Path
) -> None:
    weak = settings_with(database_url, tmp_path, password_hash_time_cost=1)
    async with client_for(weak) as client:
        await register_pair(client, "upgrade")
    stronger = settings_with(database_url, tmp_path, password_hash_time_cost=2)

    async def stored_hash() -> str:
        [[(password_hash,)]] = await stored_rows(stronger, select(users.c.password_hash))
        return str(password_hash)

    assert ",t=1," in await stored_hash()
    async with client_for(stronger) as client:
        wrong = await client.post("/login/", json={"username": "upgrade", "password": "nope-nope"})
        assert wrong.status_code == 401
        assert ",t=1," in await stored_hash()  # only a proven password is re-hashed
        login = await client.post("/login/", json={"username": "upgrade", "password": PASSWORD})
        assert login.status_code == 200
    assert ",t=2," in await stored_hash()
    async with client_for(stronger) as client:
        login = await client.post("/login/", json={"username": "upgrade", "password": PASSWORD})
        assert login.status_code == 200


@pytest.mark.postgres
@pytest.mark.parametrize("revoker", ["reuse", "logout"])
async def test_a_revocation_also_revokes_the_token_a_concurrent_refresh_issues(
    postgres_database: str, tmp_path: Path, revoker: str
) -> None:
    """The thief refreshes T1 while the owner re-presents the spent T0 (or logs out with it):
    the token the thief's refresh issues meanwhile is revoked with the rest of the family.
    Another connection holds T1's row lock, so both requests are in flight at once."""
    settings = settings_with(postgres_database, tmp_path)
    async with client_for(settings) as client:
        t0 = (await register_pair(client))["refresh_token"]
        t1 = (await _refresh(client, t0)).json()["refresh_token"]
        blocker = await asyncpg.connect(postgres_database)
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute(
                "SELECT 1 FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                hashlib.sha256(t1.encode()).hexdigest(),
            )
            thief = asyncio.create_task(_refresh(client, t1))
            await asyncio.sleep(0.5)  # the thief's refresh waits on T1's lock
            if revoker == "reuse":
                owner = asyncio.create_task(_refresh(client, t0))
            else:
                owner = asyncio.create_task(client.post("/logout/", json={"refresh_token": t0}))
            await asyncio.sleep(0.5)  # and so does the owner's revocation, queued behind it
            await transaction.rollback()
            stolen, revoked = await thief, await owner
        finally:
            await blocker.close()
        assert revoked.status_code == (401 if revoker == "reuse" else 204)
        if stolen.status_code == 200:  # the thief's refresh went first: its token is revoked
            t2 = stolen.json()["refresh_token"]
            assert (await _refresh(client, t2)).status_code == 401
        else:
            assert stolen.status_code == 401


@pytest.mark.postgres
async def test_a_reuse_that_waited_for_the_winner_revokes_the_family_without_a_deadlock(
    postgres_database: str, tmp_path: Path
) -> None:
    """A reuse whose spend waited for the winner's lock keeps that row locked (PostgreSQL
    locks the row it waited for even when it then does not match). Another connection plays a
    second reuse revoking the family: it holds the family's first token in id order, then asks
    for the spent one. The first reuse must not ask for the first token while it holds the
    spent one (it did: a deadlock, 503, in about 1 of 10 runs of four concurrent refreshes)."""
    settings = settings_with(postgres_database, tmp_path)
    async with client_for(settings) as client:
        pair = await register_pair(client, "reused-while-spent")
        token_hash = hashlib.sha256(pair["refresh_token"].encode()).hexdigest()
        winner = await asyncpg.connect(postgres_database)
        revoker = await asyncpg.connect(postgres_database)
        try:
            token_id, family, user_id = await winner.fetchrow(
                "SELECT id, family_id, user_id FROM refresh_tokens WHERE token_hash = $1",
                token_hash,
            )
            first = uuid.UUID(int=0)  # before every other id: locked first in id order
            await winner.execute(
                "INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, created_at, "
                "expires_at) VALUES ($1, $2, $3, $4, now(), now() + interval '1 day')",
                first,
                "0" * 64,
                family,
                user_id,
            )
            spending = winner.transaction()
            await spending.start()
            await winner.execute(
                "UPDATE refresh_tokens SET used_at = now() WHERE id = $1", token_id
            )
            reuse = asyncio.create_task(_refresh(client, pair["refresh_token"]))
            await asyncio.sleep(0.5)  # its spend waits for the winner's lock
            assert not reuse.done()
            revoking = revoker.transaction()
            await revoking.start()
            await revoker.execute("SELECT 1 FROM refresh_tokens WHERE id = $1 FOR UPDATE", first)
            await spending.commit()
            await asyncio.sleep(0.5)  # the reuse finds the token spent and revokes the family
            await revoker.execute(
                "SELECT 1 FROM refresh_tokens WHERE id = $1 FOR UPDATE", token_id, timeout=10
            )
            await revoking.commit()
            answer = await asyncio.wait_for(reuse, 10)
            assert answer.status_code == 401, answer.text
            unrevoked = await winner.fetchval(
                "SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL",
                family,
            )
            assert unrevoked == 0
        finally:
            await winner.close()
            await revoker.close()
