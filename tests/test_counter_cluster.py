"""The request counter and the auth rate limits on a real Redis Cluster.

A private cluster of three masters (`redis-server --cluster-enabled yes` on free ports, joined
by `redis-cli --cluster create`, no replicas) is started once for this module.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster

from movie_collections.counter.redis import RedisCounter
from tests.processes import PrivateRedisCluster
from tests.services import skip_or_fail
from tests.test_counter_processes import count, drive, register, reset, two_servers
from tests.test_counter_redis import count_concurrently, started, until_readable

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SHARDS = 6  # slots 13907, 9842, 5649, 1584, 14039, 9974 (unprefixed tags): all three nodes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedisCluster]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        skip_or_fail("redis-server and redis-cli are needed for a private Redis Cluster")
    private = PrivateRedisCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield private
    finally:
        private.kill()


def shard_holders(cluster: PrivateRedisCluster, counter_keys: list[str]) -> dict[int, int]:
    """Port of the master holding each shard → the sum of the shards it holds."""
    sums: dict[int, int] = {}
    for key in counter_keys:
        port, value = cluster.holder_of(key)
        sums[port] = sums.get(port, 0) + int(value or 0)
    return sums


async def test_two_hosts_count_exactly_with_shards_on_every_node(
    cluster: PrivateRedisCluster,
) -> None:
    clients = [RedisCluster.from_url(cluster.url, socket_timeout=2) for _ in range(2)]
    prefix = f"test-{secrets.token_hex(4)}:"
    first = await started(clients[0], prefix, shards=SHARDS)
    second = await started(clients[1], prefix, shards=SHARDS)
    try:
        for _ in range(4):
            await asyncio.gather(count_concurrently(first, 175), count_concurrently(second, 75))
        holders = await asyncio.to_thread(shard_holders, cluster, first.shard_keys)
        # No hot key: the increments went to every master of the cluster.
        assert len(holders) == 3, holders
        assert all(value > 0 for value in holders.values()), holders
        assert sum(holders.values()) == 1000
        assert await first.total() == 1000
        assert await second.total() == 1000
        await second.reset()
        await count_concurrently(first, 10)
        assert await second.total() == 10
    finally:
        for counter in (first, second):
            await counter.stop()
        for client in clients:
            await client.aclose()


async def test_writes_follow_a_slot_moved_to_another_node(cluster: PrivateRedisCluster) -> None:
    """A shard's slot migrates: MOVED makes the counter re-read the slot map, re-send what was
    unconfirmed (applied once) and go on, exactly (503 for the settle time meanwhile)."""
    client = RedisCluster.from_url(cluster.url, socket_timeout=2)
    prefix = f"test-{secrets.token_hex(4)}:"
    counter: RedisCounter = await started(client, prefix, shards=1)
    try:
        await count_concurrently(counter, 100)
        key = counter.shard_keys[0]
        source_port, _ = cluster.holder_of(key)
        target = next(node for node in cluster.nodes if node.port != source_port)
        await asyncio.to_thread(move_slot_of, key, source_port, target.port)
        await count_concurrently(counter, 100)
        assert cluster.holder_of(key)[0] == target.port
        assert await until_readable(counter) == 200
        assert counter.unsent == 0
    finally:
        await counter.stop()
        await client.aclose()


def move_slot_of(key: str, source_port: int, target_port: int) -> None:
    """CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE the keys, SETSLOT NODE on every node."""
    import redis

    source = redis.Redis(port=source_port)
    target = redis.Redis(port=target_port)
    try:
        slot = int(source.execute_command("CLUSTER", "KEYSLOT", key))
        source_id = source.execute_command("CLUSTER", "MYID").decode()
        target_id = target.execute_command("CLUSTER", "MYID").decode()
        target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while keys := source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            source.execute_command("MIGRATE", "127.0.0.1", target_port, "", 0, 5000, "KEYS", *keys)
        for client in (target, source):
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    finally:
        source.close()
        target.close()


def test_servers_on_the_cluster_count_and_rate_limit(
    cluster: PrivateRedisCluster, tmp_path: Path
) -> None:
    """Two servers with REDIS_CLUSTER=true: exact counts, readiness, and the auth rate limit
    (its two keys in one script: same hash tag, same slot) shared by both."""
    environment = {
        "REDIS_URL": cluster.url,
        "REDIS_CLUSTER": "true",
        "REDIS_KEY_PREFIX": f"test-{secrets.token_hex(4)}:",
        "COUNTER_SHARDS": str(SHARDS),
        "AUTH_RATE_LIMIT_PER_USERNAME": "4",
    }
    with two_servers(tmp_path, environment) as (first, second):
        auth = register(first.url)
        for server in (first, second):
            ready = httpx.get(f"{server.url}/health/ready", timeout=10)
            assert ready.status_code == 200, ready.text
        before = count(second.url, auth)
        asyncio.run(drive([first.url, second.url], 1000, auth))
        assert count(first.url, auth) - before == 1000 + 1
        reset(second.url, auth)
        assert count(first.url, auth) == 1

        statuses = [
            httpx.post(
                f"{url}/login/",
                json={"username": "nobody", "password": "wrong-password"},
                timeout=10,
            ).status_code
            for url in (first.url, second.url, first.url, second.url, first.url, second.url)
        ]
        assert statuses == [401, 401, 401, 401, 429, 429]
