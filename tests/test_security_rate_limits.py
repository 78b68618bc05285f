"""Guessing limits on login and register: per username, per client address, across processes."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import httpx
import pytest

from movie_collections.core.settings import Settings
from tests.conftest import PASSWORD
from tests.processes import ServerProcess
from tests.security_helpers import client_for, register_pair, settings_with
from tests.services import REDIS_TEST_URL, redis_reachable, skip_or_fail


async def _login(
    client: httpx.AsyncClient, username: str, password: str = "wrong-password"
) -> httpx.Response:
    return await client.post("/login/", json={"username": username, "password": password})


def _assert_429(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    return retry_after


async def test_login_is_limited_per_username(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(
        database_url, tmp_path, auth_rate_limit_per_username=3, auth_rate_limit_per_address=100
    )
    async with client_for(settings) as client:
        await register_pair(client, "target")
        for _ in range(3):
            assert (await _login(client, "target")).status_code == 401
        _assert_429(await _login(client, "target"))
        # Even the right password is refused now: the guesser learns nothing from it.
        _assert_429(await _login(client, "TARGET", PASSWORD))
        # Another name from the same address is not affected.
        assert (await _login(client, "someone-else")).status_code == 401


async def test_logins_the_database_could_not_answer_are_not_failures(tmp_path: Path) -> None:
    """A client retrying through an outage (503) is not locked out once the database is back:
    only wrong passwords count."""
    unreachable = "postgresql://postgres@127.0.0.1:9/nothing_listens_here"
    settings = settings_with(
        unreachable, tmp_path, auth_rate_limit_per_username=2, auth_rate_limit_per_address=2
    )
    async with client_for(settings) as client:
        for _ in range(5):
            assert (await _login(client, "target", PASSWORD)).status_code == 503


async def test_login_is_limited_per_address(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(
        database_url, tmp_path, auth_rate_limit_per_username=100, auth_rate_limit_per_address=4
    )
    async with client_for(settings) as client:
        for index in range(4):
            assert (await _login(client, f"name{index}")).status_code == 401
        _assert_429(await _login(client, "name-new"))


async def test_register_is_limited(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(
        database_url, tmp_path, auth_rate_limit_per_username=100, auth_rate_limit_per_address=2
    )
    async with client_for(settings) as client:
        await register_pair(client)
        await register_pair(client)
        response = await client.post("/register/", json={"username": "third", "password": PASSWORD})
        _assert_429(response)
        # Login has its own budget.
        assert (await _login(client, "third")).status_code == 401


async def test_window_slides(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(
        database_url,
        tmp_path,
        auth_rate_limit_per_username=2,
        auth_rate_limit_per_address=100,
        auth_rate_limit_window=1,
    )
    async with client_for(settings) as client:
        await _login(client, "slider")
        await _login(client, "slider")
        _assert_429(await _login(client, "slider"))
        await asyncio.sleep(1.1)
        assert (await _login(client, "slider")).status_code == 401


async def test_limit_is_exact_under_concurrency(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(
        database_url, tmp_path, auth_rate_limit_per_username=5, auth_rate_limit_per_address=100
    )
    async with client_for(settings) as client:
        responses = await asyncio.gather(*(_login(client, "burst") for _ in range(20)))
    statuses = [response.status_code for response in responses]
    assert statuses.count(401) == 5
    assert statuses.count(429) == 15


def _redis_settings(
    database_url: str, data_dir: Path, prefix: str, **overrides: object
) -> Settings:
    return settings_with(
        database_url,
        data_dir,
        redis_url=REDIS_TEST_URL,
        redis_key_prefix=prefix,
        **overrides,
    )


@pytest.mark.redis
async def test_redis_limit_holds_across_hosts(database_url: str, tmp_path: Path) -> None:
    if not redis_reachable():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    prefix = f"test-{secrets.token_hex(8)}:"
    limits = {"auth_rate_limit_per_username": 4, "auth_rate_limit_per_address": 100}
    # Two apps with separate data dirs stand for two hosts sharing one Redis.
    first = _redis_settings(database_url, tmp_path / "host1", prefix, **limits)
    second = _redis_settings(database_url, tmp_path / "host2", prefix, **limits)
    async with client_for(first) as one, client_for(second) as two:
        assert (await _login(one, "shared")).status_code == 401
        assert (await _login(two, "shared")).status_code == 401
        assert (await _login(one, "shared")).status_code == 401
        assert (await _login(two, "shared")).status_code == 401
        _assert_429(await _login(one, "shared"))
        _assert_429(await _login(two, "shared"))
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_TEST_URL)
    try:
        # Only the limiter's keys: the request counter keeps its own (never-expiring) keys
        # under the same prefix.
        keys = [key async for key in redis.scan_iter(match=f"{prefix}{{ratelimit}}:*")]
        assert keys, "the limit was not kept in Redis"
        for key in keys:
            assert await redis.pttl(key) > 0  # nothing lives forever
        assert not any(b"shared" in key for key in keys)  # digests, not usernames
    finally:
        everything = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if everything:
            await redis.delete(*everything)
        await redis.aclose()


@pytest.mark.redis
async def test_with_redis_up_nothing_is_written_to_the_data_dir(
    database_url: str, tmp_path: Path
) -> None:
    """A container's root filesystem may be read-only: the local store is only a fallback."""
    if not redis_reachable():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    prefix = f"test-{secrets.token_hex(8)}:"
    settings = _redis_settings(database_url, tmp_path, prefix)
    async with client_for(settings) as client:
        name = f"user_{secrets.token_hex(6)}"
        credentials = {"username": name, "password": PASSWORD}
        assert (await client.post("/register/", json=credentials)).status_code == 201
        assert (await _login(client, name)).status_code == 401
        login = await client.post("/login/", json=credentials)
        assert login.status_code == 200
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = await client.post("/collection/", json={"title": "t"}, headers=token)
        assert created.status_code == 201
    assert not list(settings.resolved_data_dir.glob("rate_limits.db*"))


async def test_unreachable_redis_falls_back_to_the_local_limit(
    database_url: str, tmp_path: Path
) -> None:
    from tests.processes import free_port

    settings = settings_with(
        database_url,
        tmp_path,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        auth_rate_limit_per_username=2,
        auth_rate_limit_per_address=100,
    )
    async with client_for(settings) as client:
        assert (await _login(client, "fallback")).status_code == 401
        assert (await _login(client, "fallback")).status_code == 401
        _assert_429(await _login(client, "fallback"))


async def test_a_fallback_that_cannot_be_written_is_503_and_leaves_nothing_once_redis_is_back(
    database_url: str, tmp_path: Path
) -> None:
    """A read-only DATA_DIR (a container's root filesystem) while Redis is down: the limits
    cannot be checked, so 503, not 500; once Redis answers again, so does everything."""
    from tests.processes import PrivateRedis, free_port

    port = free_port()
    settings = settings_with(database_url, tmp_path, redis_url=f"redis://127.0.0.1:{port}/0")
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    (settings.resolved_data_dir / "rate_limits.db").mkdir()  # cannot be opened as a file
    redis = PrivateRedis(tmp_path / "redis", port=port)
    try:
        async with client_for(settings) as client:
            credentials = {"username": "fallback", "password": PASSWORD}
            assert (await client.post("/register/", json=credentials)).status_code == 503
            assert (await client.post("/login/", json=credentials)).status_code == 503
            redis.start()
            await asyncio.sleep(1.5)  # the store retries Redis a second after a failure
            assert (await client.post("/register/", json=credentials)).status_code == 201
            assert (await _login(client, "fallback")).status_code == 401
            assert (await client.post("/login/", json=credentials)).status_code == 200
    finally:
        redis.kill()


@pytest.mark.slow
def test_local_limit_is_exact_across_worker_processes(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "SECRET_KEY": "process-secret-key-0123456789abcdef0123456789",
        "AUTH_RATE_LIMIT_PER_USERNAME": "7",
        "AUTH_RATE_LIMIT_PER_ADDRESS": "1000",
    }
    with ServerProcess(environment, workers=2) as server:

        async def burst() -> list[int]:
            # New connections each time, so both worker processes take part.
            async def one() -> int:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                    response = await _login(http, "multi")
                    return response.status_code

            return list(await asyncio.gather(*(one() for _ in range(30))))

        statuses = asyncio.run(burst())
    assert statuses.count(401) == 7, statuses
    assert statuses.count(429) == 23, statuses


async def test_unknown_user_costs_the_same_time_as_a_known_one(
    database_url: str, tmp_path: Path
) -> None:
    # Costly enough (~10 ms) that skipping the hash would stand out against the noise.
    settings = settings_with(
        database_url,
        tmp_path,
        password_hash_time_cost=2,
        password_hash_memory_kib=8192,
        password_hash_parallelism=1,
    )
    async with client_for(settings) as client:
        await register_pair(client, "known")

        async def timed(username: str) -> float:
            started = time.perf_counter()
            response = await _login(client, username)
            assert response.status_code == 401
            return time.perf_counter() - started

        known, unknown = [], []
        for _ in range(9):
            known.append(await timed("known"))
            unknown.append(await timed("unknown-user"))
    # The fastest of several runs: other load on the machine only ever adds time. Skipping the
    # hash for unknown names would make that path ~10x faster, far outside these bounds.
    ratio = min(unknown) / min(known)
    assert 0.5 < ratio < 2, (known, unknown)
