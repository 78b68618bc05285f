"""Chooses the request-counter backend from the settings."""

from __future__ import annotations

from movie_collections.core.redis import RedisClient
from movie_collections.core.settings import Settings
from movie_collections.counter.backend import DisabledCounter, RequestCounter
from movie_collections.counter.local import LocalFileCounter
from movie_collections.counter.redis import RedisCounter


def build_counter(settings: Settings, redis: RedisClient | None) -> RequestCounter:
    backend = settings.resolved_counter_backend
    if backend == "off":
        return DisabledCounter()
    if backend == "redis":
        if redis is None:  # the settings validator makes this unreachable
            raise ValueError("COUNTER_BACKEND=redis needs REDIS_URL")
        return RedisCounter(
            redis,
            key_prefix=settings.redis_key_prefix,
            shards=settings.counter_shards,
            retry_max_seconds=settings.counter_retry_max_seconds,
            read_flush_seconds=max(2 * settings.redis_socket_timeout, 0.5),
            durable_wait_seconds=settings.counter_durable_wait,
            socket_timeout=settings.redis_socket_timeout,
        )
    return LocalFileCounter(settings.resolved_counter_dir)
