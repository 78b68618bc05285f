"""The request counter in Redis (or a Redis Cluster), exact across hosts.

Each event-loop iteration's increments go out as one batch (one script call), pipelined on the
counter's own redis-py connections, applied at most once (per-writer sequence numbers); reads
raise `CounterUnavailable` (503) unless exact. Design and guarantees: docs/request-counter.md.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from movie_collections.core.batching import FreshBatches
from movie_collections.core.metrics import COUNTER_BATCH_DURATION, COUNTER_BATCHES, COUNTER_UNSENT
from movie_collections.core.redis import RedisClient
from movie_collections.counter.backend import CounterLost, CounterUnavailable

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
# KEYS[1] the count's marker; ARGV[1] the marker this process knows ('' at first), ARGV[2] a new
# one for a first start. Answers {marker, 1 if this call found the count lost}. A marker is
# `start:<random>` (set when the first process finds none), `reset:<random>` (set by a reset)
# or `lost`. A process that knew one and finds none (Redis came back empty), or finds another
# first start's, marks the count lost: it stays so until a reset.
CHECK_MARKER = """
local marker = redis.call('GET', KEYS[1])
if marker == ARGV[1] then return {marker, 0} end
if ARGV[1] == '' then
    if marker then return {marker, 0} end
    redis.call('SET', KEYS[1], ARGV[2])
    return {ARGV[2], 0}
end
if marker == 'lost' or (marker and string.sub(marker, 1, 6) == 'reset:') then
    return {marker, 0}
end
redis.call('SET', KEYS[1], 'lost')
return {'lost', 1}
"""
LOST = b"lost"
MAX_IN_FLIGHT = 32  # batches sent and not yet answered; beyond it increments wait in memory
_ShardOperation = Callable[[], Awaitable[list[bytes | None]]]
_MarkedRead = tuple[bytes, list[bytes | None]]  # the marker as the read found it, the shards
T = TypeVar("T")
_Target = tuple[str, type[AbstractConnection], dict[str, Any]]  # name, connection class, kwargs


@dataclass(slots=True)
class _Batch:
    """Increments handed to Redis as one script call; released once Redis confirmed them."""

    sequence: int
    shard: int
    amount: int
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    confirmed: asyncio.Future[None] | None = None
    formed_at: float = 0.0  # loop time when it was handed to the sender (metrics)

    def release(self) -> None:
        """Let its requests answer (confirmed, or waited long enough)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters = []


@dataclass(eq=False, slots=True)
class _Link:
    """One redis-py connection of the counter: commands are written as they come, without
    waiting for earlier replies; one task reads the replies, which Redis sends in order."""

    connection: AbstractConnection
    waiting: collections.deque[_Batch | None] = field(default_factory=collections.deque)
    last_activity: float = 0.0  # last reply, or first write after an idle spell
    reader: asyncio.Task[None] | None = None
    closed: bool = False


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
        self._sha = redis.register_script(APPLY_BATCH_ONCE).sha
        self.marker_key = f"{key_prefix}request-count:marker"
        self._check_marker_script = redis.register_script(CHECK_MARKER)
        self._marker = b""  # the count's marker as this process last saw it
        # Batches of one writer and shard go in sequence order on one connection (a failed
        # one is re-sent before any later one), so "applied up to N" per writer and shard
        # suffices to apply each batch at most once.
        self._writer = secrets.token_hex(8)
        # Each batch's command: these arguments, then its amount and sequence number.
        self._heads = [
            tuple(
                argument.encode()
                for argument in ("EVALSHA", self._sha, "2", key, f"{key}:writer:{self._writer}")
            )
            for key in self.shard_keys
        ]
        self._tail = str(WRITER_MARK_SECONDS).encode()
        self._next_shard = itertools.cycle(range(shards))
        self._sequence = 0
        self._pending = 0
        self._pending_batch: _Batch | None = None
        self._unconfirmed: dict[int, _Batch] = {}  # sent, maybe applied; in sequence order
        self._outbox: collections.deque[_Batch] = collections.deque()  # formed, not yet written
        self._links: dict[str, _Link] = {}
        self._shard_links: list[_Link] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._up = False
        self._wake: asyncio.Future[None] | None = None  # resolved: the sender has work
        self._trouble = asyncio.Event()
        self._outages = 0  # connections lost so far (a read spanning one is not trusted)
        self._settled_at = 0.0
        self._maintainer: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._stopping = False
        # Concurrent reads share one marker check, drain and shard read, started after each
        # of them was asked: exact for each (every count of this process made before it is in
        # Redis before the shards are read). The key is always None.
        self._drained_reads = FreshBatches(self._drained_read)

    # --- the RequestCounter protocol -----------------------------------------------------

    async def start(self) -> None:
        self._wake = asyncio.get_running_loop().create_future()
        self._sender = asyncio.create_task(self._send(), name="request-counter-redis-sender")
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
        self._up = False  # later increments are only counted in memory
        self._disconnect()
        if self._sender is not None:
            self._sender.cancel()
        ending = {task for task in (self._sender, *self._closing) if task is not None}
        if ending:
            await asyncio.wait(ending, timeout=self.stop_flush_seconds)
        self._sender = None

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
            self._kick()  # the sender runs after this loop iteration's other requests
        waiter: asyncio.Future[None] = loop.create_future()
        batch.waiters.append(waiter)
        return waiter

    async def total(self) -> int:
        marker, values = await self._exact(self._shared_read)
        if marker == LOST:  # as this read found it: a reset meanwhile is not this read's
            raise CounterLost("Redis lost the count")
        return sum(int(value) for value in values if value is not None)

    async def reset(self) -> None:
        # This process's earlier requests go in before the reset (flushed by `_exact`); SET
        # is atomic per key: an increment from another host lands wholly before or after its
        # shard's reset, never on both sides.
        await self._exact(self._drained(self._zero_shards))

    async def _check_marker(self) -> None:
        """Compare the count's marker in Redis with the one this process knows (first
        start: set it); log, once for all processes, when the count turns out lost."""
        async with asyncio.timeout(self.socket_timeout):
            marker, found_lost = await self._check_marker_script(
                keys=[self.marker_key], args=[self._marker, f"start:{secrets.token_hex(8)}"]
            )
        self._marker = bytes(marker)
        if found_lost:
            logger.error(
                "request counter: Redis lost the count (it came back without the marker key "
                "%s; run it with appendonly yes). GET /request-count/ answers 503 until "
                "POST /request-count/reset/ starts a new count",
                self.marker_key,
            )

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

    async def _drained_read(self, _keys: Sequence[None]) -> dict[None, _MarkedRead]:
        """The marker checked, then the shards read once this process's counts are in."""
        await self._check_marker()
        marker = self._marker
        return {None: (marker, await self._drained(self._read_shards)())}

    async def _shared_read(self) -> _MarkedRead:
        return await self._drained_reads.get(None) or (b"", [])  # the key is always there

    async def _exact(self, operation: Callable[[], Awaitable[T]]) -> T:
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
        marker = f"reset:{secrets.token_hex(8)}".encode()
        async with asyncio.timeout(self.read_flush_seconds):
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in self.shard_keys:
                    pipe.set(key, 0)
                pipe.set(self.marker_key, marker)  # a new count: whatever was lost is over
                await pipe.execute()
        self._marker = marker
        return []

    # --- writes ----------------------------------------------------------------------------

    def _kick(self) -> None:
        """Have the sender flush and write on its next turn (at most once per loop iteration)."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _flush(self) -> None:
        """Make what is pending one batch, queued for the sender."""
        if not self._up or not self._pending or len(self._unconfirmed) >= MAX_IN_FLIGHT:
            return  # at MAX_IN_FLIGHT the next reply kicks the sender again
        batch = self._pending_batch or _Batch(sequence=0, shard=0, amount=0)
        self._pending_batch = None
        self._sequence += 1
        batch.sequence = self._sequence
        batch.shard = next(self._next_shard)
        batch.amount = self._pending
        loop = asyncio.get_running_loop()
        batch.confirmed = loop.create_future()
        batch.formed_at = loop.time()
        self._pending = 0
        self._unconfirmed[batch.sequence] = batch
        self._outbox.append(batch)
        self._kick()

    async def _send(self) -> None:
        """The sender task: flushes what is pending and writes the queued batches in order."""
        loop = asyncio.get_running_loop()
        while True:
            assert self._wake is not None
            await self._wake
            try:
                try:
                    self._flush()  # its kick is served by this turn
                finally:
                    self._wake = loop.create_future()
                while self._outbox and self._up:
                    batch = self._outbox.popleft()
                    link = self._shard_links[batch.shard]
                    await self._write(link, [batch], self._command(batch))
            except Exception as error:  # never let the sender die: counts would stop moving
                logger.exception("request counter: unexpected failure while sending")
                self._lose(error)

    def _command(self, batch: _Batch) -> list[bytes]:
        connection = self._shard_links[batch.shard].connection
        return connection.pack_command(
            *self._heads[batch.shard], batch.amount, batch.sequence, self._tail
        )

    async def _write(
        self, link: _Link, entries: Sequence[_Batch | None], command: list[bytes]
    ) -> None:
        """Write `command` (the commands of `entries`, None for a PING) without waiting for
        any reply: the reader matches the replies to `entries` in order."""
        if link.closed or not link.connection.is_connected:
            self._lose(RedisError("connection closed"), link)
            return
        if not link.waiting:
            link.last_activity = asyncio.get_running_loop().time()
        link.waiting.extend(entries)
        try:
            # No await before redis-py writes the bytes: commands go out in call order.
            await link.connection.send_packed_command(command, check_health=False)
        except (RedisError, OSError) as error:
            self._lose(error, link)

    async def _read_replies(self, link: _Link) -> None:
        """The link's reader task: each reply resolves the oldest command written."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                # No read timeout (an idle link waits here; the probe catches a stuck reply),
                # so the peer's close is seen at once, even while idle.
                await link.connection.read_response(disable_decoding=True, timeout=math.inf)
                link.last_activity = loop.time()
                if not link.waiting:
                    raise RedisError("a reply to no command")
                batch = link.waiting.popleft()
                if batch is not None:
                    self._confirm(batch)
        except Exception as error:  # an error reply (e.g. MOVED) or the connection's end
            link.closed = True
            self._lose(error, link)

    def _confirm(self, batch: _Batch) -> None:
        if self._unconfirmed.pop(batch.sequence, None) is None:
            return  # already confirmed by a re-send
        COUNTER_BATCHES.inc()
        COUNTER_BATCH_DURATION.observe(asyncio.get_running_loop().time() - batch.formed_at)
        batch.release()
        if batch.confirmed is not None and not batch.confirmed.done():
            batch.confirmed.set_result(None)
        if self._pending and self._up:
            self._kick()

    def _lose(self, error: BaseException | None, link: _Link | None = None) -> None:
        """The connection failed or answered with an error: reconnect, re-send in order."""
        if link is not None:
            link.closed = True  # a connection attempt in progress sees it too
        if not self._up or (link is not None and link not in self._shard_links):
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
            COUNTER_UNSENT.set(self.unsent)  # each turn: every probe, or retry while down
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
                await self._probe()

    async def _connect(self) -> None:
        await self._check_marker()  # Redis may be back without the count
        targets = await self._targets()
        for name, connection_class, kwargs in targets:
            if name not in self._links:
                await self._open(name, connection_class, kwargs)
        links = [self._links[name] for name, _, _ in targets]
        # The backlog first, in sequence order: anything new goes after it on the same
        # connection (Redis applies a connection's commands in order). Reads wait until it is in.
        self._outbox.clear()  # all of it is in the backlog
        backlog = list(self._unconfirmed.values())
        self._shard_links = links
        for link in dict.fromkeys(links):
            batches = [batch for batch in backlog if links[batch.shard] is link]
            if batches:
                command = [part for batch in batches for part in self._command(batch)]
                await self._write(link, batches, command)
        if any(link.closed for link in links):
            raise RedisError("the connection closed while the backlog was sent")
        if self._outages:  # set before going up: no read slips in before the settle time
            self._settled_at = asyncio.get_running_loop().time() + self.settle_seconds
        self._up = True
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

    async def _open(
        self, name: str, connection_class: type[AbstractConnection], kwargs: dict[str, Any]
    ) -> None:
        """A connection of the counter's own, made from the client's settings (TLS, ACL user,
        database, Sentinel...), without redis-py's retries (the counter backs off itself), its
        health-check PING (it would read a pipelined reply) or its write timeout."""
        options = {
            **kwargs,
            "socket_timeout": None,
            "socket_connect_timeout": self.socket_timeout,
            "health_check_interval": 0,
            "retry": Retry(NoBackoff(), 0),
        }
        link = _Link(connection_class(**options))
        self._links[name] = link  # closed by `_disconnect` if anything below fails
        async with asyncio.timeout(self.socket_timeout):
            await link.connection.connect_check_health(retry_socket_connect=False)
            await link.connection.send_command(
                "SCRIPT", "LOAD", APPLY_BATCH_ONCE, check_health=False
            )
            await link.connection.read_response()
        link.last_activity = asyncio.get_running_loop().time()
        link.reader = asyncio.create_task(self._read_replies(link), name="request-counter-reader")

    async def _targets(self) -> list[_Target]:
        """Where each shard's key is written: on a cluster, the node holding its slot."""
        if isinstance(self.redis, RedisCluster):
            await asyncio.wait_for(self.redis.nodes_manager.initialize(), self.socket_timeout * 4)
            targets: list[_Target] = []
            for key in self.shard_keys:
                node = self.redis.get_node_from_key(key)
                if node is None:
                    raise RedisError(f"no cluster node holds {key}")
                targets.append((node.name, node.connection_class, node.connection_kwargs))
            return targets
        pool = self.redis.connection_pool
        return [("", pool.connection_class, pool.connection_kwargs)] * len(self.shard_keys)

    async def _probe(self) -> None:
        """A stuck reply means a dead link; an idle link is checked with PING."""
        now = asyncio.get_running_loop().time()
        for link in list(self._links.values()):
            if link.closed:
                self._lose(RedisError("connection closed"), link)
                return
            if link.waiting and now - link.last_activity > self.socket_timeout:
                self._lose(RedisError("Redis did not answer in time"), link)
                return
            if not link.waiting and now - link.last_activity > self.probe_seconds:
                await self._write(link, [None], link.connection.pack_command("PING"))

    def _disconnect(self) -> None:
        links = list(self._links.values())
        self._links = {}
        self._shard_links = []
        self._outbox.clear()  # unconfirmed: re-sent on the next connection
        for link in links:
            link.closed = True
        if links:
            closing = asyncio.get_running_loop().create_task(self._close(links))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def _close(self, links: list[_Link]) -> None:
        readers = [link.reader for link in links if link.reader is not None]
        for reader in readers:
            reader.cancel()
        if readers:
            await asyncio.wait(readers)
        for link in links:
            try:
                await link.connection.disconnect(nowait=True)
            except Exception as error:  # gone either way
                logger.debug("request counter: closing a connection failed (%s)", error)
