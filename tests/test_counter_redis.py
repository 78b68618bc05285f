"""The Redis request counter: two instances on one key prefix stand for two hosts."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from movie_collections.core.redis import RedisClient
from movie_collections.counter import redis as redis_counter
from movie_collections.counter.backend import CounterLost, CounterUnavailable
from movie_collections.counter.redis import APPLY_BATCH_ONCE, RedisCounter
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


async def started(
    redis: RedisClient, prefix: str, shards: int = 1, **options: float
) -> RedisCounter:
    counter = RedisCounter(
        redis, key_prefix=prefix, shards=shards, retry_max_seconds=0.1, **options
    )
    await counter.start()
    await until_readable(counter)
    return counter


async def until_readable(counter: RedisCounter, within: float = 10) -> int:
    """The count, once the counter answers (it connects in the background)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await counter.total()
        except CounterUnavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)


async def count_concurrently(counter: RedisCounter, requests: int) -> None:
    """What the middleware does for `requests` concurrent requests: increment, then wait."""

    async def one() -> None:
        pending = counter.increment()
        await asyncio.sleep(0)
        if pending is not None:
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


def _batches_confirmed() -> float:
    return REGISTRY.get_sample_value("movie_collections_request_counter_batches_total") or 0.0


async def test_increments_are_batched(shared_redis: tuple[Redis, str]) -> None:
    redis, prefix = shared_redis
    counter = await started(redis, prefix)
    before = _batches_confirmed()
    await count_concurrently(counter, 500)
    # One script call per batch, not per request (counted by this process, as tests running
    # beside it share the Redis server).
    assert _batches_confirmed() - before < 250
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


async def test_a_read_includes_every_earlier_increment_while_batches_queue(
    shared_redis: tuple[Redis, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch in flight at most: the read still waits for every increment before it."""
    redis, prefix = shared_redis
    monkeypatch.setattr(redis_counter, "MAX_IN_FLIGHT", 1)
    counter = await started(redis, prefix)
    made = 0
    running = True

    async def steady_load() -> None:
        nonlocal made
        while running:
            for _ in range(20):
                counter.increment()
                made += 1
            await asyncio.sleep(0)

    load = asyncio.create_task(steady_load())
    try:
        await asyncio.sleep(0.1)
        for _ in range(10):
            before = made
            value = await counter.total()
            assert before <= value <= made
        running = False
        await load
        assert await counter.total() == made
    finally:
        running = False
        await counter.stop()


async def test_a_retried_batch_is_applied_once(shared_redis: tuple[Redis, str]) -> None:
    """The script the counter sends: a batch re-sent with the same number counts once."""
    redis, prefix = shared_redis
    key = f"{prefix}request-count:{{0}}"
    apply = redis.register_script(APPLY_BATCH_ONCE)

    async def send(writer: str, sequence: int, amount: int) -> None:
        await apply(keys=[key, f"{key}:writer:{writer}"], args=[amount, sequence, 24 * 3600])

    await send("a", 1, 42)
    await send("a", 1, 42)  # the answer to the first send was "lost": sent again
    assert int(await redis.get(key) or 0) == 42
    await send("a", 2, 8)  # the next batch does count
    assert int(await redis.get(key) or 0) == 50
    await send("b", 1, 1)  # numbers are per writer
    assert int(await redis.get(key) or 0) == 51
    marks = [key async for key in redis.scan_iter(match=f"{prefix}*writer*")]
    assert len(marks) == 2  # one small key per writer, not one per batch
    for mark in marks:
        assert 0 < await redis.ttl(mark) <= 24 * 3600


def private_redis_or_skip(directory: Path) -> PrivateRedis:
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    return PrivateRedis(directory)


async def test_connections_killed_mid_load_lose_and_double_nothing(tmp_path: Path) -> None:
    """Replies lost with their connection: the batches are re-sent, and applied once."""
    private = private_redis_or_skip(tmp_path / "redis").start()
    redis = Redis.from_url(private.url, socket_timeout=1, socket_connect_timeout=1)
    counter = await started(redis, "t:", socket_timeout=0.5, settle_seconds=0)
    try:
        load = asyncio.create_task(count_concurrently_for(counter, seconds=1.5))
        killed = 0
        while not load.done():
            await asyncio.sleep(0.15)
            killed += int(await redis.execute_command("CLIENT", "KILL", "SKIPME", "yes"))
        sent = await load
        assert killed >= 5
        assert await until_readable(counter) == sent
        assert counter.unsent == 0
    finally:
        await counter.stop()
        await redis.aclose()
        private.kill()


async def count_concurrently_for(counter: RedisCounter, seconds: float) -> int:
    """Rounds of 50 concurrent requests for `seconds`; how many were counted."""
    sent = 0
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await count_concurrently(counter, 50)
        sent += 50
    return sent


async def test_unreachable_redis_serves_then_catches_up(tmp_path: Path) -> None:
    """Nothing listens on the port at first; then a Redis starts there and gets every count."""
    private = private_redis_or_skip(tmp_path / "redis")
    redis = Redis.from_url(private.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    counter = RedisCounter(
        redis, key_prefix="t:", retry_max_seconds=0.1, read_flush_seconds=1, socket_timeout=0.5
    )
    await counter.start()
    try:
        await asyncio.sleep(0.2)
        # Known unreachable: nothing to wait for, the request is answered at once.
        assert all(counter.increment() is None for _ in range(50))
        with pytest.raises(CounterUnavailable):
            await counter.total()
        with pytest.raises(CounterUnavailable):
            await counter.reset()
        assert counter.unsent == 50
        private.start()
        # Right after reconnecting the count is not trusted yet (others' backlogs may be on
        # their way): 503 for settle_seconds, then the exact number.
        deadline = asyncio.get_running_loop().time() + 10
        while counter.unsent:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        with pytest.raises(CounterUnavailable):
            await counter.total()
        assert await until_readable(counter) == 50
    finally:
        await counter.stop()
        await redis.aclose()
        private.kill()


async def test_a_hung_redis_never_holds_a_request_longer_than_the_durable_wait(
    tmp_path: Path,
) -> None:
    """redis-server stopped with SIGSTOP: connected, silent. Each wait ends after 50 ms."""
    private = private_redis_or_skip(tmp_path / "redis").start()
    redis = Redis.from_url(private.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    counter = await started(redis, "t:", socket_timeout=0.5, settle_seconds=0)
    assert private.process is not None
    try:
        private.process.send_signal(signal.SIGSTOP)
        loop = asyncio.get_running_loop()
        for _ in range(5):
            began = loop.time()
            pending = counter.increment()
            if pending is not None:
                await asyncio.wait_for(pending, 1)
            assert loop.time() - began < 0.2
        with pytest.raises(CounterUnavailable):
            await counter.total()
        private.process.send_signal(signal.SIGCONT)
        assert await until_readable(counter) == 5
    finally:
        if private.process is not None:
            private.process.send_signal(signal.SIGCONT)
        await counter.stop()
        await redis.aclose()
        private.kill()


async def test_batches_are_pipelined(tmp_path: Path) -> None:
    """Redis frozen (SIGSTOP): each loop iteration's batch is written at once, without waiting
    for the replies to the earlier ones; all of them are applied once Redis resumes."""
    private = private_redis_or_skip(tmp_path / "redis").start()
    redis = Redis.from_url(private.url, socket_timeout=2, socket_connect_timeout=2)
    counter = await started(redis, "t:", socket_timeout=2, settle_seconds=0)
    assert private.process is not None
    try:
        private.process.send_signal(signal.SIGSTOP)
        for _ in range(3):
            await count_concurrently(counter, 10)  # released by the durable wait, unconfirmed
        assert counter.unsent == 30
        written = [
            sum(1 for batch in link.waiting if batch is not None)
            for link in counter._links.values()
        ]
        assert written == [3]  # one connection, three batches awaiting their replies
        private.process.send_signal(signal.SIGCONT)
        assert await until_readable(counter) == 30
        assert counter.unsent == 0
    finally:
        private.process.send_signal(signal.SIGCONT)
        await counter.stop()
        await redis.aclose()
        private.kill()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key."""
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(certificate), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


async def test_tls_acl_user_and_database_come_from_the_client_settings(tmp_path: Path) -> None:
    """The counter's own connections are made by redis-py from the client's settings: TLS
    (`rediss://`, checked against a CA file), an ACL user with a password, database 3."""
    if shutil.which("redis-server") is None or shutil.which("openssl") is None:
        skip_or_fail("redis-server and openssl are needed for a TLS Redis")
    certificate, key = await asyncio.to_thread(self_signed_certificate, tmp_path)
    tls_port = free_port()
    tls = ["--tls-port", str(tls_port), "--tls-auth-clients", "no"]
    tls += ["--tls-cert-file", str(certificate), "--tls-key-file", str(key)]
    tls += ["--tls-ca-cert-file", str(certificate)]
    user = ["--user", "counter", "on", ">s3cret", "~t:*", "+@all"]
    private = PrivateRedis(tmp_path / "redis", extra_arguments=(*tls, *user)).start()
    url = f"rediss://counter:s3cret@127.0.0.1:{tls_port}/3"
    redis = Redis.from_url(url, ssl_ca_certs=str(certificate), socket_timeout=2)
    plain = Redis.from_url(f"redis://127.0.0.1:{private.port}/3", socket_timeout=2)  # no TLS
    try:
        counter = await started(redis, "t:")
        await count_concurrently(counter, 25)
        assert await counter.total() == 25
        assert any(client["user"] == "counter" for client in await plain.client_list())
        await counter.stop()
        assert int(await plain.get("t:request-count:{0}") or 0) == 25  # in database 3
    finally:
        await redis.aclose()
        await plain.aclose()
        private.kill()


async def test_no_host_reads_a_low_number_while_another_flushes_its_backlog(
    tmp_path: Path,
) -> None:
    """Redis restarts; host A holds counts from the outage and retries slowly (2 s); host B
    reconnects at once but must not answer until A's backlog can have landed."""
    private = private_redis_or_skip(tmp_path / "redis").start()
    clients = [
        Redis.from_url(private.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        for _ in range(2)
    ]
    slow = await started(clients[0], "t:", socket_timeout=0.5)
    slow.retry_max_seconds = 2.0
    fast = await started(clients[1], "t:", socket_timeout=0.5, settle_seconds=3.0)
    try:
        await count_concurrently(slow, 10)
        private.kill()
        await asyncio.sleep(2.5)  # both notice; A's retry pause has grown to 2 s
        await count_concurrently(slow, 30)  # answered while Redis is down: A's backlog
        assert slow.unsent == 30
        private.start()
        answers = []
        deadline = asyncio.get_running_loop().time() + 15
        while not answers or answers[-1] != 40:
            assert asyncio.get_running_loop().time() < deadline, answers
            with contextlib.suppress(CounterUnavailable):
                answers.append(await fast.total())
            await asyncio.sleep(0.02)
        assert set(answers) == {40}, answers  # never 10: B waited for A's backlog
    finally:
        for counter in (slow, fast):
            await counter.stop()
        for client in clients:
            await client.aclose()
        private.kill()


async def test_a_count_found_missing_is_lost_until_a_reset(
    shared_redis: tuple[Redis, str],
) -> None:
    """The count's marker vanishes (Redis came back empty) and a new process starts first:
    the running one still tells a lost count, not a new one; so does the newcomer from then
    on; a reset starts a new count for both."""
    redis, prefix = shared_redis
    running = await started(redis, prefix)
    await count_concurrently(running, 5)
    assert await running.total() == 5
    await redis.delete(*[key async for key in redis.scan_iter(match=f"{prefix}*")])
    newcomer = await started(redis, prefix)  # finds no marker: takes it for a first start
    for counter in (running, newcomer):
        with pytest.raises(CounterLost):
            await counter.total()
    assert await redis.get(running.marker_key) == b"lost"
    await newcomer.reset()
    await count_concurrently(running, 3)
    assert await running.total() == 3
    assert await newcomer.total() == 3
    await running.stop()
    await newcomer.stop()


async def test_a_read_of_a_lost_count_stays_lost_when_a_reset_ends_before_it_answers(
    shared_redis: tuple[Redis, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read judges the marker it found, not one a reset wrote while it was on its way back:
    what is left of a lost count is never answered as a number."""
    redis, prefix = shared_redis
    counter = await started(redis, prefix)
    await redis.set(counter.marker_key, b"lost")
    await redis.set(counter.shard_keys[0], 999)  # what is left of the lost count
    read_shards = counter._read_shards
    shards_read, answer = asyncio.Event(), asyncio.Event()

    async def read_then_pause() -> list[bytes | None]:
        values = await read_shards()
        shards_read.set()
        await answer.wait()
        return values

    monkeypatch.setattr(counter, "_read_shards", read_then_pause)
    reading = asyncio.ensure_future(counter.total())
    await shards_read.wait()
    monkeypatch.setattr(counter, "_read_shards", read_shards)
    await counter.reset()  # a new count starts while the read is still on its way back
    answer.set()
    with pytest.raises(CounterLost):
        await reading
    assert await counter.total() == 0
    await counter.stop()
