"""The auth rate limits: per username and per client address, on login and on register."""

from __future__ import annotations

import hashlib

from movie_collections.core.errors import TooManyRequests
from movie_collections.core.redis import RedisClient
from movie_collections.core.settings import Settings
from movie_collections.ratelimit.backend import (
    Limit,
    LocalRateLimitStore,
    RateLimitStore,
    RedisRateLimitStore,
    retry_after_seconds,
)

LOCAL_STORE_FILE_NAME = "rate_limits.db"


def _digest(value: str) -> str:
    # Keys hold digests, not usernames or addresses, so the store holds no personal data.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class AuthRateLimiter:
    def __init__(self, settings: Settings, store: RateLimitStore) -> None:
        self._store = store
        self._per_username = settings.auth_rate_limit_per_username
        self._per_address = settings.auth_rate_limit_per_address
        self._window_ms = int(settings.auth_rate_limit_window.total_seconds() * 1000)

    async def check(self, action: str, username: str, address: str) -> None:
        """Counts one attempt of `action`; TooManyRequests (with Retry-After) when over."""
        limits = []
        if self._per_username:
            key = f"{action}:user:{_digest(username.lower())}"
            limits.append(Limit(key, self._per_username))
        if self._per_address:
            limits.append(Limit(f"{action}:address:{_digest(address)}", self._per_address))
        if not limits:
            return
        wait_ms = await self._store.hit(limits, self._window_ms)
        if wait_ms > 0:
            seconds = retry_after_seconds(wait_ms)
            raise TooManyRequests(
                f"Too many {action} attempts; try again in {seconds} seconds.",
                headers={"Retry-After": str(seconds)},
                limit=f"auth_{action}",
            )

    def close(self) -> None:
        self._store.close()


def build_auth_rate_limiter(settings: Settings, redis: RedisClient | None) -> AuthRateLimiter:
    local = LocalRateLimitStore(settings.resolved_data_dir / LOCAL_STORE_FILE_NAME)
    store: RateLimitStore = (
        local if redis is None else RedisRateLimitStore(redis, settings.redis_key_prefix, local)
    )
    return AuthRateLimiter(settings, store)
