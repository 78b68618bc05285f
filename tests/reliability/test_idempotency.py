"""Idempotent create: a retried POST /collection/ with the same Idempotency-Key creates once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from movie_collections.collection.repository import collections
from movie_collections.collection.schemas import CollectionCreate
from movie_collections.container import Container
from movie_collections.core.settings import Settings
from movie_collections.idempotency.repository import idempotency_keys
from movie_collections.idempotency.service import Claim, request_hash
from tests.conftest import movie, register, stored_rows

BODY = {"title": "Weekend", "description": "rainy", "movies": [movie(1), movie(2, "Comedy")]}


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def count_collections(app: FastAPI) -> int:
    [[(count,)]] = await stored_rows(app, select(func.count()).select_from(collections))
    return int(count)


async def user_id_of(app: FastAPI, auth: dict[str, str]) -> uuid.UUID:
    token = auth["Authorization"].split()[1]
    return container_of(app).tokens.user_id_from(token)


async def test_same_key_and_body_replays_the_first_answer(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/collection/", json=BODY, headers=headers)
    assert first.status_code == 201
    # The retry (e.g. after a timeout) may serialise the body differently: same request.
    reordered = dict(reversed(list(BODY.items())))
    second = await client.post("/collection/", json=reordered, headers=headers)
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await count_collections(app) == 1
    listed = (await client.get("/collection/", headers=auth)).json()["data"]["collections"]
    assert [c["uuid"] for c in listed] == [first.json()["collection_uuid"]]


async def test_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    headers = {**auth, "Idempotency-Key": "key-1"}
    assert (await client.post("/collection/", json=BODY, headers=headers)).status_code == 201
    other = await client.post("/collection/", json={**BODY, "title": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in other.json()["detail"]
    assert await count_collections(app) == 1


async def test_keys_are_per_user(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    other_user = await register(client)
    first = await client.post("/collection/", json=BODY, headers={**auth, "Idempotency-Key": "k"})
    second = await client.post(
        "/collection/", json=BODY, headers={**other_user, "Idempotency-Key": "k"}
    )
    assert first.status_code == second.status_code == 201
    assert first.json() != second.json()
    assert "Idempotent-Replayed" not in second.headers


async def test_without_a_key_every_post_creates(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    first = await client.post("/collection/", json=BODY, headers=auth)
    second = await client.post("/collection/", json=BODY, headers=auth)
    assert first.status_code == second.status_code == 201
    assert first.json() != second.json()
    assert await count_collections(app) == 2


async def test_key_in_flight_elsewhere_is_409_then_replays_once_done(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    """Another worker holds the key (claimed, not finished): a duplicate gets 409."""
    keys = container_of(app).idempotency
    user_id = await user_id_of(app, auth)
    claim = await keys.claim(user_id, "busy", request_hash(CollectionCreate.model_validate(BODY)))
    assert isinstance(claim, Claim)
    duplicate = await client.post(
        "/collection/", json=BODY, headers={**auth, "Idempotency-Key": "busy"}
    )
    assert duplicate.status_code == 409
    assert duplicate.headers["Retry-After"] == "1"
    assert await count_collections(app) == 0
    # The other request finishes and records its answer; now the duplicate replays it.
    collection_uuid = str(uuid.uuid4())
    async with container_of(app).database.transaction(write=True) as connection:
        await keys.record(connection, claim, 201, f'{{"collection_uuid":"{collection_uuid}"}}')
    replay = await client.post(
        "/collection/", json=BODY, headers={**auth, "Idempotency-Key": "busy"}
    )
    assert replay.status_code == 201
    assert replay.json() == {"collection_uuid": collection_uuid}


async def test_concurrent_duplicates_create_exactly_one_collection(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    body = {**BODY, "movies": [movie(i) for i in range(300)]}
    headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(client.post("/collection/", json=body, headers=headers) for _ in range(6))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["collection_uuid"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert await count_collections(app) == 1


async def test_a_failed_create_frees_the_key_for_a_retry(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    """A create refused by a rule (too many movies) is not remembered: fixing it and retrying
    with the same key... is a different body (422); the same body is refused again, not 409."""
    limit = settings.max_movies_per_collection
    headers = {**auth, "Idempotency-Key": "retry-me"}
    too_many = {**BODY, "movies": [movie(i) for i in range(limit + 1)]}
    for _ in range(2):
        response = await client.post("/collection/", json=too_many, headers=headers)
        assert response.status_code == 422
    [[(rows,)]] = await stored_rows(app, select(func.count()).select_from(idempotency_keys))
    assert rows == 0
    assert (await client.post("/collection/", json=BODY, headers=headers)).status_code == 201


async def test_an_abandoned_claim_is_taken_over(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    """The worker holding the key died: after IDEMPOTENCY_IN_FLIGHT_TIMEOUT a retry proceeds."""
    keys = container_of(app).idempotency
    user_id = await user_id_of(app, auth)
    claim = await keys.claim(user_id, "orphan", request_hash(CollectionCreate.model_validate(BODY)))
    assert isinstance(claim, Claim)
    headers = {**auth, "Idempotency-Key": "orphan"}
    assert (await client.post("/collection/", json=BODY, headers=headers)).status_code == 409
    await age_keys(app, settings.idempotency_in_flight_timeout + timedelta(seconds=1), "claimed_at")
    taken_over = await client.post("/collection/", json=BODY, headers=headers)
    assert taken_over.status_code == 201
    # The dead attempt can no longer record an answer (its work would be rolled back).
    async with container_of(app).database.transaction(write=True) as connection:
        with pytest.raises(Exception, match="took over"):
            await keys.record(connection, claim, 201, "{}")
    assert await count_collections(app) == 1
    replay = await client.post("/collection/", json=BODY, headers=headers)
    assert replay.json() == taken_over.json()


async def test_keys_expire_after_the_ttl(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    headers = {**auth, "Idempotency-Key": "old"}
    first = await client.post("/collection/", json=BODY, headers=headers)
    assert settings.idempotency_key_ttl == timedelta(hours=24)
    await age_keys(app, timedelta(hours=23), "created_at")
    assert (await client.post("/collection/", json=BODY, headers=headers)).json() == first.json()
    await age_keys(app, timedelta(hours=1, seconds=1), "created_at")
    # Forgotten: the key is free again, even for another body.
    again = await client.post("/collection/", json={**BODY, "title": "New"}, headers=headers)
    assert again.status_code == 201
    assert again.json() != first.json()
    assert await count_collections(app) == 2


async def test_expired_keys_are_cleaned_up(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    for n in range(3):
        headers = {**auth, "Idempotency-Key": f"k{n}"}
        assert (await client.post("/collection/", json=BODY, headers=headers)).status_code == 201
    await age_keys(app, timedelta(hours=25), "created_at")
    container_of(app).idempotency._next_cleanup = 0.0  # the periodic clean-up is due
    await client.post("/collection/", json=BODY, headers={**auth, "Idempotency-Key": "fresh"})
    [remaining] = await stored_rows(app, select(idempotency_keys.c.key))
    assert remaining == [("fresh",)]


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"has space", "caf\u00e9".encode()])
async def test_malformed_keys_are_400(
    client: httpx.AsyncClient, auth: dict[str, str], key: bytes
) -> None:
    response = await client.post(
        "/collection/",
        json=BODY,
        headers=[*auth.items(), ("Idempotency-Key", key)],
    )
    assert response.status_code == 400


async def test_a_key_sent_on_two_lines_is_400_and_creates_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The header is one item (draft-ietf-httpapi-idempotency-key-header): two lines are a
    list, which names no key; picking one of them could replay the wrong create."""
    for keys in (("a", "b"), ("a", "a")):
        lines = [*auth.items(), *(("Idempotency-Key", key) for key in keys)]
        response = await client.post("/collection/", json=BODY, headers=lines)
        assert response.status_code == 400, response.text
    assert (await client.get("/collection/", headers=auth)).json()["data"]["collections"] == []


async def age_keys(app: FastAPI, by: timedelta, column: str) -> None:
    """Move the keys' clock back, as if `by` had passed."""
    async with container_of(app).database.transaction(write=True) as connection:
        rows = await connection.fetch(select(idempotency_keys.c.key, idempotency_keys.c[column]))
        for key, moment in rows:
            await connection.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key == key)
                .values({column: moment - by})
            )


async def test_a_deleted_users_token_cannot_claim_a_key(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    """The token still verifies after DELETE /me/; the key row's user is gone: 401, not 500."""
    assert (await client.delete("/me/", headers=auth)).status_code == 204
    response = await client.post(
        "/collection/", json=BODY, headers={**auth, "Idempotency-Key": "after-deletion"}
    )
    assert response.status_code == 401
    assert await count_collections(app) == 0
