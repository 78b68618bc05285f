"""The request counter in Redis (or a Redis Cluster), exact across hosts.

Writes: pipelined group commit on the counter's own connection (`wire.py`).
`increment()` adds 1 to a number in memory and returns a future that the middleware awaits
before the response starts. Once per event-loop iteration everything incremented so far goes
out as one batch (one script call), without waiting for earlier batches' replies; the batch's
reply releases its requests' futures, so once a client holds its response its request is in
Redis. A batch not confirmed within `COUNTER_DURABLE_WAIT` releases its requests anyway (one
timer per batch, not per request): the count stays in memory and is retried, and the response
is not held up by a slow store. Batches grow with load by themselves (a busy loop iteration
gathers more requests), so the per-batch client cost stays a small share of each request's.

A batch is applied at most once by a small Lua script: each process (writer) numbers its
batches, sends those of one shard in order on one connection (Redis runs a connection's
commands in order), and the script does `INCRBY` only when the number is above the writer's
last applied one on that shard (a small per-writer key that expires a day after its last
use). A batch whose outcome is unknown (timeout, connection dropped) stays unconfirmed and is
re-sent with the same number, in order, on the next connection, so a retry never counts twice
and a lost answer never loses a count. The counter keys never expire.

Shards: with `COUNTER_SHARDS=K` batches go round robin to K keys `...request-count:{i}`; the
braces are a Redis Cluster hash tag, so the keys (and each key's writer marks) sit in
different slots and, on a cluster, on different nodes: no single node takes every increment.
Reads sum all shards.

Reads answer only when the number is exact as far as this process can know
(`CounterUnavailable` → 503 otherwise): this process reaches Redis, has nothing unconfirmed
left after flushing, and has not lost its connection in the last `settle_seconds` (every
other process cut off by the same outage re-sends its backlog within its retry pause, which
`settle_seconds` exceeds). See docs/request-counter.md for the exact guarantee.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.exceptions import RedisError

from movie_collections.core.redis import RedisClient
from movie_collections.core.single_flight import FreshSingleFlight
from movie_collections.counter.backend import CounterUnavailable
from movie_collections.counter.wire import Endpoint, Reply, WireConnection, pack

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
_ShardOperation = Callable[[], Awaitable[list[bytes | None]]]
MAX_IN_FLIGHT = 32  # batches sent and not yet answered; beyond it increments wait in memory


def _arguments(*arguments: str | int) -> bytes:
    """RESP bulk strings without the array header."""
    packed = pack(*arguments)
    return packed[packed.index(b"\r\n") + 2 :]


@dataclass(slots=True)
class _Batch:
    """Increments handed to Redis as one INCRBY; released once Redis confirmed them."""

    sequence: int
    shard: int
    amount: int
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    confirmed: asyncio.Future[None] | None = None

    def release(self) -> None:
        """Let its requests answer (confirmed, or waited long enough)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters = []


class RedisCounter:
    def __init__(
        self,
        redis: RedisClient,
        key_prefix: str,
        shards: int = 1,
        retry_max_seconds: float = 1.0,
        stop_flush_seconds: float = 5.0,
        read_flush_seconds: float = 2.0,
        durable_wait_seconds: float = 0.05,
        socket_timeout: float = 1.0,
        settle_seconds: float | None = None,
        probe_seconds: float = 0.5,
    ) -> None:
        self.redis = redis
        self.shard_keys = [f"{key_prefix}request-count:{{{index}}}" for index in range(shards)]
        self.retry_max_seconds = retry_max_seconds
        self.stop_flush_seconds = stop_flush_seconds
        self.read_flush_seconds = read_flush_seconds
        self.durable_wait_seconds = durable_wait_seconds
        self.socket_timeout = socket_timeout
        self.settle_seconds = (
            settle_seconds if settle_seconds is not None else retry_max_seconds + 2 * socket_timeout
        )
        self.probe_seconds = probe_seconds
        self._script = redis.register_script(APPLY_BATCH_ONCE)
        # Batches of one writer and shard go in sequence order on one connection (a failed
        # one is re-sent before any later one), so "applied up to N" per writer and shard
        # suffices to apply each batch at most once.
        self._writer = secrets.token_hex(8)
        # Each batch's command is these bytes around its amount and sequence number (packed
        # once here, not per batch): EVALSHA sha 2 key mark amount sequence mark-seconds.
        self._heads = [
            b"*8\r\n"
            + _arguments("EVALSHA", self._script.sha, 2, key, f"{key}:writer:{self._writer}")
            for key in self.shard_keys
        ]
        self._tail = _arguments(WRITER_MARK_SECONDS)
        self._shard_count = len(self.shard_keys)
        self._next_shard = itertools.cycle(range(shards))
        self._sequence = 0
        self._pending = 0
        self._pending_batch: _Batch | None = None
        self._unconfirmed: dict[int, _Batch] = {}  # sent, maybe applied; in sequence order
        self._connections: dict[Endpoint, WireConnection] = {}
        self._shard_connections: list[WireConnection] = []
        self._up = False
        self._flush_scheduled = False
        self._trouble = asyncio.Event()
        self._outages = 0  # connections lost so far (a read spanning one is not trusted)
        self._settled_at = 0.0
        self._maintainer: asyncio.Task[None] | None = None
        self._stopping = False
        # Concurrent reads share one drain and shard read, started after each of them was
        # asked: exact for each (every count of this process made before it is in Redis
        # before the shards are read), one flush and one round trip for all of them.
        self._next_drained_read = FreshSingleFlight(self._drained(self._read_shards))

    # --- the RequestCounter protocol -----------------------------------------------------

    async def start(self) -> None:
        self._maintainer = asyncio.create_task(self._maintain(), name="request-counter-redis")

    async def stop(self) -> None:
        self._stopping = True  # the upkeep task ends; the last flush is driven from here
        if self._maintainer is not None:
            self._maintainer.cancel()
            await asyncio.wait({self._maintainer}, timeout=self.stop_flush_seconds)
            self._maintainer = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_flush_seconds
        while self.unsent and loop.time() < deadline:
            if not self._up:  # one more attempt to reach Redis, then give up at once
                self._disconnect()
                try:
                    await asyncio.wait_for(self._connect(), max(deadline - loop.time(), 0.01))
                except (RedisError, OSError, TimeoutError):
                    break
                continue
            if self._pending:
                self._flush()
            await asyncio.sleep(0.01)  # shutdown only: a plain poll
        if self.unsent:
            logger.error(
                "request counter: %d increments could not reach Redis before shutdown",
                self.unsent,
            )
        self._disconnect()

    def increment(self) -> asyncio.Future[None] | None:
        self._pending += 1
        if not self._up:
            return None  # Redis is unreachable: counted in memory, nothing to wait for
        batch = self._pending_batch
        loop = asyncio.get_running_loop()
        if batch is None:
            batch = self._pending_batch = _Batch(sequence=0, shard=0, amount=0)
            # One timer per batch bounds every request's wait for it.
            batch.timer = loop.call_later(self.durable_wait_seconds, batch.release)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush)  # after this loop iteration's other requests
        waiter: asyncio.Future[None] = loop.create_future()
        batch.waiters.append(waiter)
        return waiter

    async def total(self) -> int:
        values = await self._exact(self._next_drained_read)
        return sum(int(value) for value in values if value is not None)

    async def reset(self) -> None:
        # This process's earlier requests go in before the reset (flushed by `_exact`); SET
        # is atomic per key: an increment from another host lands wholly before or after its
        # shard's reset, never on both sides.
        await self._exact(self._drained(self._zero_shards))

    @property
    def unsent(self) -> int:
        """Increments of this process not yet confirmed by Redis (for tests and logs)."""
        return self._pending + sum(batch.amount for batch in self._unconfirmed.values())

    # --- reads -----------------------------------------------------------------------------

    def _drained(self, operation: _ShardOperation) -> _ShardOperation:
        """`operation` once every increment of this process made before the call is in Redis."""

        async def drained() -> list[bytes | None]:
            await self._drain(asyncio.get_running_loop().time() + self.read_flush_seconds)
            return await operation()

        return drained

    async def _exact(self, operation: _ShardOperation) -> list[bytes | None]:
        """Run `operation` (drained first) only if its result can be exact; CounterUnavailable
        otherwise."""
        loop = asyncio.get_running_loop()
        if not self._up or loop.time() < self._settled_at:
            raise CounterUnavailable("Redis is or was just unreachable")
        outages = self._outages
        try:
            values = await operation()
        except (TimeoutError, RedisError, OSError) as error:
            raise CounterUnavailable("Redis is unreachable") from error
        if self._outages != outages or not self._up:
            raise CounterUnavailable("the connection to Redis was lost meanwhile")
        return values

    async def _drain(self, deadline: float) -> None:
        """Until every increment made before this call is confirmed by Redis."""
        loop = asyncio.get_running_loop()
        # What is pending now goes in the next batch, whole: up to that number, all of it.
        needed = self._sequence + (1 if self._pending else 0)
        while True:
            if self._pending and self._sequence < needed:
                self._flush()  # refused while MAX_IN_FLIGHT batches are out: wait for one
            waiting = [
                batch.confirmed
                for batch in self._unconfirmed.values()
                if batch.sequence <= needed and batch.confirmed is not None
            ]
            if not waiting and self._sequence >= needed:
                return
            remaining = deadline - loop.time()
            if remaining <= 0 or not self._up or not waiting:
                raise CounterUnavailable("this process's counts are not in Redis yet")
            await asyncio.wait(waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)

    async def _read_shards(self) -> list[bytes | None]:
        async with asyncio.timeout(self.read_flush_seconds):
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in self.shard_keys:
                    pipe.get(key)
                return list(await pipe.execute())

    async def _zero_shards(self) -> list[bytes | None]:
        async with asyncio.timeout(self.read_flush_seconds):
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in self.shard_keys:
                    pipe.set(key, 0)
                await pipe.execute()
        return []

    # --- writes ----------------------------------------------------------------------------

    def _flush(self) -> None:
        """Send what is pending as one batch (called once per loop iteration at most)."""
        self._flush_scheduled = False
        if not self._up or not self._pending:
            return
        if len(self._unconfirmed) >= MAX_IN_FLIGHT:
            return  # the next reply calls us again
        batch = self._pending_batch or _Batch(sequence=0, shard=0, amount=0)
        self._pending_batch = None
        self._sequence += 1
        batch.sequence = self._sequence
        batch.shard = next(self._next_shard)
        batch.amount = self._pending
        batch.confirmed = asyncio.get_running_loop().create_future()
        self._pending = 0
        self._unconfirmed[batch.sequence] = batch
        self._transmit(batch)

    def _transmit(self, batch: _Batch) -> None:
        connection = self._shard_connections[batch.shard]
        packed = b"%s$%d\r\n%d\r\n$%d\r\n%d\r\n%s" % (
            self._heads[batch.shard],
            len(str(batch.amount)),
            batch.amount,
            len(str(batch.sequence)),
            batch.sequence,
            self._tail,
        )
        reply = connection.send(packed)
        reply.add_done_callback(lambda done: self._on_reply(batch, connection, done))

    def _on_reply(
        self, batch: _Batch, connection: WireConnection, reply: asyncio.Future[Reply]
    ) -> None:
        if reply.cancelled() or reply.exception() is not None:
            # Unknown outcome: the batch stays unconfirmed and is re-sent on reconnection.
            self._lose(reply.exception() if not reply.cancelled() else None, connection)
            return
        if self._unconfirmed.pop(batch.sequence, None) is None:
            return  # already confirmed by a re-send
        batch.release()
        if batch.confirmed is not None and not batch.confirmed.done():
            batch.confirmed.set_result(None)
        if self._pending and not self._flush_scheduled and self._up:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _lose(self, error: BaseException | None, connection: WireConnection | None = None) -> None:
        """The connection failed or answered with an error: reconnect, re-send in order."""
        if not self._up or (connection is not None and connection not in self._shard_connections):
            return  # already known, or news from a connection replaced since
        self._up = False
        self._outages += 1
        logger.warning("request counter: Redis unreachable (%s); counting in memory", error)
        self._disconnect()
        self._trouble.set()

    # --- connection upkeep -----------------------------------------------------------------

    async def _maintain(self) -> None:
        delay = 0.0
        while not self._stopping:
            if not self._up:
                if delay:
                    await asyncio.sleep(delay)
                try:
                    await self._connect()
                except (RedisError, OSError, TimeoutError) as error:
                    if self._outages == 0:
                        self._outages = 1  # never reached yet: others may hold counts too
                        logger.warning("request counter: Redis unreachable (%s)", error)
                    self._disconnect()
                    delay = min(max(delay * 2, 0.05), self.retry_max_seconds)
                    continue
                except Exception:  # never let the upkeep die: counts would stop moving
                    logger.exception("request counter: unexpected failure while connecting")
                    self._disconnect()
                    delay = self.retry_max_seconds
                    continue
                delay = 0.0
                continue
            self._trouble.clear()
            try:
                await asyncio.wait_for(self._trouble.wait(), self.probe_seconds)
            except TimeoutError:
                self._probe()

    async def _connect(self) -> None:
        endpoints = await self._endpoints()
        for endpoint in dict.fromkeys(endpoints):
            connection = await WireConnection.open(endpoint, self.socket_timeout)
            self._connections[endpoint] = connection
            connection.lost.add_done_callback(functools.partial(self._on_lost, connection))
            await connection.call(self.socket_timeout, "SCRIPT", "LOAD", APPLY_BATCH_ONCE)
        self._shard_connections = [self._connections[endpoint] for endpoint in endpoints]
        # The backlog first, in sequence order: anything new goes after it on the same
        # connection (Redis applies a connection's commands in order). Reads wait until it is in.
        backlog = list(self._unconfirmed.values())
        if self._outages:  # set before going up: no read slips in before the settle time
            self._settled_at = asyncio.get_running_loop().time() + self.settle_seconds
        self._up = True
        for batch in backlog:
            self._transmit(batch)
        confirmations = [batch.confirmed for batch in backlog if batch.confirmed is not None]
        if confirmations:
            _, late = await asyncio.wait(confirmations, timeout=self.socket_timeout * 2)
            if late or not self._up:
                self._lose(RedisError("the backlog was not confirmed"))
                raise RedisError("the backlog was not confirmed")
        if self._outages:
            logger.warning("request counter: Redis is reachable again, counts flushed")
        if self._pending:
            self._flush()

    async def _endpoints(self) -> list[Endpoint]:
        """The endpoint of each shard's key (on a cluster: of the node holding its slot)."""
        if isinstance(self.redis, RedisCluster):
            await asyncio.wait_for(self.redis.nodes_manager.initialize(), self.socket_timeout * 4)
            kwargs = self.redis.get_connection_kwargs()
            tls = kwargs.get("connection_class") is SSLConnection or bool(kwargs.get("ssl"))
            endpoints = []
            for key in self.shard_keys:
                node = self.redis.get_node_from_key(key)
                if node is None:
                    raise RedisError(f"no cluster node holds {key}")
                options = {**kwargs, "host": node.host, "port": node.port}
                endpoints.append(Endpoint.from_kwargs(options, tls))
            return endpoints
        pool = self.redis.connection_pool
        tls = issubclass(pool.connection_class, SSLConnection)
        return [Endpoint.from_kwargs(pool.connection_kwargs, tls)] * self._shard_count

    def _probe(self) -> None:
        """Stuck replies mean a dead link; an idle link is checked with PING."""
        now = asyncio.get_running_loop().time()
        for connection in list(self._connections.values()):
            if not connection.is_open:
                self._lose(RedisError("connection closed"))
                return
            if connection.oldest_wait(now) > self.socket_timeout:
                self._lose(RedisError("Redis did not answer in time"))
                return
            if not connection.in_flight and now - connection.last_activity > self.probe_seconds:
                ping = connection.send(pack("PING"))
                ping.add_done_callback(functools.partial(self._on_ping, connection))

    def _on_lost(self, connection: WireConnection, _: asyncio.Future[None]) -> None:
        self._lose(RedisError("connection lost"), connection)

    def _on_ping(self, connection: WireConnection, reply: asyncio.Future[Reply]) -> None:
        if not reply.cancelled() and reply.exception() is not None:
            self._lose(reply.exception(), connection)

    def _disconnect(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections = {}
        self._shard_connections = []
