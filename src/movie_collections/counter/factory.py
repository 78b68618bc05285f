"""Chooses the request-counter backend from the settings."""

from __future__ import annotations

from redis.asyncio import Redis

from movie_collections.config import Settings
from movie_collections.counter.backend import InProcessCounter, RequestCounter


def build_counter(settings: Settings, redis: Redis | None) -> RequestCounter:
    return InProcessCounter()
