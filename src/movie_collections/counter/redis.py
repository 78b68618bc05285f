"""The request counter in Redis, exact across hosts: increments are group-committed.

`increment()` adds 1 to a number in memory and returns the future of the batch that will carry
it. One background task per process sends everything pending in one round trip, then resolves
that batch's future; the middleware waits (bounded) for it before the response starts, so once
a client holds its response its request is in Redis. Under load the flusher lingers a moment
(`COUNTER_BATCH_LINGER`) before sending, so batches grow and the per-batch client cost stays a
small part of each request's; when requests are sparse it sends at once.

A batch is applied at most once by a small Lua script: each process (writer) numbers its
batches and sends them one at a time in order, and the script does `INCRBY` only when the
number is above the writer's last applied one on that shard (kept in a small per-writer key
that expires a day after its last use). A batch whose outcome is unknown (timeout, connection
dropped after sending, the client's own retry) is re-sent with the same number until Redis
answers, so a retry never counts twice and a lost answer never loses a count. New increments
meanwhile accumulate in memory for the next batch. The counter keys never expire.

Shards: with `COUNTER_SHARDS=K` each batch goes to one of K keys `...request-count:{i}`, round
robin; the braces are a Redis Cluster hash tag, so the keys (and each key's writer marks)
land in different slots and no single node takes every increment. Reads sum all shards.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from movie_collections.counter.backend import CounterUnavailable

logger = logging.getLogger(__name__)

# KEYS[1] shard counter; KEYS[2] this writer's last applied batch on that shard (same hash
# tag, so same cluster slot). ARGV: amount, batch sequence number, seconds the mark is kept.
APPLY_BATCH_ONCE = """
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[2]) <= last then
    return false
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""
WRITER_MARK_SECONDS = 24 * 3600


@dataclass(slots=True)
class _Batch:
    """Increments handed to Redis as one INCRBY; `done` resolves once Redis confirmed them."""

    sequence: int
    shard: int
    amount: int
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


class RedisCounter:
    def __init__(
        self,
        redis: Redis,
        key_prefix: str,
        shards: int = 1,
        retry_max_seconds: float = 1.0,
        stop_flush_seconds: float = 5.0,
        read_flush_seconds: float = 2.0,
        batch_linger_seconds: float = 0.0,
    ) -> None:
        self.redis = redis
        self.shard_keys = [f"{key_prefix}request-count:{{{index}}}" for index in range(shards)]
        self.retry_max_seconds = retry_max_seconds
        self.stop_flush_seconds = stop_flush_seconds
        self.read_flush_seconds = read_flush_seconds
        self.batch_linger_seconds = batch_linger_seconds
        self._last_flush_end = 0.0
        self._apply = redis.register_script(APPLY_BATCH_ONCE)
        self._next_shard = itertools.cycle(range(shards))
        # Batches of one writer are sent one at a time in sequence order (a failed one is
        # re-sent before any later one), so "applied up to N" per writer and shard suffices.
        self._writer = secrets.token_hex(8)
        self._sequence = 0
        self._pending = 0
        self._pending_future: asyncio.Future[None] | None = None
        self._unconfirmed: _Batch | None = None  # sent (maybe applied), not yet confirmed
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._reachable = True
        self._stopping = False

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever(), name="request-counter-flush")

    async def stop(self) -> None:
        if self._flusher is not None:
            # A flag as well as cancel(): redis-py may turn a cancellation inside a command
            # into a connection error, which the flusher would otherwise retry forever.
            self._stopping = True
            self._wake.set()
            self._flusher.cancel()
            await asyncio.wait({self._flusher}, timeout=self.stop_flush_seconds)
            self._flusher = None
        try:
            await asyncio.wait_for(self._flush_all(), self.stop_flush_seconds)
        except (TimeoutError, RedisError, OSError):
            logger.error(
                "request counter: %d increments could not reach Redis before shutdown",
                self._pending + (self._unconfirmed.amount if self._unconfirmed else 0),
            )

    def increment(self) -> asyncio.Future[None]:
        self._pending += 1
        if self._pending_future is None:
            self._pending_future = asyncio.get_running_loop().create_future()
            self._wake.set()
        return self._pending_future

    async def total(self) -> int:
        await self._flush_before_reading()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in self.shard_keys:
                    pipe.get(key)
                values = await pipe.execute()
        except (RedisError, OSError) as error:
            raise CounterUnavailable("Redis is unreachable") from error
        return sum(int(value) for value in values if value is not None)

    async def reset(self) -> None:
        # This process's earlier requests go in before the reset, not after it.
        await self._flush_before_reading()
        try:
            # SET is atomic per key: an increment from another host lands wholly before or
            # wholly after its shard's reset, never on both sides.
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in self.shard_keys:
                    pipe.set(key, 0)
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise CounterUnavailable("Redis is unreachable") from error

    # --- flushing --------------------------------------------------------------------------

    async def _flush_before_reading(self) -> None:
        """Send this process's pending increments; CounterUnavailable if they cannot go now."""
        try:
            # Bounded: a hung Redis makes the count endpoint answer 503, not hang.
            await asyncio.wait_for(self._flush_all(), self.read_flush_seconds)
        except (TimeoutError, RedisError, OSError) as error:
            raise CounterUnavailable("Redis is unreachable") from error

    async def _flush_forever(self) -> None:
        delay = 0.0
        while not self._stopping:
            if delay:
                await asyncio.sleep(delay)
            else:
                await self._wake.wait()
            self._wake.clear()
            loop = asyncio.get_running_loop()
            if delay == 0 and loop.time() - self._last_flush_end < self.batch_linger_seconds:
                # Busy (the last batch has just gone): let this one fill up a little.
                await asyncio.sleep(self.batch_linger_seconds)
            try:
                await self._flush_all()
                self._last_flush_end = loop.time()
                delay = 0.0
                if not self._reachable:
                    logger.warning("request counter: Redis is reachable again, counts flushed")
                    self._reachable = True
            except (RedisError, OSError) as error:
                if self._reachable:
                    logger.warning(
                        "request counter: Redis unreachable (%s); counting in memory", error
                    )
                    self._reachable = False
                delay = min(max(delay * 2, 0.05), self.retry_max_seconds)
            except Exception:  # never let the flusher die: counts would stop moving
                logger.exception("request counter: unexpected flush failure")
                delay = self.retry_max_seconds

    async def _flush_all(self) -> None:
        """Send what is pending now (one round); with nothing new arriving, that is all."""
        async with self._flush_lock:
            # One round, not "until nothing is pending": under steady load more is always
            # pending, and a reader queued on the lock (FIFO) must get its turn.
            if self._unconfirmed is not None:
                await self._send_unconfirmed()
            if self._pending:
                self._unconfirmed = self._take_pending()
                await self._send_unconfirmed()

    async def _send_unconfirmed(self) -> None:
        assert self._unconfirmed is not None
        await self._send(self._unconfirmed)
        batch, self._unconfirmed = self._unconfirmed, None
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _take_pending(self) -> _Batch:
        self._sequence += 1
        batch = _Batch(
            sequence=self._sequence,
            shard=next(self._next_shard),
            amount=self._pending,
        )
        if self._pending_future is not None:
            batch.waiters.append(self._pending_future)
        self._pending = 0
        self._pending_future = None
        return batch

    async def _send(self, batch: _Batch) -> None:
        # An exception (or cancellation) here leaves the batch unconfirmed: it is re-sent
        # with the same sequence number, which the script applies at most once.
        key = self.shard_keys[batch.shard]
        await self._apply(
            keys=[key, f"{key}:writer:{self._writer}"],
            args=[batch.amount, batch.sequence, WRITER_MARK_SECONDS],
        )

    @property
    def unsent(self) -> int:
        """Increments of this process not yet confirmed by Redis (for tests and logs)."""
        return self._pending + (self._unconfirmed.amount if self._unconfirmed else 0)
