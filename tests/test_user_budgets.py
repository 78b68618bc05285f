"""Per-user budgets (issue 18, point 3): collections per user, genres per movie and per
collection, genre length (422), collection writes and GET /movies/ per minute (429), each
named in its answer and listed by GET /limits/; rate budgets across processes and hosts."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from movie_collections.collection.schemas import CollectionCreate
from movie_collections.core.database import Database
from movie_collections.core.settings import Settings
from movie_collections.idempotency.repository import idempotency_keys
from movie_collections.idempotency.service import Claim, IdempotencyKeys, request_hash
from tests.conftest import movie, stored_rows
from tests.processes import ServerProcess
from tests.security_helpers import bearer, client_for, register_pair, settings_with, subject_of
from tests.services import REDIS_TEST_URL, redis_reachable, skip_or_fail

MOVIES_WRITTEN = "movies_written_per_user_per_minute"


async def _user(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer((await register_pair(client))["access_token"])


def _assert_budget(response: httpx.Response, status: int, limit: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["limit"] == limit
    assert limit in problem["detail"]
    if status == 429:
        assert 1 <= int(response.headers["retry-after"]) <= 60
    return problem


def _movie_budget_of_25(database_url: str, tmp_path: Path) -> Settings:
    """25 movies written a minute, 10 a collection."""
    return settings_with(
        database_url, tmp_path, max_movies_per_collection=10, movies_written_per_user_per_minute=25
    )


async def _create(client: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/collection/", json={"title": "t", **body}, headers=auth)


async def test_collections_per_user_are_bounded(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(database_url, tmp_path, max_collections_per_user=3)
    async with client_for(settings) as client:
        auth, other = await _user(client), await _user(client)
        created = [(await _create(client, auth)).json()["collection_uuid"] for _ in range(3)]
        _assert_budget(await _create(client, auth), 422, "max_collections_per_user")
        listed = await client.get("/collection/", headers=auth)
        assert len(listed.json()["data"]["collections"]) == 3
        # Another user has a budget of their own; deleting one makes room again.
        assert (await _create(client, other)).status_code == 201
        await client.delete(f"/collection/{created[0]}/", headers=auth)
        assert (await _create(client, auth)).status_code == 201


async def test_collections_budget_is_exact_under_concurrent_creates(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_with(database_url, tmp_path, max_collections_per_user=5)
    async with client_for(settings) as client:
        auth = await _user(client)
        answers = await asyncio.gather(*(_create(client, auth) for _ in range(12)))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] * 5 + [422] * 7
        listed = await client.get("/collection/", headers=auth)
        assert len(listed.json()["data"]["collections"]) == 5


async def test_genre_budgets_on_create_replace_and_append(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_with(database_url, tmp_path, max_genres_per_collection=31)
    async with client_for(settings) as client:
        auth = await _user(client)
        twenty = ",".join(f"Genre {n}" for n in range(20))
        too_many = twenty + ",Genre 20"
        longest, too_long = "g" * 50, "g" * 51
        # Defaults: 20 genres per movie, 50 characters per genre; repeats count once.
        ok = await _create(client, auth, movies=[movie(1, twenty + ",Genre 0"), movie(2, longest)])
        assert ok.status_code == 201, ok.text
        collection = ok.json()["collection_uuid"]
        _assert_budget(
            await _create(client, auth, movies=[movie(1, too_many)]), 422, "max_genres_per_movie"
        )
        _assert_budget(
            await _create(client, auth, movies=[movie(1, too_long)]), 422, "max_genre_chars"
        )
        path = f"/collection/{collection}/"
        replaced = await client.put(path, json={"movies": [movie(3, too_long)]}, headers=auth)
        _assert_budget(replaced, 422, "max_genre_chars")
        # An append names the bad movie by its place in the body, whether or not the
        # collection holds the movies before it.
        appended = await client.post(
            path + "movies/", json={"movies": [movie(1), movie(5, too_long)]}, headers=auth
        )
        problem = _assert_budget(appended, 422, "max_genre_chars")
        assert problem["detail"].startswith("movies[1].genres: ")
        # The collection has 21 distinct genres: 10 new ones make 31, the limit; 11 do not fit.
        ten = ",".join(f"New {n}" for n in range(10))
        eleven = ten + ",New 10"
        appended = await client.post(
            path + "movies/", json={"movies": [movie(4, eleven)]}, headers=auth
        )
        _assert_budget(appended, 422, "max_genres_per_collection")
        appended = await client.post(
            path + "movies/", json={"movies": [movie(4, ten)]}, headers=auth
        )
        assert appended.status_code == 200, appended.text
        body = (await client.get(path, headers=auth)).json()
        assert [m["uuid"] for m in body["movies"]] == [movie(n)["uuid"] for n in (1, 2, 4)]


async def test_writes_per_user_per_minute(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(database_url, tmp_path, writes_per_user_per_minute=4)
    async with client_for(settings) as client:
        auth, other = await _user(client), await _user(client)
        collection = (await _create(client, auth, movies=[movie(1)])).json()["collection_uuid"]
        path = f"/collection/{collection}/"
        assert (await client.put(path, json={"title": "u"}, headers=auth)).status_code == 200
        added = await client.post(path + "movies/", json={"movies": [movie(2)]}, headers=auth)
        assert added.status_code == 200
        removed = await client.delete(f"{path}movies/{movie(2)['uuid']}/", headers=auth)
        assert removed.status_code == 204
        # Every kind of write counted: the fifth in the minute is refused, whatever it is.
        _assert_budget(await _create(client, auth), 429, "writes_per_user_per_minute")
        over = await client.delete(path, headers=auth)
        _assert_budget(over, 429, "writes_per_user_per_minute")
        # Reads are not writes, and another user has a budget of their own.
        assert (await client.get(path, headers=auth)).status_code == 200
        assert (await client.get("/collection/", headers=auth)).status_code == 200
        assert (await _create(client, other)).status_code == 201


async def test_replays_of_an_idempotent_create_are_answered_and_spend_no_write(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_with(database_url, tmp_path, writes_per_user_per_minute=2)
    async with client_for(settings) as client:
        auth = await _user(client)
        keyed = {**auth, "Idempotency-Key": "create-once"}
        first = await client.post("/collection/", json={"title": "t"}, headers=keyed)
        assert first.status_code == 201
        for _ in range(3):  # no write: neither refused nor counted
            replay = await client.post("/collection/", json={"title": "t"}, headers=keyed)
            assert replay.status_code == 201, replay.text
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json() == first.json()
        assert (await _create(client, auth)).status_code == 201  # the second write
        _assert_budget(await _create(client, auth), 429, "writes_per_user_per_minute")
        # Over budget, the first answer is still answered again; another body with that key
        # is 422 as ever (neither writes anything).
        replay = await client.post("/collection/", json={"title": "t"}, headers=keyed)
        assert replay.status_code == 201, replay.text
        assert replay.json() == first.json()
        other_body = await client.post("/collection/", json={"title": "u"}, headers=keyed)
        assert other_body.status_code == 422
        # Anything else is refused before its body is read or its key claimed.
        invalid = await client.post("/collection/", json={"title": ""}, headers=auth)
        _assert_budget(invalid, 429, "writes_per_user_per_minute")
        fresh = {**auth, "Idempotency-Key": "never-claimed"}
        _assert_budget(await _create(client, fresh), 429, "writes_per_user_per_minute")
    keys = await stored_rows(settings, select(idempotency_keys.c.key))
    assert [key for (key,) in keys[0]] == ["create-once"]


@contextmanager
def _write_lock_held(settings: Settings) -> Iterator[None]:
    """SQLite: another connection holds the write lock (a writer would wait for it, then 503).
    PostgreSQL: nothing (a claim there takes no lock another writer holds)."""
    if settings.sqlite_path is None:
        yield
        return
    other = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
    finally:
        other.close()


async def test_a_retry_of_a_key_in_flight_spends_no_write_unless_it_takes_the_key_over(
    database_url: str, tmp_path: Path
) -> None:
    """Another process holds the key (its request still running): a retry over budget gets
    409, not 429. Once that claim is abandoned, a retry does the work, so it pays: 429."""
    settings = settings_with(
        database_url,
        tmp_path,
        writes_per_user_per_minute=1,
        idempotency_in_flight_timeout=timedelta(seconds=1),
        sqlite_busy_timeout=0.5,
    )
    async with client_for(settings) as client:
        pair = await register_pair(client)
        auth = bearer(pair["access_token"])
        assert (await _create(client, auth)).status_code == 201  # the minute's one write
        other_process = Database(settings)
        try:
            keys = IdempotencyKeys(other_process, settings)
            body_hash = request_hash(CollectionCreate.model_validate({"title": "t"}))
            owner = uuid.UUID(subject_of(pair["access_token"]))
            assert isinstance(await keys.claim(owner, "running", body_hash), Claim)
        finally:
            await other_process.close()
        keyed = {**auth, "Idempotency-Key": "running"}
        with _write_lock_held(settings):  # answered without it
            in_flight = await client.post("/collection/", json={"title": "t"}, headers=keyed)
            other_body = await client.post("/collection/", json={"title": "u"}, headers=keyed)
        assert in_flight.status_code == 409, in_flight.text
        assert in_flight.headers["retry-after"] == "1"
        assert other_body.status_code == 422, other_body.text
        await asyncio.sleep(1.1)  # the claim is abandoned: the next retry takes it over
        taken_over = await client.post("/collection/", json={"title": "t"}, headers=keyed)
        _assert_budget(taken_over, 429, "writes_per_user_per_minute")


async def test_movies_written_per_user_per_minute(database_url: str, tmp_path: Path) -> None:
    settings = _movie_budget_of_25(database_url, tmp_path)
    async with client_for(settings) as client:
        auth, other = await _user(client), await _user(client)
        ten = [movie(n) for n in range(10)]
        created = await _create(client, auth, movies=ten)
        path = f"/collection/{created.json()['collection_uuid']}/"
        replaced = await client.put(path, json={"movies": ten[::-1]}, headers=auth)
        assert replaced.status_code == 200
        five = [movie(n) for n in range(10, 15)]
        assert (await _create(client, auth, movies=five)).status_code == 201  # 25: all spent
        for over in (
            await _create(client, auth, movies=[movie(99)]),
            await client.post(path + "movies/", json={"movies": [movie(99)]}, headers=auth),
            await client.put(path, json={"movies": [movie(99)]}, headers=auth),
        ):
            _assert_budget(over, 429, MOVIES_WRITTEN)
        # Writes without movies cost none of it; another user has a budget of their own.
        assert (await client.put(path, json={"title": "r"}, headers=auth)).status_code == 200
        assert (await _create(client, other, movies=ten)).status_code == 201


async def test_copies_of_shared_collections_spend_the_movies_written(
    database_url: str, tmp_path: Path
) -> None:
    settings = _movie_budget_of_25(database_url, tmp_path)
    async with client_for(settings) as client:
        sharer, copier = await _user(client), await _user(client)
        shared = await _create(client, sharer, movies=[movie(n) for n in range(10)])
        path = f"/collection/{shared.json()['collection_uuid']}/share/"
        url = (await client.post(path, headers=sharer)).json()["data"]["url"]
        for _ in range(2):  # 20 of 25
            assert (await client.post(url + "copy/", headers=copier)).status_code == 201
        _assert_budget(await client.post(url + "copy/", headers=copier), 429, MOVIES_WRITTEN)
        listed = await client.get("/collection/", headers=copier)
        assert len(listed.json()["data"]["collections"]) == 2


async def test_an_import_of_more_movies_than_a_minutes_budget_is_422(
    database_url: str, tmp_path: Path
) -> None:
    """Waiting could never let it through: 422 naming the budget, and nothing is spent."""
    settings = _movie_budget_of_25(database_url, tmp_path)
    async with client_for(settings) as client:
        auth = await _user(client)
        document = {
            "format": "movie-collections/v1",
            "collections": [
                {"title": f"c{c}", "movies": [movie(10 * c + n) for n in range(10)]}
                for c in range(3)
            ],
        }
        over = await client.post("/collection/import/", json=document, headers=auth)
        problem = _assert_budget(over, 422, MOVIES_WRITTEN)
        assert "30" in problem["detail"]
        assert "retry-after" not in over.headers
        document["collections"] = document["collections"][:2]  # 20 of 25: the budget is whole
        assert (await client.post("/collection/import/", json=document, headers=auth)).is_success


def test_movie_budget_below_a_full_collection_is_refused() -> None:
    with pytest.raises(ValueError, match="MOVIES_WRITTEN_PER_USER_PER_MINUTE"):
        Settings(_env_file=None, movies_written_per_user_per_minute=999)  # type: ignore[call-arg]


async def test_limits_lists_every_budget(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(
        database_url,
        tmp_path,
        max_collections_per_user=7,
        max_genres_per_movie=6,
        max_genre_chars=5,
        max_genres_per_collection=4,
        writes_per_user_per_minute=3,
        movies_written_per_user_per_minute=1000,
        movies_per_user_per_minute=2,
        password_min_score=4,
    )
    async with client_for(settings) as client:
        limits = (await client.get("/limits/", headers=await _user(client))).json()
    assert limits["max_collections_per_user"] == 7
    assert limits["max_genres_per_movie"] == 6
    assert limits["max_genre_chars"] == 5
    assert limits["max_genres_per_collection"] == 4
    assert limits["writes_per_user_per_minute"] == 3
    assert limits["movies_written_per_user_per_minute"] == 1000
    assert limits["movies_per_user_per_minute"] == 2
    assert limits["password_min_score"] == 4


def test_defaults_are_the_issues() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.max_collections_per_user == 1000
    assert defaults.max_genres_per_movie == 20
    assert defaults.max_genre_chars == 50
    assert defaults.writes_per_user_per_minute == 120
    assert defaults.movies_written_per_user_per_minute == 10_000
    assert defaults.movies_per_user_per_minute == 120


def _redis_settings(database_url: str, data_dir: Path, prefix: str) -> Settings:
    return settings_with(
        database_url,
        data_dir,
        redis_url=REDIS_TEST_URL,
        redis_key_prefix=prefix,
        writes_per_user_per_minute=5,
        movies_written_per_user_per_minute=1000,
    )


@pytest.mark.redis
async def test_write_budget_holds_across_hosts_sharing_redis(
    database_url: str, tmp_path: Path
) -> None:
    if not redis_reachable():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    prefix = f"test-{secrets.token_hex(8)}:"
    first = _redis_settings(database_url, tmp_path / "host1", prefix)
    second = _redis_settings(database_url, tmp_path / "host2", prefix)
    try:
        async with client_for(first) as one, client_for(second) as two:
            auth = await _user(one)
            statuses = [(await _create(host, auth)).status_code for host in (one, two) * 4]
            # The movies-written budget weighs each write by its movies, on Redis too.
            many = [movie(n) for n in range(600)]
            writer = await _user(two)
            assert (await _create(one, writer, movies=many)).status_code == 201
            refused = await _create(two, writer, movies=many)
            _assert_budget(refused, 429, "movies_written_per_user_per_minute")
        assert statuses == [201] * 5 + [429] * 3
    finally:
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_TEST_URL)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.mark.slow
def test_write_budget_is_exact_across_worker_processes(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "SECRET_KEY": "process-secret-key-0123456789abcdef0123456789",
        "WRITES_PER_USER_PER_MINUTE": "6",
    }
    with ServerProcess(environment, workers=2) as server:

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                auth = await _user(http)

            # New connections each time, so both worker processes take part.
            async def one() -> int:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                    return (await _create(http, auth)).status_code

            return list(await asyncio.gather(*(one() for _ in range(20))))

        statuses = asyncio.run(burst())
    assert sorted(statuses) == [201] * 6 + [429] * 14, statuses


async def test_write_budget_holds_per_host_while_redis_is_down(
    database_url: str, tmp_path: Path
) -> None:
    from tests.processes import free_port

    settings = settings_with(
        database_url,
        tmp_path,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        writes_per_user_per_minute=2,
    )
    async with client_for(settings) as client:
        auth = await _user(client)
        statuses = [(await _create(client, auth)).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
