"""The request counter in real servers: several workers, several hosts, a Redis that dies."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import PASSWORD
from tests.processes import NO_USER_BUDGETS, PrivateRedis, ServerProcess
from tests.services import REDIS_TEST_URL, redis_reachable, skip_or_fail

pytestmark = pytest.mark.slow

# (method, path, needs auth, expected status): every kind of outcome must be counted.
MIX = [
    ("GET", "/me/", True, 200),
    ("GET", "/collection/", False, 401),
    ("GET", "/no/such/path/", False, 404),
    ("POST", "/collection/", True, 422),
]


def register(url: str) -> dict[str, str]:
    name = f"user_{secrets.token_hex(6)}"
    response = httpx.post(f"{url}/register/", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def drive(urls: list[str], requests: int, auth: dict[str, str]) -> Counter[int]:
    """`requests` concurrent requests (50 at a time) spread over `urls`; checks each status."""
    semaphore = asyncio.Semaphore(50)
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def one(index: int) -> None:
            method, path, needs_auth, expected = MIX[index % len(MIX)]
            async with semaphore:
                response = await http.request(
                    method,
                    urls[index % len(urls)] + path,
                    headers=auth if needs_auth else None,
                    json={} if method == "POST" else None,
                )
            assert response.status_code == expected, response.text
            statuses[response.status_code] += 1

        await asyncio.gather(*(one(index) for index in range(requests)))
    return statuses


def count(url: str, auth: dict[str, str]) -> int:
    response = httpx.get(f"{url}/request-count/", headers=auth, timeout=10)
    assert response.status_code == 200, response.text
    value: int = response.json()["requests"]
    return value


def settled_count(url: str, auth: dict[str, str], limit_s: float = 30.0) -> int:
    """The first count of a server just started with the Redis counter.

    Each worker connects to Redis in the background after it starts serving, and until it is
    connected and settled its reads are 503 (as documented) while what it counts waits in
    memory. So: a read until one is 200, a pause for every other worker to connect (retry
    pause <= COUNTER_RETRY_MAX_SECONDS) and send what it counted meanwhile, then the count
    to start from, read until it is 200 too.
    """
    deadline = time.monotonic() + limit_s
    for pause in (1.5, 0.0):
        while True:
            response = httpx.get(f"{url}/request-count/", headers=auth, timeout=10)
            if response.status_code == 200:
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "the counter never answered"
            time.sleep(0.2)
        time.sleep(pause)
    value: int = response.json()["requests"]
    return value


def reset(url: str, auth: dict[str, str]) -> None:
    response = httpx.post(f"{url}/request-count/reset/", headers=auth, timeout=10)
    assert response.status_code == 200, response.text


@contextlib.contextmanager
def two_servers(
    tmp_path: Path, environment: dict[str, str]
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two hosts: servers of 2 workers each with their own SQLite file, sharing `environment`
    (the Redis) and one SECRET_KEY, so a token from one is valid on the other."""
    common = {
        **environment,
        **NO_USER_BUDGETS,
        "SECRET_KEY": "shared-secret-key-for-both-hosts-0123456789",
    }
    with (
        ServerProcess(
            {**common, "DATABASE_URL": f"sqlite:///{tmp_path / 'a' / 'app.db'}"}, workers=2
        ) as first,
        ServerProcess(
            {**common, "DATABASE_URL": f"sqlite:///{tmp_path / 'b' / 'app.db'}"}, workers=2
        ) as second,
    ):
        yield first, second


def test_local_backend_with_four_workers_is_exact(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "COUNTER_BACKEND": "local",
        **NO_USER_BUDGETS,
    }
    with ServerProcess(environment, workers=4) as server:
        auth = register(server.url)
        before = count(server.url, auth)
        statuses = asyncio.run(drive([server.url], 2000, auth))
        assert statuses == {200: 500, 401: 500, 404: 500, 422: 500}
        assert count(server.url, auth) - before == 2000 + 1

        reset(server.url, auth)
        assert count(server.url, auth) == 1  # the reset is before it; this read counts
        asyncio.run(drive([server.url], 500, auth))
        last = count(server.url, auth)
        assert last == 1 + 500 + 1
        # Every worker wrote its own file; none shared a lock on the hot path.
        assert len(list((tmp_path / "counter").glob("worker-*.count"))) == 4

    # "Till now": the count survives a restart (readiness probes of the new server count too).
    with ServerProcess(environment, workers=4) as server:
        restarted = count(server.url, auth)
        assert restarted > last
        asyncio.run(drive([server.url], 500, auth))
        assert count(server.url, auth) - restarted == 500 + 1
        # The dead workers' files were folded in: the number of files stays bounded.
        assert len(list((tmp_path / "counter").glob("worker-*.count"))) <= 8


@pytest.mark.redis
def test_two_servers_sharing_redis_are_exact(tmp_path: Path) -> None:
    if not redis_reachable():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    prefix = f"test-{secrets.token_hex(6)}:"
    environment = {"REDIS_URL": REDIS_TEST_URL, "REDIS_KEY_PREFIX": prefix, "COUNTER_SHARDS": "4"}
    try:
        with two_servers(tmp_path, environment) as (first, second):
            auth = register(first.url)  # the token is valid on both: same SECRET_KEY
            urls = [first.url, second.url]
            settled_count(first.url, auth)
            before = settled_count(second.url, auth)
            asyncio.run(drive(urls, 2000, auth))
            assert count(first.url, auth) - before == 2000 + 1

            reset(second.url, auth)
            assert count(first.url, auth) == 1
            asyncio.run(drive(urls, 500, auth))
            assert count(second.url, auth) == 1 + 500 + 1
    finally:
        client = redis.Redis.from_url(REDIS_TEST_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.redis
def test_redis_dying_mid_load_loses_nothing(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    private = PrivateRedis(tmp_path / "redis").start()
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "REDIS_URL": private.url,
        "REDIS_SOCKET_TIMEOUT": "0.5",
        "COUNTER_RETRY_MAX_SECONDS": "0.2",
        **NO_USER_BUDGETS,
    }
    try:
        with ServerProcess(environment, workers=2) as server:
            auth = register(server.url)
            before = settled_count(server.url, auth)
            sent = 0

            async def load_and_kill() -> None:
                loader = asyncio.create_task(drive([server.url], 1500, auth))
                await asyncio.sleep(0.3)  # mid-load
                private.kill()
                await loader  # every request answered with its normal status

            started = time.monotonic()
            asyncio.run(load_and_kill())
            sent += 1500
            # While Redis is down: requests are still served, quickly ...
            asyncio.run(drive([server.url], 300, auth))
            sent += 300
            assert time.monotonic() - started < 60
            # ... and the count answers 503 problem+json rather than a wrong number.
            for _ in range(3):
                response = httpx.get(f"{server.url}/request-count/", headers=auth, timeout=10)
                sent += 1
                assert response.status_code == 503
                assert response.headers["content-type"] == "application/problem+json"

            private.start()  # same port, same append-only file
            deadline = time.monotonic() + 20
            while True:
                response = httpx.get(f"{server.url}/request-count/", headers=auth, timeout=10)
                if response.status_code == 200:
                    break
                sent += 1
                assert time.monotonic() < deadline, "the count never came back"
                time.sleep(0.2)
            # The worker that answered flushed its own backlog first; give the other worker's
            # flusher (retry pause <= 0.2 s) a moment to send its own.
            time.sleep(1.5)
            # Nothing lost and nothing counted twice: every request since `before`, the
            # 503 answers, the first good read and this one.
            assert count(server.url, auth) - before == sent + 2
    finally:
        private.kill()


@pytest.mark.redis
def test_two_servers_answer_503_until_every_backlog_is_in(tmp_path: Path) -> None:
    """Redis stops; server A takes traffic (its backlog), both answer 503; Redis restarts:
    every number either server answers from then on is exact, the first one included."""
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    private = PrivateRedis(tmp_path / "redis").start()
    environment = {
        "REDIS_URL": private.url,
        "REDIS_KEY_PREFIX": "t:",
        "REDIS_SOCKET_TIMEOUT": "0.5",
        "COUNTER_RETRY_MAX_SECONDS": "1",
    }
    try:
        with two_servers(tmp_path, environment) as (first, second):
            auth = register(first.url)
            settled_count(first.url, auth)
            before = settled_count(second.url, auth)  # this read is inside `before`
            asyncio.run(drive([first.url, second.url], 200, auth))
            sent = 200

            private.kill()
            time.sleep(1)  # every worker sees its connection close
            asyncio.run(drive([first.url], 300, auth))  # served: A's backlog, in memory
            sent += 300
            for url in (first.url, second.url):
                response = httpx.get(f"{url}/request-count/", headers=auth, timeout=10)
                sent += 1
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"

            private.start()  # same port, same append-only file
            answers = []
            deadline = time.monotonic() + 30
            while len(answers) < 6:
                assert time.monotonic() < deadline, f"the count never came back: {answers}"
                url = (second.url, first.url)[len(answers) % 2]
                response = httpx.get(f"{url}/request-count/", headers=auth, timeout=10)
                sent += 1
                if response.status_code == 200:
                    # Exact from the first answer on: A's backlog is never missing.
                    answers.append(response.json()["requests"] - before)
                    assert answers[-1] == sent, (answers, sent)
                else:
                    assert response.status_code == 503, response.text
                    time.sleep(0.05)
    finally:
        private.kill()


@pytest.mark.redis
def test_a_redis_that_comes_back_empty_is_reported_until_a_reset(tmp_path: Path) -> None:
    """Redis restarts without its data: the count is not silently short. Every worker answers
    503 saying it was lost and how to start a new one, the log says so once, and after a reset
    the count is exact again."""
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    private = PrivateRedis(tmp_path / "redis").start()
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "REDIS_URL": private.url,
        "REDIS_SOCKET_TIMEOUT": "0.5",
        "COUNTER_RETRY_MAX_SECONDS": "0.2",
    }
    try:
        with ServerProcess(environment, workers=2) as server:
            auth = register(server.url)
            asyncio.run(drive([server.url], 200, auth))
            assert settled_count(server.url, auth) > 200
            private.kill()
            shutil.rmtree(private.directory)  # its data is gone
            private.start()  # same port, empty
            deadline = time.monotonic() + 30
            while True:  # 503 while it reconnects and settles, then 503 saying why
                response = httpx.get(f"{server.url}/request-count/", headers=auth, timeout=10)
                assert response.status_code == 503, response.text
                if "lost" in response.json()["detail"]:
                    break
                assert time.monotonic() < deadline, response.text
                time.sleep(0.2)
            assert response.headers["content-type"] == "application/problem+json"
            assert "POST /request-count/reset/" in response.json()["detail"]
            # Every worker, every time, until a reset.
            for _ in range(10):
                again = httpx.get(f"{server.url}/request-count/", headers=auth, timeout=10)
                assert again.status_code == 503
                assert "lost" in again.json()["detail"]
            for _ in range(150):  # a worker may still be settling after the reconnect
                started_again = httpx.post(
                    f"{server.url}/request-count/reset/", headers=auth, timeout=10
                )
                if started_again.status_code == 200:
                    break
                time.sleep(0.2)
            assert started_again.status_code == 200, started_again.text
            settled_count(server.url, auth)  # both workers answer numbers again
            reset(server.url, auth)
            assert count(server.url, auth) == 1
        assert server.output().count("Redis lost the count") == 1, server.output()
    finally:
        private.kill()
