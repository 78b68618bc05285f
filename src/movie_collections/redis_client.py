"""The process's one Redis client when REDIS_URL is set (lazy: connects on first use)."""

from __future__ import annotations

from redis.asyncio import Redis

from movie_collections.config import Settings


def create_redis(settings: Settings) -> Redis | None:
    if settings.redis_url is None:
        return None
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_socket_timeout,
        socket_timeout=settings.redis_socket_timeout,
        health_check_interval=30,
    )
