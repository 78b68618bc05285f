"""The Redis request counter: two instances on one key prefix stand for two hosts."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from movie_collections.counter.backend import CounterUnavailable
from movie_collections.counter.redis import RedisCounter, _Batch
from tests.processes import PrivateRedis, free_port
from tests.services import REDIS_TEST_URL, redis_reachable, skip_or_fail

pytestmark = pytest.mark.redis


@pytest.fixture
async def shared_redis() -> AsyncIterator[tuple[Redis, str]]:
    """The machine's Redis and a random key prefix; our keys (only) are deleted afterwards."""
    if not redis_reachable():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    client = Redis.from_url(REDIS_TEST_URL, socket_timeout=2, socket_connect_timeout=2)
    prefix = f"test-{secrets.token_hex(6)}:"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def started(redis: Redis, prefix: str, shards: int = 1) -> RedisCounter:
    counter = RedisCounter(redis, key_prefix=prefix, shards=shards, retry_max_seconds=0.1)
    await counter.start()
    return counter


async def count_concurrently(counter: RedisCounter, requests: int) -> None:
    """What the middleware does for `requests` concurrent requests: increment, then wait."""

    async def one() -> None:
        pending = counter.increment()
        await asyncio.sleep(0)
        await asyncio.wait_for(pending, 5)

    await asyncio.gather(*(one() for _ in range(requests)))


async def test_two_hosts_on_one_prefix_count_exactly(shared_redis: tuple[Redis, str]) -> None:
    redis, prefix = shared_redis
    first, second = await started(redis, prefix), await started(redis, prefix)
    await asyncio.gather(count_concurrently(first, 700), count_concurrently(second, 300))
    # Confirmed futures mean the counts are in Redis: no flush needed to read them elsewhere.
    assert int(await redis.get(f"{prefix}request-count:{{0}}") or 0) == 1000
    assert await first.total() == 1000
    assert await second.total() == 1000
    await first.stop()
    await second.stop()


async def test_increments_are_batched(shared_redis: tuple[Redis, str]) -> None:
    redis, prefix = shared_redis
    counter = await started(redis, prefix)
    before = int((await redis.info("stats"))["total_commands_processed"])
    await count_concurrently(counter, 500)
    commands = int((await redis.info("stats"))["total_commands_processed"]) - before
    # One script call per batch, not per request (other engineers share this Redis: loose).
    assert commands < 250
    await counter.stop()


async def test_shards_spread_the_keys_and_never_expire(shared_redis: tuple[Redis, str]) -> None:
    redis, prefix = shared_redis
    counter = await started(redis, prefix, shards=4)
    for _ in range(8):
        await count_concurrently(counter, 25)
    keys = [f"{prefix}request-count:{{{index}}}" for index in range(4)]
    values = [int(value or 0) for value in await redis.mget(keys)]
    assert sum(values) == 200
    assert all(value > 0 for value in values)
    assert [await redis.ttl(key) for key in keys] == [-1, -1, -1, -1]
    assert await counter.total() == 200
    await counter.reset()
    assert await counter.total() == 0
    assert [await redis.ttl(key) for key in keys] == [-1, -1, -1, -1]
    await counter.stop()


async def test_reset_counts_this_process_earlier_requests_before_it(
    shared_redis: tuple[Redis, str],
) -> None:
    redis, prefix = shared_redis
    counter = await started(redis, prefix)
    for _ in range(5):
        counter.increment()  # not yet flushed when the reset runs
    await counter.reset()
    counter.increment()
    assert await counter.total() == 1
    await counter.stop()


async def test_reads_are_not_starved_by_steady_load(shared_redis: tuple[Redis, str]) -> None:
    redis, prefix = shared_redis
    counter = RedisCounter(redis, key_prefix=prefix, read_flush_seconds=2)
    await counter.start()
    running = True

    async def steady_load() -> None:
        while running:
            counter.increment()
            await asyncio.sleep(0)

    load = asyncio.create_task(steady_load())
    try:
        await asyncio.sleep(0.2)
        previous = 0
        for _ in range(3):
            current = await asyncio.wait_for(counter.total(), 3)  # not CounterUnavailable
            assert current > previous
            previous = current
    finally:
        running = False
        await load
        await counter.stop()


async def test_a_retried_batch_is_applied_once(shared_redis: tuple[Redis, str]) -> None:
    redis, prefix = shared_redis
    counter = RedisCounter(redis, key_prefix=prefix)
    first = _Batch(sequence=1, shard=0, amount=42)
    await counter._send(first)
    await counter._send(first)  # the answer to the first send was "lost": sent again
    assert await counter.total() == 42
    await counter._send(_Batch(sequence=2, shard=0, amount=8))  # the next batch does count
    assert await counter.total() == 50
    other_writer = RedisCounter(redis, key_prefix=prefix)  # numbers are per writer
    await other_writer._send(_Batch(sequence=1, shard=0, amount=1))
    assert await counter.total() == 51
    marks = [key async for key in redis.scan_iter(match=f"{prefix}*writer*")]
    assert len(marks) == 2  # one small key per writer, not one per batch
    for key in marks:
        assert 0 < await redis.ttl(key) <= 24 * 3600


async def test_unreachable_redis_serves_then_catches_up(tmp_path: Path) -> None:
    """Nothing listens on the port at first; then a Redis starts there and gets every count."""
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    port = free_port()
    redis = Redis.from_url(
        f"redis://127.0.0.1:{port}/0", socket_timeout=0.5, socket_connect_timeout=0.5
    )
    counter = RedisCounter(redis, key_prefix="t:", retry_max_seconds=0.1, read_flush_seconds=1)
    await counter.start()
    try:
        futures = [counter.increment() for _ in range(50)]
        await asyncio.sleep(0.2)
        assert not any(future.done() for future in futures)  # the middleware stops waiting
        with pytest.raises(CounterUnavailable):
            await counter.total()
        with pytest.raises(CounterUnavailable):
            await counter.reset()
        assert counter.unsent == 50
        private = PrivateRedis(tmp_path / "redis", port=port).start()
        try:
            await asyncio.wait_for(asyncio.gather(*futures), 10)
            assert counter.unsent == 0
            assert await counter.total() == 50
        finally:
            await counter.stop()
            await redis.aclose()
            private.kill()
    finally:
        if counter._flusher is not None:
            await counter.stop()
