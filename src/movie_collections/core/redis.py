"""The process's one Redis client when REDIS_URL is set (lazy: connects on first use).

With `REDIS_CLUSTER=true` it is a `RedisCluster` that discovers the cluster's nodes from the
node in REDIS_URL and routes each command to the node holding its key's slot.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from movie_collections.core.settings import Settings

RedisClient = Redis | RedisCluster


def create_redis(settings: Settings) -> RedisClient | None:
    if settings.redis_url is None:
        return None
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.redis_socket_timeout,
            socket_timeout=settings.redis_socket_timeout,
        )
    # A pooled connection that Redis closed meanwhile (a restart) fails its next command:
    # that command is tried once more on a new connection instead of failing the request.
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_socket_timeout,
        socket_timeout=settings.redis_socket_timeout,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
