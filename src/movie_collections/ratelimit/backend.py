"""Sliding-window-log stores: exact sums of the hits' costs in the last window, per key.

A hit is admitted only when every key it touches (a login's name-and-network and network
keys) has room for it, and then it is recorded on all of them in the same atomic step, so
concurrent requests in several worker processes can never admit more than the limit.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio.to_thread
from redis.exceptions import RedisError

from movie_collections.core.database import classify, create_private_file
from movie_collections.core.redis import RedisClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    max_hits: int  # the most the costs of a window's hits may add up to
    cost: int = 1  # what this hit weighs


class RateLimitStore(Protocol):
    async def hit(self, limits: Sequence[Limit], window_ms: int, hit_id: str = "") -> int:
        """Records a hit on every key if each has room for its cost and returns 0; otherwise
        records nothing and returns the milliseconds until the oldest hit in the way expires."""

    async def release(self, limits: Sequence[Limit], hit_id: str) -> None:
        """Takes back the hit recorded as `hit_id` (an attempt that turned out not to count)."""

    def close(self) -> None: ...


class LocalRateLimitStore:
    """A small SQLite file in DATA_DIR shared by every worker process on this host.

    `BEGIN IMMEDIATE` serialises the check-and-record across processes, so the count is exact
    with any number of workers; the work is tiny and runs in a thread off the event loop.
    """

    PURGE_EVERY = 1000

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._calls = 0

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            create_private_file(self._path)
            connection = sqlite3.connect(
                self._path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            columns = {row[1] for row in connection.execute("PRAGMA table_info(hits)")}
            if columns and not {"hit_id", "cost"} <= columns:
                # A file of an earlier layout: it holds at most one window of hits.
                connection.execute("DROP TABLE hits")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at_ms INTEGER NOT NULL, "
                "hit_id TEXT NOT NULL DEFAULT '', cost INTEGER NOT NULL DEFAULT 1)"
            )
            connection.execute("CREATE INDEX IF NOT EXISTS ix_hits_key_at ON hits (key, at_ms)")
            self._connection = connection
        return self._connection

    async def hit(self, limits: Sequence[Limit], window_ms: int, hit_id: str = "") -> int:
        try:
            return await anyio.to_thread.run_sync(self._hit_sync, limits, window_ms, hit_id)
        except (sqlite3.Error, OSError) as error:  # full, locked too long, read-only: 503
            raise classify(error) from error

    async def release(self, limits: Sequence[Limit], hit_id: str) -> None:
        """At best: a hit not taken back only counts until its window ends."""
        try:
            await anyio.to_thread.run_sync(self._release_sync, limits, hit_id)
        except (sqlite3.Error, OSError):
            logger.warning("a rate-limit hit could not be taken back", exc_info=True)

    def _release_sync(self, limits: Sequence[Limit], hit_id: str) -> None:
        with self._lock:
            self._connect().executemany(
                "DELETE FROM hits WHERE key = ? AND hit_id = ?",
                [(limit.key, hit_id) for limit in limits],
            )

    def _hit_sync(self, limits: Sequence[Limit], window_ms: int, hit_id: str) -> int:
        with self._lock:
            connection = self._connect()
            now = int(time.time() * 1000)
            horizon = now - window_ms
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._calls += 1
                if self._calls % self.PURGE_EVERY == 0:
                    connection.execute("DELETE FROM hits WHERE at_ms <= ?", (horizon,))
                wait = 0
                for limit in limits:
                    used, oldest = connection.execute(
                        "SELECT total(cost), min(at_ms) FROM hits WHERE key = ? AND at_ms > ?",
                        (limit.key, horizon),
                    ).fetchone()
                    if used + limit.cost > limit.max_hits:
                        wait = max(wait, (oldest or now) + window_ms - now, 1)
                if wait == 0:
                    connection.executemany(
                        "INSERT INTO hits (key, at_ms, hit_id, cost) VALUES (?, ?, ?, ?)",
                        [(limit.key, now, hit_id, limit.cost) for limit in limits],
                    )
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:  # SQLite ends it itself on some errors (full)
                    connection.execute("ROLLBACK")
                raise
            return wait

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


# Redis's own clock is used so that every host agrees on the window. A member is
# "<hit id>:<cost>"; ARGV: window, hit id, then each key's limit and cost.
_SLIDING_WINDOW_SCRIPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local used = 0
  local hits = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for j = 1, #hits, 2 do used = used + tonumber(string.match(hits[j], ':(%d+)$')) end
  if used + tonumber(ARGV[2 + 2 * i]) > tonumber(ARGV[1 + 2 * i]) then
    local until_free = 1
    if #hits > 0 then until_free = math.max(1, tonumber(hits[2]) + window - now) end
    if until_free > wait then wait = until_free end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2] .. ':' .. ARGV[2 + 2 * i])
  redis.call('PEXPIRE', key, window)
end
return 0
"""


class RedisRateLimitStore:
    """One sorted set per key (score: the hit's time), checked and updated by one Lua script,
    so the limit holds across every process and host sharing the Redis.

    When Redis cannot be reached the hit is checked against the local store instead: limits
    then hold per host rather than not at all, and login stays available.

    A hit on several keys names them `<prefix>{ratelimit}:...`, one Redis Cluster hash tag:
    one script checks and records the username's and the network's keys, which a cluster
    allows only for keys of one slot. So on a cluster those sit on one node; they take only
    login and register attempts (a few per second, each behind Argon2). A hit on one key (the
    per-user budgets, on hot paths) is its own hash tag, so those spread over the cluster.
    """

    # After a failure Redis is left alone this long: the per-user budgets sit on hot paths,
    # which must not wait for a socket timeout on every request while Redis is down.
    PAUSE_AFTER_FAILURE_S = 1.0

    def __init__(self, redis: RedisClient, key_prefix: str, fallback: LocalRateLimitStore) -> None:
        self._redis = redis
        self._key_prefix = key_prefix
        self._fallback = fallback
        self._script = redis.register_script(_SLIDING_WINDOW_SCRIPT)
        self._paused_until = 0.0
        # The local store is opened (its file created) only once Redis has failed: with Redis
        # up, DATA_DIR may be read-only (a container's root filesystem).
        self._fallback_used = False

    def _failed(self, error: Exception) -> None:
        self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE_S
        logger.warning("rate limit store (Redis) unreachable, using the local one: %s", error)

    def _keys(self, limits: Sequence[Limit]) -> list[str]:
        if len(limits) == 1:
            return [f"{self._key_prefix}{{{limits[0].key}}}"]
        return [f"{self._key_prefix}{{ratelimit}}:{limit.key}" for limit in limits]

    async def hit(self, limits: Sequence[Limit], window_ms: int, hit_id: str = "") -> int:
        keys = self._keys(limits)
        arguments: list[str | int] = [window_ms, hit_id or uuid.uuid4().hex]
        for limit in limits:
            arguments += [limit.max_hits, limit.cost]
        if time.monotonic() >= self._paused_until:
            try:
                return int(await self._script(keys=keys, args=arguments))
            except (RedisError, OSError) as error:
                self._failed(error)
        wait = await self._fallback.hit(limits, window_ms, hit_id)
        self._fallback_used = True  # its hits may need taking back from now on
        return wait

    async def release(self, limits: Sequence[Limit], hit_id: str) -> None:
        if time.monotonic() >= self._paused_until:
            try:
                async with self._redis.pipeline(transaction=False) as pipeline:
                    for key, limit in zip(self._keys(limits), limits, strict=True):
                        pipeline.zrem(key, f"{hit_id}:{limit.cost}")
                    await pipeline.execute()
            except (RedisError, OSError) as error:
                self._failed(error)
        if self._fallback_used:  # the hit may have gone to the local store while Redis was down
            await self._fallback.release(limits, hit_id)

    def close(self) -> None:
        self._fallback.close()


def retry_after_seconds(wait_ms: int) -> int:
    return max(1, math.ceil(wait_ms / 1000))
