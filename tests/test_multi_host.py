"""Two hosts (server processes on different ports) sharing one PostgreSQL and one Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import movie
from tests.processes import NO_USER_BUDGETS, ServerProcess
from tests.services import (
    REDIS_TEST_URL,
    create_postgres_database,
    drop_postgres_database,
    postgres_reachable,
    redis_reachable,
    skip_or_fail,
)
from tests.test_counter_processes import count, drive, register

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def shared_environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    if not postgres_reachable():
        skip_or_fail("PostgreSQL is not reachable on 127.0.0.1:5432")
    if not redis_reachable():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    database_url = create_postgres_database("mc_multihost")
    prefix = f"test-{secrets.token_hex(6)}:"
    try:
        yield {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_TEST_URL,
            "REDIS_KEY_PREFIX": prefix,
            "SECRET_KEY": "the-same-secret-key-on-every-host-0123456789",
            **NO_USER_BUDGETS,
        }
    finally:
        drop_postgres_database(database_url)
        client = redis.Redis.from_url(REDIS_TEST_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_two_hosts_share_data_ownership_and_count(
    shared_environment: dict[str, str], tmp_path: Path
) -> None:
    with (
        ServerProcess(
            {**shared_environment, "DATA_DIR": str(tmp_path / "a")},
            workers=2,
            extra_arguments=("--migrate",),
        ) as first,
        ServerProcess({**shared_environment, "DATA_DIR": str(tmp_path / "b")}, workers=2) as second,
        httpx.Client(timeout=10) as http,
    ):
        owner = register(first.url)
        created = http.post(
            f"{first.url}/collection/",
            json={"title": "on host A", "movies": [movie(1, "Noir")]},
            headers=owner,
        )
        assert created.status_code == 201
        collection = created.json()["collection_uuid"]

        # What one host writes the other reads ...
        on_b = http.get(f"{second.url}/collection/{collection}/", headers=owner)
        assert on_b.status_code == 200
        assert on_b.json()["movies"] == [movie(1, "Noir")]
        updated = http.put(
            f"{second.url}/collection/{collection}/",
            json={"title": "changed on host B", "movies": [movie(2, "Western")]},
            headers=owner,
        )
        assert updated.status_code == 200
        on_a = http.get(f"{first.url}/collection/", headers=owner).json()
        assert on_a["data"]["collections"][0]["title"] == "changed on host B"
        assert on_a["data"]["favourite_genres"] == "Western"

        # ... and ownership holds on both.
        intruder = register(second.url)
        for url in (first.url, second.url):
            assert http.get(f"{url}/collection/{collection}/", headers=intruder).status_code == 404
            assert (
                http.delete(f"{url}/collection/{collection}/", headers=intruder).status_code == 404
            )
            listed = http.get(f"{url}/collection/", headers=intruder).json()
            assert listed["data"]["collections"] == []

        # The request count is exact across both hosts.
        before = count(first.url, owner)
        asyncio.run(drive([first.url, second.url], 1000, owner))
        assert count(second.url, owner) - before == 1000 + 1
